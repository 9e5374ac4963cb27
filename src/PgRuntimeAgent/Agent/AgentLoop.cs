using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Agent;

/// <summary>What the loop watches and how.</summary>
internal sealed record AgentLoopOptions
{
    /// <summary>Clusters watched, each by its own task.</summary>
    public required IReadOnlyList<string> Clusters { get; init; }

    /// <summary>Time from the start of one snapshot to the start of the next (<c>sensing.interval_seconds</c>).</summary>
    public required TimeSpan Interval { get; init; }

    public AgentRunSettings Run { get; init; } = new();

    public DetectionSettings Detection { get; init; } = DetectionSettings.Default;

    /// <summary>What detection needs from the inventory per cluster (the backup schedule).</summary>
    public Func<string, DetectionContext> Context { get; init; } = _ => DetectionContext.Empty;

    /// <summary>Where post-mortems of resolved incidents are written; null: not written (they stay in the journal).</summary>
    public string? PostmortemDirectory { get; init; }
}

/// <summary>
/// The agent's loop: for each cluster, every interval, sense a snapshot, detect, open/update/resolve the incident,
/// journal the snapshot stream (every snapshot during an incident, on change or every Nth outside), and run the skills
/// the incident's findings trigger, one run per cluster at a time, through the skill host and the action pipeline
/// (policy, guardrails, approvals). Before it acts at all it reconciles intents a previous run left open. A sensor
/// that fails degrades the snapshot; a snapshot that cannot be taken at all is retried with back-off and reported
/// as an outage; nothing here ends the loop but cancellation. On cancellation sensing stops at once and a skill run
/// in the middle of an action gets <see cref="AgentRunSettings.ShutdownGraceSeconds"/> to finish.
/// </summary>
internal sealed partial class AgentLoop
{
    private readonly AgentLoopOptions _options;
    private readonly Func<string, CancellationToken, Task<ClusterSnapshot>> _sense;
    private readonly Func<string, CancellationToken, Task<ClusterSnapshot>> _skillSense;
    private readonly IncidentManager _incidents;
    private readonly AgentActing _acting;
    private readonly SkillCatalog _skills;
    private readonly SkillRunner _runner;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private IReadOnlyList<IAgentObserver> _observers;
    private readonly Dictionary<string, ClusterState> _states = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _runStop = new();
    private readonly SemaphoreSlim _postMortems = new(1, 1);

    /// <param name="sense">Takes the loop's snapshots (full sensing).</param>
    /// <param name="skillSense">Takes the snapshots a skill run asks for (null: <paramref name="sense"/>).</param>
    public AgentLoop(AgentLoopOptions options, Func<string, CancellationToken, Task<ClusterSnapshot>> sense, IncidentManager incidents, AgentActing acting,
        SkillCatalog skills, SkillRunner runner, TimeProvider time, ILogger logger, IReadOnlyList<IAgentObserver>? observers = null,
        Func<string, CancellationToken, Task<ClusterSnapshot>>? skillSense = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _sense = sense;
        _skillSense = skillSense ?? sense;
        _incidents = incidents;
        _acting = acting;
        _skills = skills;
        _runner = runner;
        _time = time;
        _logger = logger;
        _observers = observers ?? [];
        foreach (var cluster in options.Clusters)
        {
            _states[cluster] = new ClusterState(cluster, new ClusterDetector(cluster, options.Detection, options.Context(cluster)));
        }
    }

    /// <summary>Adds an observer (the demo's live view, a drill); safe while the loop runs.</summary>
    public void AddObserver(IAgentObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        lock (_finished)
        {
            _observers = [.. _observers, observer];
        }
    }

    /// <summary>The loop's state of one cluster (tests drive <see cref="TickAsync"/> with it).</summary>
    internal ClusterState StateOf(string cluster) => _states[cluster];

    /// <summary>Waits until no skill run is in progress on <paramref name="cluster"/> (tests).</summary>
    internal async Task WhenIdleAsync(string cluster)
    {
        while ((_states[cluster].Run ?? _states[cluster].Urgent) is { } run)
        {
            try
            {
                await run.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            Harvest(_states[cluster]);
        }
    }

    /// <summary>Skill runs finished so far, in order (tests and the demo read them).</summary>
    public IReadOnlyList<SkillRunOutcome> Runs
    {
        get
        {
            lock (_finished)
            {
                return [.. _finished];
            }
        }
    }

    private readonly List<SkillRunOutcome> _finished = [];

    /// <summary>Runs until <paramref name="stop"/> is cancelled; returns after in-flight skill runs ended or were cut off.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        Emit(new AgentEvent
        {
            Name = AgentEventNames.Started,
            At = _time.GetUtcNow(),
            Title = $"watching {string.Join(", ", _options.Clusters)} every {_options.Interval.TotalSeconds:0.#} s with {_skills.Skills.Count} skill(s)",
        });
        Log.Started(_logger, string.Join(", ", _options.Clusters), _options.Interval.TotalSeconds, _skills.Skills.Count);
        try
        {
            await StartUpAsync(stop).ConfigureAwait(false);
            await Task.WhenAll(_states.Values.Select(s => ClusterLoopAsync(s, stop))).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        finally
        {
            await DrainAsync().ConfigureAwait(false);
            Emit(new AgentEvent { Name = AgentEventNames.Stopped, At = _time.GetUtcNow(), Title = "stopped" });
            Log.Stopped(_logger);
        }
    }

    /// <summary>Start-up, before any action: open incidents and open intents from the journal, skill cooldowns and pending approvals.</summary>
    internal async Task StartUpAsync(CancellationToken stop)
    {
        await _incidents.LoadAsync(stop).ConfigureAwait(false);
        IReadOnlyList<Acting.ReconcileReport> reports;
        try
        {
            reports = await _acting.Pipeline.ReconcileAsync(null, stop).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.ReconcileFailed(_logger, ex.Message);
            reports = [];
        }

        foreach (var r in reports)
        {
            Emit(new AgentEvent
            {
                Name = AgentEventNames.Reconciled,
                At = _time.GetUtcNow(),
                Cluster = r.Cluster,
                Severity = "warning",
                Title = $"open intent {r.ActionId} ({r.Kind}): {r.Result}",
                Message = r.Message,
            });
            Log.Reconciled(_logger, r.ActionId, r.Kind, r.Cluster, r.Result);
        }

        await RestoreSkillStateAsync(stop).ConfigureAwait(false);
    }

    /// <summary>The last run of each skill per cluster and trigger (cooldowns and retry times, by the same rule as a live
    /// run: <see cref="ClusterState.Record"/>), and runs that ended waiting for an approval still pending.</summary>
    private async Task RestoreSkillStateAsync(CancellationToken stop)
    {
        var entries = await _acting.Journal.QueryAsync(new JournalQuery { Kinds = [IncidentKinds.SkillRun], Since = _time.GetUtcNow().AddDays(-1) }, stop)
            .ConfigureAwait(false);
        foreach (var entry in entries)
        {
            SkillRunRecord? record;
            try
            {
                record = entry.PayloadAs<SkillRunRecord>();
            }
            catch (JsonException)
            {
                continue;
            }

            if (record?.Run is not { } run || !_states.TryGetValue(run.Cluster, out var st) || _skills.Find(run.Skill) is not { } skill)
            {
                continue;
            }

            if (run.Status == SkillRunStatus.AwaitingApproval && ApprovalOf(run) is { } approval && Finding(run.Trigger) is { } trigger)
            {
                st.Awaiting = new Awaiting(skill, approval, trigger, run.FinishedAt);
            }
            else
            {
                st.Awaiting = st.Awaiting?.Skill.Name == skill.Name ? null : st.Awaiting;
                st.Record(skill, run, _options.Run);
            }
        }
    }

    private async Task ClusterLoopAsync(ClusterState st, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var started = _time.GetTimestamp();
            try
            {
                await TickAsync(st, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // A bug or an unexpected failure (the journal's disk, a parser): say so, keep watching.
                Log.TickFailed(_logger, st.Cluster, ex.GetType().Name, ex.Message);
            }

            var wait = st.Failures >= _options.Run.OutageAfter
                ? TimeSpan.FromSeconds(Math.Min(_options.Run.MaxBackoffSeconds, _options.Interval.TotalSeconds * Math.Pow(2, st.Failures - _options.Run.OutageAfter + 1)))
                : _options.Interval - _time.GetElapsedTime(started);
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, _time, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
            }
        }
    }

    /// <summary>One pass over a cluster: harvest a finished skill run, sense, detect, incident, journal, approvals, skills.</summary>
    internal async Task TickAsync(ClusterState st, CancellationToken stop)
    {
        Harvest(st);
        ClusterSnapshot snapshot;
        try
        {
            snapshot = await _sense(st.Cluster, stop).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stop.IsCancellationRequested)
        {
            st.Failures++;
            Log.SenseFailed(_logger, st.Cluster, st.Failures, ex.Message);
            if (st.Failures == _options.Run.OutageAfter)
            {
                Emit(new AgentEvent
                {
                    Name = AgentEventNames.SensingOutage,
                    At = _time.GetUtcNow(),
                    Cluster = st.Cluster,
                    Severity = "warning",
                    Title = $"no snapshot of {st.Cluster} in {st.Failures} attempts: the agent is blind to it and takes no action there",
                    Message = ex.Message,
                });
            }

            return;
        }

        if (st.Failures >= _options.Run.OutageAfter)
        {
            Emit(new AgentEvent { Name = AgentEventNames.SensingRestored, At = _time.GetUtcNow(), Cluster = st.Cluster, Title = $"sensing {st.Cluster} again" });
        }

        st.Failures = 0;
        st.Snapshots++;
        var detection = st.Detector.Observe(snapshot);
        st.Latest = detection;
        Emit(SnapshotEvent(snapshot));
        foreach (var f in detection.Raised)
        {
            Emit(FindingEvent(AgentEventNames.FindingRaised, f, null));
        }

        foreach (var f in detection.Cleared)
        {
            Emit(FindingEvent(AgentEventNames.FindingCleared, f, null));
        }

        IncidentUpdate update;
        try
        {
            update = await _incidents.ObserveAsync(detection, st.Detector.History, stop).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is JournalException or IOException or Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException)
        {
            Log.JournalFailed(_logger, st.Cluster, ex.Message);
            update = IncidentUpdate.None;
        }

        await JournalSnapshotAsync(st, snapshot, update, stop).ConfigureAwait(false);
        var written = update.Resolved ? await WritePostMortemAsync(update.Incident!.Id, false, stop).ConfigureAwait(false) : null;
        EmitIncidentChanges(update, snapshot, written);
        await FollowApprovalAsync(st, stop).ConfigureAwait(false);
        StartSkillIfDue(st, detection, update);
    }

    private async Task JournalSnapshotAsync(ClusterState st, ClusterSnapshot snapshot, IncidentUpdate update, CancellationToken stop)
    {
        var shape = Shape(snapshot);
        var changed = !string.Equals(shape, st.Shape, StringComparison.Ordinal);
        st.Shape = shape;
        st.SinceJournaled++;
        if (update.SnapshotSeq is not null)
        {
            st.SinceJournaled = 0;
            return;
        }

        var every = _options.Run.SnapshotEvery;
        if (!changed && (every <= 0 || st.SinceJournaled < every))
        {
            return;
        }

        try
        {
            await _incidents.Snapshots.RecordAsync(snapshot, null, stop).ConfigureAwait(false);
            st.SinceJournaled = 0;
        }
        catch (Exception ex) when (ex is JournalException or IOException or Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException)
        {
            Log.JournalFailed(_logger, st.Cluster, ex.Message);
        }
    }

    /// <summary>What makes a snapshot worth journaling outside an incident: roles, reachability, timeline, sensor health, drift.</summary>
    internal static string Shape(ClusterSnapshot s)
    {
        var b = new StringBuilder();
        b.Append(s.Leader).Append('|').Append(s.Timeline?.ToString(CultureInfo.InvariantCulture)).Append('|');
        foreach (var m in s.Members.OrderBy(m => m.Name, StringComparer.Ordinal))
        {
            b.Append(m.Name).Append(':').Append(m.PatroniRole).Append(',').Append(m.PatroniState).Append(',').Append(m.Reachable)
                .Append(',').Append(m.PostgresRunning).Append(',').Append(m.PostgresReachable).Append(',').Append(m.InRecovery)
                .Append(',').Append(m.Streaming).Append(';');
        }

        b.Append('|');
        foreach (var sensor in s.Sensors.OrderBy(x => x.Sensor, StringComparer.Ordinal))
        {
            b.Append(sensor.Sensor).Append('=').Append(sensor.Health).Append(';');
        }

        b.Append('|').AppendJoin(',', s.Drift.Select(d => d.Code + "@" + d.Member).Order(StringComparer.Ordinal));
        return b.ToString();
    }

    /// <summary>
    /// Renders a resolved incident's post-mortem from the journal into the post-mortem directory; null when not written.
    /// </summary>
    /// <remarks>
    /// A skill run belongs to the incident that was open when it started (the id is fixed at start and journaled with
    /// the run), but the incident may resolve while the run still verifies, and the file is written at resolution. The
    /// loop does not wait for the run (that would stop sensing every cluster's tick for as long as a verify step lasts);
    /// instead the run, once its record is in the journal, renders its incident's post-mortem again if the incident has
    /// resolved by then (<paramref name="onlyIfResolved"/>). Both render from the journal under one lock, so whichever
    /// writes last had the run's record to read: the file on disk always includes the run.
    /// </remarks>
    private async Task<string?> WritePostMortemAsync(string incidentId, bool onlyIfResolved, CancellationToken stop)
    {
        if (_options.PostmortemDirectory is not { } dir)
        {
            return null;
        }

        await _postMortems.WaitAsync(stop).ConfigureAwait(false);
        try
        {
            if (onlyIfResolved
                && IncidentStore.Fold(await IncidentStore.EventsAsync(_acting.Journal, incidentId, stop).ConfigureAwait(false)) is not { State: IncidentState.Resolved })
            {
                return null;
            }

            var report = await PostMortemWriter.BuildAsync(_acting.Journal, incidentId, stop).ConfigureAwait(false);
            if (report is null)
            {
                return null;
            }

            var (markdown, _) = await PostMortemWriter.WriteAsync(report, dir, stop).ConfigureAwait(false);
            Log.PostMortemWritten(_logger, incidentId, markdown);
            return markdown;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JournalException or JsonException)
        {
            Log.PostMortemFailed(_logger, incidentId, dir, ex.Message);
            return null;
        }
        finally
        {
            _postMortems.Release();
        }
    }

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

    /// <summary>A run that ended waiting for an approval: when the operator decided, act on it.</summary>
    private async Task FollowApprovalAsync(ClusterState st, CancellationToken stop)
    {
        // An approval asked for by an urgent run is followed while a regular run holds the cluster (a warning's skill
        // may wait minutes); an approved action that still has to run takes whichever slot is free.
        if (st.Awaiting is not { } awaiting || (st.Run is not null && st.Urgent is not null))
        {
            return;
        }

        var approval = await _acting.Approvals.GetAsync(awaiting.ApprovalId, stop).ConfigureAwait(false);
        switch (approval?.Status)
        {
            case ApprovalStatus.Pending:
                return;
            case ApprovalStatus.Executed:
                EmitDecided(st, approval, "approved and executed");
                st.Awaiting = null;
                st.RerunAfterSnapshot = st.Snapshots + 2;
                st.Rerun = awaiting;
                return;
            case ApprovalStatus.Approved when st.Run is not null:
                // The regular slot is busy: run it in the urgent one; the skill looks again two snapshots after it ends.
                EmitDecided(st, approval, "approved: running it");
                st.Awaiting = null;
                st.Rerun = awaiting;
                st.RerunAfterSnapshot = st.Snapshots + 2;
                st.Urgent = RunApprovedAsync(st, awaiting);
                return;
            case ApprovalStatus.Approved:
                // Approved but not run (for example approved from another tool that does not execute): run it here.
                EmitDecided(st, approval, "approved: running it");
                st.Awaiting = null;
                st.Rerun = awaiting;
                st.RerunAfterSnapshot = long.MaxValue;
                st.RunSkill = awaiting.Skill.Name;
                st.RunSeverity = awaiting.Trigger.Severity;
                st.Run = RunApprovedAsync(st, awaiting);
                return;
            default:
                EmitDecided(st, approval, approval is null ? "gone from the journal" : approval.Status.ToString().ToLowerInvariant());
                st.Awaiting = null;
                st.StartCooldown(awaiting.Skill, awaiting.Trigger, _time.GetUtcNow());
                return;
        }
    }

    private async Task<SkillRunOutcome?> RunApprovedAsync(ClusterState st, Awaiting awaiting)
    {
        try
        {
            var result = await _acting.Pipeline.RunApprovedAsync(awaiting.ApprovalId, _runStop.Token).ConfigureAwait(false);
            Emit(new AgentEvent
            {
                Name = AgentEventNames.ActionFinished,
                At = _time.GetUtcNow(),
                Cluster = st.Cluster,
                Incident = _incidents.Current(st.Cluster)?.Id,
                Title = $"{result.Action.Summary}: {Acting.ActionPipeline.Kebab(result.Status)}",
                Message = result.Message,
            });
        }
        catch (Exception ex) when (ex is InputException or JournalException)
        {
            Log.ApprovedRunFailed(_logger, awaiting.ApprovalId, ex.Message);
        }

        return null;
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

    /// <summary>Collects a finished skill run: cooldown, or the approval it waits for.</summary>
    private void Harvest(ClusterState st)
    {
        if (st.Urgent is { IsCompleted: true } urgent)
        {
            st.Urgent = null;
            Collect(st, urgent);
        }

        if (st.Run is not { IsCompleted: true } task)
        {
            return;
        }

        st.Run = null;
        st.RunSkill = null;
        if (st.Rerun is not null && st.RerunAfterSnapshot == long.MaxValue)
        {
            // An approved action the loop ran itself has finished: look again two snapshots later.
            st.RerunAfterSnapshot = st.Snapshots + 2;
        }

        Collect(st, task);
    }

    /// <summary>A finished run's outcome: kept for tests and the demo, then its cooldown, retry time or the approval it waits for.</summary>
    private void Collect(ClusterState st, Task<SkillRunOutcome?> task)
    {
        if (task.IsCompletedSuccessfully && task.Result is { } outcome)
        {
            lock (_finished)
            {
                _finished.Add(outcome);
            }

            if (outcome.Run.Status == SkillRunStatus.AwaitingApproval && ApprovalOf(outcome.Run) is { } approval)
            {
                st.Awaiting = new Awaiting(outcome.Skill, approval, outcome.Trigger, outcome.Run.FinishedAt);
            }
            else
            {
                st.Record(outcome.Skill, outcome.Run, _options.Run);
            }
        }
        else if (task.IsFaulted)
        {
            Log.SkillCrashed(_logger, st.Cluster, task.Exception?.GetBaseException().Message ?? "?");
        }
    }

    /// <summary>Starts the first skill a finding of the cluster's incident triggers that is not cooling down, if none runs.</summary>
    private void StartSkillIfDue(ClusterState st, DetectionResult detection, IncidentUpdate update)
    {
        foreach (var f in update.Triggers)
        {
            st.Fresh.Add(f.Key);
        }

        st.Fresh.IntersectWith(detection.Active.Select(f => f.Key));

        if (_runStop.IsCancellationRequested)
        {
            return;
        }

        if (st.Run is not null)
        {
            StartUrgentIfDue(st, detection);
            return;
        }

        var now = _time.GetUtcNow();
        var incidentKeys = update.Incident is { IsOpen: true } incident ? incident.ActiveFindings.ToHashSet(StringComparer.Ordinal) : [];
        var findings = update.Triggers
            .Concat(detection.Active.Where(f => incidentKeys.Contains(f.Key)))
            .DistinctBy(f => f.Key)
            .OrderByDescending(f => f.Severity)
            .ThenBy(f => RootCause.Rank(f.Code))
            .ToList();

        if (st.Rerun is not null && st.Snapshots < st.RerunAfterSnapshot)
        {
            // The skill whose approved action just ran looks again first: a symptom of what it is fixing (lag behind a
            // fenced leader) must not start another skill that would hold the cluster meanwhile.
            return;
        }

        if (st.Rerun is { } rerun)
        {
            // After an approved action ran: the same skill again, on what is true now, whatever its cooldown.
            st.Rerun = null;
            // The symptom that remains drives it; among equals the broadest first (a key that is expiring is Patroni's to finish).
            var trigger = findings.OrderByDescending(f => f.Severity).ThenBy(f => Order(f.Code))
                .FirstOrDefault(f => rerun.Skill.Triggers.Findings.Contains(f.Code, StringComparer.Ordinal));
            if (trigger is not null)
            {
                Start(st, rerun.Skill, trigger, detection.Snapshot, "after the approved action ran");
            }

            return;
        }

        // Critical findings first (then the root cause first). A finding whose skill is held back only briefly (the retry
        // time of a run that executed nothing, or an approval it waits for) keeps the cluster for it: no skill starts for
        // a milder finding meanwhile, because one run per cluster means that run (a warning's skill may wait minutes)
        // would stand in the way of the critical one. A skill in its cooldown after it acted does not keep the cluster.
        FindingSeverity? kept = null;
        foreach (var finding in findings)
        {
            if (kept is { } k && finding.Severity < k)
            {
                return;
            }

            foreach (var skill in _skills.ForFinding(finding.Code))
            {
                if (st.Awaiting?.Skill.Name == skill.Name || st.Rerun?.Skill.Name == skill.Name)
                {
                    kept ??= finding.Severity;
                    continue;
                }

                switch (st.HeldBack(skill, finding, now))
                {
                    case Hold.Cooldown:
                        continue;
                    case Hold.Retry:
                        kept ??= finding.Severity;
                        continue;
                }

                Start(st, skill, finding, detection.Snapshot, st.Fresh.Contains(finding.Key) ? "raised" : "still active");
                return;
            }
        }
    }

    /// <summary>
    /// Findings that cannot wait for the run in progress: a member that could take writes or retake the leader key
    /// without holding it (<c>deposed-primary</c>) is fenced now, even while another skill waits (for Patroni's
    /// election, a lagging replica, a backup); and every critical finding while the run in progress serves a warning. Their skill runs in a second slot; the pipeline's one-action-per-cluster
    /// lock still orders the actions themselves (a fence refused for that reason is retried at the next snapshot).
    /// </summary>
    internal static IReadOnlySet<string> UrgentCodes { get; } = new HashSet<string>(StringComparer.Ordinal) { FindingCodes.DeposedPrimary, FindingCodes.StaleLeader };

    private void StartUrgentIfDue(ClusterState st, DetectionResult detection)
    {
        if (st.Urgent is not null)
        {
            return;
        }

        // After an approved action ran while the regular slot was busy: its skill looks again here.
        if (st.Rerun is { } rerun && st.Snapshots >= st.RerunAfterSnapshot)
        {
            var again = detection.Active.OrderByDescending(f => f.Severity).ThenBy(f => Order(f.Code))
                .FirstOrDefault(f => rerun.Skill.Triggers.Findings.Contains(f.Code, StringComparer.Ordinal));
            if (again is not null && rerun.Skill.Name != st.RunSkill)
            {
                st.Rerun = null;
                Start(st, rerun.Skill, again, detection.Snapshot, "after the approved action ran", urgent: true);
                return;
            }
        }

        // Also any critical finding while the run in progress serves a warning (a replication-lag skill may wait minutes
        // for lag to drain; a frozen primary must not wait for it).
        var now = _time.GetUtcNow();
        var urgent = detection.Active
            .Where(f => UrgentCodes.Contains(f.Code) || (f.Severity == FindingSeverity.Critical && st.RunSeverity < FindingSeverity.Critical))
            .OrderByDescending(f => f.Severity).ThenBy(f => RootCause.Rank(f.Code));
        foreach (var finding in urgent)
        {
            foreach (var skill in _skills.ForFinding(finding.Code).Where(k => k.Name != st.RunSkill))
            {
                // A skill waiting for an operator's approval asks once (an urgent run that asked again at every
                // snapshot filled the approval queue in a lab run), and one whose approved action ran looks again above.
                if (st.Awaiting?.Skill.Name == skill.Name || st.Rerun?.Skill.Name == skill.Name || st.HeldBack(skill, finding, now) != Hold.None)
                {
                    continue;
                }

                Start(st, skill, finding, detection.Snapshot, $"urgent: while {st.RunSkill ?? "another skill"} runs", urgent: true);
                return;
            }
        }
    }

    private void Start(ClusterState st, Skill skill, Finding trigger, ClusterSnapshot snapshot, string why, bool urgent = false)
    {
        var incident = _incidents.Current(st.Cluster)?.Id;
        Emit(new AgentEvent
        {
            Name = AgentEventNames.SkillStarted,
            At = _time.GetUtcNow(),
            Cluster = st.Cluster,
            Incident = incident,
            Severity = FindingJson.SeverityName(trigger.Severity),
            Title = $"skill {skill.Name} for {trigger.Code}{(trigger.Member is null ? "" : $" on {trigger.Member}")} ({why})",
            Message = trigger.Summary,
        });
        Log.SkillStarting(_logger, skill.Name, st.Cluster, trigger.Code, why);
        if (urgent)
        {
            st.Urgent = RunSkillAsync(st, skill, trigger, snapshot, incident);
            return;
        }

        st.RunSkill = skill.Name;
        st.RunSeverity = trigger.Severity;
        st.Fresh.Clear();
        st.Run = RunSkillAsync(st, skill, trigger, snapshot, incident);
    }

    private async Task<SkillRunOutcome?> RunSkillAsync(ClusterState st, Skill skill, Finding trigger, ClusterSnapshot snapshot, string? incident)
    {
        await Task.Yield();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(_runStop.Token);
        limit.CancelAfter(TimeSpan.FromSeconds(Math.Max(1, _options.Run.SkillTimeoutSeconds)));
        var live = new PipelineSkillHost(_acting, _incidents, _skillSense, Emit, _logger);
        var host = new RecordingSkillHost(live, _incidents, incident);
        SkillRun run;
        try
        {
            // The snapshot the finding was detected on is the run's first; later ones are sensed afresh. All journaled.
            var first = await host.ServeAsync(snapshot, limit.Token).ConfigureAwait(false);
            run = await _runner.RunAsync(skill, new SkillRunRequest(st.Cluster) { Snapshot = first, Trigger = trigger.ToTrigger() }, host, limit.Token)
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            Log.SkillCancelled(_logger, skill.Name, st.Cluster);
            return null;
        }

        try
        {
            using var record = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _incidents.RecordSkillRunAsync(run, host.Served, incident, record.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is JournalException or IOException or Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException or OperationCanceledException)
        {
            Log.JournalFailed(_logger, st.Cluster, ex.Message);
        }

        if (incident is not null)
        {
            // The incident may have resolved (and its post-mortem been written) while the run was still going.
            try
            {
                using var render = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await WritePostMortemAsync(incident, true, render.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException or OperationCanceledException)
            {
                Log.JournalFailed(_logger, st.Cluster, ex.Message);
            }
        }

        Emit(new AgentEvent
        {
            Name = AgentEventNames.SkillFinished,
            At = _time.GetUtcNow(),
            Cluster = st.Cluster,
            Incident = incident ?? _incidents.Current(st.Cluster)?.Id,
            Severity = run.Status is SkillRunStatus.Failed or SkillRunStatus.Error ? "warning" : "info",
            Title = $"skill {skill.Name}: {JsonNamingPolicy.KebabCaseLower.ConvertName(run.Status.ToString())}",
            Message = run.Message,
            Details = new Dictionary<string, string?>(StringComparer.Ordinal)
            {
                ["steps"] = string.Join(" > ", run.Steps.Select(s => $"{s.StepId}:{JsonNamingPolicy.KebabCaseLower.ConvertName(s.Status.ToString())}")),
            },
        });
        Log.SkillFinished(_logger, skill.Name, st.Cluster, run.Status, run.Message);
        return new SkillRunOutcome(skill, trigger, run, live.Actions);
    }

    /// <summary>Waits for skill runs to end, cancelling them after the shutdown grace.</summary>
    private async Task DrainAsync()
    {
        var running = _states.Values.SelectMany(s => new[] { s.Run, s.Urgent }).OfType<Task<SkillRunOutcome?>>().ToList();
        if (running.Count > 0)
        {
            Log.Draining(_logger, running.Count, _options.Run.ShutdownGraceSeconds);
            _runStop.CancelAfter(TimeSpan.FromSeconds(Math.Max(0, _options.Run.ShutdownGraceSeconds)));
            try
            {
                await Task.WhenAll(running).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception ex)
            {
                Log.SkillCrashed(_logger, "-", ex.Message);
            }
        }

        await _runStop.CancelAsync().ConfigureAwait(false);
        foreach (var st in _states.Values)
        {
            Harvest(st);
        }
    }

    private static int Order(string code)
    {
        var i = FindingCodes.Stable.ToList().IndexOf(code);
        return i < 0 ? int.MaxValue : i;
    }

    /// <summary>The approval an awaiting run waits for: the action id of its last step that asked for one.</summary>
    internal static string? ApprovalOf(SkillRun run) =>
        run.Steps.LastOrDefault(s => s.Status == SkillStepStatus.PendingApproval)?.JournalId;

    private static Finding? Finding(JsonElement? trigger)
    {
        if (trigger is not { ValueKind: JsonValueKind.Object } t)
        {
            return null;
        }

        try
        {
            string? Text(string name) => t.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            var members = t.TryGetProperty("members", out var m) && m.ValueKind == JsonValueKind.Array
                ? m.EnumerateArray().Select(x => x.GetString()).OfType<string>().ToList()
                : [];
            DateTimeOffset Time(string name) => Text(name) is { } x ? DateTimeOffset.Parse(x, CultureInfo.InvariantCulture) : default;
            return new Finding
            {
                Code = Text("code") ?? "",
                Cluster = Text("cluster") ?? "",
                Severity = Enum.TryParse<FindingSeverity>(Text("severity"), true, out var sev) ? sev : FindingSeverity.Critical,
                Members = members,
                Summary = Text("summary") ?? "",
                FirstSeen = Time("first_seen"),
                LastSeen = Time("last_seen"),
            };
        }
        catch (FormatException)
        {
            return null;
        }
    }

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

    private AgentEvent FindingEvent(string name, Finding f, string? incident) => new()
    {
        Name = name,
        At = f.LastSeen,
        Cluster = f.Cluster,
        Incident = incident,
        Severity = FindingJson.SeverityName(f.Severity),
        Title = $"{f.Code}{(f.Member is null ? "" : $" on {f.Member}")}",
        Message = f.Summary,
        Details = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["code"] = f.Code,
            ["member"] = f.Member,
            ["first_seen"] = f.FirstSeen.ToString("O", CultureInfo.InvariantCulture),
        },
    };

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
                Log.ObserverFailed(_logger, o.GetType().Name, ex.Message);
            }
        }
    }

    /// <summary>A skill run that ended waiting for an approval.</summary>
    internal sealed record Awaiting(Skill Skill, string ApprovalId, Finding Trigger, DateTimeOffset Since);

    /// <summary>What the loop knows about one cluster. Touched by the cluster's loop task only.</summary>
    internal sealed class ClusterState(string cluster, ClusterDetector detector)
    {
        public string Cluster { get; } = cluster;

        public ClusterDetector Detector { get; } = detector;

        public DetectionResult? Latest { get; set; }

        public long Snapshots { get; set; }

        public int Failures { get; set; }

        public string? Shape { get; set; }

        public int SinceJournaled { get; set; }

        public Task<SkillRunOutcome?>? Run { get; set; }

        public string? RunSkill { get; set; }

        /// <summary>The severity of the finding that started <see cref="Run"/>.</summary>
        public FindingSeverity RunSeverity { get; set; } = FindingSeverity.Critical;

        /// <summary>A run for an urgent finding (<see cref="UrgentCodes"/>) started while <see cref="Run"/> was in progress.</summary>
        public Task<SkillRunOutcome?>? Urgent { get; set; }

        /// <summary>Cooldowns (<see cref="HoldKey"/>): when a run that executed an action finished.</summary>
        public Dictionary<string, DateTimeOffset> CooldownFrom { get; } = new(StringComparer.Ordinal);

        /// <summary>Retry times (<see cref="HoldKey"/>) of runs that executed nothing.</summary>
        public Dictionary<string, DateTimeOffset> RetryAt { get; } = new(StringComparer.Ordinal);

        /// <summary>Findings raised since the last run started (also while it ran): each may start a run that only looked before.</summary>
        public HashSet<string> Fresh { get; } = new(StringComparer.Ordinal);

        public Awaiting? Awaiting { get; set; }

        public Awaiting? Rerun { get; set; }

        public long RerunAfterSnapshot { get; set; }

        /// <summary>
        /// A finished run, live or read back from the journal at start-up (one rule for both). A run that executed an
        /// action (<see cref="ExecutedAnAction"/>) holds its skill off its trigger for the skill's cooldown; any other
        /// (refused by policy or a guardrail, recommended or observed only, failed at planning or precheck, an error, or
        /// nothing to do) may run again after the retry time, or at once for a newly raised finding. Both are kept per
        /// skill and trigger (<see cref="HoldKey"/>): a run on one member, or for a milder finding, never holds back
        /// another member or a more severe finding.
        /// </summary>
        public void Record(Skill skill, SkillRun run, AgentRunSettings settings)
        {
            ArgumentNullException.ThrowIfNull(skill);
            ArgumentNullException.ThrowIfNull(run);
            ArgumentNullException.ThrowIfNull(settings);
            var trigger = Finding(run.Trigger);
            var key = HoldKey(skill.Name, trigger?.Member, trigger?.Severity ?? FindingSeverity.Critical);
            if (ExecutedAnAction(run))
            {
                CooldownFrom[key] = run.FinishedAt;
                RetryAt.Remove(key);
            }
            else
            {
                RetryAt[key] = run.FinishedAt.AddSeconds(settings.RetrySeconds);
            }
        }

        /// <summary>Starts <paramref name="skill"/>'s cooldown for <paramref name="trigger"/> (an approval that was denied or expired).</summary>
        public void StartCooldown(Skill skill, Finding trigger, DateTimeOffset at) =>
            CooldownFrom[HoldKey(skill.Name, trigger.Member, trigger.Severity)] = at;

        /// <summary>
        /// Whether <paramref name="skill"/> may not run for <paramref name="finding"/> now, and why: a cooldown or retry
        /// time of the skill on the finding's member, set by a run for a finding at least as severe.
        /// </summary>
        public Hold HeldBack(Skill skill, Finding finding, DateTimeOffset now)
        {
            var keys = Enum.GetValues<FindingSeverity>().Where(s => s >= finding.Severity).Select(s => HoldKey(skill.Name, finding.Member, s)).ToList();
            if (keys.Any(k => CooldownFrom.TryGetValue(k, out var from) && skill.InCooldown(from, now)))
            {
                return Hold.Cooldown;
            }

            if (!Fresh.Contains(finding.Key) && keys.Any(k => RetryAt.TryGetValue(k, out var retry) && now < retry))
            {
                return Hold.Retry;
            }

            return Hold.None;
        }
    }

    /// <summary>Why a skill may not run for a finding now.</summary>
    internal enum Hold
    {
        None,

        /// <summary>A run for the same member and a finding at least as severe executed an action less than the skill's cooldown ago.</summary>
        Cooldown,

        /// <summary>Such a run executed nothing less than the retry time ago (and the finding is not newly raised).</summary>
        Retry,
    }

    /// <summary>
    /// What cooldowns and retry times are kept by: the skill, the trigger's member (the one acted on) and the trigger's
    /// severity. A run for one member never holds back another member, and a run for a milder finding never holds back
    /// a more severe one (<see cref="ClusterState.HeldBack"/> looks at the finding's severity and above). The finding's
    /// code is not part of the key: a skill's codes at one severity are symptoms of one problem that show up together
    /// (primary-disk-full and primary-down-holding-lock on the same failed primary; replication-broken and
    /// replication-lag on the same replica), and a run for one of them has dealt with the others.
    /// </summary>
    internal static string HoldKey(string skill, string? member, FindingSeverity severity) =>
        $"{skill}|{member ?? "-"}|{FindingJson.SeverityName(severity)}";

    /// <summary>
    /// True when the run executed an action: an action step Succeeded, or Failed after the pipeline wrote its intent (the
    /// write-ahead entry written just before execution: execute-failed, verify-failed, unknown; the skill host puts its
    /// seq in the step's <c>output.intent_seq</c>). A step that failed at planning or precheck has no intent; Refused
    /// (policy, guardrail, recommend and observe levels) and Planned (dry run) executed nothing; PendingApproval is
    /// followed through the approval.
    /// </summary>
    internal static bool ExecutedAnAction(SkillRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return run.Steps.Any(s => s.Kind == SkillStepKind.Action && (s.Status == SkillStepStatus.Succeeded || (s.Status == SkillStepStatus.Failed && HasIntent(s.Result))));

        static bool HasIntent(JsonElement result) =>
            result.ValueKind == JsonValueKind.Object
            && result.TryGetProperty("output", out var output) && output.ValueKind == JsonValueKind.Object
            && output.TryGetProperty("intent_seq", out var seq) && seq.ValueKind == JsonValueKind.Number;
    }
}

/// <summary>A skill run the loop started, with what triggered it and what the pipeline did with its actions.</summary>
internal sealed record SkillRunOutcome(Skill Skill, Finding Trigger, SkillRun Run, IReadOnlyList<Acting.ActionRunResult> Actions);
