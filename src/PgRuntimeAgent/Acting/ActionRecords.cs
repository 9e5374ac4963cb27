using System.Diagnostics;

namespace PgRuntimeAgent.Acting;

/// <summary>How an action ended, as journaled in its outcome.</summary>
internal enum ActionOutcomeStatus
{
    /// <summary>Executed and verified by sensing.</summary>
    Succeeded,

    /// <summary>Executed, but sensing did not confirm the change in time (or saw it fail).</summary>
    VerifyFailed,

    /// <summary>Execution failed and the change is not in effect.</summary>
    ExecuteFailed,

    /// <summary>Reconciled after a crash: it never took effect.</summary>
    NotExecuted,

    /// <summary>Reconciled after a crash, or a timeout, and nobody can tell whether it took effect.</summary>
    Unknown,
}

/// <summary>What <see cref="ActionPipeline"/> did with an action.</summary>
internal enum ActionStatus
{
    Succeeded,
    VerifyFailed,
    ExecuteFailed,
    NotExecuted,
    Unknown,

    /// <summary>A precheck failed; nothing was changed and no intent written.</summary>
    PrecheckFailed,

    /// <summary>Dry run: plan, policy and prechecks only.</summary>
    DryRun,

    /// <summary>Waiting for <c>pgra approve</c>.</summary>
    AwaitingApproval,

    /// <summary>Recorded as a recommendation (level 1).</summary>
    Recommended,

    /// <summary>Level 0: recorded, nothing proposed.</summary>
    Observed,

    /// <summary>A guardrail refused it (or the cluster lock was taken meanwhile).</summary>
    Refused,
}

/// <summary>The process that wrote an intent, so another process can tell a crashed run from one still in progress.</summary>
internal sealed record IntentOwner(string Host, int Pid, DateTimeOffset ProcessStart)
{
    public static IntentOwner Current { get; } = Create();

    private static IntentOwner Create()
    {
        using var process = Process.GetCurrentProcess();
        return new IntentOwner(Environment.MachineName, Environment.ProcessId, new DateTimeOffset(process.StartTime.ToUniversalTime(), TimeSpan.Zero));
    }

    /// <summary>True: still running; false: gone; null: on another host, cannot tell.</summary>
    public bool? IsAlive()
    {
        if (!string.Equals(Host, Environment.MachineName, StringComparison.Ordinal))
        {
            return null;
        }

        try
        {
            using var process = Process.GetProcessById(Pid);
            var start = new DateTimeOffset(process.StartTime.ToUniversalTime(), TimeSpan.Zero);
            return Math.Abs((start - ProcessStart).TotalSeconds) < 2;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}

/// <summary>Payload of <see cref="Journal.JournalKinds.Decision"/>.</summary>
internal sealed record DecisionPayload(PolicyDecision Decision, PlannedAction Action);

/// <summary>Payload of <see cref="Journal.JournalKinds.ActionPrecheck"/>.</summary>
internal sealed record PrecheckPayload(PrecheckResult Precheck, bool DryRun);

/// <summary>Payload of <see cref="Journal.JournalKinds.ActionIntent"/>: the exact action, written before it runs.</summary>
internal sealed record IntentPayload(PlannedAction Action, PrecheckResult Precheck, IntentOwner Owner, string? ApprovedBy)
{
    /// <summary>The fencing token the writer held for the cluster when several agents share the clusters (docs/fleet.md); null: alone.</summary>
    public long? FencingToken { get; init; }

    /// <summary>The agent that wrote the intent when several agents share the clusters (<c>fleet.agent_id</c>); null: alone.</summary>
    public string? Agent { get; init; }
}

/// <summary>Payload of <see cref="Journal.JournalKinds.ActionOutcome"/>.</summary>
internal sealed record OutcomePayload
{
    public required ActionOutcomeStatus Status { get; init; }

    public required string Message { get; init; }

    public required PlannedAction Action { get; init; }

    public ExecuteResult? Execution { get; init; }

    public VerifyResult? Verification { get; init; }

    public int VerifyAttempts { get; init; }

    /// <summary>The action that takes this one back (its id is assigned when it runs).</summary>
    public PlannedAction? Undo { get; init; }

    /// <summary>True when the outcome was established after the fact (start-up reconciliation, a timeout).</summary>
    public bool Reconciled { get; init; }

    public double DurationSeconds { get; init; }

    /// <summary>The agent that recorded the outcome when several agents share the clusters; a reconciled outcome may name another agent than the intent.</summary>
    public string? Agent { get; init; }
}

/// <summary>What happened to one action in the pipeline, with the journal entries written for it.</summary>
internal sealed record ActionRunResult
{
    public required PlannedAction Action { get; init; }

    public required ActionStatus Status { get; init; }

    public required string Message { get; init; }

    public PolicyDecision? Decision { get; init; }

    public PrecheckResult? Precheck { get; init; }

    public ExecuteResult? Execution { get; init; }

    public VerifyResult? Verification { get; init; }

    public PlannedAction? Undo { get; init; }

    public Approval? Approval { get; init; }

    /// <summary>Journal sequence numbers written for this run, in order.</summary>
    public IReadOnlyList<long> JournalSeqs { get; init; } = [];

    public long? IntentSeq { get; init; }

    public long? OutcomeSeq { get; init; }

    /// <summary>True for statuses that mean "it did not work" (exit code 1).</summary>
    public bool IsFailure => Status is ActionStatus.VerifyFailed or ActionStatus.ExecuteFailed or ActionStatus.NotExecuted
        or ActionStatus.Unknown or ActionStatus.PrecheckFailed or ActionStatus.Refused;
}

/// <summary>What start-up reconciliation did with one open intent.</summary>
internal sealed record ReconcileReport(string ActionId, string Kind, string Cluster, string Result, string Message, long? OutcomeSeq);
