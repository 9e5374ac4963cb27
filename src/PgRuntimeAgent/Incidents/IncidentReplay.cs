using System.Text.Json;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Incidents;

/// <summary>One finding as the live run journaled it and as replay detected it.</summary>
public sealed record ReplayFinding(string Key, string Code, string? Member, DateTimeOffset? Journaled, DateTimeOffset? Replayed, bool Same, string? Note);

/// <summary>One skill run as journaled and as replayed.</summary>
public sealed record ReplaySkillRun(
    long JournalSeq,
    string Skill,
    string? Trigger,
    SkillRunStatus JournaledStatus,
    SkillRunStatus? ReplayedStatus,
    IReadOnlyList<string> JournaledDecisions,
    IReadOnlyList<string> ReplayedDecisions,
    bool Same,
    string? Note);

/// <summary>What <c>pgra replay</c> found: the same decisions, or every difference.</summary>
public sealed record ReplayReport
{
    public required string Incident { get; init; }

    public required string Cluster { get; init; }

    public int Snapshots { get; init; }

    public IReadOnlyList<ReplayFinding> Findings { get; init; } = [];

    public IReadOnlyList<ReplaySkillRun> SkillRuns { get; init; } = [];

    public IReadOnlyList<string> Differences { get; init; } = [];

    public IReadOnlyList<string> Notes { get; init; } = [];

    public bool Same => Differences.Count == 0;
}

/// <summary>
/// Replays an incident from the journal alone: its journaled snapshots go through fresh detectors (with the thresholds
/// and backup schedule journaled when it opened) and every journaled skill run is run again over the snapshots its
/// host served, with the journaled action outcomes standing in for the pipeline (nothing is executed). The detected
/// findings and the skills' decisions are compared with the journaled ones.
/// </summary>
internal static class IncidentReplay
{
    public static async Task<ReplayReport?> ReplayAsync(IJournal journal, string incidentId, SkillCatalog? skills, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(journal);
        var data = await IncidentStore.LoadAsync(journal, incidentId, cancellationToken).ConfigureAwait(false);
        if (data is null)
        {
            return null;
        }

        var incident = data.Incident;
        var differences = new List<string>();
        var notes = new List<string>();
        var snapshots = data.Snapshots.Select(e => (Entry: e, Snapshot: SnapshotRecorder.Read(e))).ToList();
        foreach (var bad in snapshots.Where(s => s.Snapshot is null))
        {
            differences.Add($"snapshot #{bad.Entry.Seq} cannot be read back");
        }

        var ordered = snapshots.Where(s => s.Snapshot is not null).Select(s => s.Snapshot!).Where(s => s.Cluster == incident.Cluster)
            .OrderBy(s => s.TakenAt).ToList();
        var detector = new ClusterDetector(incident.Cluster, incident.Settings ?? DetectionSettings.Default,
            new DetectionContext { BackupSchedule = incident.BackupSchedule ?? BackupSchedule.None });
        var replayedRaised = new Dictionary<string, Finding>(StringComparer.Ordinal);
        var activeAt = new Dictionary<DateTimeOffset, IReadOnlyList<Finding>>();
        foreach (var s in ordered)
        {
            var result = detector.Observe(s);
            foreach (var f in result.Raised)
            {
                replayedRaised.TryAdd(f.Key, f);
            }

            activeAt[s.TakenAt] = result.Active;
        }

        // Findings: every one the live run raised for the incident must be raised by replay on the same snapshot.
        var first = ordered.Count > 0 ? ordered[0].TakenAt : incident.OpenedAt;
        var journaled = IncidentStore.FindingEntries(data).Where(f => f.Event == IncidentKinds.FindingRaised)
            .GroupBy(f => f.Finding.Key, StringComparer.Ordinal).Select(g => g.First().Finding).ToList();
        var rows = new List<ReplayFinding>();
        foreach (var f in journaled)
        {
            replayedRaised.TryGetValue(f.Key, out var r);
            var detectedBeforeWindow = f.DetectedAt is { } d && d < first;
            bool same;
            string? note = null;
            if (detectedBeforeWindow)
            {
                same = r is not null;
                note = "raised before the journaled snapshots began: compared by presence";
            }
            else
            {
                same = r is not null && r.DetectedAt == f.DetectedAt;
            }

            rows.Add(new ReplayFinding(f.Key, f.Code, f.Member, f.DetectedAt, r?.DetectedAt, same, note));
            if (!same)
            {
                differences.Add(r is null
                    ? $"finding {f.Key}: raised live at {Time(f.DetectedAt)}, not raised by replay"
                    : $"finding {f.Key}: raised live at {Time(f.DetectedAt)}, by replay at {Time(r.DetectedAt)}");
            }
        }

        foreach (var r in replayedRaised.Values.Where(r => r.DetectedAt >= incident.OpenedAt && journaled.All(f => f.Key != r.Key)))
        {
            rows.Add(new ReplayFinding(r.Key, r.Code, r.Member, null, r.DetectedAt, false, null));
            differences.Add($"finding {r.Key}: raised by replay at {Time(r.DetectedAt)}, not by the live run");
        }

        // Skill runs: same decisions over the same snapshots and action outcomes.
        var runs = new List<ReplaySkillRun>();
        foreach (var entry in data.Related.Where(e => e.Kind == IncidentKinds.SkillRun))
        {
            SkillRunRecord? record;
            try
            {
                record = entry.PayloadAs<SkillRunRecord>();
            }
            catch (JsonException ex)
            {
                differences.Add($"skill run #{entry.Seq} cannot be read: {ex.Message}");
                continue;
            }

            if (record is null)
            {
                continue;
            }

            var run = await ReplayRunAsync(journal, entry, record, skills, activeAt, cancellationToken).ConfigureAwait(false);
            runs.Add(run);
            if (!run.Same)
            {
                differences.Add($"skill run #{entry.Seq} ({run.Skill}): {run.Note ?? "decisions differ"}");
            }
        }

        if (runs.Count == 0)
        {
            notes.Add("no skill run was journaled for this incident: only detection was replayed");
        }

        return new ReplayReport
        {
            Incident = incident.Id,
            Cluster = incident.Cluster,
            Snapshots = ordered.Count,
            Findings = rows,
            SkillRuns = runs,
            Differences = differences,
            Notes = notes,
        };
    }

    private static async Task<ReplaySkillRun> ReplayRunAsync(IJournal journal, JournalEntry entry, SkillRunRecord record, SkillCatalog? skills,
        Dictionary<DateTimeOffset, IReadOnlyList<Finding>> activeAt, CancellationToken cancellationToken)
    {
        var live = record.Run;
        var trigger = live.Trigger is { ValueKind: JsonValueKind.Object } t && t.TryGetProperty("code", out var code) ? code.GetString() : null;
        var liveDecisions = live.Decisions.Select(Describe).ToList();
        ReplaySkillRun Fail(string note) => new(entry.Seq, live.Skill, trigger, live.Status, null, liveDecisions, [], false, note);

        var skill = skills?.Find(live.Skill);
        if (skill is null)
        {
            return Fail(skills is null ? "no skills directory to replay with" : $"skill {live.Skill} is not in {skills.Directory}");
        }

        var served = new List<ClusterSnapshot>();
        foreach (var seq in record.ServedSnapshots)
        {
            var snapshot = seq <= 0 ? null : await journal.GetAsync(seq, cancellationToken).ConfigureAwait(false) is { } e ? SnapshotRecorder.Read(e) : null;
            if (snapshot is null)
            {
                return Fail($"served snapshot #{seq} is not in the journal");
            }

            served.Add(snapshot);
        }

        if (served.Count == 0)
        {
            return Fail("the run recorded no served snapshot");
        }

        string? note = null;
        if (trigger is not null && activeAt.TryGetValue(served[0].TakenAt, out var active) && active.All(f => f.Code != trigger))
        {
            note = $"replayed detection has no active {trigger} on the snapshot the run started from";
        }

        var host = new ReplaySkillHost(served, live);
        var request = new SkillRunRequest(live.Cluster)
        {
            Snapshot = SnapshotRecorder.ToElement(served[0]),
            Trigger = live.Trigger,
            Parameters = live.Parameters,
            Findings = live.Findings,
            DryRun = live.DryRun,
        };
        var replayed = await new SkillRunner().RunAsync(skill, request, host, cancellationToken).ConfigureAwait(false);
        var replayedDecisions = replayed.Decisions.Select(Describe).ToList();
        var same = liveDecisions.SequenceEqual(replayedDecisions, StringComparer.Ordinal) && replayed.Status == live.Status && note is null;
        if (!same && note is null)
        {
            var i = 0;
            while (i < liveDecisions.Count && i < replayedDecisions.Count && liveDecisions[i] == replayedDecisions[i])
            {
                i++;
            }

            note = $"first difference at decision {i + 1}: live {(i < liveDecisions.Count ? liveDecisions[i] : "(none)")}, replay {(i < replayedDecisions.Count ? replayedDecisions[i] : "(none)")}"
                + (replayed.Status != live.Status ? $"; status live {live.Status}, replay {replayed.Status}" : "");
        }

        if (skill.Digest != live.SkillDigest)
        {
            note = (note is null ? "" : note + "; ") + "the skill file changed since the run";
        }

        return new ReplaySkillRun(entry.Seq, live.Skill, trigger, live.Status, replayed.Status, liveDecisions, replayedDecisions, same, note);
    }

    /// <summary>A decision as comparable text (parameters canonicalised: key order and spacing do not matter).</summary>
    public static string Describe(SkillDecision d)
    {
        ArgumentNullException.ThrowIfNull(d);
        var parameters = d.Parameters is null ? "" : " " + Canonical(d.Parameters);
        return $"{d.StepId}:{d.Kind}:{d.Status}->{d.Next ?? "stop"}{(d.ActionClass is null ? "" : " " + d.ActionClass)}{parameters}";
    }

    private static string Canonical(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return JournalJson.Canonicalize(doc.RootElement, null);
        }
        catch (JsonException)
        {
            return json;
        }
    }

    private static string Time(DateTimeOffset? t) => t is { } v ? FindingJson.Time(v) : "-";
}

/// <summary>
/// The skill host of a replay: serves the journaled snapshots in the order the live host served them, answers each
/// action with the live run's journaled outcome for that step (nothing is executed), and keeps notes in memory. Its
/// clock follows the snapshots' times so waits poll as often as they did live.
/// </summary>
internal sealed class ReplaySkillHost : ISkillHost
{
    private readonly IReadOnlyList<ClusterSnapshot> _served;
    private readonly SkillRun _live;
    private readonly Dictionary<string, int> _actionCalls = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _investigateCalls = new(StringComparer.Ordinal);
    private readonly ReplayClock _clock;
    private int _next = 1;

    public ReplaySkillHost(IReadOnlyList<ClusterSnapshot> served, SkillRun live)
    {
        _served = served;
        _live = live;
        _clock = new ReplayClock(live.StartedAt);
    }

    public TimeProvider Time => _clock;

    public List<SkillNote> Notes { get; } = [];

    public Task<JsonElement> GetSnapshotAsync(string cluster, CancellationToken cancellationToken)
    {
        var snapshot = _served[Math.Min(_next, _served.Count - 1)];
        _next++;
        _clock.AdvanceTo(snapshot.TakenAt.AddMilliseconds(snapshot.DurationMs));
        return Task.FromResult(SnapshotRecorder.ToElement(snapshot));
    }

    public Task<SkillActionOutcome> ExecuteActionAsync(SkillActionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var n = _actionCalls.TryGetValue(request.StepId, out var count) ? count : 0;
        _actionCalls[request.StepId] = n + 1;
        var step = _live.Steps.Where(s => s.StepId == request.StepId && s.Kind == SkillStepKind.Action).Skip(n).FirstOrDefault();
        if (step is null)
        {
            return Task.FromResult(new SkillActionOutcome(SkillActionStatus.Refused, null, "replay: the live run did not take this action"));
        }

        var status = step.Status switch
        {
            SkillStepStatus.Succeeded => SkillActionStatus.Succeeded,
            SkillStepStatus.Planned => SkillActionStatus.Planned,
            SkillStepStatus.PendingApproval => SkillActionStatus.PendingApproval,
            SkillStepStatus.Refused => SkillActionStatus.Refused,
            _ => SkillActionStatus.Failed,
        };
        JsonElement? output = step.Result.ValueKind == JsonValueKind.Object && step.Result.TryGetProperty("output", out var o) && o.ValueKind != JsonValueKind.Null ? o.Clone() : null;
        var message = step.Result.ValueKind == JsonValueKind.Object && step.Result.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : step.Message;
        _clock.AdvanceTo(step.StartedAt.AddMilliseconds(step.ElapsedMs));
        return Task.FromResult(new SkillActionOutcome(status, step.JournalId, message, output));
    }

    /// <summary>The live run's answer for this step, as journaled (the model is not asked again).</summary>
    public Task<SkillInvestigation> InvestigateAsync(SkillInvestigationRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var n = _investigateCalls.TryGetValue(request.StepId, out var count) ? count : 0;
        _investigateCalls[request.StepId] = n + 1;
        var step = _live.Steps.Where(s => s.StepId == request.StepId && s.Kind == SkillStepKind.Investigate).Skip(n).FirstOrDefault();
        if (step is null || step.Result.ValueKind != JsonValueKind.Object)
        {
            return Task.FromResult(new SkillInvestigation("failed", "", Error: "replay: the live run did not ask the model here"));
        }

        string? Text(string name) => step.Result.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var actions = step.Result.TryGetProperty("actions", out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToList()
            : [];
        _clock.AdvanceTo(step.StartedAt.AddMilliseconds(step.ElapsedMs));
        return Task.FromResult(new SkillInvestigation(Text("status") ?? "failed", Text("answer") ?? "", Text("model"), step.JournalId, step.Message, actions));
    }

    public Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        _clock.Advance(delay);
        return Task.CompletedTask;
    }

    public Task RecordAsync(SkillNote note, CancellationToken cancellationToken)
    {
        Notes.Add(note);
        return Task.CompletedTask;
    }

    private sealed class ReplayClock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public override long GetTimestamp() => _now.UtcTicks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public void Advance(TimeSpan by) => _now += by;

        public void AdvanceTo(DateTimeOffset at)
        {
            if (at > _now)
            {
                _now = at;
            }
        }
    }
}
