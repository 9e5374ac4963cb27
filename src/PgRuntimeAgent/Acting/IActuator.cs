using System.Text.Json.Serialization;

namespace PgRuntimeAgent.Acting;

/// <summary>
/// The hands for some action kinds (Patroni, SQL, Ansible, SSH...). The <see cref="ActionPipeline"/> calls it in
/// order: precheck, (intent journaled), execute, verify until verified/failed/timeout, plan the undo. After a crash
/// the pipeline asks <see cref="ReconcileAsync"/> whether an action whose outcome was never recorded happened.
/// Expected failures are result values; an exception from execute is recorded as a failed execution.
/// </summary>
internal interface IActuator
{
    /// <summary>Action kinds this actuator runs (exact names, for example <c>patroni.switchover</c>).</summary>
    IReadOnlyCollection<string> Kinds { get; }

    /// <summary>Checks before anything changes (the target exists, the candidate is healthy...). Nothing is changed.</summary>
    Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken);

    /// <summary>Makes the change. Captures what undo and verify need (previous values, command output).</summary>
    Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken);

    /// <summary>
    /// Observes (by sensing, not by trusting the execute call's answer) whether the change took effect. Return
    /// <see cref="VerifyStatus.Pending"/> to be asked again after a short wait.
    /// </summary>
    Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken);

    /// <summary>For an intent with no outcome (a crash, a timeout): did the action happen?</summary>
    Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken);

    /// <summary>
    /// The action that takes this one back, given how it executed; null when there is none. The default uses what
    /// execution returned, else the undo planned with the action.
    /// </summary>
    PlannedAction? PlanUndo(PlannedAction action, ExecuteResult execution) =>
        action.Reversible ? execution.Undo ?? action.Undo : null;
}

/// <summary>One precheck: its name, whether it passed, and what it saw.</summary>
internal sealed record CheckResult(string Name, bool Passed, string Detail);

internal sealed record PrecheckResult(IReadOnlyList<CheckResult> Checks)
{
    [JsonIgnore]
    public bool Passed => Checks.All(c => c.Passed);

    public static PrecheckResult Pass(string name, string detail) => new([new CheckResult(name, true, detail)]);

    public static PrecheckResult Fail(string name, string detail) => new([new CheckResult(name, false, detail)]);
}

/// <summary>What execution did. <see cref="Output"/> is captured text (redacted when journaled).</summary>
internal sealed record ExecuteResult
{
    public required bool Succeeded { get; init; }

    public required string Message { get; init; }

    public string? Output { get; init; }

    /// <summary>Facts verify and undo need (previous values, the old leader...).</summary>
    public IReadOnlyDictionary<string, string> Details { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The undo, when execution learned it (PATCH back the previous values).</summary>
    public PlannedAction? Undo { get; init; }

    public static ExecuteResult Ok(string message, string? output = null) => new() { Succeeded = true, Message = message, Output = output };

    public static ExecuteResult Failed(string message, string? output = null) => new() { Succeeded = false, Message = message, Output = output };
}

internal enum VerifyStatus
{
    Verified,
    Pending,
    Failed,
}

internal sealed record VerifyResult(VerifyStatus Status, string Message)
{
    /// <summary>What was observed, for the journal and the post-mortem.</summary>
    public IReadOnlyDictionary<string, string> Evidence { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    public static VerifyResult Verified(string message) => new(VerifyStatus.Verified, message);

    public static VerifyResult Pending(string message) => new(VerifyStatus.Pending, message);

    public static VerifyResult Failed(string message) => new(VerifyStatus.Failed, message);
}

internal enum ReconcileStatus
{
    /// <summary>The change is in effect.</summary>
    Happened,

    /// <summary>The change is not in effect (it never ran, or did not take).</summary>
    NotHappened,

    /// <summary>Cannot tell (the target cannot be observed).</summary>
    Unknown,
}

internal sealed record ReconcileResult(ReconcileStatus Status, string Message)
{
    /// <summary>The undo when the action happened and is reversible.</summary>
    public PlannedAction? Undo { get; init; }
}

/// <summary>The actuators the pipeline can use, by action kind.</summary>
internal sealed class ActuatorRegistry
{
    private readonly Dictionary<string, IActuator> _byKind = new(StringComparer.Ordinal);

    public ActuatorRegistry(IEnumerable<IActuator> actuators)
    {
        ArgumentNullException.ThrowIfNull(actuators);
        foreach (var actuator in actuators)
        {
            foreach (var kind in actuator.Kinds)
            {
                if (!_byKind.TryAdd(kind, actuator))
                {
                    throw new InvalidOperationException($"Two actuators handle '{kind}': {_byKind[kind].GetType().Name} and {actuator.GetType().Name}.");
                }
            }
        }
    }

    public IReadOnlyCollection<string> Kinds => _byKind.Keys;

    public IActuator? Find(string kind) => _byKind.GetValueOrDefault(kind);
}
