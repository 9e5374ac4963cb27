namespace PgRuntimeAgent.Journal;

/// <summary>
/// The kinds of journal entries. Stored as text so that new kinds need no schema change; these names are stable
/// (post-mortems, replays and dashboards refer to them).
/// </summary>
internal static class JournalKinds
{
    /// <summary>An immutable cluster snapshot (topic: none; payload: the snapshot).</summary>
    public const string Snapshot = "snapshot";

    /// <summary>A detector finding (topic: the finding code).</summary>
    public const string Finding = "finding";

    /// <summary>A policy decision about an action (topic: action kind; correlation: action id).</summary>
    public const string Decision = "decision";

    /// <summary>The result of an action's prechecks (topic: action kind; correlation: action id).</summary>
    public const string ActionPrecheck = "action.precheck";

    /// <summary>Write-ahead record of an action about to run. An intent without an outcome holds the cluster's lock.</summary>
    public const string ActionIntent = "action.intent";

    /// <summary>What happened to an action: executed and verified, failed, reconciled after a crash (closes the intent).</summary>
    public const string ActionOutcome = "action.outcome";

    /// <summary>An action waiting for an operator (correlation: action id, which is also the approval id).</summary>
    public const string ApprovalRequested = "approval.requested";

    /// <summary>An operator approved a pending action.</summary>
    public const string ApprovalGranted = "approval.granted";

    /// <summary>An operator denied a pending action.</summary>
    public const string ApprovalDenied = "approval.denied";

    /// <summary>An incident changed state (opened, mitigating, resolved).</summary>
    public const string Incident = "incident";

    /// <summary>A free-text note from an operator (<c>pgra journal note</c>).</summary>
    public const string Note = "note";

    /// <summary>One question to a language model and its answer: redacted prompt digest, tool calls, tokens, latency, cost.</summary>
    public const string BrainExchange = "brain.exchange";

    /// <summary>One tool call of an MCP client (stdio or HTTP): client, token, caller, tool, redacted arguments, ok, size, latency (topic: the tool; correlation: the action id).</summary>
    public const string McpCall = "mcp.call";

    /// <summary>
    /// One alert of an Alertmanager webhook notification and what the intake did with it: queued its skills, a
    /// duplicate, resolved, or ignored with the reason (topic: the alertname; correlation: the alert's fingerprint;
    /// payload: <see cref="Alerts.AlertReceivedEntry"/>).
    /// </summary>
    public const string AlertReceived = "alert.received";

    /// <summary>The topic of the <see cref="Note"/> an agent writes when it takes a cluster (payload: agent, token); docs/fleet.md.</summary>
    public const string FleetGained = "fleet.gained";

    /// <summary>The topic of the <see cref="Note"/> an agent writes when it no longer owns a cluster.</summary>
    public const string FleetLost = "fleet.lost";

    public static IReadOnlyList<string> All { get; } =
    [
        Snapshot, Finding, Decision, ActionPrecheck, ActionIntent, ActionOutcome,
        ApprovalRequested, ApprovalGranted, ApprovalDenied, Incident, Note, BrainExchange, McpCall, AlertReceived,
    ];
}
