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

    private void EmitDecided(ClusterState st, Approval? approval, string what) => Emit(new AgentEvent
    {
        Name = AgentEventNames.ApprovalDecided,
        At = _time.GetUtcNow(),
        Cluster = st.Cluster,
        Incident = _incidents.Current(st.Cluster)?.Id,
        Title = $"{approval?.Id ?? st.Awaiting?.ApprovalId}: {what}" + (approval?.DecidedBy is { } by ? $" by {by}" : ""),
        Message = approval?.Action.Summary,
    });

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
