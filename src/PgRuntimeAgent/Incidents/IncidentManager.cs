using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Incidents;

/// <summary>Payload of a <c>finding</c> journal entry written for an incident (topic: the code; correlation: the incident).</summary>
public sealed record FindingEntry(string Event, string Incident, Finding Finding, long? SnapshotSeq);

/// <summary>What one <see cref="IncidentManager.ObserveAsync"/> did.</summary>
/// <param name="Incident">The cluster's incident after the call (the resolved one when it just resolved), or null.</param>
/// <param name="Triggers">Findings raised on this snapshot that belong to the incident: what the daemon runs skills for.</param>
/// <param name="Changes">The incident events journaled (opened, mitigating, resolved...), in order.</param>
public sealed record IncidentUpdate(Incident? Incident, IReadOnlyList<Finding> Triggers, IReadOnlyList<string> Changes, long? SnapshotSeq)
{
    public bool Opened => Changes.Contains(IncidentKinds.Opened);

    public bool Resolved => Changes.Contains(IncidentKinds.Resolved);

    public static IncidentUpdate None { get; } = new(null, [], [], null);
}

/// <summary>Incident settings that are not detection thresholds.</summary>
public sealed record IncidentOptions
{
    /// <summary>Findings below this severity open no incident of their own unless a skill acts on them
    /// (<see cref="SkillFindings"/>); they join an open one. Default critical: writes are down or at risk. Set it to
    /// warning to open incidents for every warning.</summary>
    public FindingSeverity OpenAt { get; init; } = FindingSeverity.Critical;

    /// <summary>
    /// Finding codes some skill triggers on (the daemon passes its catalog's). A warning with one of these codes opens
    /// an incident of warning severity even below <see cref="OpenAt"/>: the skill's run, its actions and approvals act on
    /// the cluster, and the incident is what journals the finding, links what was done, and gets a post-mortem; the
    /// daemon runs skills for an incident's findings only. A warning incident resolves when all its findings cleared,
    /// and turns critical if a critical finding joins it. Info findings never open one; warnings no skill acts on
    /// (a blind log sensor) only join an open incident, as before.
    /// </summary>
    public IReadOnlyCollection<string> SkillFindings { get; init; } = [];

    /// <summary>Whether <paramref name="finding"/>, raised outside an incident, opens one.</summary>
    public bool Opens(Finding finding)
    {
        ArgumentNullException.ThrowIfNull(finding);
        return finding.Severity >= OpenAt
            || (finding.Severity >= FindingSeverity.Warning && SkillFindings.Contains(finding.Code, StringComparer.Ordinal));
    }
}

/// <summary>
/// Groups a cluster's findings into incidents (open → mitigating → resolved) and journals everything an incident
/// needs to be explained and replayed later: the snapshots that led to it and every snapshot while it is open, each
/// finding raised or cleared, links to every decision, action, approval, skill run and note on the cluster meanwhile,
/// and each state change. One instance per agent; <see cref="ObserveAsync"/> is called once per snapshot per cluster.
/// </summary>
internal sealed partial class IncidentManager
{
    private static readonly string[] LinkedKinds =
    [
        JournalKinds.Decision, JournalKinds.ActionPrecheck, JournalKinds.ActionIntent, JournalKinds.ActionOutcome,
        JournalKinds.ApprovalRequested, JournalKinds.ApprovalGranted, JournalKinds.ApprovalDenied, JournalKinds.Note,
        IncidentKinds.SkillRun, IncidentKinds.SkillNote,
    ];

    private readonly IJournal _journal;
    private readonly DetectionSettings _settings;
    private readonly IncidentOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, OpenState> _open = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _carried = new(StringComparer.Ordinal);

    public IncidentManager(IJournal journal, DetectionSettings? settings = null, IncidentOptions? options = null, ILogger<IncidentManager>? logger = null,
        SnapshotRecorder? recorder = null)
    {
        _journal = journal;
        _settings = settings ?? DetectionSettings.Default;
        _options = options ?? new IncidentOptions();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        Snapshots = recorder ?? new SnapshotRecorder(journal);
    }

    /// <summary>Journals snapshots once; share it with the skill host (<see cref="RecordingSkillHost"/>).</summary>
    public SnapshotRecorder Snapshots { get; }

    private sealed class OpenState
    {
        public required Incident Incident { get; set; }

        public HashSet<string> Keys { get; } = new(StringComparer.Ordinal);

        public List<IncidentLink> Links { get; } = [];

        public long ScanAfter { get; set; }

        public HashSet<string> ApprovalsSeen { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>The open (or mitigating) incident of a cluster, or null.</summary>
    public Incident? Current(string cluster) => _open.TryGetValue(cluster, out var st) ? st.Incident : null;

    public IReadOnlyList<Incident> OpenIncidents => _open.Values.Select(s => s.Incident).ToList();

    /// <summary>
    /// Whether the cluster has an open incident, read under the manager's lock (safe from another thread than the loop's);
    /// null when the lock is busy (the loop is journaling): a caller that must not wait (the lease round) reads that as busy.
    /// </summary>
    public async Task<bool?> HasOpenAsync(string cluster, CancellationToken cancellationToken)
    {
        if (!await _gate.WaitAsync(0, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        try
        {
            return _open.ContainsKey(cluster);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// After a restart: reopens the incidents the journal shows as not resolved and restores the carried findings, so
    /// a still-active follow-up does not open a new incident and a running incident goes on.
    /// </summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var all = await IncidentStore.ListAsync(_journal, cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var group in all.GroupBy(i => i.Cluster, StringComparer.Ordinal))
            {
                await RestoreAsync(group.Key, group, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// When this agent takes a cluster over from another agent sharing the journal (docs/fleet.md): forgets what it
    /// knew of the cluster and reads its incidents from the journal again, so an incident the other agent opened goes on
    /// here (its findings carried, its links kept) and one the other agent resolved is not reopened.
    /// </summary>
    public async Task AdoptAsync(string cluster, CancellationToken cancellationToken)
    {
        var all = await IncidentStore.ListAsync(_journal, cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _open.Remove(cluster);
            _carried.Remove(cluster);
            await RestoreAsync(cluster, all.Where(i => string.Equals(i.Cluster, cluster, StringComparison.Ordinal)), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>When this agent no longer owns the cluster: its open incident is the new owner's to follow, not this agent's.</summary>
    public async Task ForgetAsync(string cluster, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _open.Remove(cluster);
            _carried.Remove(cluster);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task RestoreAsync(string cluster, IEnumerable<Incident> incidents, CancellationToken cancellationToken)
    {
        var latest = incidents.OrderBy(i => i.OpenedAt).LastOrDefault();
        if (latest is null)
        {
            return;
        }

        if (latest.IsOpen)
        {
            var st = new OpenState { Incident = latest, ScanAfter = latest.Links.Select(l => l.Seq).DefaultIfEmpty(latest.OpenedSeq).Max() };
            foreach (var key in latest.ActiveFindings)
            {
                st.Keys.Add(key);
            }

            st.Links.AddRange(latest.Links);
            _open[cluster] = st;
        }
        else
        {
            var events = await IncidentStore.EventsAsync(_journal, latest.Id, cancellationToken).ConfigureAwait(false);
            var resolved = events.Select(e => e.PayloadAs<IncidentEvent>()).LastOrDefault(e => e?.Event == IncidentKinds.Resolved);
            _carried[cluster] = new HashSet<string>(resolved?.Carried ?? [], StringComparer.Ordinal);
        }
    }

    /// <summary>
    /// Takes one detection result (and the detector's history, journaled when an incident opens so replay has what the
    /// detectors judged on): opens, updates, moves to mitigating or resolves the cluster's incident.
    /// </summary>
    public async Task<IncidentUpdate> ObserveAsync(DetectionResult detection, IReadOnlyList<ClusterSnapshot> history, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(detection);
        ArgumentNullException.ThrowIfNull(history);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await ObserveCoreAsync(detection, history, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<IncidentUpdate> ObserveCoreAsync(DetectionResult detection, IReadOnlyList<ClusterSnapshot> history, CancellationToken cancellationToken)
    {
        var s = detection.Snapshot;
        var cluster = s.Cluster;
        var carried = _carried.TryGetValue(cluster, out var c) ? c : _carried[cluster] = new HashSet<string>(StringComparer.Ordinal);
        foreach (var gone in detection.Cleared)
        {
            carried.Remove(gone.Key);
        }

        var activeKeys = detection.Active.Select(f => f.Key).ToHashSet(StringComparer.Ordinal);
        carried.IntersectWith(activeKeys);
        var changes = new List<string>();

        if (!_open.TryGetValue(cluster, out var st))
        {
            var opening = detection.Raised.Where(f => !carried.Contains(f.Key) && _options.Opens(f)).ToList();
            if (opening.Count == 0)
            {
                return IncidentUpdate.None;
            }

            st = await OpenAsync(detection, history, carried, opening, cancellationToken).ConfigureAwait(false);
            changes.Add(IncidentKinds.Opened);
            var triggers = detection.Active.Where(f => st.Keys.Contains(f.Key)).ToList();
            return new IncidentUpdate(st.Incident, triggers, changes, st.Links.LastOrDefault(l => l.Role == "snapshot")?.Seq);
        }

        var id = st.Incident.Id;
        var snapshotSeq = await Snapshots.RecordAsync(s, id, cancellationToken).ConfigureAwait(false);
        var newLinks = new List<IncidentLink> { new(snapshotSeq, JournalKinds.Snapshot, "snapshot", s.TakenAt, id) };
        var raised = detection.Raised.Where(f => !carried.Contains(f.Key)).ToList();
        foreach (var f in raised)
        {
            st.Keys.Add(f.Key);
            newLinks.Add(await AppendFindingAsync(IncidentKinds.FindingRaised, id, f, snapshotSeq, cancellationToken).ConfigureAwait(false));
            if (f.Severity > st.Incident.Severity)
            {
                st.Incident = st.Incident with { Severity = f.Severity, Title = f.Summary };
            }

            if (!st.Incident.Codes.Contains(f.Code, StringComparer.Ordinal))
            {
                st.Incident = st.Incident with { Codes = [.. st.Incident.Codes, f.Code] };
            }
        }

        foreach (var f in detection.Cleared.Where(f => st.Keys.Contains(f.Key)))
        {
            newLinks.Add(await AppendFindingAsync(IncidentKinds.FindingCleared, id, f with { LastSeen = f.LastSeen }, snapshotSeq, cancellationToken).ConfigureAwait(false));
        }

        // Everything done about the cluster since the last look: decisions, actions, approvals, skill runs, notes.
        var entries = await _journal.QueryAsync(new JournalQuery { Cluster = cluster, Kinds = LinkedKinds, AfterSeq = st.ScanAfter }, cancellationToken).ConfigureAwait(false);
        foreach (var e in entries)
        {
            newLinks.Add(new IncidentLink(e.Seq, e.Kind, RoleOf(e.Kind), e.Time, e.CorrelationId));
            st.ScanAfter = Math.Max(st.ScanAfter, e.Seq);
        }

        st.Links.AddRange(newLinks);
        var active = detection.Active.Where(f => st.Keys.Contains(f.Key)).ToList();
        st.Incident = st.Incident with { ActiveFindings = active.Select(f => f.Key).ToList(), Links = st.Links.ToList() };

        foreach (var approval in entries.Where(e => e.Kind == JournalKinds.ApprovalRequested && e.CorrelationId is not null && st.ApprovalsSeen.Add(e.CorrelationId)))
        {
            await AppendEventAsync(st, IncidentKinds.AwaitingApproval, s.TakenAt, $"waiting for an operator: {approval.Summary} (pgra approve {approval.CorrelationId})",
                null, [new IncidentLink(approval.Seq, approval.Kind, "approval", approval.Time, approval.CorrelationId)], cancellationToken).ConfigureAwait(false);
            changes.Add(IncidentKinds.AwaitingApproval);
        }

        if (st.Incident.State == IncidentState.Open && entries.FirstOrDefault(IsMitigation) is { } mitigation)
        {
            st.Incident = st.Incident with { State = IncidentState.Mitigating, MitigatingAt = mitigation.Time };
            await AppendEventAsync(st, IncidentKinds.Mitigating, mitigation.Time, $"mitigating: {mitigation.Summary}", null,
                [new IncidentLink(mitigation.Seq, mitigation.Kind, RoleOf(mitigation.Kind), mitigation.Time, mitigation.CorrelationId)], cancellationToken).ConfigureAwait(false);
            changes.Add(IncidentKinds.Mitigating);
        }

        if (await IsResolvedAsync(st, s, active, cancellationToken).ConfigureAwait(false))
        {
            var carry = detection.Active.Select(f => f.Key).Where(k => st.Keys.Contains(k)).ToList();
            st.Incident = st.Incident with { State = IncidentState.Resolved, ResolvedAt = s.TakenAt };
            var leader = s.Leader is null ? "" : $"; leader {s.Leader} accepts writes";
            await AppendEventAsync(st, IncidentKinds.Resolved, s.TakenAt,
                $"resolved: {(st.Incident.Severity == FindingSeverity.Critical ? "no critical finding is active" : "every finding cleared")}{leader}"
                + (carry.Count > 0 ? $"; carried as follow-ups: {string.Join(", ", carry)}" : ""),
                null, newLinks, cancellationToken, carry).ConfigureAwait(false);
            foreach (var k in carry)
            {
                carried.Add(k);
            }

            _open.Remove(cluster);
            changes.Add(IncidentKinds.Resolved);
            LogResolved(_logger, st.Incident.Id, cluster);
        }
        else if (raised.Count > 0 || entries.Count > 0 || detection.Cleared.Any(f => st.Keys.Contains(f.Key)))
        {
            await AppendEventAsync(st, IncidentKinds.Linked, s.TakenAt,
                $"{raised.Count} finding(s) raised, {detection.Cleared.Count(f => st.Keys.Contains(f.Key))} cleared, {entries.Count} entr{(entries.Count == 1 ? "y" : "ies")} linked",
                null, newLinks, cancellationToken).ConfigureAwait(false);
            changes.Add(IncidentKinds.Linked);
        }

        return new IncidentUpdate(st.Incident, raised, changes, snapshotSeq);
    }

    private async Task<OpenState> OpenAsync(DetectionResult detection, IReadOnlyList<ClusterSnapshot> history, HashSet<string> carried,
        IReadOnlyList<Finding> opening, CancellationToken cancellationToken)
    {
        var s = detection.Snapshot;
        var id = await NewIdAsync(s.Cluster, s.TakenAt, cancellationToken).ConfigureAwait(false);
        var links = new List<IncidentLink>();
        foreach (var h in history.Where(h => h.Cluster == s.Cluster && h.TakenAt < s.TakenAt).OrderBy(h => h.TakenAt))
        {
            links.Add(new IncidentLink(await Snapshots.RecordAsync(h, id, cancellationToken).ConfigureAwait(false), JournalKinds.Snapshot, "snapshot", h.TakenAt, id));
        }

        var snapshotSeq = await Snapshots.RecordAsync(s, id, cancellationToken).ConfigureAwait(false);
        links.Add(new IncidentLink(snapshotSeq, JournalKinds.Snapshot, "snapshot", s.TakenAt, id));
        var primary = RootCause.Primary(opening)!;
        var before = history.Where(h => h.TakenAt < primary.FirstSeen).Select(SnapshotFacts.KeyHolder).LastOrDefault(l => l is not null)
            ?? history.Select(SnapshotFacts.KeyHolder).LastOrDefault(l => l is not null) ?? s.Leader;
        var incident = new Incident
        {
            Id = id,
            Cluster = s.Cluster,
            State = IncidentState.Open,
            Severity = opening.Max(f => f.Severity),
            Title = primary.Summary,
            OpenedAt = s.TakenAt,
            LeaderBefore = before,
            Codes = opening.Select(f => f.Code).Distinct(StringComparer.Ordinal).ToList(),
            Settings = _settings,
        };
        var st = new OpenState { Incident = incident };
        st.Links.AddRange(links);
        var opened = await AppendEventAsync(st, IncidentKinds.Opened, s.TakenAt, $"opened: {primary.Summary}", primary, links, cancellationToken).ConfigureAwait(false);
        st.Incident = st.Incident with { OpenedSeq = opened.Seq };
        st.ScanAfter = opened.Seq;
        foreach (var f in detection.Active.Where(f => !carried.Contains(f.Key)))
        {
            st.Keys.Add(f.Key);
            st.Links.Add(await AppendFindingAsync(IncidentKinds.FindingRaised, id, f, snapshotSeq, cancellationToken).ConfigureAwait(false));
            if (!st.Incident.Codes.Contains(f.Code, StringComparer.Ordinal))
            {
                st.Incident = st.Incident with { Codes = [.. st.Incident.Codes, f.Code] };
            }
        }

        st.Incident = st.Incident with { ActiveFindings = st.Keys.ToList(), Links = st.Links.ToList() };
        _open[s.Cluster] = st;
        LogOpened(_logger, id, s.Cluster, primary.Code);
        return st;
    }

    /// <summary>Backup schedule per cluster the detectors run with; journaled when an incident opens (replay uses it).</summary>
    public IReadOnlyDictionary<string, BackupSchedule> BackupSchedules { get; init; } = new Dictionary<string, BackupSchedule>(StringComparer.Ordinal);

    private async Task<bool> IsResolvedAsync(OpenState st, ClusterSnapshot s, IReadOnlyList<Finding> active, CancellationToken cancellationToken)
    {
        var done = st.Incident.Severity == FindingSeverity.Critical
            ? !active.Any(f => f.Severity == FindingSeverity.Critical) && SnapshotFacts.LeaderWritable(s)
            : active.Count == 0;
        if (!done)
        {
            return false;
        }

        // An action still running on the cluster (an intent without outcome) keeps the incident in mitigation.
        var open = await _journal.GetOpenIntentsAsync(s.Cluster, cancellationToken).ConfigureAwait(false);
        return open.Count == 0;
    }

    private static bool IsMitigation(JournalEntry e) => e.Kind switch
    {
        JournalKinds.ActionIntent => true,
        IncidentKinds.SkillRun => SkillActed(e),
        _ => false,
    };

    private static bool SkillActed(JournalEntry e)
    {
        try
        {
            var record = e.PayloadAs<SkillRunRecord>();
            return record?.Run.Steps.Any(x => x.Kind == SkillStepKind.Action && x.Status is SkillStepStatus.Succeeded or SkillStepStatus.Failed or SkillStepStatus.PendingApproval) == true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    public static string RoleOf(string kind) => kind switch
    {
        JournalKinds.Snapshot => "snapshot",
        JournalKinds.Finding => "finding",
        JournalKinds.Decision => "decision",
        JournalKinds.ActionPrecheck => "precheck",
        JournalKinds.ActionIntent => "intent",
        JournalKinds.ActionOutcome => "outcome",
        JournalKinds.ApprovalRequested or JournalKinds.ApprovalGranted or JournalKinds.ApprovalDenied => "approval",
        IncidentKinds.SkillRun => "skill-run",
        IncidentKinds.SkillNote => "skill-note",
        _ => "note",
    };

    /// <summary>
    /// Journals a skill run (kind <c>skill.run</c>) for the cluster's incident with the snapshots its host served, so
    /// replay can serve them again. Call it when a run ends (whatever its status).
    /// </summary>
    public Task<JournalEntry> RecordSkillRunAsync(SkillRun run, IReadOnlyList<long> servedSnapshots, CancellationToken cancellationToken) =>
        RecordSkillRunAsync(run, servedSnapshots, null, cancellationToken);

    /// <summary>
    /// Journals a skill run for <paramref name="incidentId"/>: the incident that was open when the run started, so a run
    /// that ends after its incident resolved still belongs to it (null: the cluster's incident now, if any).
    /// </summary>
    public async Task<JournalEntry> RecordSkillRunAsync(SkillRun run, IReadOnlyList<long> servedSnapshots, string? incidentId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(servedSnapshots);
        var incident = incidentId ?? Current(run.Cluster)?.Id ?? "";
        var code = run.Trigger is { ValueKind: JsonValueKind.Object } t && t.TryGetProperty("code", out var c2) ? c2.GetString() : null;
        return await _journal.AppendAsync(JournalRecord.Create(IncidentKinds.SkillRun,
            $"skill {run.Skill}{(code is null ? "" : $" ({code})")} on {run.Cluster}: {JsonNamingPolicy.KebabCaseLower.ConvertName(run.Status.ToString())}{(run.DryRun ? " (dry run)" : "")}: {run.Message}",
            new SkillRunRecord { Incident = incident, Run = run, ServedSnapshots = servedSnapshots },
            run.Cluster, null, incident.Length == 0 ? null : incident, run.Skill), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Journals a note, follow-up or patch a skill recorded (kind <c>skill.note</c>) for the cluster's incident.</summary>
    public Task<JournalEntry> RecordNoteAsync(SkillNote note, CancellationToken cancellationToken) => RecordNoteAsync(note, null, cancellationToken);

    /// <summary>Journals a skill's note for <paramref name="incidentId"/> (the run's incident; null: the cluster's incident now).</summary>
    public async Task<JournalEntry> RecordNoteAsync(SkillNote note, string? incidentId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(note);
        var incident = incidentId ?? Current(note.Cluster)?.Id;
        return await _journal.AppendAsync(JournalRecord.Create(IncidentKinds.SkillNote, $"{note.Kind} ({note.Skill}/{note.StepId}): {note.Text}", note,
            note.Cluster, null, incident, note.Kind), cancellationToken).ConfigureAwait(false);
    }

    private async Task<IncidentLink> AppendFindingAsync(string evt, string incident, Finding f, long snapshotSeq, CancellationToken cancellationToken)
    {
        var verb = evt == IncidentKinds.FindingCleared ? "cleared" : "raised";
        var entry = await _journal.AppendAsync(JournalRecord.Create(JournalKinds.Finding,
            $"{f.Code} {verb} ({FindingJson.SeverityName(f.Severity)}): {f.Summary}", new FindingEntry(evt, incident, f, snapshotSeq),
            f.Cluster, f.Member, incident, f.Code), cancellationToken).ConfigureAwait(false);
        return new IncidentLink(entry.Seq, JournalKinds.Finding, "finding", entry.Time, incident);
    }

    private async Task<JournalEntry> AppendEventAsync(OpenState st, string evt, DateTimeOffset at, string message, Finding? finding,
        IReadOnlyList<IncidentLink> links, CancellationToken cancellationToken, IReadOnlyList<string>? carried = null)
    {
        var i = st.Incident;
        var payload = new IncidentEvent
        {
            Incident = i.Id,
            Event = evt,
            Cluster = i.Cluster,
            State = i.State,
            Severity = i.Severity,
            At = at,
            Message = message,
            Finding = finding,
            Links = links,
            LeaderBefore = evt == IncidentKinds.Opened ? i.LeaderBefore : null,
            Settings = evt == IncidentKinds.Opened ? _settings : null,
            BackupSchedule = evt == IncidentKinds.Opened ? BackupSchedules.GetValueOrDefault(i.Cluster) : null,
            Carried = carried ?? [],
        };
        return await _journal.AppendAsync(JournalRecord.Create(JournalKinds.Incident, $"incident {i.Id} {message}", payload, i.Cluster,
            finding?.Member, i.Id, evt), cancellationToken).ConfigureAwait(false);
    }

    private async Task<string> NewIdAsync(string cluster, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var baseId = "inc-" + cluster + "-" + at.UtcDateTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        var id = baseId;
        for (var n = 2; ; n++)
        {
            var existing = await _journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.Incident], CorrelationId = id, Limit = 1 }, cancellationToken).ConfigureAwait(false);
            if (existing.Count == 0)
            {
                return id;
            }

            id = baseId + "-" + n.ToString(CultureInfo.InvariantCulture);
        }
    }

    [LoggerMessage(EventId = 7000, Level = LogLevel.Warning, Message = "Incident {Incident} opened on {Cluster}: {Code}")]
    private static partial void LogOpened(ILogger logger, string incident, string cluster, string code);

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Incident {Incident} on {Cluster} resolved")]
    private static partial void LogResolved(ILogger logger, string incident, string cluster);
}
