using System.Security.Cryptography;
using System.Text.Json.Serialization;

namespace PgRuntimeAgent.Acting;

/// <summary>How much harm an action can do if it goes wrong. High-risk actions are refused on unclear cluster state.</summary>
internal enum ActionRisk
{
    /// <summary>Read-mostly or self-limiting (ANALYZE, reload).</summary>
    Low,

    /// <summary>Changes state but is contained and reversible (a config parameter, an index built concurrently).</summary>
    Medium,

    /// <summary>Disruptive: moves the leader, restarts a member, kills sessions, runs a playbook.</summary>
    High,
}

/// <summary>Who or what started an action; it decides which autonomy level the action needs.</summary>
internal enum ActionTrigger
{
    /// <summary>An operator's command (<c>pgra switchover ...</c>): the operator is the decision.</summary>
    Operator,

    /// <summary>The agent, reacting to a finding or an alert (autonomy 3 and up acts alone).</summary>
    Reactive,

    /// <summary>The agent, on a schedule or a prediction, with no current symptom (autonomy 4 and up acts alone).</summary>
    Proactive,
}

/// <summary>
/// A typed operation, complete enough to be journaled, approved later, executed by its actuator and undone.
/// Immutable: an approval grants exactly this value.
/// </summary>
internal sealed record PlannedAction
{
    /// <summary>Unique id (<c>act-</c> + 12 hex digits; an undo is <c>&lt;id&gt;.undo-xxxx</c>). Also the journal correlation id and the approval id.</summary>
    public required string Id { get; init; }

    /// <summary>What to do, dotted: <c>patroni.switchover</c>, <c>sql.create_index</c>, <c>ssh.command</c>. Selects the actuator.</summary>
    public required string Kind { get; init; }

    /// <summary>Policy class when it differs from <see cref="Kind"/> (several kinds may share a class).</summary>
    public string? Class { get; init; }

    public required string Cluster { get; init; }

    /// <summary>The member acted on, when there is one.</summary>
    public string? Member { get; init; }

    /// <summary>Kind-specific parameters (<see cref="ActionParameters"/> names the shared ones). Never secrets.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    public ActionRisk Risk { get; init; } = ActionRisk.Medium;

    /// <summary>True when the change can be taken back (then an undo action is recorded with the outcome).</summary>
    public bool Reversible { get; init; }

    /// <summary>
    /// For an irreversible action: what it can cost is bounded by a precheck enforced in code before it runs (a
    /// failover's candidate is within maximum_lag_on_failover; a fence refuses a leader that still serves). Reacting
    /// to a finding, such an action needs level 3 like a reversible one; an unbounded irreversible action needs 4.
    /// </summary>
    public bool LossBounded { get; init; }

    /// <summary>The undo when it is known at plan time; actuators may also return one from execution (previous values).</summary>
    public PlannedAction? Undo { get; init; }

    /// <summary>One line for humans: "switchover pg-test from pg-test-1 to pg-test-2".</summary>
    public required string Summary { get; init; }

    public ActionTrigger Trigger { get; init; } = ActionTrigger.Operator;

    /// <summary>Who asked: an operator's user name, or <c>skill:primary-failure</c>.</summary>
    public string? Initiator { get; init; }

    /// <summary>Why: a finding code, a skill step, an operator's reason.</summary>
    public string? Reason { get; init; }

    /// <summary>Set on an undo: the id of the action it takes back.</summary>
    public string? UndoOf { get; init; }

    /// <summary>How long verification may take before it counts as failed (null: the pipeline's default).</summary>
    public double? VerifyTimeoutSeconds { get; init; }

    /// <summary>The class autonomy levels are looked up by.</summary>
    [JsonIgnore]
    public string PolicyClass => Class ?? Kind;

    public string? Parameter(string name) => Parameters.TryGetValue(name, out var value) ? value : null;

    /// <summary>A fresh action id.</summary>
    public static string NewId() => "act-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>A fresh id for an undo of <paramref name="actionId"/>.</summary>
    public static string NewUndoId(string actionId) => actionId + ".undo-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2));
}

/// <summary>Parameter names several actuators and the policy share.</summary>
internal static class ActionParameters
{
    /// <summary>The member that becomes leader (switchover, failover); the lag guardrail checks it.</summary>
    public const string Candidate = "candidate";

    /// <summary>The member that is leader now (switchover).</summary>
    public const string Leader = "leader";

    /// <summary>"true" to run an Ansible playbook with --check --diff first.</summary>
    public const string CheckFirst = "check_first";
}
