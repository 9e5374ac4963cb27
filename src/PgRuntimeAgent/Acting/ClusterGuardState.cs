namespace PgRuntimeAgent.Acting;

/// <summary>
/// What the guardrails need to know about a cluster right now, taken from the latest snapshot. Sensing supplies it
/// through <see cref="IClusterStateProvider"/>; tests build it by hand.
/// </summary>
internal sealed record ClusterGuardState
{
    public required string Cluster { get; init; }

    /// <summary>When the underlying snapshot was taken.</summary>
    public required DateTimeOffset ObservedAt { get; init; }

    /// <summary>True when the sources agree on exactly one leader; false when it is unknown or disputed.</summary>
    public required bool LeaderKnown { get; init; }

    public string? Leader { get; init; }

    /// <summary>The agent read the leader key from etcd itself for this state (the DCS is the arbiter).</summary>
    public bool DcsRead { get; init; }

    /// <summary>The member etcd's leader key names; null when no key is held (or <see cref="DcsRead"/> is false).</summary>
    public string? DcsHolder { get; init; }

    /// <summary>
    /// A member on a newer timeline than <see cref="DcsHolder"/> answers while the holder runs as a primary: the holder
    /// took the key back from a stale cache, and fencing it is the safe direction (null: no such member).
    /// </summary>
    public string? NewerThanDcsHolder { get; init; }

    /// <summary>Disagreements between sources (inventory vs Patroni, two primaries, missing metrics). Empty: none.</summary>
    public IReadOnlyList<string> Drift { get; init; } = [];

    /// <summary>Replication lag per member in bytes; null for a member whose lag is unknown.</summary>
    public IReadOnlyDictionary<string, long?> MemberLagBytes { get; init; } = new Dictionary<string, long?>(StringComparer.Ordinal);

    /// <summary>The lag limit for a failover candidate (Patroni maximum_lag_on_failover, Pigsty pg_rpo).</summary>
    public long MaximumLagOnFailoverBytes { get; init; } = 1_048_576;
}

/// <summary>Supplies the current <see cref="ClusterGuardState"/>; null when nothing is known about the cluster.</summary>
internal interface IClusterStateProvider
{
    Task<ClusterGuardState?> GetStateAsync(string cluster, CancellationToken cancellationToken);
}

/// <summary>A provider that knows nothing: every risky action is refused.</summary>
internal sealed class NoClusterState : IClusterStateProvider
{
    public static NoClusterState Instance { get; } = new();

    public Task<ClusterGuardState?> GetStateAsync(string cluster, CancellationToken cancellationToken) => Task.FromResult<ClusterGuardState?>(null);
}

/// <summary>
/// Builds the <see cref="IClusterStateProvider"/> for a deployment (sensing implements it). Discovered by reflection
/// in this assembly; with none, <see cref="NoClusterState"/> applies and every high-risk action is refused.
/// </summary>
internal interface IClusterStateProviderFactory
{
    IClusterStateProvider Create(ActuatorContext context);
}

internal static class ClusterStateProviders
{
    public static IClusterStateProvider Discover(ActuatorContext context)
    {
        var types = typeof(ClusterStateProviders).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IClusterStateProviderFactory).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
            .ToList();
        if (types.Count > 1)
        {
            throw new InvalidOperationException($"More than one cluster state provider: {string.Join(", ", types.Select(t => t.FullName))}; the guardrails need exactly one.");
        }

        return types.Count == 0 ? NoClusterState.Instance : ((IClusterStateProviderFactory)Activator.CreateInstance(types[0])!).Create(context);
    }
}
