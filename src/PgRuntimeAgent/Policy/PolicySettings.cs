namespace PgRuntimeAgent.Policy;

/// <summary>Autonomy policy (settings section <c>policy:</c>). Levels follow SAE J3016 in spirit: 0 observe .. 5 full.</summary>
public sealed record PolicySettings
{
    /// <summary>Level applied to every action class not listed in <see cref="Classes"/>. Conservative: recommend only.</summary>
    public int DefaultLevel { get; init; } = 1;

    /// <summary>Level per action class (for example <c>patroni.failover: 2</c>).</summary>
    public IReadOnlyDictionary<string, int> Classes { get; init; } = new Dictionary<string, int>();

    /// <summary>Per-cluster overrides of <see cref="Classes"/>.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> Clusters { get; init; } =
        new Dictionary<string, IReadOnlyDictionary<string, int>>();
}
