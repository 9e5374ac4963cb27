using System.Globalization;
using System.Text.Json;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Sensing.Snapshot.SnapshotFacts;

namespace PgRuntimeAgent.Incidents;

/// <summary>One line of the timeline: an absolute time, what happened, where it was seen, the journal entry.</summary>
public sealed record TimelineEvent(DateTimeOffset At, string Kind, string What, string Source, long? JournalSeq);

/// <summary>The write outage: estimate and bounds, and how each end was established.</summary>
public sealed record WriteOutage(
    double? Seconds,
    double? MinSeconds,
    double? MaxSeconds,
    DateTimeOffset? Start,
    DateTimeOffset? End,
    string StartMethod,
    string EndMethod);

/// <summary>
/// What the incident cost in acknowledged writes, as far as evidence goes. <see cref="Bytes"/> is a bound the agent
/// can prove (0 when the primary kept its WAL, or a synchronous standby took over); null when it cannot, which is
/// the case for every asynchronous failover (writes the old primary acknowledged after its last snapshot are not
/// visible), every timeline rollback and every member that took writes without the leader key. <see cref="AtLeastBytes"/>
/// is what the evidence shows was lost at the least (WAL past the new timeline's switch point, a discarded timeline).
/// </summary>
public sealed record DataLoss(long? Bytes, string? OldPrimaryLastLsn, DateTimeOffset? OldPrimaryLastSeen, string? PromotionLsn, long? NewTimeline, string Method)
{
    /// <summary>Bytes of WAL the evidence shows lost, at the least (null: nothing measurable).</summary>
    public long? AtLeastBytes { get; init; }

    /// <summary>"0 bytes (proof)", "at least N bytes, upper bound unknown", or "unknown", for a reader.</summary>
    public string Statement => Bytes is { } b
        ? $"{b.ToString(CultureInfo.InvariantCulture)} bytes ({Method})"
        : AtLeastBytes is { } a
            ? $"at least {a.ToString(CultureInfo.InvariantCulture)} bytes, upper bound unknown ({Method})"
            : $"unknown ({Method})";
}

/// <summary>What the agent did and why: one action (or skill step) with its policy decision and outcome.</summary>
public sealed record AgentAction(
    DateTimeOffset At,
    string What,
    string? Skill,
    string? Step,
    string? ActionId,
    string? Verdict,
    int? Level,
    int? RequiredLevel,
    string? Outcome,
    string Why,
    IReadOnlyList<long> JournalSeqs)
{
    /// <summary>The agent that wrote the action's intent when several agents share the clusters (docs/fleet.md); null: alone.</summary>
    public string? Agent { get; init; }
}

/// <summary>The post-mortem of an incident, built from the journal alone (JSON form; the markdown renders it).</summary>
public sealed record PostMortemReport
{
    public required string Incident { get; init; }

    public required string Cluster { get; init; }

    public required IncidentState State { get; init; }

    public required FindingSeverity Severity { get; init; }

    public required string Summary { get; init; }

    public required DateTimeOffset OpenedAt { get; init; }

    public DateTimeOffset? ResolvedAt { get; init; }

    public string? OldLeader { get; init; }

    public string? NewLeader { get; init; }

    public long? OldTimeline { get; init; }

    public long? NewTimeline { get; init; }

    public DateTimeOffset? FirstSymptom { get; init; }

    public DateTimeOffset? DetectedAt { get; init; }

    public double? TimeToDetectSeconds { get; init; }

    public required WriteOutage Outage { get; init; }

    public required DataLoss DataLoss { get; init; }

    public required string RootCauseCode { get; init; }

    public required string RootCause { get; init; }

    public IReadOnlyList<FindingEvidence> Evidence { get; init; } = [];

    public IReadOnlyList<string> Findings { get; init; } = [];

    public IReadOnlyList<TimelineEvent> Timeline { get; init; } = [];

    public IReadOnlyList<AgentAction> Actions { get; init; } = [];

    /// <summary>Several agents sharing the clusters (docs/fleet.md): each agent's part, in the order they appear; empty when the agent was alone.</summary>
    public IReadOnlyList<IncidentAgent> Agents { get; init; } = [];

    public IReadOnlyList<string> Unknowns { get; init; } = [];

    public IReadOnlyList<string> FollowUps { get; init; } = [];

    /// <summary>
    /// What a language model answered to the skills' investigate steps during the incident: its reading, kept apart
    /// from the deterministic narrative above and marked as the model's (nothing in it was verified by the agent).
    /// </summary>
    public IReadOnlyList<ModelNarrative> ModelNarratives { get; init; } = [];

    public int SnapshotCount { get; init; }
}

/// <summary>One model answer journaled for the incident: who wrote it, to which question, and where it is journaled.</summary>
public sealed record ModelNarrative(DateTimeOffset At, string Model, string Skill, string Step, string? Question, string Text, long JournalSeq, string? Exchange);

/// <summary>Builds a <see cref="PostMortemReport"/> from an incident's journal entries (nothing else is read).</summary>
internal static class PostMortemBuilder
{
    private static readonly string[] OutageStartSignals =
    [
        "No space left on device", "PANIC", "could not receive data from WAL stream", "replication terminated by primary",
        "terminating walreceiver", "received immediate shutdown", "server process", "was terminated by signal", "connection to the primary",
    ];

    public static PostMortemReport Build(IncidentData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var incident = data.Incident;
        var unknowns = new List<string>();
        var snapshots = data.Snapshots.Select(SnapshotRecorder.Read).OfType<ClusterSnapshot>().Where(s => s.Cluster == incident.Cluster)
            .OrderBy(s => s.TakenAt).ToList();
        if (data.Snapshots.Count > snapshots.Count)
        {
            unknowns.Add($"{data.Snapshots.Count - snapshots.Count} journaled snapshot(s) could not be read back");
        }

        var findingEntries = IncidentStore.FindingEntries(data);
        var raised = findingEntries.Where(f => f.Event == IncidentKinds.FindingRaised).Select(f => f.Finding).ToList();
        var primary = RootCause.Primary(raised) ?? data.Events.Select(e => e.PayloadAs<IncidentEvent>()?.Finding).OfType<Finding>().FirstOrDefault();
        // The incident's story starts with its root-cause finding (a warning that was already there, like drift, does not).
        var firstSymptom = primary?.FirstSeen;
        var detectedAt = primary?.DetectedAt ?? incident.OpenedAt;

        var oldLeader = incident.LeaderBefore ?? snapshots.Select(KeyHolder).FirstOrDefault(l => l is not null);
        var last = snapshots.LastOrDefault();
        var newLeader = last?.Leader is { } l && l != oldLeader && LeaderWritable(last) ? l : null;
        var oldTimeline = snapshots.FirstOrDefault(s => s.Leader == oldLeader)?.Timeline ?? snapshots.FirstOrDefault()?.Timeline;
        var newTimeline = newLeader is null ? null : last?.FindMember(newLeader)?.Timeline ?? last?.Timeline;

        var outage = Outage(snapshots, firstSymptom, oldLeader, unknowns);
        var loss = Hazards(Loss(snapshots, oldLeader, newLeader, newTimeline, unknowns), raised, unknowns);
        var actions = Actions(data, unknowns);
        var timeline = Timeline(data, snapshots, raised, findingEntries, outage, oldLeader, firstSymptom);
        var followUps = FollowUps(data, snapshots, raised, oldLeader, newLeader, newTimeline);

        if (snapshots.Count == 0)
        {
            unknowns.Add("no snapshot of the incident is in the journal: impact cannot be measured");
        }

        if (incident.State != IncidentState.Resolved)
        {
            unknowns.Add($"the incident is still {incident.State.ToString().ToLowerInvariant()}: figures are provisional");
        }

        var code = primary?.Code ?? "unknown";
        var ttd = firstSymptom is { } fs ? Math.Round((detectedAt - fs).TotalSeconds, 1) : (double?)null;
        var agents = PostMortemAgents.Build(data);
        var summary = Summarise(incident, primary, oldLeader, newLeader, outage, loss, actions, agents);
        return new PostMortemReport
        {
            Incident = incident.Id,
            Cluster = incident.Cluster,
            State = incident.State,
            Severity = incident.Severity,
            Summary = summary,
            OpenedAt = incident.OpenedAt,
            ResolvedAt = incident.ResolvedAt,
            OldLeader = oldLeader,
            NewLeader = newLeader,
            OldTimeline = oldTimeline,
            NewTimeline = newTimeline,
            FirstSymptom = firstSymptom,
            DetectedAt = detectedAt,
            TimeToDetectSeconds = ttd,
            Outage = outage,
            DataLoss = loss,
            RootCauseCode = code,
            RootCause = primary is null ? "no finding was journaled for this incident" : $"{primary.Summary}. {RootCause.Explain(code)}",
            Evidence = primary?.Evidence ?? [],
            Findings = raised.Select(f => $"{f.Code} ({FindingJson.SeverityName(f.Severity)}){(f.Member is null ? "" : " on " + f.Member)}: first seen {FindingJson.Time(f.FirstSeen)}, detected {(f.DetectedAt is { } d ? FindingJson.Time(d) : "-")}").Distinct().ToList(),
            Timeline = timeline,
            Actions = actions,
            Agents = agents,
            Unknowns = unknowns,
            FollowUps = followUps,
            ModelNarratives = Narratives(data),
            SnapshotCount = snapshots.Count,
        };
    }

    private static string Summarise(Incident incident, Finding? primary, string? oldLeader, string? newLeader, WriteOutage outage, DataLoss loss, IReadOnlyList<AgentAction> actions,
        IReadOnlyList<IncidentAgent> agents)
    {
        var parts = new List<string> { $"{incident.Cluster}: {primary?.Summary ?? incident.Title}." };
        if (newLeader is not null)
        {
            parts.Add($"Leadership moved from {oldLeader ?? "?"} to {newLeader}.");
        }
        else if (incident.State == IncidentState.Resolved)
        {
            parts.Add($"{oldLeader ?? "The leader"} kept the leadership.");
        }

        parts.Add(outage.Seconds is { } s
            ? string.Create(CultureInfo.InvariantCulture, $"Writes were down for about {s:0.#} s.")
            : "The write outage could not be measured.");
        parts.Add(loss.Bytes is { } b ? $"Data-loss bound: {b.ToString(CultureInfo.InvariantCulture)} bytes ({loss.Method})."
            : loss.AtLeastBytes is { } a ? $"Data loss: at least {a.ToString(CultureInfo.InvariantCulture)} bytes of WAL; no upper bound can be proven ({loss.Method})."
            : $"The data-loss bound could not be determined ({loss.Method}).");
        var acted = actions.Where(a => a.Outcome is "succeeded" or "verify-failed" or "execute-failed" or "unknown").ToList();
        parts.Add(acted.Count > 0
            ? $"The agent acted: {string.Join("; ", acted.Select(a => $"{a.What} ({a.Outcome})"))}."
            : actions.Any(a => a.Outcome is "awaiting-approval") ? "The agent's action waited for an operator's approval."
            : "The agent took no action on the cluster.");
        if (agents.Count > 1)
        {
            parts.Add($"Handled by {string.Join(", then ", agents.Select(a => a.TookOverFrom is null || a.OwnedFrom is not { } at || at < incident.OpenedAt ? a.Agent : $"{a.Agent} (took over from {a.TookOverFrom} at {FindingJson.Time(at)})"))}.");
        }

        parts.Add(incident.State == IncidentState.Resolved ? $"Resolved at {FindingJson.Time(incident.ResolvedAt!.Value)}." : $"Still {incident.State.ToString().ToLowerInvariant()}.");
        return string.Join(" ", parts);
    }

    /// <summary>
    /// The write outage from the snapshots (last with a writable leader, first without; first with one again, last
    /// without) refined by log lines inside those gaps (the first failure signal; a promotion or "ready to accept
    /// connections") and by Patroni's /history promotion time.
    /// </summary>
    internal static WriteOutage Outage(IReadOnlyList<ClusterSnapshot> snapshots, DateTimeOffset? firstSymptom, string? oldLeader, List<string> unknowns)
    {
        var down = -1;
        for (var i = 0; i < snapshots.Count; i++)
        {
            if (!LeaderWritable(snapshots[i]) && (firstSymptom is null || snapshots[i].TakenAt >= firstSymptom.Value.AddSeconds(-30)))
            {
                down = i;
                break;
            }
        }

        if (down < 0)
        {
            unknowns.Add("no journaled snapshot shows writes down: if there was an outage it was shorter than the sensing interval");
            return new WriteOutage(snapshots.Count == 0 ? null : 0, 0, null, null, null, "snapshots", "snapshots");
        }

        var t1 = snapshots[down].TakenAt;
        DateTimeOffset? t0 = down > 0 && LeaderWritable(snapshots[down - 1]) ? snapshots[down - 1].TakenAt : null;
        var up = -1;
        for (var i = down + 1; i < snapshots.Count; i++)
        {
            if (LeaderWritable(snapshots[i]))
            {
                up = i;
                break;
            }
        }

        // Start: the first failure signal in the logs inside (t0, t1]; else the middle of the gap.
        var logs = snapshots.SelectMany(s => s.Logs?.Entries ?? []).DistinctBy(e => (e.Time, e.Member, e.Message)).ToList();
        DateTimeOffset start;
        string startMethod;
        var lower = t0 ?? t1.AddSeconds(-60);
        var signal = logs.Where(e => e.Time > lower && e.Time <= t1 && OutageStartSignals.Any(p => e.Message.Contains(p, StringComparison.OrdinalIgnoreCase)))
            .OrderBy(e => e.Time).FirstOrDefault();
        if (signal is not null)
        {
            start = signal.Time;
            startMethod = $"log line of {signal.Member}: {Short(signal.Message, 120)}";
        }
        else if (t0 is { } a)
        {
            start = a + (t1 - a) / 2;
            startMethod = $"middle of the snapshot gap {Clock(a)}-{Clock(t1)} (no log line marks the failure)";
            unknowns.Add($"the moment writes stopped is known only to within {(t1 - a).TotalSeconds:0.#} s (between snapshots at {Clock(a)} and {Clock(t1)})");
        }
        else
        {
            start = t1;
            startMethod = "first snapshot without a writable leader (no earlier healthy snapshot journaled)";
            unknowns.Add("no healthy snapshot before the failure was journaled: the outage may have started earlier");
        }

        if (up < 0)
        {
            unknowns.Add("no journaled snapshot shows writes back");
            return new WriteOutage(null, null, null, start, null, startMethod, "not restored in the journaled snapshots");
        }

        var t3 = snapshots[up].TakenAt;
        var t2 = snapshots[up - 1].TakenAt;
        var newLeader = snapshots[up].Leader!;
        DateTimeOffset end;
        string endMethod;
        var newTimeline = snapshots[up].FindMember(newLeader)?.Timeline;
        var promotion = snapshots[up].Patroni?.History.Where(h => h.Timeline + 1 == newTimeline).Select(h => ParseTime(h.Timestamp)).FirstOrDefault(t => t is not null);
        var ready = logs.Where(e => e.Member == newLeader && e.Time > t2 && e.Time <= t3
                && (e.Message.Contains("ready to accept connections", StringComparison.OrdinalIgnoreCase) && !e.Message.Contains("read-only", StringComparison.OrdinalIgnoreCase)
                    || e.Message.Contains("promoted self to leader", StringComparison.OrdinalIgnoreCase)))
            .OrderBy(e => e.Time).FirstOrDefault();
        if (newLeader != oldLeader && promotion is { } p && p > t2.AddSeconds(-1) && p <= t3)
        {
            end = p;
            endMethod = $"Patroni /history: {newLeader} promoted to timeline {newTimeline} at {Clock(p)}";
        }
        else if (ready is not null)
        {
            end = ready.Time;
            endMethod = $"log line of {newLeader}: {Short(ready.Message, 120)}";
        }
        else
        {
            end = t2 + (t3 - t2) / 2;
            endMethod = $"middle of the snapshot gap {Clock(t2)}-{Clock(t3)}";
            unknowns.Add($"the moment writes came back is known only to within {(t3 - t2).TotalSeconds:0.#} s (between snapshots at {Clock(t2)} and {Clock(t3)})");
        }

        if (end < start)
        {
            end = start;
        }

        var seconds = Math.Round((end - start).TotalSeconds, 1);
        var min = Math.Round(Math.Max(0, (t2 - t1).TotalSeconds), 1);
        double? max = t0 is { } z ? Math.Round((t3 - z).TotalSeconds, 1) : null;
        return new WriteOutage(seconds, Math.Min(min, seconds), max is { } mx ? Math.Max(mx, seconds) : null, start, end, startMethod, endMethod);
    }

    /// <summary>Bytes the old primary had written past the point where the new leader's timeline starts.</summary>
    internal static DataLoss Loss(IReadOnlyList<ClusterSnapshot> snapshots, string? oldLeader, string? newLeader, long? newTimeline, List<string> unknowns)
    {
        if (newLeader is null)
        {
            // "0 bytes" needs proof: the old leader held the key and was the only member taking writes in every
            // snapshot of the incident. If leadership moved and came back (a thawed ex-leader retook the key) or
            // another member took writes meanwhile, writes may have been discarded: unknown.
            var moved = snapshots.Where(s => (s.Leader is { } l && l != oldLeader) || s.Members.Any(m => m.Name != oldLeader && Writable(m)))
                .Select(s => s.TakenAt).ToList();
            if (moved.Count > 0)
            {
                unknowns.Add($"leadership left {oldLeader ?? "?"} during the incident (first seen {Clock(moved[0])}) and came back: writes taken elsewhere meanwhile may have been discarded");
                return new DataLoss(null, null, null, null, null, "leadership moved and came back during the incident");
            }

            return new DataLoss(0, null, null, null, null, "no failover: the primary kept its WAL");
        }

        var synchronous = snapshots.Any(s => s.Inventory.Synchronous || s.Patroni?.Config?.SynchronousMode == true);
        var wasSync = snapshots.Where(s => s.Leader == oldLeader).Select(s => s.FindMember(newLeader)?.SyncState).LastOrDefault(x => x is not null);
        if (synchronous && wasSync is "sync" or "quorum")
        {
            return new DataLoss(0, null, null, null, newTimeline, $"synchronous replication: {newLeader} was a synchronous standby");
        }

        var lastOld = snapshots.Where(s => oldLeader is not null && s.FindMember(oldLeader)?.WalLsn is not null && KeyHolder(s) == oldLeader)
            .Select(s => (s.TakenAt, Lsn: s.FindMember(oldLeader!)!.WalLsn!)).LastOrDefault();
        var switchEntry = snapshots.Select(s => s.Patroni?.History.FirstOrDefault(h => h.Timeline + 1 == newTimeline)).LastOrDefault(h => h is not null);
        if (lastOld.Lsn is null)
        {
            unknowns.Add($"no WAL position of the old primary {oldLeader ?? "?"} was journaled: the data-loss bound is unknown");
            return new DataLoss(null, null, null, switchEntry?.SwitchLsn, newTimeline, "unknown");
        }

        if (switchEntry is null)
        {
            // Without /history, the new leader's last replayed position before promotion is the switch point.
            var replayed = snapshots.Where(s => s.Leader == oldLeader).Select(s => s.FindMember(newLeader)?.ReplayLsn).LastOrDefault(x => x is not null);
            if (Lsn.Parse(replayed) is { } r && Lsn.Parse(lastOld.Lsn) is { } o)
            {
                unknowns.Add($"Patroni /history had no entry for timeline {newTimeline?.ToString(CultureInfo.InvariantCulture) ?? "?"} in the journaled snapshots: the switch point is {newLeader}'s last replayed position seen");
                return new DataLoss(null, lastOld.Lsn, lastOld.TakenAt, replayed, newTimeline,
                    $"old primary's last known LSN {lastOld.Lsn} minus {newLeader}'s last replayed LSN {replayed} (no /history entry); asynchronous replication")
                { AtLeastBytes = Math.Max(0, o - r) };
            }

            unknowns.Add("neither Patroni /history nor the new leader's replay position tell where the new timeline starts");
            return new DataLoss(null, lastOld.Lsn, lastOld.TakenAt, null, newTimeline, "unknown");
        }

        var bytes = Math.Max(0, Lsn.Parse(lastOld.Lsn)!.Value - switchEntry.SwitchPosition);
        unknowns.Add($"writes the old primary acknowledged after {Clock(lastOld.TakenAt)} (its last snapshot) are not visible to the agent: no upper bound on the loss is claimed");
        return new DataLoss(null, lastOld.Lsn, lastOld.TakenAt, switchEntry.SwitchLsn, newTimeline,
            $"old primary's last known LSN {lastOld.Lsn} vs timeline {newTimeline?.ToString(CultureInfo.InvariantCulture) ?? "?"} switch point {switchEntry.SwitchLsn} (Patroni /history); asynchronous replication")
        { AtLeastBytes = bytes };
    }

    /// <summary>
    /// What a rollback or a deposed writer adds: a discarded timeline (timeline-rollback) means writes a leader
    /// acknowledged are gone whatever the failover said, and a member that took writes without the leader key
    /// (deposed-primary, split-brain) acknowledged writes that are not on the current timeline. Either way no bound is
    /// proven; the discarded timeline's WAL is a floor.
    /// </summary>
    internal static DataLoss Hazards(DataLoss loss, IReadOnlyList<Finding> raised, List<string> unknowns)
    {
        var rollback = raised.Where(f => f.Code == FindingCodes.TimelineRollback).ToList();
        var writers = raised.Where(f => f.Code is FindingCodes.DeposedPrimary or FindingCodes.SplitBrain
            && f.Evidence.Any(e => e.Observation.Contains("accepts writes", StringComparison.Ordinal))).Select(f => f.Member).Distinct().ToList();
        if (rollback.Count == 0 && writers.Count == 0)
        {
            return loss;
        }

        var floor = loss.AtLeastBytes ?? loss.Bytes ?? 0;
        var why = new List<string>();
        foreach (var f in rollback)
        {
            var n = f.Summary.LastIndexOf("at least ", StringComparison.Ordinal);
            if (n >= 0 && long.TryParse(f.Summary[(n + 9)..].Split(' ')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var discarded))
            {
                floor += discarded;
            }

            why.Add(f.Summary);
            unknowns.Add($"a timeline was discarded ({f.Summary}): writes acknowledged on it after its last snapshot are not visible");
        }

        foreach (var m in writers)
        {
            why.Add($"{m} accepted writes without the leader key");
            unknowns.Add($"{m} accepted writes without the leader key: how many clients committed there is not visible to the agent");
        }

        return loss with { Bytes = null, AtLeastBytes = floor, Method = string.Join("; ", why.Prepend(loss.Method)) };
    }

    private static List<AgentAction> Actions(IncidentData data, List<string> unknowns)
    {
        var actions = new List<AgentAction>();
        var byAction = data.Related.Where(e => e.CorrelationId is not null && e.Kind is JournalKinds.Decision or JournalKinds.ActionIntent or JournalKinds.ActionOutcome
                or JournalKinds.ActionPrecheck or JournalKinds.ApprovalRequested or JournalKinds.ApprovalGranted or JournalKinds.ApprovalDenied)
            .GroupBy(e => e.CorrelationId!, StringComparer.Ordinal);
        var runs = data.Related.Where(e => e.Kind == IncidentKinds.SkillRun).Select(e => (Entry: e, Record: Safe<SkillRunRecord>(e))).Where(r => r.Record is not null).ToList();
        foreach (var group in byAction)
        {
            var decisionEntry = group.FirstOrDefault(e => e.Kind == JournalKinds.Decision);
            var decision = decisionEntry is null ? null : Safe<DecisionPayload>(decisionEntry);
            var outcomeEntry = group.LastOrDefault(e => e.Kind == JournalKinds.ActionOutcome);
            var outcome = outcomeEntry is null ? null : Safe<OutcomePayload>(outcomeEntry);
            var action = decision?.Action ?? outcome?.Action;
            var step = runs.SelectMany(r => r.Record!.Run.Steps.Select(s => (Run: r.Record!.Run, Step: s)))
                .FirstOrDefault(x => x.Step.JournalId is { } j && (j == group.Key || j.Contains(group.Key, StringComparison.Ordinal)));
            var state = outcome is not null ? ActionPipeline.Kebab(outcome.Status)
                : group.Any(e => e.Kind == JournalKinds.ApprovalDenied) ? "denied"
                : group.Any(e => e.Kind == JournalKinds.ApprovalRequested) && !group.Any(e => e.Kind == JournalKinds.ApprovalGranted) ? "awaiting-approval"
                : decision is not null ? ActionPipeline.Kebab(decision.Decision.Verdict) : "unknown";
            var why = string.Join("; ", new[]
            {
                action?.Reason,
                decision is null ? null : $"policy: {ActionPipeline.Kebab(decision.Decision.Verdict)} at level {(int)decision.Decision.Level} (needs {(int)decision.Decision.RequiredLevel} to run alone): {decision.Decision.Explain()}",
                outcome?.Message,
            }.OfType<string>());
            actions.Add(new AgentAction(
                group.First().Time,
                action?.Summary ?? group.First().Summary,
                step.Run?.Skill ?? (action?.Initiator is { } init && init.StartsWith("skill:", StringComparison.Ordinal) ? init[6..] : null),
                step.Step?.StepId,
                group.Key,
                decision is null ? null : ActionPipeline.Kebab(decision.Decision.Verdict),
                (int?)decision?.Decision.Level,
                (int?)decision?.Decision.RequiredLevel,
                state,
                why,
                group.Select(e => e.Seq).ToList())
            {
                Agent = group.Where(e => e.Kind == JournalKinds.ActionIntent).Select(e => Safe<IntentPayload>(e)?.Agent).FirstOrDefault(a => a is not null),
            });
        }

        foreach (var (entry, record) in runs)
        {
            var run = record!.Run;
            var acted = run.Steps.Where(s => s.Kind == Skills.SkillStepKind.Action).ToList();
            var checks = string.Join(", ", run.Steps.Where(s => s.Kind is Skills.SkillStepKind.Check or Skills.SkillStepKind.Verify or Skills.SkillStepKind.Wait)
                .Select(s => $"{s.StepId} {s.Status.ToString().ToLowerInvariant()}"));
            if (acted.Count == 0 || acted.All(a => actions.All(x => x.Step != a.StepId)))
            {
                actions.Add(new AgentAction(run.StartedAt, $"skill {run.Skill}: {JsonNamingPolicy.KebabCaseLower.ConvertName(run.Status.ToString())}",
                    run.Skill, acted.LastOrDefault()?.StepId, acted.LastOrDefault()?.JournalId, null, null, null,
                    JsonNamingPolicy.KebabCaseLower.ConvertName(run.Status.ToString()), $"{run.Message} (steps: {checks})", [entry.Seq]));
            }
        }

        if (actions.Count == 0)
        {
            unknowns.Add("no skill run and no action is journaled for this incident");
        }

        return actions.OrderBy(a => a.At).ToList();
    }

    private static List<TimelineEvent> Timeline(IncidentData data, IReadOnlyList<ClusterSnapshot> snapshots, IReadOnlyList<Finding> raised,
        IReadOnlyList<FindingEntry> findings, WriteOutage outage, string? oldLeader, DateTimeOffset? firstSymptom)
    {
        var events = new List<TimelineEvent>();
        var lastHealthy = snapshots.LastOrDefault(s => LeaderWritable(s) && (firstSymptom is null || s.TakenAt < firstSymptom));
        if (lastHealthy is not null)
        {
            events.Add(new(lastHealthy.TakenAt, "healthy", $"last snapshot with a writable leader ({lastHealthy.Leader}, timeline {lastHealthy.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"})", "snapshot", SeqOf(data, lastHealthy)));
        }

        if (RootCause.Primary(raised) is { } primary)
        {
            var first = primary.Evidence.OrderBy(e => e.At).FirstOrDefault();
            events.Add(new(primary.FirstSeen, "first-symptom", first is null ? primary.Summary : first.Observation, first?.Source ?? "finding", null));
        }

        if (outage.Start is { } start)
        {
            events.Add(new(start, "writes-down", "writes stop: " + outage.StartMethod, "impact", null));
        }

        var findingSeqs = data.Findings.ToDictionary(e => e.Seq);
        foreach (var e in data.Findings)
        {
            var f = Safe<FindingEntry>(e);
            if (f is null)
            {
                continue;
            }

            events.Add(f.Event == IncidentKinds.FindingCleared
                ? new(f.Finding.LastSeen, "finding-cleared", $"{f.Finding.Code} cleared{(f.Finding.Member is null ? "" : " on " + f.Finding.Member)}", "detection", e.Seq)
                : new(f.Finding.DetectedAt ?? e.Time, "detected", $"{f.Finding.Code} ({FindingJson.SeverityName(f.Finding.Severity)}): {f.Finding.Summary}", "detection", e.Seq));
        }

        foreach (var e in data.Events)
        {
            var evt = Safe<IncidentEvent>(e);
            if (evt is null || evt.Event is IncidentKinds.Linked)
            {
                continue;
            }

            events.Add(new(evt.At, "incident-" + evt.Event, evt.Message, "incident", e.Seq));
        }

        foreach (var e in data.Related)
        {
            var kind = e.Kind switch
            {
                JournalKinds.Decision => "decision",
                JournalKinds.ActionIntent => "action",
                JournalKinds.ActionOutcome => "action-outcome",
                JournalKinds.ApprovalRequested => "approval-requested",
                JournalKinds.ApprovalGranted => "approval-granted",
                JournalKinds.ApprovalDenied => "approval-denied",
                IncidentKinds.SkillRun => "skill-run",
                IncidentKinds.SkillNote => "skill-note",
                JournalKinds.Note when e.Topic is JournalKinds.FleetGained => "fleet-gained",
                JournalKinds.Note when e.Topic is JournalKinds.FleetLost => "fleet-lost",
                JournalKinds.Note => "operator-note",
                _ => null,
            };
            if (kind is null)
            {
                continue;
            }

            if (kind == "skill-run" && Safe<SkillRunRecord>(e) is { } run)
            {
                events.Add(new(run.Run.StartedAt, "skill-started", $"skill {run.Run.Skill} started", "skill", e.Seq));
                foreach (var step in run.Run.Steps.Where(s => s.Kind == Skills.SkillStepKind.Verify && s.Status == Skills.SkillStepStatus.Passed))
                {
                    events.Add(new(step.StartedAt.AddMilliseconds(step.ElapsedMs), "verified", $"verified ({step.StepId}): {step.Inputs.FirstOrDefault()?.Expression}", "skill", e.Seq));
                }
            }

            events.Add(new(e.Time, kind, e.Summary, e.Kind, e.Seq));
        }

        if (outage.End is { } end)
        {
            var writable = snapshots.FirstOrDefault(s => s.TakenAt >= end && LeaderWritable(s));
            events.Add(new(end, "writes-back", $"a leader accepts writes again{(writable?.Leader is { } l ? $" ({l}{(l != oldLeader ? ", new leader" : "")})" : "")}: {outage.EndMethod}", "impact", null));
            if (writable is not null)
            {
                events.Add(new(writable.TakenAt, "writable-seen", $"first snapshot with a writable leader {writable.Leader} (timeline {writable.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"})", "snapshot", SeqOf(data, writable)));
            }
        }

        return events.OrderBy(e => e.At).ThenBy(e => e.JournalSeq ?? 0).ToList();
    }

    private static List<ModelNarrative> Narratives(IncidentData data) =>
        [.. data.Related.Where(e => e.Kind == IncidentKinds.SkillNote)
            .Select(e => (Entry: e, Note: Safe<Skills.SkillNote>(e)))
            .Where(x => x.Note is { Kind: Skills.SkillRecordKinds.Investigation })
            .Select(x => new ModelNarrative(x.Entry.Time, Text(x.Note!.Data, "model") ?? "a model", x.Note.Skill, x.Note.StepId, Text(x.Note.Data, "question"), x.Note.Text,
                x.Entry.Seq, Text(x.Note.Data, "journal")))];

    private static string? Text(JsonElement? data, string name) =>
        data is { ValueKind: JsonValueKind.Object } d && d.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static List<string> FollowUps(IncidentData data, IReadOnlyList<ClusterSnapshot> snapshots, IReadOnlyList<Finding> raised, string? oldLeader, string? newLeader, long? newTimeline)
    {
        var list = new List<string>();
        foreach (var e in data.Related.Where(e => e.Kind == IncidentKinds.SkillNote))
        {
            if (Safe<Skills.SkillNote>(e) is { Kind: "follow-up" or "patch" } note)
            {
                list.Add($"{note.Text} (skill {note.Skill}, journal #{e.Seq})");
            }
        }

        var last = snapshots.LastOrDefault();
        if (newLeader is not null && oldLeader is not null)
        {
            list.Add($"Rebuild {oldLeader} as a replica of {newLeader} (pg_rewind, or patronictl reinit / pg-reinit) and lift any fence on it.");
            var inventory = last?.Inventory;
            if (inventory?.DeclaredPrimary is { } declared && declared != newLeader)
            {
                list.Add($"Fix inventory drift in {inventory.SourcePath ?? "the inventory"}: set pg_role: primary on {newLeader} and pg_role: replica on {declared} (the inventory-drift skill proposes the patch).");
            }

            if (newTimeline is not null)
            {
                list.Add($"Take a full backup on the new timeline {newTimeline.Value.ToString(CultureInfo.InvariantCulture)} (pgbackrest --stanza={inventory?.BackupStanza ?? data.Incident.Cluster} --type=full backup).");
            }
        }

        if (raised.Any(f => f.Code == FindingCodes.PrimaryDiskFull))
        {
            list.Add($"Find what filled {raised.First(f => f.Code == FindingCodes.PrimaryDiskFull).Member ?? "the primary"}'s WAL filesystem (archiving stuck? a replication slot holding WAL?) and give pg_wal headroom before it rejoins.");
        }

        if (raised.Any(f => f.Code == FindingCodes.ArchiveFailing))
        {
            list.Add("Repair WAL archiving (archive_command / pgBackRest repository) and check the archive has no gap.");
        }

        foreach (var carried in data.Incident.ActiveFindings.Where(k => data.Incident.State == IncidentState.Resolved))
        {
            list.Add($"Still active when the incident resolved: {carried}.");
        }

        return list.Distinct(StringComparer.Ordinal).ToList();
    }

    private static long? SeqOf(IncidentData data, ClusterSnapshot s) =>
        data.Snapshots.FirstOrDefault(e => SnapshotRecorder.Read(e)?.TakenAt == s.TakenAt)?.Seq;

    /// <summary>An entry's payload as <typeparamref name="T"/>, or null when it does not read as one.</summary>
    internal static T? Safe<T>(JournalEntry e)
        where T : class
    {
        try
        {
            return e.PayloadAs<T>();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static DateTimeOffset? ParseTime(string? text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : null;

    public static string Clock(DateTimeOffset t) => t.UtcDateTime.ToString("HH:mm:ss.f", CultureInfo.InvariantCulture);
}
