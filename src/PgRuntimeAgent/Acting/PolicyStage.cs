namespace PgRuntimeAgent.Acting;

/// <summary>What the policy stage is asked about one action.</summary>
internal sealed record PolicyRequest
{
    public required PlannedAction Action { get; init; }

    /// <summary>The cluster as last sensed; null when unknown (risky actions are then refused).</summary>
    public ClusterGuardState? State { get; init; }

    /// <summary>Stop after plan and precheck.</summary>
    public bool DryRun { get; init; }

    /// <summary>Who approved this exact action, when it was approved (<c>pgra approve</c>).</summary>
    public string? ApprovedBy { get; init; }

    /// <summary>
    /// The highest level the caller lets this action run at (a skill's <c>autonomy:</c> ceiling); null: the policy's
    /// level alone. A ceiling only lowers the level, never raises it.
    /// </summary>
    public AutonomyLevel? Ceiling { get; init; }
}

/// <summary>
/// The pipeline's policy stage: decides, from the action, the cluster's state and the journal, whether an action
/// runs, waits for an approval, is recorded as a recommendation or an observation, or is refused. The pipeline
/// journals the decision before anything else happens. <c>Policy.PolicyGate</c> implements it from the settings'
/// <c>policy:</c> section.
/// </summary>
internal interface IPolicyStage
{
    Task<PolicyDecision> EvaluateAsync(PolicyRequest request, CancellationToken cancellationToken);
}
