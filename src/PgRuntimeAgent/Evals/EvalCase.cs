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
    Sql,
    Shell,
}

/// <summary>A setup or teardown step: SQL on a member, or a shell command on the admin node with a timeout.</summary>
internal sealed record EvalStep
{
    public required EvalStepKind Kind { get; init; }

    /// <summary>The SQL statement(s) or the shell command line.</summary>
    public required string Text { get; init; }

    /// <summary>For SQL: <c>leader</c>, <c>replica</c> or a member name.</summary>
    public string On { get; init; } = "leader";

    public double TimeoutSeconds { get; init; } = 60;

    public string Describe() => Kind == EvalStepKind.Sql ? $"sql on {On}" : FormattableString.Invariant($"shell ({TimeoutSeconds:0.#} s)");
}
