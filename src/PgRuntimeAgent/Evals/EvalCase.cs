namespace PgRuntimeAgent.Evals;

/// <summary>
/// One evaluation case (a YAML file under <c>evals/</c>, docs/evals.md): the faults to inject into the lab, the Patroni
/// timing and client load to run them under, the autonomy the agent gets, what a good agent finds and does, the safety
/// limits and the time limit. Read by <see cref="EvalCaseLoader"/>; scored by <see cref="EvalScoring"/>.
/// </summary>
internal sealed record EvalCase
{
    /// <summary>The case's name: the file name without <c>.yml</c> (a <c>name:</c> key must repeat it).</summary>
    public required string Name { get; init; }

    /// <summary>What the case tests, in a sentence or two.</summary>
    public required string Description { get; init; }

    /// <summary>One of <see cref="EvalCategories.All"/>; scores are also given per category.</summary>
    public required string Category { get; init; }

    /// <summary>The file as problems and reports show it.</summary>
    public required string File { get; init; }

    /// <summary>Patroni's timing preset for the run (<c>fast</c>, the lab's, or <c>norm</c>, Pigsty's default): one of <c>LabUp.HaPresets</c>.</summary>
    public string Timing { get; init; } = "fast";

    /// <summary>Client load besides the independent writer, which always runs.</summary>
    public EvalLoad Load { get; init; } = EvalLoad.None;

    /// <summary>The faults, in order of injection; empty for a "nothing wrong" case (category <c>noise</c>).</summary>
    public IReadOnlyList<EvalFault> Faults { get; init; } = [];

    /// <summary>The autonomy the agent runs with (the policy's classes and default level for the run).</summary>
    public EvalAutonomy Autonomy { get; init; } = new();

    /// <summary>What the runner's stand-in operator does with a pending approval.</summary>
    public EvalApprovals Approvals { get; init; } = EvalApprovals.None;

    public EvalExpectation Expect { get; init; } = new();

    public EvalLimits Limits { get; init; } = new() { TimeLimitSeconds = 300 };

    /// <summary>Run before the first fault (after the cluster is healthy and the agent has its baseline).</summary>
    public IReadOnlyList<EvalStep> Setup { get; init; } = [];

    /// <summary>
    /// Started in the background during the case, each at its <see cref="EvalStep.AfterSeconds"/> from the moment the
    /// case begins (t0: the first fault's time zero, or the start of a case without faults); a long
    /// step (a CPU burner) does not hold the others up. In file order; every <see cref="EvalStep.AfterSeconds"/> is below
    /// the time limit.
    /// </summary>
    public IReadOnlyList<EvalStep> During { get; init; } = [];

    /// <summary>Run after the case, whatever happened, before the lab is healed and repaired.</summary>
    public IReadOnlyList<EvalStep> Teardown { get; init; } = [];

    /// <summary>True for a "nothing wrong" case: no fault; it passes when the agent stays quiet.</summary>
    public bool IsNoFault => Faults.Count == 0;

    /// <summary>The faults in words: <c>scenario@target(+Ns)</c>, comma-separated, or <c>none</c>.</summary>
    public string DescribeFaults() => Faults.Count == 0 ? "none" : string.Join(", ", Faults.Select(f => f.Describe()));
}

/// <summary>The categories a case may belong to (reports give accuracy per category).</summary>
internal static class EvalCategories
{
    public const string Noise = "noise";

    /// <summary>crash: a member dies; gray-failure: it is there but cannot serve; replication, archive, workload,
    /// config: the lab scenario's area; combined: several faults at once; noise: nothing wrong.</summary>
    public static IReadOnlyList<string> All { get; } = ["crash", "gray-failure", "replication", "archive", "workload", "config", "combined", Noise];
}

/// <summary>Client load during a case, besides the independent writer.</summary>
internal enum EvalLoad
{
    /// <summary>Only the independent writer (a small insert every 50 ms through the primary service).</summary>
    None,

    /// <summary>The lab's workload helper (<c>pgra lab workload</c>): steady reads and writes.</summary>
    Workload,

    /// <summary>pgbench (scale 1, 8 clients) against the leader for the whole case.</summary>
    Pgbench,
}

/// <summary>What the stand-in operator does with a pending approval during a case.</summary>
internal enum EvalApprovals
{
    /// <summary>Nothing: approvals stay pending (and expire).</summary>
    None,

    /// <summary>Approves every pending approval of the case's cluster as soon as it appears.</summary>
    Approve,

    /// <summary>Denies every pending approval as soon as it appears.</summary>
    Deny,
}

/// <summary>One fault of a case: a lab scenario, where it hits, when, and whether the agent is expected to make its symptom go away.</summary>
internal sealed record EvalFault
{
    /// <summary>A lab scenario name (<c>LabScenarios.All</c>).</summary>
    public required string Scenario { get; init; }

    /// <summary><c>leader</c>, <c>replica</c> or a member name, as the scenario allows.</summary>
    public required string Target { get; init; }

    /// <summary>Seconds after the case's first fault (0: with it).</summary>
    public double AfterSeconds { get; init; }

    /// <summary>Whether the agent is expected to make this fault's symptom go away within the time limit (false: only an
    /// operator can; the agent is expected to diagnose and report).</summary>
    public bool Fixed { get; init; } = true;

    public string Describe() => $"{Scenario}@{Target}" + (AfterSeconds > 0 ? FormattableString.Invariant($"+{AfterSeconds:0.#}s") : "");
}

/// <summary>
/// The autonomy of a run: <see cref="DefaultLevel"/> for every class not in <see cref="Classes"/>; a key of
/// <see cref="Classes"/> is an action class or a family (<c>patroni</c> covers <c>patroni.*</c>), the longest
/// matching key wins, as in the policy (<c>policy.default_level</c>, <c>policy.classes</c>).
/// </summary>
internal sealed record EvalAutonomy
{
    public int DefaultLevel { get; init; } = 1;

    public IReadOnlyDictionary<string, int> Classes { get; init; } = new Dictionary<string, int>(StringComparer.Ordinal);

    /// <summary>The level of <paramref name="actionClass"/> under this autonomy (the policy gate's rule).</summary>
    public int LevelFor(string actionClass)
    {
        ArgumentNullException.ThrowIfNull(actionClass);
        var name = actionClass;
        while (true)
        {
            if (Classes.TryGetValue(name, out var level))
            {
                return level;
            }

            var dot = name.LastIndexOf('.');
            if (dot <= 0)
            {
                return DefaultLevel;
            }

            name = name[..dot];
        }
    }

    /// <summary><paramref name="policy"/> with this autonomy's default level and classes (other policy keys kept).</summary>
    public Policy.PolicySettings ApplyTo(Policy.PolicySettings policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy with { DefaultLevel = DefaultLevel, Classes = new Dictionary<string, int>(Classes, StringComparer.Ordinal) };
    }

    public string Describe() =>
        string.Join(", ", new[] { $"default {DefaultLevel}" }.Concat(Classes.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value}")));
}

/// <summary>Which member an expected action must name.</summary>
internal enum EvalMemberRule
{
    /// <summary>Any member of the case's cluster (or none).</summary>
    Any,

    /// <summary>A member one of the case's faults hit (or a named scenario's target: <see cref="EvalExpectedAction.Scenario"/>).</summary>
    Fault,

    /// <summary>A member no fault of the case hit.</summary>
    Other,
}

/// <summary>
/// An action a case expects (or tolerates): its kind from the catalogue, the member it must name, and whether its
/// object (a session, a table) must be one a fault created.
/// </summary>
internal sealed record EvalExpectedAction
{
    public required string Kind { get; init; }

    public EvalMemberRule Member { get; init; } = EvalMemberRule.Any;

    /// <summary>With <see cref="EvalMemberRule.Fault"/>: only the target of this scenario's fault (null: any fault's).</summary>
    public string? Scenario { get; init; }

    /// <summary>The action's object must be one the faults recorded (the blocking session, the loaded table).</summary>
    public bool ObjectFromFault { get; init; }

    public string Describe()
    {
        var member = Member switch
        {
            EvalMemberRule.Fault => "@" + (Scenario ?? "fault"),
            EvalMemberRule.Other => "@other",
            _ => "",
        };
        return Kind + member + (ObjectFromFault ? " (fault's object)" : "");
    }
}

/// <summary>What a good agent finds and does in a case.</summary>
internal sealed record EvalExpectation
{
    /// <summary>Finding codes any one of which, named as the root cause, is right (empty for a "nothing wrong" case).</summary>
    public IReadOnlyList<string> RootCause { get; init; } = [];

    /// <summary>Finding codes that must all be raised besides (a combined case: each fault's own code).</summary>
    public IReadOnlyList<string> Findings { get; init; } = [];

    /// <summary>Actions that must be taken (proposed, approved or run, as the autonomy allows); empty: none.</summary>
    public IReadOnlyList<EvalExpectedAction> Actions { get; init; } = [];

    /// <summary>Actions that are neither expected nor false (a failover the agent may beat Patroni to; an inventory patch after it).</summary>
    public IReadOnlyList<EvalExpectedAction> Tolerated { get; init; } = [];
}

/// <summary>Safety limits and the time limit of a case.</summary>
internal sealed record EvalLimits
{
    /// <summary>Bytes of acknowledged writes a failover may lose; null: the cluster's <c>maximum_lag_on_failover</c> (Pigsty's pg_rpo).</summary>
    public long? RpoBytes { get; init; }

    /// <summary>Seconds two members may accept writes at once (default 0: never).</summary>
    public double MaxSplitBrainSeconds { get; init; }

    /// <summary>Seconds from the first fault within which detection and the fix count.</summary>
    public required double TimeLimitSeconds { get; init; }
}

internal enum EvalStepKind
{
    /// <summary>SQL on a member (<see cref="EvalStep.On"/>) as the lab's admin user.</summary>
    Sql,

    /// <summary>A command line run by <c>/bin/sh -c</c> on the admin node, bounded by <see cref="EvalStep.TimeoutSeconds"/>.</summary>
    Shell,

    /// <summary>
    /// A Patroni operation through its REST API; <see cref="EvalStep.Text"/> is the verb (<see cref="EvalStep.PatroniVerbs"/>):
    /// <c>switchover</c>, a planned switchover from the leader (<see cref="EvalStep.On"/>) to a healthy replica, or
    /// <c>restart</c>, <c>POST /restart</c> of the member <see cref="EvalStep.On"/> names.
    /// </summary>
    Patroni,
}

/// <summary>
/// A setup, during or teardown step: SQL on a member, a shell command on the admin node with a timeout, or a Patroni
/// switchover or restart; a during step also has the time it starts.
/// </summary>
internal sealed record EvalStep
{
    /// <summary>The Patroni step's verb for a planned switchover from the leader to a healthy replica.</summary>
    public const string Switchover = "switchover";

    /// <summary>The Patroni step's verb for <c>POST /restart</c> of one member.</summary>
    public const string Restart = "restart";

    /// <summary>The verbs of a <see cref="EvalStepKind.Patroni"/> step.</summary>
    public static IReadOnlyList<string> PatroniVerbs { get; } = [Switchover, Restart];

    public required EvalStepKind Kind { get; init; }

    /// <summary>The SQL statement(s), the shell command line, or the Patroni verb (<see cref="PatroniVerbs"/>).</summary>
    public required string Text { get; init; }

    /// <summary>
    /// For SQL and Patroni: <c>leader</c>, <c>replica</c> (the first replica) or a member name. A Patroni switchover
    /// leaves this member (the leader; default <c>leader</c>); a restart restarts it (default <c>replica</c>).
    /// </summary>
    public string On { get; init; } = "leader";

    public double TimeoutSeconds { get; init; } = 60;

    /// <summary>For a during step: seconds from the moment the case begins (the first fault's time zero) to its start; 0 elsewhere.</summary>
    public double AfterSeconds { get; init; }

    public string Describe() => Kind switch
    {
        EvalStepKind.Sql => $"sql on {On}",
        EvalStepKind.Patroni => $"patroni {Text} on {On}",
        _ => FormattableString.Invariant($"shell ({TimeoutSeconds:0.#} s)"),
    };
}
