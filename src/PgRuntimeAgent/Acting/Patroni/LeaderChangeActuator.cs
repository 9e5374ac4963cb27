using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Acting.Patroni;

/// <summary>
/// <c>patroni.switchover</c> and <c>patroni.failover</c>. A switchover is POSTed to the current leader's REST API
/// (it acts at once; a replica would only notice at its next loop); a failover to the leader when it is up, else
/// to the candidate. Patroni answers text, and 412 when it will not do it: every answer is recorded as data.
/// Prechecks, verification and reconciliation read snapshots: the candidate passes <see cref="CandidateRules"/>;
/// verified means the candidate holds the leader key on a newer timeline and its PostgreSQL is out of recovery.
/// </summary>
internal sealed partial class LeaderChangeActuator : IActuator
{
    private readonly IClusterSensing _sensing;
    private readonly PatroniControl _control;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Actions whose request Patroni refused outright (HTTP 4xx): nothing can be in flight.</summary>
    private readonly ConcurrentDictionary<string, int> _refused = new(StringComparer.Ordinal);

    public LeaderChangeActuator(IClusterSensing sensing, PatroniControl control, TimeProvider time, ILogger logger)
    {
        _sensing = sensing;
        _control = control;
        _time = time;
        _logger = logger;
    }

    public IReadOnlyCollection<string> Kinds { get; } = [PatroniActions.Switchover, PatroniActions.Failover];

    /// <summary>How long the POST may take (Patroni polls the outcome for up to 20 s before it answers).</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(40);

    /// <summary>
    /// How long reconciliation watches a cluster before it concludes that a leader change did not happen (null:
    /// the larger of 10 s and three Patroni loops, which covers Patroni's own wait for the outcome).
    /// </summary>
    public TimeSpan? SettleTime { get; init; }

    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a failover's precheck gives Patroni to elect by itself when etcd shows no leader key (a fence has
    /// just released it): null means Patroni's loop_wait plus a second, at most 6 s. A failover request that meets
    /// Patroni's own election moves the key away from the member it has just promoted (measured: 8 acknowledged writes
    /// lost); when a member takes the key meanwhile, the precheck refuses (<c>not-failed-over</c>).
    /// </summary>
    public TimeSpan? ElectionGrace { get; init; }

    public async Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var checks = new List<CheckResult>();
        var candidate = action.Parameter(ActionParameters.Candidate);
        if (candidate is null)
        {
            return PrecheckResult.Fail("candidate", "the action names no candidate");
        }

        var s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
        var isSwitchover = action.Kind == PatroniActions.Switchover;
        if (!isSwitchover && action.Parameter(ActionParameters.Leader) is not null && s.Leader is null && s.Patroni?.LeaderFromDcs == true)
        {
            var grace = ElectionGrace ?? TimeSpan.FromSeconds(Math.Min(6, (s.Patroni.Config?.LoopWaitSeconds ?? s.Inventory.LoopWaitSeconds) + 1));
            var poll = PollInterval < TimeSpan.FromMilliseconds(500) ? PollInterval : TimeSpan.FromMilliseconds(500);
            var started = _time.GetTimestamp();
            while (s.Leader is null && _time.GetElapsedTime(started) < grace)
            {
                await Task.Delay(poll, _time, cancellationToken).ConfigureAwait(false);
                s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
            }
        }

        if (isSwitchover)
        {
            var leader = action.Parameter(ActionParameters.Leader);
            checks.Add(s.Leader is not null && string.Equals(s.Leader, leader, StringComparison.Ordinal)
                ? new CheckResult("leader", true, $"{leader} holds the leader key (timeline {s.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"})")
                : new CheckResult("leader", false, $"the leader is {s.Leader ?? "unknown"}, not {leader}: plan the switchover again"));
            var leaderState = s.Leader is null ? null : s.FindMember(s.Leader);
            if (leaderState is not null)
            {
                checks.Add(leaderState.PostgresRunning == true && leaderState.InRecovery != true
                    ? new CheckResult("leader-running", true, $"{leaderState.Name} runs PostgreSQL out of recovery")
                    : new CheckResult("leader-running", false,
                        $"{leaderState.Name} is not a running primary ({CandidateRules.RoleOf(s, leaderState.Name)}, in recovery: {Show(leaderState.InRecovery)}): use a failover"));
            }
        }
        else
        {
            checks.Add(string.Equals(s.Leader, candidate, StringComparison.Ordinal)
                ? new CheckResult("leader", false, $"{candidate} already holds the leader key")
                : new CheckResult("leader", true, s.Leader is null ? "no member holds the leader key" : $"{s.Leader} holds the leader key ({CandidateRules.RoleOf(s, s.Leader)})"));

            // A failover away from a failed leader: if Patroni has meanwhile given the key to another member (taking
            // writes, or still promoting), a second leader change would only add an outage, and could lose what that
            // member has acknowledged since (measured in the safety suite: 8 writes).
            var failed = action.Parameter(ActionParameters.Leader);
            if (failed is not null && s.Leader is { } now && !string.Equals(now, failed, StringComparison.Ordinal) && !string.Equals(now, candidate, StringComparison.Ordinal))
            {
                checks.Add(new CheckResult("not-failed-over", false, SnapshotFacts.Writable(s.FindMember(now))
                    ? $"{now} already leads in place of {failed} and takes writes: Patroni failed over by itself"
                    : $"{now} holds the leader key in place of {failed} (promoting): Patroni is failing over by itself"));
            }
        }

        var purpose = isSwitchover ? CandidatePurpose.NamedSwitchover : CandidatePurpose.Failover;
        var evaluation = CandidateRules.Evaluate(s, candidate, purpose);
        checks.Add(new CheckResult("candidate", evaluation.Eligible, evaluation.Describe()));

        var disputes = s.Drift.Where(d => d.Severity == "critical").Select(d => d.Message).ToList();
        checks.Add(disputes.Count == 0
            ? new CheckResult("sources-agree", true, "Patroni's views and PostgreSQL agree on the roles")
            : new CheckResult("sources-agree", false, string.Join("; ", disputes)));

        if (s.Patroni?.Paused == true)
        {
            checks.Add(new CheckResult("maintenance-mode", true, "Patroni is paused; it accepts a change to a named candidate"));
        }

        return new PrecheckResult(checks);
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var candidate = action.Parameter(ActionParameters.Candidate) ?? throw new InvalidOperationException("no candidate");
        var cluster = ClusterOf(action);
        var s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["old_leader"] = s.Leader ?? "",
            ["old_timeline"] = s.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "",
        };

        PatroniReply reply;
        if (action.Kind == PatroniActions.Switchover)
        {
            var leader = action.Parameter(ActionParameters.Leader) ?? throw new InvalidOperationException("no leader");
            if (!string.Equals(s.Leader, leader, StringComparison.Ordinal))
            {
                _refused[action.Id] = 0;
                return ExecuteResult.Failed($"not sent: the leader is now {s.Leader ?? "unknown"}, not {leader}") with { Details = details };
            }

            var target = cluster.FindMember(leader) ?? throw new InvalidOperationException($"{leader} is not in the inventory");
            reply = await _control.SwitchoverAsync(cluster, target, leader, candidate, CallTimeout, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // Away from a failed leader: a member that took the key since the precheck (Patroni's own election) is
            // never failed over from; while the failed member still holds it, Patroni is told its name and refuses
            // when the key has moved by the time it reads etcd.
            var failed = action.Parameter(ActionParameters.Leader);
            if (failed is not null && s.Leader is { } now && !string.Equals(now, failed, StringComparison.Ordinal) && !string.Equals(now, candidate, StringComparison.Ordinal))
            {
                _refused[action.Id] = 0;
                return ExecuteResult.Failed($"not sent: {now} took the leader key in place of {failed} since the precheck (Patroni failed over by itself)") with { Details = details };
            }

            // The leader acts on a manual failover at once; when it is gone, the candidate takes the request.
            var leaderState = s.Leader is null ? null : s.FindMember(s.Leader);
            var target = leaderState is { Reachable: true, PostgresRunning: true } ? cluster.FindMember(leaderState.Name) : null;
            target ??= cluster.FindMember(candidate) ?? throw new InvalidOperationException($"{candidate} is not in the inventory");
            var expected = failed is not null && string.Equals(s.Leader, failed, StringComparison.Ordinal) ? failed : null;
            reply = await _control.FailoverAsync(cluster, target, candidate, expected, CallTimeout, cancellationToken).ConfigureAwait(false);
        }

        details["endpoint"] = reply.Endpoint;
        details["http_status"] = reply.Status.ToString(CultureInfo.InvariantCulture);
        details["answer"] = reply.Answered ? reply.Body : reply.Error ?? "";
        details["executed_at"] = _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture);
        LogReply(_logger, action.Id, action.Kind, reply.Endpoint, reply.Status);
        if (reply.Ok)
        {
            return new ExecuteResult
            {
                Succeeded = true,
                Message = $"Patroni answered HTTP {reply.Status}: {reply.Body.Trim()}",
                Output = reply.Describe(),
                Details = details,
                Undo = action.Kind == PatroniActions.Switchover ? PatroniActions.SwitchBack(action) : null,
            };
        }

        if (reply.Answered && reply.Status is >= 400 and < 500)
        {
            _refused[action.Id] = reply.Status;
        }

        return ExecuteResult.Failed(reply.Describe(), reply.Describe()) with { Details = details };
    }

    public async Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(execution);
        var candidate = action.Parameter(ActionParameters.Candidate)!;
        var oldLeader = execution.Details.GetValueOrDefault("old_leader") is { Length: > 0 } l ? l : action.Parameter(ActionParameters.Leader);
        long? oldTimeline = long.TryParse(execution.Details.GetValueOrDefault("old_timeline"), CultureInfo.InvariantCulture, out var t) ? t : null;
        var s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
        var evidence = Evidence(s, candidate, oldLeader);
        if (execution.Details.GetValueOrDefault("executed_at") is { } at
            && DateTimeOffset.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var executedAt))
        {
            evidence["seconds_since_execute"] = (_time.GetUtcNow() - executedAt).TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture);
        }

        var c = s.FindMember(candidate);
        if (string.Equals(s.Leader, candidate, StringComparison.Ordinal) && c is { InRecovery: false, PostgresRunning: true }
            && (oldTimeline is null || s.Timeline > oldTimeline))
        {
            var old = oldLeader is null ? "" : $"; {oldLeader} is {CandidateRules.RoleOf(s, oldLeader)}";
            return VerifyResult.Verified($"{candidate} holds the leader key on timeline {s.Timeline} and is out of recovery (writable){old}") with { Evidence = evidence };
        }

        if (s.Leader is not null && !string.Equals(s.Leader, candidate, StringComparison.Ordinal) && !string.Equals(s.Leader, oldLeader, StringComparison.Ordinal)
            && s.FindMember(s.Leader) is { InRecovery: false })
        {
            return VerifyResult.Failed($"{s.Leader} became the leader, not {candidate}") with { Evidence = evidence };
        }

        return VerifyResult.Pending($"leader {s.Leader ?? "none"} on timeline {s.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"}; {candidate} is {CandidateRules.RoleOf(s, candidate)}, in recovery: {Show(c?.InRecovery)}")
            with { Evidence = evidence };
    }

    public async Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var candidate = action.Parameter(ActionParameters.Candidate);
        if (candidate is null)
        {
            return new ReconcileResult(ReconcileStatus.NotHappened, "the action names no candidate: nothing was sent");
        }

        var oldLeader = action.Parameter(ActionParameters.Leader);
        long? plannedTimeline = long.TryParse(action.Parameter(PatroniActions.Timeline), CultureInfo.InvariantCulture, out var t) ? t : null;
        var refused = _refused.TryRemove(action.Id, out _);
        ClusterSnapshot? s = null;
        var started = _time.GetTimestamp();
        while (true)
        {
            s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
            if (string.Equals(s.Leader, candidate, StringComparison.Ordinal))
            {
                return new ReconcileResult(ReconcileStatus.Happened, $"{candidate} holds the leader key (timeline {s.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"})")
                {
                    Undo = action.Kind == PatroniActions.Switchover ? PatroniActions.SwitchBack(action) : null,
                };
            }

            var settle = refused ? TimeSpan.Zero : SettleTime ?? TimeSpan.FromSeconds(Math.Max(10, 3 * (s.Patroni?.Config?.LoopWaitSeconds ?? s.Inventory.LoopWaitSeconds)));
            if (_time.GetElapsedTime(started) >= settle)
            {
                break;
            }

            await Task.Delay(PollInterval, _time, cancellationToken).ConfigureAwait(false);
        }

        var leader = s.Leader is null ? null : s.FindMember(s.Leader);
        if (leader is { InRecovery: false, PostgresRunning: true } && (plannedTimeline is null || !string.Equals(s.Leader, oldLeader, StringComparison.Ordinal) || s.Timeline == plannedTimeline))
        {
            return new ReconcileResult(ReconcileStatus.NotHappened,
                $"{s.Leader} still holds the leader key on timeline {s.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"}; {candidate} is {CandidateRules.RoleOf(s, candidate)}");
        }

        return new ReconcileResult(ReconcileStatus.Unknown,
            s.Leader is null ? "no member holds the leader key: cannot tell yet" : $"{s.Leader} holds the leader key but is not a running primary yet");
    }

    private static Dictionary<string, string> Evidence(ClusterSnapshot s, string candidate, string? oldLeader)
    {
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["leader"] = s.Leader ?? "",
            ["timeline"] = s.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "",
            ["candidate"] = CandidateRules.RoleOf(s, candidate),
            ["snapshot_taken_at"] = s.TakenAt.ToString("O", CultureInfo.InvariantCulture),
        };
        if (oldLeader is not null)
        {
            evidence["old_leader"] = $"{oldLeader}: {CandidateRules.RoleOf(s, oldLeader)}";
        }

        return evidence;
    }

    private PgCluster ClusterOf(PlannedAction action) =>
        _sensing.Topology.FindCluster(action.Cluster) ?? throw new InvalidOperationException($"no cluster {action.Cluster} in the inventory");

    private static string Show(bool? value) => value switch { true => "yes", false => "no", null => "unknown" };

    [LoggerMessage(EventId = 5100, Level = LogLevel.Information, Message = "Action {ActionId} ({Kind}): {Endpoint} answered HTTP {Status}")]
    private static partial void LogReply(ILogger logger, string actionId, string kind, string endpoint, int status);
}

/// <summary>
/// The cluster state the policy gate's guardrails read, derived from the same action snapshot: the leader is known
/// when Patroni names one and no critical disagreement disputes it; drift lists only critical disagreements (a
/// stale pg_role in the inventory after a switchover is a warning, not a reason to refuse); a member's lag is
/// <see cref="CandidateRules.EffectiveLag"/>; the limit is maximum_lag_on_failover as Patroni runs it.
/// </summary>
internal sealed class SnapshotClusterStateProvider(IClusterSensing sensing) : IClusterStateProvider
{
    public async Task<ClusterGuardState?> GetStateAsync(string cluster, CancellationToken cancellationToken)
    {
        if (sensing.Topology.FindCluster(cluster) is null)
        {
            return null;
        }

        return FromSnapshot(await sensing.SenseRecentAsync(cluster, RecentEnough, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// How old (since it was taken) a snapshot the gate decides on may be: the agent's loop senses every second and
    /// offers each snapshot, so a skill's action is judged on what its finding was detected on, or newer.
    /// </summary>
    public static TimeSpan RecentEnough { get; } = TimeSpan.FromSeconds(2);

    public static ClusterGuardState FromSnapshot(ClusterSnapshot s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var critical = s.Drift.Where(d => d.Severity == "critical").Select(d => $"{d.Code}: {d.Message}").ToList();
        var patroniSaw = s.HealthOf(Sensing.SensorNames.Patroni) != Sensing.SensorHealth.Unknown;
        return new ClusterGuardState
        {
            Cluster = s.Cluster,
            ObservedAt = s.TakenAt,
            // etcd read by the agent is the arbiter: a stale view of a frozen member does not dispute it.
            LeaderKnown = s.Leader is not null && (s.LeaderSource == "dcs"
                || (patroniSaw && s.LeaderSource == "patroni" && !s.Drift.Any(d => d.Severity == "critical" && d.Code is "no-leader" or "patroni-views-disagree"))),
            Leader = s.Leader,
            DcsRead = s.Patroni?.LeaderFromDcs == true,
            DcsHolder = s.Patroni?.LeaderFromDcs == true ? s.Patroni.Leader : null,
            NewerThanDcsHolder = SnapshotFacts.NewerTimelineThanHolder(s)?.Member,
            Drift = critical,
            MemberLagBytes = s.Members
                .Where(m => !string.Equals(m.Name, s.Leader, StringComparison.Ordinal))
                .ToDictionary(m => m.Name, m => CandidateRules.EffectiveLag(s, m), StringComparer.Ordinal),
            MaximumLagOnFailoverBytes = CandidateRules.LagLimit(s),
        };
    }
}

/// <summary>Registers the sensing-backed cluster state for the policy gate.</summary>
internal sealed class SnapshotClusterStateProviderFactory : IClusterStateProviderFactory
{
    public IClusterStateProvider Create(ActuatorContext context) => new SnapshotClusterStateProvider(ActionSensing.For(context));
}

/// <summary>Registers the Patroni actuators (switchover, failover, config, pause, resume, restart, reload).</summary>
internal sealed class PatroniActuatorFactory : IActuatorFactory
{
    public IEnumerable<IActuator> Create(ActuatorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var sensing = ActionSensing.For(context);
        var control = new PatroniControl(context.Secrets, context.Time);
        var connector = new Sql.SqlConnector(context.Secrets, context.Sensing.Postgres.Database);
        yield return new LeaderChangeActuator(sensing, control, context.Time, context.Logging.CreateLogger<LeaderChangeActuator>());
        yield return new PatroniConfigActuator(sensing, control, connector, context.Time, context.Logging.CreateLogger<PatroniConfigActuator>());
        yield return new PatroniMemberActuator(sensing, control, context.Time);
    }
}
