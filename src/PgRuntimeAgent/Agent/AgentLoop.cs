using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Agent;

/// <summary>What the loop watches and how.</summary>
internal sealed record AgentLoopOptions
{
    /// <summary>Clusters watched, each by its own task.</summary>
    public required IReadOnlyList<string> Clusters { get; init; }

    /// <summary>Time from the start of one snapshot to the start of the next (<c>sensing.interval_seconds</c>).</summary>
    public required TimeSpan Interval { get; init; }

    /// <summary>Between snapshots of a calm cluster (<c>sensing.calm_interval_seconds</c>); null: <see cref="Interval"/>.</summary>
    public TimeSpan? CalmInterval { get; init; }

    public AgentRunSettings Run { get; init; } = new();

    public DetectionSettings Detection { get; init; } = DetectionSettings.Default;

    /// <summary>A sensor not ok for longer than this raises <c>sensor.blind</c> once (<c>notify.sensor_blind_seconds</c>).</summary>
    public double SensorBlindSeconds { get; init; } = NotifySettings.DefaultSensorBlindSeconds;

    /// <summary>What detection needs from the inventory per cluster (the backup schedule).</summary>
    public Func<string, DetectionContext> Context { get; init; } = _ => DetectionContext.Empty;

    /// <summary>Where post-mortems of resolved incidents are written; null: not written (they stay in the journal).</summary>
    public string? PostmortemDirectory { get; init; }

    /// <summary>The language model a skill's investigate step asks (null: none configured; the step is skipped).</summary>
    public Func<SkillInvestigationRequest, CancellationToken, Task<SkillInvestigation>>? Investigate { get; init; }

    /// <summary>When several agents share the clusters: which ones this agent owns now (it senses and acts only there); null: all of its clusters.</summary>
    public Fleet.IClusterOwnership? Ownership { get; init; }
}

/// <summary>
/// The agent's loop: for each cluster, every interval, sense a snapshot, detect, open/update/resolve the incident,
/// journal the snapshot stream (every snapshot during an incident, on change or every Nth outside), and run the skills
/// the incident's findings trigger, one run per cluster at a time, through the skill host and the action pipeline
/// (policy, guardrails, approvals); skills an Alertmanager alert names run when the intake queues it and the slot is
/// free (<see cref="StartAlertedIfDue"/>); skills with schedules run when they fire and the cluster is free. Before it acts
/// at all it reconciles intents a previous run left open. A sensor that fails degrades the snapshot; a snapshot that
/// cannot be taken at all is retried with back-off and reported as an outage; nothing here ends the loop but
/// cancellation. On cancellation sensing stops at once and a skill run in the middle of an action gets
/// <see cref="AgentRunSettings.ShutdownGraceSeconds"/> to finish.
/// </summary>
internal sealed partial class AgentLoop
{
    private readonly AgentLoopOptions _options;
    private readonly Func<string, CancellationToken, Task<ClusterSnapshot>> _sense;
    private readonly Func<string, CancellationToken, Task<ClusterSnapshot>> _skillSense;
    private readonly IncidentManager _incidents;
    private readonly ActingServices _acting;
    private readonly SkillCatalog _skills;
    private readonly SkillRunner _runner;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private IReadOnlyList<IAgentObserver> _observers;
    private readonly Dictionary<string, ClusterState> _states = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _runStop = new();
    private readonly SemaphoreSlim _postMortems = new(1, 1);

    /// <summary>An exception's message for a log line, with the deployment's secrets and secret-shaped text masked.</summary>
    private string Redact(Exception ex) => LogRedaction.Exception(ex, _acting.Workspace?.Secrets);

    /// <summary>Text built from an exception or a remote answer, for a log line, redacted as <see cref="Redact(Exception)"/>.</summary>
    private string Redact(string? text) => LogRedaction.Text(text, _acting.Workspace?.Secrets);

    /// <param name="sense">Takes the loop's snapshots (full sensing).</param>
    /// <param name="skillSense">Takes the snapshots a skill run asks for (null: <paramref name="sense"/>).</param>
    public AgentLoop(AgentLoopOptions options, Func<string, CancellationToken, Task<ClusterSnapshot>> sense, IncidentManager incidents, ActingServices acting,
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
            _states[cluster] = new ClusterState(cluster, new ClusterDetector(cluster, options.Detection, options.Context(cluster)))
            {
                ScheduledThrough = time.GetUtcNow(),
            };
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

    /// <summary>
    /// The detection of the last snapshot the loop took of <paramref name="cluster"/> (its snapshot and the findings
    /// active on it); null before the first one or for a cluster the loop does not watch. Safe while the loop runs.
    /// </summary>
    public DetectionResult? LatestOf(string cluster) => _states.TryGetValue(cluster, out var st) ? st.Latest : null;

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
        Interlocked.Increment(ref _running);
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
            Interlocked.Decrement(ref _running);
            Emit(new AgentEvent { Name = AgentEventNames.Stopped, At = _time.GetUtcNow(), Title = "stopped" });
            Log.Stopped(_logger);
        }
    }

    /// <summary>Start-up, before any action: open incidents and open intents from the journal, skill cooldowns and pending approvals.</summary>
    internal async Task StartUpAsync(CancellationToken stop)
    {
        await _incidents.LoadAsync(stop).ConfigureAwait(false);
        await ReconcileAsync(null, stop).ConfigureAwait(false);
        await RestoreSkillStateAsync(stop).ConfigureAwait(false);
    }

    /// <summary>Settles the open intents whose writer is gone (all clusters at start-up; one cluster when this agent takes it over) and tells each.</summary>
    private async Task ReconcileAsync(string? cluster, CancellationToken stop)
    {
        IReadOnlyList<Acting.ReconcileReport> reports;
        try
        {
            reports = await _acting.Pipeline.ReconcileAsync(cluster, stop).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.ReconcileFailed(_logger, Redact(ex));
            reports = [];
        }

        foreach (var r in reports.Where(r => r.Result != "in-progress" || cluster is null))
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
    }

    /// <summary>The last run of each skill per cluster and trigger (cooldowns and retry times, by the same rule as a live
    /// run: <see cref="ClusterState.Record"/>), and runs that ended waiting for an approval still pending.</summary>
    private async Task RestoreSkillStateAsync(CancellationToken stop, string? cluster = null)
    {
        var entries = await _acting.Journal.QueryAsync(new JournalQuery { Kinds = [IncidentKinds.SkillRun], Cluster = cluster, Since = _time.GetUtcNow().AddDays(-1) }, stop)
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
                Log.TickFailed(_logger, st.Cluster, ex.GetType().Name, Redact(ex));
            }

            var wait = st.Failures >= _options.Run.OutageAfter
                ? TimeSpan.FromSeconds(Math.Min(_options.Run.MaxBackoffSeconds, _options.Interval.TotalSeconds * Math.Pow(2, st.Failures - _options.Run.OutageAfter + 1)))
                : NextInterval(st) - _time.GetElapsedTime(started);
            if (wait > TimeSpan.Zero)
            {
                using var wake = CancellationTokenSource.CreateLinkedTokenSource(stop);
                st.Wake = wake;
                try
                {
                    await Task.Delay(wait, _time, wake.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (OperationCanceledException)
                {
                    // Woken: an alert for the cluster arrived while it was calm.
                }
                finally
                {
                    st.Wake = null;
                }
            }
        }
    }

    /// <summary>
    /// Time from the start of one snapshot of the cluster to the next: <see cref="AgentLoopOptions.Interval"/> while
    /// anything is going on there (an active finding, an open incident, a skill run, an approval awaited, an alert
    /// queued, a schedule due) or before its first snapshot; <see cref="AgentLoopOptions.CalmInterval"/> when it is calm.
    /// </summary>
    internal TimeSpan NextInterval(ClusterState st)
    {
        if (_options.CalmInterval is not { } calm || calm <= _options.Interval)
        {
            return _options.Interval;
        }

        var busy = st.Latest is not { Active.Count: 0 } || st.Run is not null || st.Urgent is not null || st.Awaiting is not null || st.Rerun is not null
            || !st.AlertInbox.IsEmpty || st.ScheduledDue.Count > 0 || _incidents.Current(st.Cluster) is not null;
        return busy ? _options.Interval : calm;
    }

    /// <summary>One pass over a cluster: harvest a finished skill run, sense, detect, incident, journal, approvals, skills.</summary>
    internal async Task TickAsync(ClusterState st, CancellationToken stop)
    {
        Harvest(st);
        if (_options.Ownership is { } ownership && !await OwnsAsync(st, ownership, stop).ConfigureAwait(false))
        {
            return;
        }

        ClusterSnapshot snapshot;
        try
        {
            snapshot = await _sense(st.Cluster, stop).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stop.IsCancellationRequested)
        {
            st.Failures++;
            Log.SenseFailed(_logger, st.Cluster, st.Failures, Redact(ex));
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
        WatchSensors(st, snapshot);
        foreach (var f in detection.Raised)
        {
            Telemetry.AgentTelemetry.Detection.FindingsRaised.Add(1, new System.Diagnostics.TagList
            {
                { "cluster", f.Cluster }, { "code", f.Code }, { "severity", FindingJson.SeverityName(f.Severity) },
            });
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
            Log.JournalFailed(_logger, st.Cluster, Redact(ex));
            update = IncidentUpdate.None;
        }

        await JournalSnapshotAsync(st, snapshot, update, stop).ConfigureAwait(false);
        var written = update.Resolved ? await WritePostMortemAsync(update.Incident!.Id, false, stop).ConfigureAwait(false) : null;
        EmitIncidentChanges(update, snapshot, written);
        await FollowApprovalAsync(st, stop).ConfigureAwait(false);
        StartSkillIfDue(st, detection, update);
        StartAlertedIfDue(st, snapshot);
        StartScheduledIfDue(st, snapshot);
    }

    /// <summary>
    /// Rebalancing (docs/fleet.md): whether this agent may hand <paramref name="cluster"/> to another agent now: nothing
    /// is under way on it here (no open incident, no skill run, no approval awaited) and no intent of it is open.
    /// </summary>
    public async Task<bool> IsQuietAsync(string cluster, CancellationToken cancellationToken)
    {
        if (!_states.TryGetValue(cluster, out var st) || st.Run is not null || st.Urgent is not null || st.Awaiting is not null || st.Rerun is not null)
        {
            return false;
        }

        try
        {
            return await _incidents.HasOpenAsync(cluster, cancellationToken).ConfigureAwait(false) == false
                && (await _acting.Journal.GetOpenIntentsAsync(cluster, cancellationToken).ConfigureAwait(false)).Count == 0;
        }
        catch (Exception ex) when (ex is Journal.JournalException or IOException or Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException
            || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    /// <summary>
    /// Whether the agent owns the cluster now; a change is journaled (a note the cluster's incidents link, so a post-mortem
    /// says which agent did what) and told. A gain is journaled before the agent does anything on the cluster: in a
    /// shared journal its token then fences the intents of the agent that held the cluster before. A cluster lost stops being sensed here; what runs on it is fenced by the
    /// pipeline's ownership precheck.
    /// </summary>
    private async Task<bool> OwnsAsync(ClusterState st, Fleet.IClusterOwnership ownership, CancellationToken stop)
    {
        var owns = ownership.Owns(st.Cluster);
        if (owns == st.Owned)
        {
            return owns;
        }

        st.Owned = owns;
        if (owns)
        {
            // What this agent saw before it lost the cluster is stale: persistence counts only snapshots taken from now.
            st.Detector.Reset();
            st.NotOk.Clear();
        }

        var change = ownership.LastChange(st.Cluster);
        // The lease may have run out by the agent's own clock before its next round with etcd said why.
        var detail = change is { } c && c.Gained == owns
            ? c.Detail
            : owns ? $"agent {ownership.AgentId} owns {st.Cluster}" : $"agent {ownership.AgentId} no longer owns {st.Cluster}: its lease ran out by its own clock (it was frozen or cut off from etcd)";
        try
        {
            await _acting.Journal.AppendAsync(Journal.JournalRecord.Create(Journal.JournalKinds.Note, detail,
                new Dictionary<string, object?>
                {
                    ["agent"] = ownership.AgentId,
                    ["owns"] = owns,
                    ["token"] = change?.Gained == owns ? change.Token : null,
                    ["previous_agent"] = owns ? change?.Previous?.Agent : null,
                    ["previous_token"] = owns ? change?.Previous?.Token : null,
                },
                st.Cluster, null, null, owns ? Journal.JournalKinds.FleetGained : Journal.JournalKinds.FleetLost), stop).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is Journal.JournalException or IOException or Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException)
        {
            Log.JournalFailed(_logger, st.Cluster, Redact(ex));
        }

        try
        {
            // An incident another agent opened on the cluster (the journal is shared) goes on here, and so do its skill
            // cooldowns and the approval its last run waits for; a lost cluster's are the new owner's to follow.
            if (owns)
            {
                await _incidents.AdoptAsync(st.Cluster, stop).ConfigureAwait(false);
                await RestoreSkillStateAsync(stop, st.Cluster).ConfigureAwait(false);
                // The previous owner's open intent is settled now, even if nothing here needs to act on the cluster.
                await ReconcileAsync(st.Cluster, stop).ConfigureAwait(false);
            }
            else
            {
                await _incidents.ForgetAsync(st.Cluster, stop).ConfigureAwait(false);
                st.Awaiting = null;
                st.Rerun = null;
            }
        }
        catch (Exception ex) when (ex is Journal.JournalException or IOException or Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException)
        {
            Log.JournalFailed(_logger, st.Cluster, Redact(ex));
        }

        Emit(new AgentEvent
        {
            Name = owns ? AgentEventNames.OwnershipGained : AgentEventNames.OwnershipLost,
            At = _time.GetUtcNow(),
            Cluster = st.Cluster,
            Severity = owns ? "info" : "warning",
            Title = detail,
        });
        return owns;
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
            Log.JournalFailed(_logger, st.Cluster, Redact(ex));
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
            Log.PostMortemFailed(_logger, incidentId, dir, Redact(ex));
            return null;
        }
        finally
        {
            _postMortems.Release();
        }
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
                Log.SkillCrashed(_logger, "-", Redact(ex));
            }
        }

        await _runStop.CancelAsync().ConfigureAwait(false);
        foreach (var st in _states.Values)
        {
            Harvest(st);
        }
    }
}


/// <summary>A skill run the loop started, with what triggered it and what the pipeline did with its actions.</summary>
internal sealed record SkillRunOutcome(Skill Skill, Finding Trigger, SkillRun Run, IReadOnlyList<Acting.ActionRunResult> Actions);
