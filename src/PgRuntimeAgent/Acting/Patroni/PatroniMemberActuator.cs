using System.Globalization;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Inventory;

namespace PgRuntimeAgent.Acting.Patroni;

/// <summary>
/// <c>patroni.restart</c> (POST /restart on the member: Patroni restarts its PostgreSQL and answers when done) and
/// <c>patroni.reload</c> (POST /reload: Patroni rereads its configuration and reloads PostgreSQL). A restart is
/// verified by the member's /patroni showing a running PostgreSQL with a newer postmaster start time; a reload by
/// the member still running after it (a reload leaves no other trace to observe).
/// </summary>
internal sealed class PatroniMemberActuator : IActuator
{
    private readonly IClusterSensing _sensing;
    private readonly PatroniControl _control;
    private readonly TimeProvider _time;

    public PatroniMemberActuator(IClusterSensing sensing, PatroniControl control, TimeProvider time)
    {
        _sensing = sensing;
        _control = control;
        _time = time;
    }

    public IReadOnlyCollection<string> Kinds { get; } = [PatroniActions.Restart, PatroniActions.Reload];

    public TimeSpan RestartTimeout { get; init; } = TimeSpan.FromSeconds(120);

    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public async Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var (cluster, member) = Target(action);
        var s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
        var state = s.FindMember(member.Name);
        var checks = new List<CheckResult>
        {
            state is { Reachable: true }
                ? new CheckResult("patroni-answers", true, $"{member.Name}'s Patroni answers ({CandidateRules.RoleOf(s, member.Name)})")
                : new CheckResult("patroni-answers", false, $"{member.Name}'s Patroni API does not answer"),
        };
        if (action.Kind == PatroniActions.Restart && string.Equals(s.Leader, member.Name, StringComparison.Ordinal))
        {
            checks.Add(new CheckResult("leader", true, $"{member.Name} is the leader: writes stop while it restarts"));
        }

        return new PrecheckResult(checks);
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var (cluster, member) = Target(action);
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["executed_at"] = _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture),
        };
        PatroniReply reply;
        if (action.Kind == PatroniActions.Restart)
        {
            var before = await _control.GetNodeAsync(cluster, member, CallTimeout, cancellationToken).ConfigureAwait(false);
            details["postmaster_start_time_before"] = StartTime(before) ?? "";
            reply = await _control.RestartAsync(cluster, member, RestartTimeout, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            reply = await _control.ReloadAsync(cluster, member, CallTimeout, cancellationToken).ConfigureAwait(false);
        }

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
        var node = await _control.GetNodeAsync(cluster, member, CallTimeout, cancellationToken).ConfigureAwait(false);
        var json = node.JsonBody();
        var state = json?["state"]?.GetValue<string>();
        var started = StartTime(node);
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["state"] = state ?? (node.Answered ? "?" : "no answer"),
            ["postmaster_start_time"] = started ?? "",
        };
        if (state != "running")
        {
            return VerifyResult.Pending($"{member.Name} is {state ?? "not answering"}") with { Evidence = evidence };
        }

        if (action.Kind == PatroniActions.Reload)
        {
            return VerifyResult.Verified($"{member.Name} accepted the reload and runs") with { Evidence = evidence };
        }

        var before = execution.Details.GetValueOrDefault("postmaster_start_time_before");
        return string.IsNullOrEmpty(before) || !string.Equals(before, started, StringComparison.Ordinal)
            ? VerifyResult.Verified($"{member.Name} runs a PostgreSQL started at {started} (before: {(string.IsNullOrEmpty(before) ? "unknown" : before)})") with { Evidence = evidence }
            : VerifyResult.Pending($"{member.Name}'s postmaster still started at {started}") with { Evidence = evidence };
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

        if (action.Kind == PatroniActions.Reload)
        {
            return new ReconcileResult(ReconcileStatus.Unknown, "a reload leaves no trace to tell whether it ran (it is harmless to repeat)");
        }

        var planned = action.Parameter(PatroniActions.PlannedAt);
        if (planned is null || !DateTimeOffset.TryParse(planned, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var plannedAt)
            || StartTime(node) is not { } text || !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var startedAt))
        {
            return new ReconcileResult(ReconcileStatus.Unknown, "cannot compare the postmaster start time with when the restart was planned");
        }

        return startedAt >= plannedAt
            ? new ReconcileResult(ReconcileStatus.Happened, $"{member.Name}'s postmaster started at {text}, after the restart was planned")
            : new ReconcileResult(ReconcileStatus.NotHappened, $"{member.Name}'s postmaster started at {text}, before the restart was planned");
    }

    private static string? StartTime(PatroniReply reply) =>
        reply.Ok && reply.JsonBody() is { } json && json["postmaster_start_time"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private (PgCluster Cluster, PgMember Member) Target(PlannedAction action)
    {
        var cluster = _sensing.Topology.FindCluster(action.Cluster) ?? throw new InputException($"no cluster '{action.Cluster}' in the inventory");
        var member = action.Member is null ? null : cluster.FindMember(action.Member);
        return (cluster, member ?? throw new InputException($"{action.Kind} needs a member of {action.Cluster} (got '{action.Member ?? "none"}')"));
    }
}
