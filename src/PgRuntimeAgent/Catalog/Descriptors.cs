using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Detection;

namespace PgRuntimeAgent.Catalog;

/// <summary>Whether an action or a read is about one member of the cluster.</summary>
internal enum MemberUse
{
    /// <summary>The cluster as a whole; a member is refused.</summary>
    None,

    /// <summary>A member may be named (else the action picks one, for example the leader).</summary>
    Optional,

    /// <summary>A member must be named.</summary>
    Required,
}

/// <summary>
/// What one action kind is, for everybody who asks for or judges one: the planner, skills and their linter, the
/// policy gate, <c>pgra act</c>, <c>pgra catalog</c>, and the model's, MCP's and console's tools.
/// </summary>
internal sealed record ActionDescriptor
{
    /// <summary>Dotted kind, for example <c>patroni.switchover</c>.</summary>
    public required string Kind { get; init; }

    /// <summary>Policy class when it differs from <see cref="Kind"/> (several kinds may share a class).</summary>
    public string? Class { get; init; }

    /// <summary>What it does, for an operator and a model, in one or two sentences.</summary>
    public required string Summary { get; init; }

    public IReadOnlyList<ParameterSpec> Parameters { get; init; } = [];

    public MemberUse Member { get; init; } = MemberUse.Optional;

    public ActionRisk Risk { get; init; } = ActionRisk.Medium;

    public bool Reversible { get; init; }

    /// <summary>For an irreversible action: what bounds what it can cost (a precheck enforced in code); null: unbounded.</summary>
    public string? LossBound { get; init; }

    /// <summary>How long verification may take before the action counts as failed.</summary>
    public TimeSpan VerifyTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How it is taken back, in words (null: it is not).</summary>
    public string? Undo { get; init; }

    /// <summary>The policy class the action is judged under.</summary>
    public string PolicyClass => Class ?? Kind;

    /// <summary>
    /// True when verification waits as long as the pipeline's verify timeout (<see cref="VerifyTimeout"/> shows its
    /// default); false when the action carries <see cref="VerifyTimeout"/> itself.
    /// </summary>
    public bool VerifyTimeoutFromPipeline { get; init; }

    /// <summary>Names a caller may pass for a reader's benefit that planning ignores (a skill's <c>cluster:</c>).</summary>
    public IReadOnlyList<string> Informative { get; init; } = [];

    public ParameterSpec? FindParameter(string name) => Parameters.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.Ordinal));

    /// <summary>The parameters' names, comma-separated ("it takes no parameters" when there are none).</summary>
    public string DescribeParameters() => Parameters.Count == 0 ? "it takes no parameters" : $"parameters: {string.Join(", ", Parameters.Select(p => p.Name))}";

    /// <summary>
    /// A fresh action of this kind: id, kind, class, risk, reversibility, loss bound and verify timeout from this
    /// descriptor, the rest from the arguments. A kind whose risk or reversibility depends on its parameters (an
    /// undo command given or not) adjusts the result with <c>with</c>.
    /// </summary>
    public PlannedAction Plan(string cluster, string? member, IReadOnlyDictionary<string, string>? parameters, string summary, ActionTrigger trigger,
        string? initiator, string? reason) => new()
        {
            Id = PlannedAction.NewId(),
            Kind = Kind,
            Class = Class,
            Cluster = cluster,
            Member = member,
            Parameters = parameters ?? new Dictionary<string, string>(StringComparer.Ordinal),
            Risk = Risk,
            Reversible = Reversible,
            LossBounded = !Reversible && LossBound is not null,
            Trigger = trigger,
            Initiator = initiator,
            Reason = reason,
            VerifyTimeoutSeconds = VerifyTimeoutFromPipeline ? null : VerifyTimeout.TotalSeconds,
            Summary = summary,
        };
}

/// <summary>What one detector raises and how it is judged: code, severity, persistence defaults, root-cause rank, explanation, thresholds.</summary>
internal sealed record DetectorDescriptor
{
    public required string Code { get; init; }

    public required FindingSeverity Severity { get; init; }

    /// <summary>What the finding means, in one sentence.</summary>
    public required string Summary { get; init; }

    /// <summary>How a post-mortem explains it as a root cause.</summary>
    public string? Explanation { get; init; }

    /// <summary>Consecutive snapshots the symptom must be seen on before the finding is raised (default; settable per code).</summary>
    public int ConsecutiveSnapshots { get; init; } = 1;

    /// <summary>Seconds the symptom must last before the finding is raised (default; settable per code).</summary>
    public double MinimumSeconds { get; init; }

    /// <summary>Lower ranks win when a post-mortem picks the root cause among several findings.</summary>
    public int RootCauseRank { get; init; } = 100;

    /// <summary>
    /// Codes this finding explains when both are raised on the same member (or the other is cluster-wide): the post-mortem
    /// names this one as the root cause even when the symptom is louder (a lost leader is critical, the configuration that
    /// keeps it from starting is a warning).
    /// </summary>
    public IReadOnlyList<string> Explains { get; init; } = [];

    /// <summary>
    /// The detector's thresholds: snake_case name, type (<see cref="ParameterType.Integer"/> or
    /// <see cref="ParameterType.Number"/>), default, unit and description. Settable per code under
    /// <c>detection.thresholds: { &lt;code&gt;: { &lt;name&gt;: value } }</c> (checked against this list) and read with
    /// <see cref="DetectionSettings.Threshold(string, string)"/>.
    /// </summary>
    public IReadOnlyList<ParameterSpec> Thresholds { get; init; } = [];

    /// <summary>Other keys of <c>detection:</c> the detector reads that are not thresholds (a list of sensors to ignore).</summary>
    public IReadOnlyList<ParameterSpec> Settings { get; init; } = [];

    /// <summary>Where the detector runs among the others (ascending); findings come out in this order, and so do the codes.</summary>
    public int Order { get; init; } = 1000;

    /// <summary>
    /// Whether <see cref="ConsecutiveSnapshots"/> and <see cref="MinimumSeconds"/> can be set in the settings
    /// (<c>detection.persistence</c>); false for a detector that fires on one snapshot by design.
    /// </summary>
    public bool PersistenceSettable { get; init; } = true;

    /// <summary>The threshold named <paramref name="name"/>, or null.</summary>
    public ParameterSpec? FindThreshold(string name) => Thresholds.FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.Ordinal));
}

/// <summary>Where a read's data comes from.</summary>
internal enum ReadSource
{
    Snapshot,
    Patroni,
    Postgres,
    Metrics,
    Logs,
    Backup,
    Journal,
    Fleet,
}

/// <summary>One on-demand read: read-only by construction, with a bounded result (rows, lines, series, range).</summary>
internal sealed record ReadDescriptor
{
    /// <summary>Dotted name, for example <c>postgres.activity</c>.</summary>
    public required string Name { get; init; }

    public required string Summary { get; init; }

    public required ReadSource Source { get; init; }

    public IReadOnlyList<ParameterSpec> Parameters { get; init; } = [];

    public MemberUse Member { get; init; } = MemberUse.Optional;

    /// <summary>How the result is bounded, in words ("at most 200 rows", "at most 1,000 lines and 6 hours").</summary>
    public required string Bound { get; init; }
}
