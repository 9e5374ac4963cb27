using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Agent;

/// <summary>The loop's event text: what observers (the console, the log, tests) are told about snapshots, findings, incidents and approvals.</summary>
internal sealed partial class AgentLoop
{
    private void EmitIncidentChanges(IncidentUpdate update, ClusterSnapshot snapshot, string? postMortemFile)
    {
        if (update.Incident is not { } incident)
        {
            return;
        }

        foreach (var change in update.Changes)
        {
            var name = change switch
            {
                IncidentKinds.Opened => AgentEventNames.IncidentOpened,
                IncidentKinds.Mitigating => AgentEventNames.IncidentMitigating,
                IncidentKinds.Resolved => AgentEventNames.IncidentResolved,
                _ => null,
            };
            if (name is null)
            {
                continue;
            }

            var details = new Dictionary<string, string?>(StringComparer.Ordinal)
            {
                ["codes"] = string.Join(",", incident.Codes),
                ["leader_before"] = incident.LeaderBefore,
                ["leader"] = snapshot.Leader,
                ["opened_at"] = incident.OpenedAt.ToString("O", CultureInfo.InvariantCulture),
                ["postmortem"] = $"pgra postmortem {incident.Id}",
            };
            if (incident.ResolvedAt is { } resolved)
            {
                details["resolved_at"] = resolved.ToString("O", CultureInfo.InvariantCulture);
            }

            if (name == AgentEventNames.IncidentResolved && postMortemFile is not null)
            {
                details["postmortem_file"] = postMortemFile;
            }

            Emit(new AgentEvent
            {
                Name = name,
                At = snapshot.TakenAt,
                Cluster = incident.Cluster,
                Incident = incident.Id,
                Severity = name == AgentEventNames.IncidentResolved ? "info" : FindingJson.SeverityName(incident.Severity),
                Title = name switch
                {
                    AgentEventNames.IncidentOpened => $"incident {incident.Id} opened: {incident.Title}",
                    AgentEventNames.IncidentMitigating => $"incident {incident.Id}: mitigating",
                    _ => $"incident {incident.Id} resolved{(snapshot.Leader is null ? "" : $": {snapshot.Leader} accepts writes")}",
                },
                Message = name == AgentEventNames.IncidentResolved
                    ? $"post-mortem: {postMortemFile ?? $"pgra postmortem {incident.Id}"}"
                    : string.Join(", ", incident.Codes),
                Details = details,
            });
        }
    }

    private void EmitDecided(ClusterState st, Approval? approval, string what)
    {
        var id = approval?.Id ?? st.Awaiting?.ApprovalId;
        Emit(new AgentEvent
        {
            Name = AgentEventNames.ApprovalDecided,
            At = _time.GetUtcNow(),
            Cluster = st.Cluster,
            Incident = _incidents.Current(st.Cluster)?.Id,
            Title = $"{id}: {what}" + (approval?.DecidedBy is { } by ? $" by {by}" : ""),
            Message = approval?.Action.Summary,
            Details = new Dictionary<string, string?>(StringComparer.Ordinal) { ["approval"] = id },
        });
    }

    /// <summary>A finished run's <c>skill.finished</c>, and <c>skill.errored</c> when the skill itself broke (<see cref="SkillRunStatus.Error"/>).</summary>
    private void EmitSkillFinished(string cluster, string? incident, Skill skill, SkillRun run)
    {
        Emit(SkillFinished(cluster, incident, skill, run));
        if (run.Status == SkillRunStatus.Error)
        {
            EmitSkillErrored(cluster, incident, skill.Name, run.Message, run.Steps.LastOrDefault(x => x.Status == SkillStepStatus.Error)?.StepId);
        }
    }

    /// <summary>
    /// <c>skill.errored</c>: a run could not be carried out (an expression that cannot be evaluated, the host failing, a
    /// loop) or crashed. Not a run that <c>failed</c> (the fix did not work: a timed-out verify, a failed action) nor
    /// one refused by the policy: those are the skill doing its job, reported by <c>skill.finished</c>.
    /// </summary>
    private void EmitSkillErrored(string cluster, string? incident, string? skill, string? error, string? step) => Emit(new AgentEvent
    {
        Name = AgentEventNames.SkillErrored,
        At = _time.GetUtcNow(),
        Cluster = cluster,
        Incident = incident,
        Severity = "warning",
        Title = $"skill {skill ?? "(unknown)"} errored on {cluster}",
        Message = Redact(error),
        Details = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["skill"] = skill,
            ["step"] = step,
        },
    });

    /// <summary>
    /// <c>sensor.blind</c> once for a sensor of the cluster not ok (degraded or unknown; not disabled or not configured
    /// by choice, nor in <c>detection.ignore_sensors</c>) for longer than <see cref="AgentLoopOptions.SensorBlindSeconds"/>
    /// by the loop's clock, and <c>sensor.restored</c> when it is ok again. A whole snapshot missing is
    /// <c>sensing.outage</c>'s, and leaves this as it was.
    /// </summary>
    private void WatchSensors(ClusterState st, ClusterSnapshot s)
    {
        var now = _time.GetUtcNow();
        var limit = TimeSpan.FromSeconds(Math.Max(NotifySettings.MinSensorBlindSeconds, _options.SensorBlindSeconds));
        var ignore = _options.Detection.IgnoreSensors;
        var notOk = new Dictionary<string, Sensing.SensorStatus>(StringComparer.Ordinal);
        foreach (var x in s.Sensors.Where(x => x.Health != Sensing.SensorHealth.Ok && !SensorBlindDetector.IsDeliberate(x.Reason)
            && !ignore.Contains(x.Sensor, StringComparer.Ordinal)))
        {
            notOk.TryAdd(x.Sensor, x);
        }

        foreach (var (sensor, watch) in st.NotOk.Where(w => !notOk.ContainsKey(w.Key)).ToList())
        {
            st.NotOk.Remove(sensor);
            if (watch.Notified)
            {
                Emit(new AgentEvent
                {
                    Name = AgentEventNames.SensorRestored,
                    At = now,
                    Cluster = st.Cluster,
                    Title = $"the {sensor} sensor of {st.Cluster} is ok again after {Duration(now - watch.Since)}",
                    Details = SensorDetails(sensor, "ok", watch.Since, now),
                });
            }
        }

        foreach (var (sensor, status) in notOk)
        {
            if (!st.NotOk.TryGetValue(sensor, out var watch))
            {
                st.NotOk[sensor] = new SensorWatch(now);
                continue;
            }

            if (watch.Notified || now - watch.Since <= limit)
            {
                continue;
            }

            watch.Notified = true;
            var health = status.Health.ToString().ToLowerInvariant();
            Emit(new AgentEvent
            {
                Name = AgentEventNames.SensorBlind,
                At = now,
                Cluster = st.Cluster,
                Severity = sensor == Sensing.SensorNames.Patroni && status.Health == Sensing.SensorHealth.Unknown ? "critical" : "warning",
                Title = $"the {sensor} sensor of {st.Cluster} has not been ok for {Duration(now - watch.Since)} ({health}): decisions that need it are not taken",
                Message = Redact(status.Reason),
                Details = SensorDetails(sensor, health, watch.Since, now),
            });
        }

        static Dictionary<string, string?> SensorDetails(string sensor, string health, DateTimeOffset since, DateTimeOffset now) => new(StringComparer.Ordinal)
        {
            ["sensor"] = sensor,
            ["health"] = health,
            ["since"] = since.ToString("O", CultureInfo.InvariantCulture),
            ["seconds"] = ((long)(now - since).TotalSeconds).ToString(CultureInfo.InvariantCulture),
        };
    }

    /// <summary>A duration for people: <c>45 s</c>, <c>7 min</c>, <c>3.5 h</c>.</summary>
    internal static string Duration(TimeSpan d) => d.TotalSeconds < 120
        ? string.Create(CultureInfo.InvariantCulture, $"{d.TotalSeconds:0} s")
        : d.TotalMinutes < 120
            ? string.Create(CultureInfo.InvariantCulture, $"{d.TotalMinutes:0} min")
            : string.Create(CultureInfo.InvariantCulture, $"{d.TotalHours:0.#} h");

    private AgentEvent SnapshotEvent(ClusterSnapshot s)
    {
        var writable = SnapshotFacts.LeaderWritable(s);
        var blind = s.Sensors.Where(x => x.Health != Sensing.SensorHealth.Ok).Select(x => $"{x.Sensor} {x.Health.ToString().ToLowerInvariant()}").ToList();
        return new AgentEvent
        {
            Name = AgentEventNames.Snapshot,
            At = s.TakenAt,
            Cluster = s.Cluster,
            Title = string.Create(CultureInfo.InvariantCulture,
                $"leader {s.Leader ?? "none"} ({(writable ? "writable" : "NOT writable")}), timeline {s.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"}, {s.Members.Count(m => m.Streaming == true)} streaming, {s.DurationMs:0} ms"),
            Message = blind.Count == 0 ? null : "sensors: " + string.Join(", ", blind),
            Details = new Dictionary<string, string?>(StringComparer.Ordinal)
            {
                ["leader"] = s.Leader,
                ["writable"] = writable ? "true" : "false",
                ["timeline"] = s.Timeline?.ToString(CultureInfo.InvariantCulture),
            },
        };
    }

    /// <summary>A finding's event: code, member, first seen, and each of its facts as <c>fact.NAME</c>.</summary>
    private AgentEvent FindingEvent(string name, Finding f, string? incident)
    {
        var details = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["code"] = f.Code,
            ["member"] = f.Member,
            ["first_seen"] = f.FirstSeen.ToString("O", CultureInfo.InvariantCulture),
        };
        foreach (var (fact, value) in f.Facts)
        {
            details["fact." + fact] = value;
        }

        return new()
        {
            Name = name,
            At = f.LastSeen,
            Cluster = f.Cluster,
            Incident = incident,
            Severity = FindingJson.SeverityName(f.Severity),
            Title = $"{f.Code}{(f.Member is null ? "" : $" on {f.Member}")}",
            Message = f.Summary,
            Details = details,
        };
    }

    private void Emit(AgentEvent e)
    {
        foreach (var o in Volatile.Read(ref _observers))
        {
            try
            {
                o.OnEvent(e);
            }
            catch (Exception ex)
            {
                Log.ObserverFailed(_logger, o.GetType().Name, Redact(ex));
            }
        }
    }
}
