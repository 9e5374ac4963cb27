using System.Collections.Concurrent;
using PgRuntimeAgent.Acting;

namespace PgRuntimeAgent.Tests.Acting;

/// <summary>
/// A purpose-built actuator over an in-memory "world": <c>test.set</c> sets World[key] = value (reversible, the
/// undo sets the previous value back); <c>test.kill</c> is irreversible. Verification and reconciliation read the
/// world, as real ones sense the cluster. Failure modes are switched on per test.
/// </summary>
internal sealed class ScriptedActuator : IActuator
{
    public const string Set = "test.set";
    public const string Kill = "test.kill";

    public ConcurrentDictionary<string, string> World { get; } = new(StringComparer.Ordinal);

    public bool PrecheckFails { get; set; }

    /// <summary>Execution throws before changing anything.</summary>
    public bool ExecuteThrows { get; set; }

    /// <summary>Execution reports failure although it changed the world (a lost reply).</summary>
    public bool ExecuteLiesAboutFailure { get; set; }

    /// <summary>The change does not take: verification keeps seeing the old value.</summary>
    public bool ChangeDoesNotTake { get; set; }

    /// <summary>Verification answers "pending" this many times before it looks.</summary>
    public int PendingVerifications { get; set; }

    /// <summary>When set, execution waits for it (to hold an action in flight).</summary>
    public TaskCompletionSource? Gate { get; set; }

    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Executions;

    public IReadOnlyCollection<string> Kinds { get; } = [Set, Kill];

    public static PlannedAction SetAction(string key, string value, string cluster = "pg-test", ActionTrigger trigger = ActionTrigger.Operator,
        ActionRisk risk = ActionRisk.Medium, IReadOnlyDictionary<string, string>? extra = null)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["key"] = key, ["value"] = value };
        foreach (var (k, v) in extra ?? new Dictionary<string, string>())
        {
            parameters[k] = v;
        }

        return new PlannedAction
        {
            Id = PlannedAction.NewId(),
            Kind = Set,
            Cluster = cluster,
            Parameters = parameters,
            Reversible = true,
            Risk = risk,
            Trigger = trigger,
            Initiator = "tester",
            Summary = $"set {key} to {value} on {cluster}",
        };
    }

    public static PlannedAction KillAction(string key, string cluster = "pg-test", ActionTrigger trigger = ActionTrigger.Operator) => new()
    {
        Id = PlannedAction.NewId(),
        Kind = Kill,
        Cluster = cluster,
        Parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["key"] = key },
        Reversible = false,
        Risk = ActionRisk.High,
        Trigger = trigger,
        Summary = $"remove {key} on {cluster}",
    };

    public Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken) =>
        Task.FromResult(PrecheckFails
            ? new PrecheckResult([new CheckResult("target-exists", true, "ok"), new CheckResult("candidate-healthy", false, "candidate is not streaming")])
            : PrecheckResult.Pass("target-exists", "ok"));

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Executions);
        Entered.TrySetResult();
        if (Gate is not null)
        {
            await Gate.Task.WaitAsync(cancellationToken);
        }

        if (ExecuteThrows)
        {
            throw new HttpRequestException("connection refused");
        }

        var key = action.Parameters["key"];
        var previous = World.TryGetValue(key, out var p) ? p : "";
        if (action.Kind == Kill)
        {
            World.TryRemove(key, out _);
            return ExecuteResult.Ok($"removed {key}");
        }

        if (!ChangeDoesNotTake)
        {
            World[key] = action.Parameters["value"];
        }

        var undo = action with
        {
            Id = "",
            Parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["key"] = key, ["value"] = previous },
            Summary = $"set {key} back to {previous}",
            Undo = null,
        };
        var result = new ExecuteResult
        {
            Succeeded = !ExecuteLiesAboutFailure,
            Message = ExecuteLiesAboutFailure ? "HTTP 503 (but the change went through)" : $"{key} set",
            Output = $"{key}: {previous} -> {action.Parameters["value"]}",
            Details = new Dictionary<string, string>(StringComparer.Ordinal) { ["previous"] = previous },
            Undo = undo,
        };
        return result;
    }

    public Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        if (PendingVerifications > 0)
        {
            PendingVerifications--;
            return Task.FromResult(VerifyResult.Pending("not observed yet"));
        }

        var key = action.Parameters["key"];
        if (action.Kind == Kill)
        {
            return Task.FromResult(World.ContainsKey(key) ? VerifyResult.Failed($"{key} still there") : VerifyResult.Verified($"{key} gone"));
        }

        var seen = World.TryGetValue(key, out var v) ? v : "";
        if (ChangeDoesNotTake)
        {
            return Task.FromResult(VerifyResult.Pending($"{key} is {seen}"));
        }

        return Task.FromResult(seen == action.Parameters["value"]
            ? VerifyResult.Verified($"{key} is {seen}") with { Evidence = new Dictionary<string, string>(StringComparer.Ordinal) { [key] = seen } }
            : VerifyResult.Failed($"{key} is {seen}, expected {action.Parameters["value"]}"));
    }

    public Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        var key = action.Parameters["key"];
        var seen = World.TryGetValue(key, out var v) ? v : null;
        var happened = action.Kind == Kill ? seen is null : seen == action.Parameters["value"];
        return Task.FromResult(happened
            ? new ReconcileResult(ReconcileStatus.Happened, $"{key} is {seen ?? "gone"}")
            : new ReconcileResult(ReconcileStatus.NotHappened, $"{key} is {seen ?? "unset"}"));
    }
}
