using System.Globalization;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Acting.Patroni;

/// <summary>
/// <c>patroni.reinit</c>: rebuilds a replica from the leader through its Patroni (POST /reinitialize; Patroni stops
/// PostgreSQL, removes the data directory and runs its create_replica_methods, basebackup by default). Prechecks by
/// sensing: the cluster has a leader that is not this member, the member's Patroni answers, the cluster is not
/// paused. Verified by sensing: the member runs again as a replica on the leader's timeline, the leader streams to
/// it, and its postmaster is newer than before the request. Irreversible (the member's own data is discarded), but
/// it never loses a write the cluster acknowledged: only a member that is not the leader is rebuilt, from the
/// leader (<see cref="PlannedAction.LossBounded"/>).
/// </summary>
internal sealed class ReinitActuator : IActuator
{
    public const string Kind = "patroni.reinit";

    private readonly IClusterSensing _sensing;
    private readonly PatroniControl _control;
    private readonly TimeProvider _time;

    public ReinitActuator(IClusterSensing sensing, PatroniControl control, TimeProvider time)
    {
        _sensing = sensing;
        _control = control;
        _time = time;
    }

    public IReadOnlyCollection<string> Kinds { get; } = [Kind];

    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A rebuild of <paramref name="member"/> from the leader. <paramref name="timeline"/> is the cluster's timeline
    /// when planned (reconciliation compares it); verification waits up to <paramref name="verifySeconds"/>.
    /// </summary>
    public static PlannedAction Plan(string cluster, string member, DateTimeOffset plannedAt, long? timeline, ActionTrigger trigger = ActionTrigger.Operator,
        string? initiator = null, string? reason = null, double verifySeconds = 300)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { [PatroniActions.PlannedAt] = plannedAt.ToString("O", CultureInfo.InvariantCulture) };
        if (timeline is { } t)
        {
            parameters[PatroniActions.Timeline] = t.ToString(CultureInfo.InvariantCulture);
        }

        return PatroniReinitAction.Info.Plan(cluster, member, parameters, $"rebuild {member} ({cluster}) from the leader through Patroni (its data directory is replaced)",
            trigger, initiator, reason) with { VerifyTimeoutSeconds = verifySeconds };
    }

    /// <summary>The planner's entry: the cluster's timeline from <paramref name="snapshot"/>; <paramref name="timeoutSeconds"/> bounds verification (default 300).</summary>
    public static PlannedAction PlanFor(string cluster, string member, ClusterSnapshot snapshot, string? timeoutSeconds, DateTimeOffset plannedAt,
        ActionTrigger trigger = ActionTrigger.Operator, string? initiator = null, string? reason = null)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var seconds = 300d;
        if (timeoutSeconds is not null && (!double.TryParse(timeoutSeconds, NumberStyles.Float, CultureInfo.InvariantCulture, out seconds) || seconds <= 0))
        {
            throw new InputException($"timeout_seconds must be a positive number, got '{timeoutSeconds}'");
        }

        return Plan(cluster, member, plannedAt, snapshot.Timeline, trigger, initiator, reason, seconds);
    }

    public async Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var (cluster, member) = Target(action);
        var s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
        return new PrecheckResult(Checks(s, cluster, member));
    }

    /// <summary>The prechecks on a snapshot: a leader other than the member, which answers; the member's Patroni answers; no pause.</summary>
    public static IReadOnlyList<CheckResult> Checks(ClusterSnapshot s, PgCluster cluster, PgMember member)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(member);
        var checks = new List<CheckResult>();
        var leaderState = s.Leader is null ? null : s.FindMember(s.Leader);
        if (s.Leader is null)
        {
            checks.Add(new CheckResult("leader", false, $"no member of {cluster.Name} holds the leader key: there is nothing to rebuild {member.Name} from"));
        }
        else if (string.Equals(s.Leader, member.Name, StringComparison.Ordinal))
        {
            checks.Add(new CheckResult("not-leader", false, $"{member.Name} is the leader: rebuilding it would discard the cluster's writes (switch over first)"));
        }
        else if (leaderState is not { Reachable: true } || leaderState.PostgresRunning == false || leaderState.InRecovery == true)
        {
            checks.Add(new CheckResult("leader-serves", false,
                $"the leader {s.Leader} does not serve (Patroni answers: {leaderState?.Reachable.ToString() ?? "unknown"}, PostgreSQL running: {leaderState?.PostgresRunning?.ToString() ?? "unknown"}, in recovery: {leaderState?.InRecovery?.ToString() ?? "unknown"})"));
        }
        else
        {
            checks.Add(new CheckResult("not-leader", true, $"{member.Name} is {CandidateRules.RoleOf(s, member.Name)}; the leader is {s.Leader} (timeline {s.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"})"));
        }

        var state = s.FindMember(member.Name);
        checks.Add(state is { Reachable: true }
            ? new CheckResult("patroni-answers", true, $"{member.Name}'s Patroni answers (state {state.PatroniState ?? "?"})")
            : new CheckResult("patroni-answers", false, $"{member.Name}'s Patroni API does not answer: it cannot take the request (start Patroni first)"));

        var paused = s.Patroni?.Paused == true;
        checks.Add(paused
            ? new CheckResult("not-paused", false, $"{cluster.Name} is paused (maintenance mode): Patroni would not manage the rebuilt member")
            : new CheckResult("not-paused", true, "Patroni manages the cluster (not paused)"));
        return checks;
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var (cluster, member) = Target(action);
        var before = await _control.GetNodeAsync(cluster, member, CallTimeout, cancellationToken).ConfigureAwait(false);
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["executed_at"] = _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture),
            ["postmaster_start_time_before"] = StartTime(before) ?? "",
            ["state_before"] = Field(before, "state") ?? "",
            ["timeline_before"] = Timeline(before)?.ToString(CultureInfo.InvariantCulture) ?? "",
        };
        var reply = await _control.ReinitializeAsync(cluster, member, CallTimeout, cancellationToken).ConfigureAwait(false);
        details["endpoint"] = reply.Endpoint;
        details["http_status"] = reply.Status.ToString(CultureInfo.InvariantCulture);
        return (reply.Ok
            ? ExecuteResult.Ok($"Patroni answered HTTP {reply.Status}: {reply.Body.Trim()}", reply.Describe())
            : ExecuteResult.Failed(reply.Describe(), reply.Describe())) with { Details = details };
    }

    public async Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(execution);
        var (cluster, member) = Target(action);
        var s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
        var node = await _control.GetNodeAsync(cluster, member, CallTimeout, cancellationToken).ConfigureAwait(false);
        var started = StartTime(node);
        var before = execution.Details.GetValueOrDefault("postmaster_start_time_before");
        var state = s.FindMember(member.Name);
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["leader"] = s.Leader ?? "",
            ["leader_timeline"] = s.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "",
            ["patroni_state"] = state?.PatroniState ?? (node.Answered ? Field(node, "state") ?? "?" : "no answer"),
            ["role"] = CandidateRules.RoleOf(s, member.Name),
            ["timeline"] = state?.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "",
            ["streaming"] = state?.Streaming?.ToString() ?? "",
            ["lag_bytes"] = state?.LagBytes?.ToString(CultureInfo.InvariantCulture) ?? "",
            ["postmaster_start_time"] = started ?? "",
            ["postmaster_start_time_before"] = before ?? "",
        };
        if (DateTimeOffset.TryParse(execution.Details.GetValueOrDefault("executed_at"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var executedAt))
        {
            evidence["seconds_since_execute"] = (_time.GetUtcNow() - executedAt).TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture);
        }

        var (status, message) = Judge(s, member.Name, started, before);
        return new VerifyResult(status, message) { Evidence = evidence };
    }

    /// <summary>Whether the snapshot shows the member rebuilt: a replica running again, streaming from the leader on its timeline, with a new postmaster.</summary>
    public static (VerifyStatus Status, string Message) Judge(ClusterSnapshot s, string member, string? started, string? before)
    {
        ArgumentNullException.ThrowIfNull(s);
        var state = s.FindMember(member);
        if (string.Equals(s.Leader, member, StringComparison.Ordinal))
        {
            return (VerifyStatus.Failed, $"{member} holds the leader key: it was not rebuilt as a replica");
        }

        if (state is not { Reachable: true })
        {
            return (VerifyStatus.Pending, $"{member}'s Patroni does not answer yet");
        }

        if (state.PatroniState is not ("running" or "streaming"))
        {
            return (VerifyStatus.Pending, $"{member} is {state.PatroniState ?? "in an unknown state"} (rebuilding)");
        }

        if (!string.IsNullOrEmpty(before) && string.Equals(before, started, StringComparison.Ordinal))
        {
            return (VerifyStatus.Pending, $"{member}'s postmaster still started at {started}: the rebuild has not begun");
        }

        if (s.Leader is null)
        {
            return (VerifyStatus.Pending, $"{member} runs, but no leader is known to stream from");
        }

        if (state.InRecovery != true || state.Streaming != true)
        {
            return (VerifyStatus.Pending, $"{member} runs but the leader {s.Leader} does not stream to it yet (in recovery: {state.InRecovery?.ToString() ?? "?"}, streaming: {state.Streaming?.ToString() ?? "?"})");
        }

        if (s.Timeline is { } tl && state.Timeline is { } mt && tl != mt)
        {
            return (VerifyStatus.Pending, $"{member} is on timeline {mt.ToString(CultureInfo.InvariantCulture)}, the leader on {tl.ToString(CultureInfo.InvariantCulture)}");
        }

        return (VerifyStatus.Verified,
            $"{member} was rebuilt: a replica streaming from {s.Leader} on timeline {state.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"} (lag {state.LagBytes?.ToString(CultureInfo.InvariantCulture) ?? "?"} bytes), postmaster started at {started ?? "?"}");
    }

    public async Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var (cluster, member) = Target(action);
        var node = await _control.GetNodeAsync(cluster, member, CallTimeout, cancellationToken).ConfigureAwait(false);
        if (!node.Answered)
        {
            return new ReconcileResult(ReconcileStatus.Unknown, $"{member.Name}'s Patroni does not answer: {node.Error}");
        }

        var state = Field(node, "state");
        if (state is "creating replica")
        {
            return new ReconcileResult(ReconcileStatus.Happened, $"{member.Name} is creating a replica: the rebuild runs");
        }

        var planned = action.Parameter(PatroniActions.PlannedAt);
        if (planned is null || !DateTimeOffset.TryParse(planned, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var plannedAt)
            || StartTime(node) is not { } text || !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var startedAt))
        {
            return new ReconcileResult(ReconcileStatus.Unknown, $"{member.Name} is {state ?? "?"}; cannot compare its postmaster start time with when the rebuild was planned");
        }

        var timeline = Timeline(node);
        var plannedTimeline = long.TryParse(action.Parameter(PatroniActions.Timeline), NumberStyles.Integer, CultureInfo.InvariantCulture, out var pt) ? pt : (long?)null;
        var timelines = $"timeline {timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"} (the cluster's when planned: {plannedTimeline?.ToString(CultureInfo.InvariantCulture) ?? "?"})";
        return startedAt >= plannedAt
            ? new ReconcileResult(ReconcileStatus.Happened, $"{member.Name} is {state ?? "?"} with a postmaster started at {text}, after the rebuild was planned, on {timelines}")
            : new ReconcileResult(ReconcileStatus.NotHappened, $"{member.Name}'s postmaster started at {text}, before the rebuild was planned ({state ?? "?"}, {timelines}): it was not rebuilt");
    }

    private static string? Field(PatroniReply reply, string name) =>
        reply.Ok && reply.JsonBody() is { } json && json[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static string? StartTime(PatroniReply reply) => Field(reply, "postmaster_start_time");

    private static long? Timeline(PatroniReply reply) =>
        reply.Ok && reply.JsonBody() is { } json && json["timeline"] is JsonValue v && v.TryGetValue<long>(out var t) ? t : null;

    private (PgCluster Cluster, PgMember Member) Target(PlannedAction action)
    {
        var cluster = _sensing.Topology.FindCluster(action.Cluster) ?? throw new InputException($"no cluster '{action.Cluster}' in the inventory");
        var member = action.Member is null ? null : cluster.FindMember(action.Member);
        return (cluster, member ?? throw new InputException($"{action.Kind} needs a member of {action.Cluster} (got '{action.Member ?? "none"}')"));
    }
}

/// <summary>Registers <c>patroni.reinit</c>.</summary>
internal sealed class ReinitActuatorFactory : IActuatorFactory
{
    public IEnumerable<IActuator> Create(ActuatorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        yield return new ReinitActuator(ActionSensing.For(context), new PatroniControl(context.Secrets, context.Time),
            context.Time);
    }
}
