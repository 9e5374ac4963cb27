using System.Text.Json.Serialization;

namespace PgRuntimeAgent.Acting;

/// <summary>What the policy lets happen to an action.</summary>
internal enum PolicyVerdict
{
    /// <summary>Run it now (prechecks, intent, execute, verify).</summary>
    Execute,

    /// <summary>Wait as a pending approval; run only after <c>pgra approve</c>.</summary>
    AwaitApproval,

    /// <summary>Record it as a recommendation for an operator; do nothing.</summary>
    Recommend,

    /// <summary>Record the observation only (level 0).</summary>
    Observe,

    /// <summary>A guardrail blocks it, whatever the level or approval.</summary>
    Refuse,
}

/// <summary>One reason behind a decision. Stable <see cref="Code"/>s: tests, dashboards and AGENT.md refer to them.</summary>
internal sealed record PolicyReason(string Code, string Message, bool Blocking = false);

/// <summary>Reason codes.</summary>
internal static class PolicyCodes
{
    public const string Forbidden = "forbidden";
    public const string ClusterLocked = "cluster-locked";
    public const string Cooldown = "cooldown";
    public const string LagLimit = "lag-limit";
    public const string LagUnknown = "lag-unknown";
    public const string NoState = "no-cluster-state";
    public const string StaleState = "stale-cluster-state";
    public const string LeaderUnknown = "leader-unknown";
    public const string Drift = "drift";
    public const string Level = "autonomy-level";
    public const string Approved = "approved";
    public const string OperatorCommand = "operator-command";
    public const string DryRun = "dry-run";
}

/// <summary>A policy decision: a value with every reason, journaled before anything else happens.</summary>
internal sealed record PolicyDecision
{
    public required string ActionId { get; init; }

    public required string Kind { get; init; }

    public required string Class { get; init; }

    public required string Cluster { get; init; }

    public required PolicyVerdict Verdict { get; init; }

    /// <summary>
    /// The autonomy level the action ran at: the one configured for the class on this cluster, lowered to
    /// <see cref="Ceiling"/> when one was given. Journaled as its number (0-5), as the settings write it.
    /// </summary>
    [JsonConverter(typeof(JsonNumberEnumConverter<AutonomyLevel>))]
    public required AutonomyLevel Level { get; init; }

    /// <summary>The level this action needs to run without an approval.</summary>
    [JsonConverter(typeof(JsonNumberEnumConverter<AutonomyLevel>))]
    public required AutonomyLevel RequiredLevel { get; init; }

    /// <summary>The caller's ceiling (a skill's <c>autonomy:</c>) when it lowered the configured level; null otherwise.</summary>
    [JsonConverter(typeof(JsonNumberEnumConverter<AutonomyLevel>))]
    public AutonomyLevel? Ceiling { get; init; }

    /// <summary>Stop after plan and precheck (requested or <c>policy.dry_run</c>).</summary>
    public bool DryRun { get; init; }

    public required IReadOnlyList<PolicyReason> Reasons { get; init; }

    public required DateTimeOffset DecidedAt { get; init; }

    /// <summary>The blocking reasons joined, or the first reason: what an operator reads.</summary>
    public string Explain() =>
        string.Join("; ", (Reasons.Any(r => r.Blocking) ? Reasons.Where(r => r.Blocking) : Reasons).Select(r => r.Message));
}
