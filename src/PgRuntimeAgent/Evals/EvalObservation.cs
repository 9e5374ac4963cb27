using PgRuntimeAgent.Detection;

namespace PgRuntimeAgent.Evals;

/// <summary>
/// What the runner recorded during one case, independently of the agent's own account where it can be: the faults
/// as the lab injected them, the findings and actions as the agent journaled them, the writes as an independent writer
/// counted them, split brain as an independent checker measured it, and the cluster's health as the runner probed it.
/// <see cref="EvalScoring"/> turns it into a score; it is never the agent's view of itself.
/// </summary>
internal sealed record EvalObservation
{
    /// <summary>The case's name.</summary>
    public required string Case { get; init; }

    /// <summary>The cluster the case ran on (the lab's); an action on any other cluster is a false action.</summary>
    public required string Cluster { get; init; }

    /// <summary>The cluster's members; an action naming a member not listed here is on an unrelated member.</summary>
    public IReadOnlyList<string> Members { get; init; } = [];

    /// <summary>When the case began (after setup, with the agent's baseline taken) and ended (before teardown).</summary>
    public required DateTimeOffset StartedAt { get; init; }

    public required DateTimeOffset EndedAt { get; init; }

    /// <summary>The faults as the lab injected them, in order (empty for a "nothing wrong" case, or when injection failed).</summary>
    public IReadOnlyList<EvalInjectedFault> Faults { get; init; } = [];

    /// <summary>Every finding the agent raised during the case, once per code and member, at the time it was first raised.</summary>
    public IReadOnlyList<EvalRaisedFinding> Findings { get; init; } = [];

    /// <summary>
    /// The root-cause code the agent stated, when it stated one (its post-mortem's root cause, or the model's
    /// diagnosis); null: the scorer applies the post-mortem's rule to the findings raised (docs/evals.md).
    /// </summary>
    public string? NamedRootCause { get; init; }

    /// <summary>Every action the agent's journal holds for the case, whatever its outcome (recommendations and pending approvals too).</summary>
    public IReadOnlyList<EvalActionRecord> Actions { get; init; } = [];

    /// <summary>Incidents the agent opened during the case.</summary>
    public int IncidentsOpened { get; init; }

    /// <summary>The independent writer's count.</summary>
    public EvalWriterCounts Writer { get; init; } = new();

    /// <summary>Seconds two members acknowledged writes at once (the checker's measure: the last ack of one member after another member's first).</summary>
    public double SplitBrainSeconds { get; init; }

    /// <summary>The cluster's <c>maximum_lag_on_failover</c> as read at the start (the RPO when the case gives none).</summary>
    public long? ClusterRpoBytes { get; init; }

    /// <summary>The first write the independent writer got acknowledged after its longest gap (null: writes never stopped, or never came back).</summary>
    public DateTimeOffset? WritableAgainAt { get; init; }

    /// <summary>
    /// The cluster was healthy at the end, as the runner probed it before teardown: exactly one member accepts writes and
    /// holds the leader key, and every member that no fault hit and the agent did not fence streams from it.
    /// </summary>
    public bool HealthyAtEnd { get; init; }

    /// <summary>The model's usage when a language model ran (null: the deterministic agent alone).</summary>
    public EvalModelUsage? Model { get; init; }

    /// <summary>The runner's process over the case (the agent runs in it): memory and CPU.</summary>
    public EvalFootprint? Footprint { get; init; }

    /// <summary>Anything the runner wants a reader of the report to know (a fault that took long to inject, a retry).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>The skills the agent ran during the case, in the order they started: what started each, how it ended, its steps.</summary>
    public IReadOnlyList<EvalSkillRun> Skills { get; init; } = [];
}

/// <summary>One skill run as the agent's events tell it: why it started and how it ended (null: still running at the end).</summary>
internal sealed record EvalSkillRun
{
    public required string Skill { get; init; }

    /// <summary>The finding code (or alert, or schedule) that started it.</summary>
    public string? Trigger { get; init; }

    public string? Member { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>completed, failed, stopped, awaiting-approval, error...; null when it had not finished when the case ended.</summary>
    public string? Status { get; init; }

    /// <summary>The steps it went through, "id:status" joined with " > ".</summary>
    public string? Steps { get; init; }

    /// <summary>Its last message (the record it ended on, or why it failed).</summary>
    public string? Message { get; init; }

    /// <summary>One line for a report.</summary>
    public string Describe() =>
        $"{Skill} for {Trigger ?? "?"}{(Member is null ? "" : "@" + Member)}: {Status ?? "still running"}"
        + (Steps is null ? "" : $" ({Steps})") + (string.IsNullOrEmpty(Message) ? "" : $": {Message}");
}

/// <summary>One fault as the lab injected it.</summary>
internal sealed record EvalInjectedFault
{
    public required string Scenario { get; init; }

    /// <summary>The member it hit.</summary>
    public required string Target { get; init; }

    /// <summary>When the inject began (the fault may be partly in place before the inject returns).</summary>
    public required DateTimeOffset InjectedAt { get; init; }

    /// <summary>What the fault created that an action may rightly touch: the blocking session's pid, the loaded table.</summary>
    public IReadOnlyList<string> Objects { get; init; } = [];

    /// <summary>When the runner's own check of this scenario's symptom first passed again (null: still there at the end).</summary>
    public DateTimeOffset? RestoredAt { get; init; }
}

/// <summary>A finding the agent raised, at the time it was first raised (the tracker's detection time).</summary>
internal sealed record EvalRaisedFinding
{
    public required string Code { get; init; }

    public required FindingSeverity Severity { get; init; }

    public string? Member { get; init; }

    public required DateTimeOffset RaisedAt { get; init; }
}

/// <summary>
/// One action from the agent's journal: what, where, on what, under which level, and how it ended. The outcome is the
/// action pipeline's status in kebab case: succeeded, verify-failed, execute-failed, unknown (these ran), and
/// not-executed, precheck-failed, dry-run, awaiting-approval, recommended, observed, refused (these did not).
/// </summary>
internal sealed record EvalActionRecord
{
    public required string Id { get; init; }

    public required string Kind { get; init; }

    /// <summary>The policy class (the catalogue's, when it differs from the kind).</summary>
    public string? Class { get; init; }

    public required string Cluster { get; init; }

    public string? Member { get; init; }

    /// <summary>What the action touches besides the member: a session's pid, a table or index name.</summary>
    public string? Object { get; init; }

    /// <summary>The level the policy gave the action's class when it was decided.</summary>
    public int? Level { get; init; }

    /// <summary>The level the action needs to run alone (3, +1 proactive, +1 irreversible without a loss bound).</summary>
    public required int RequiredLevel { get; init; }

    /// <summary>An operator (the runner's stand-in) approved it.</summary>
    public bool Approved { get; init; }

    public required string Outcome { get; init; }

    public required DateTimeOffset At { get; init; }

    /// <summary>The outcomes of an action that ran (an intent was journaled and it was executed).</summary>
    public static IReadOnlyList<string> RanOutcomes { get; } = ["succeeded", "verify-failed", "execute-failed", "unknown"];

    /// <summary>True when the action ran (changed, or may have changed, the cluster).</summary>
    public bool Ran => RanOutcomes.Contains(Outcome, StringComparer.Ordinal);

    /// <summary>
    /// Only advice: recommended or observed, with nothing done and nobody asked. It can meet an expectation (a case at
    /// autonomy 1 expects the recommendation); unexpected advice about a real fault is not a false action, but advice
    /// when nothing is wrong is (it pages someone for nothing).
    /// </summary>
    public bool Advisory => Outcome is "recommended" or "observed";

    public string Describe() => Kind + (Member is null ? "" : "@" + Member) + (Object is null ? "" : $" [{Object}]") + $" ({Outcome})";
}

/// <summary>The independent writer's count: a unique small insert every 50 ms through the primary service, each acknowledged commit recorded.</summary>
internal sealed record EvalWriterCounts
{
    public long Acknowledged { get; init; }

    /// <summary>Acknowledged writes the cluster no longer had at the end.</summary>
    public long Lost { get; init; }

    /// <summary>Of <see cref="Lost"/>: writes acknowledged after another member had acknowledged one (a deposed member, a rolled-back leader): never allowed.</summary>
    public long LostAfterPromotion { get; init; }

    /// <summary>WAL bytes the lost writes spanned, when the runner measured it (LSNs); null: <see cref="Lost"/> times <see cref="BytesPerWriteBound"/>.</summary>
    public long? LostBytes { get; init; }

    /// <summary>An upper bound of the WAL one write produces (one small row and its commit: 1 KiB).</summary>
    public long BytesPerWriteBound { get; init; } = 1024;

    /// <summary>The longest time without an acknowledged write, in seconds.</summary>
    public double MaxWriteGapSeconds { get; init; }

    /// <summary>The bytes of acknowledged writes lost: measured, else bounded from the count.</summary>
    public long LossBytes => LostBytes ?? Lost * BytesPerWriteBound;
}

/// <summary>What a language model cost in one case.</summary>
internal sealed record EvalModelUsage
{
    public required string Name { get; init; }

    /// <summary>How many times the model was asked.</summary>
    public int Calls { get; init; }

    public long InputTokens { get; init; }

    public long OutputTokens { get; init; }

    /// <summary>In US dollars, when the price is known.</summary>
    public double? CostUsd { get; init; }

    /// <summary>Seconds spent waiting for the model.</summary>
    public double WallSeconds { get; init; }
}
