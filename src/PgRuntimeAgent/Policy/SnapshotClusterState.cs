using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Policy;

/// <summary>
/// The guardrails' view of a <see cref="ClusterSnapshot"/>. The leader is known when the snapshot names one and no
/// critical disagreement disputes it. Drift that blocks risky actions is a disagreement between live sources
/// (Patroni members disagreeing, Patroni vs PostgreSQL); the inventory lagging behind Patroni after a failover (Pigsty
/// never rewrites pg_role) is a finding of its own, not a reason to stop moving the leader back.
/// </summary>
internal static class SnapshotGuard
{
    public static ClusterGuardState From(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var critical = snapshot.Drift.Where(d => string.Equals(d.Severity, "critical", StringComparison.Ordinal)).ToList();
        var live = snapshot.Drift
            .Where(d => !string.Equals(d.Severity, "info", StringComparison.Ordinal) && !d.Between.Contains("inventory", StringComparison.Ordinal))
            .Select(d => $"{d.Code}: {d.Message}")
            .ToList();
        return new ClusterGuardState
        {
            Cluster = snapshot.Cluster,
            ObservedAt = snapshot.TakenAt,
            Leader = snapshot.Leader,
            LeaderKnown = snapshot.Leader is not null && critical.Count == 0,
            Drift = live,
            MemberLagBytes = snapshot.Members.ToDictionary(m => m.Name, m => m.LagUnknown ? null : m.LagBytes, StringComparer.Ordinal),
            MaximumLagOnFailoverBytes = snapshot.Inventory.MaximumLagOnFailoverBytes > 0 ? snapshot.Inventory.MaximumLagOnFailoverBytes : 1_048_576,
        };
    }
}

/// <summary>Takes a fresh snapshot for every policy decision (so the guardrails never judge on an old picture).</summary>
internal sealed class SnapshotClusterStateProvider : IClusterStateProvider, IDisposable
{
    private readonly SnapshotService _snapshots;

    public SnapshotClusterStateProvider(SnapshotService snapshots) => _snapshots = snapshots;

    /// <summary>The last snapshot taken, for callers that want to journal what the decision saw.</summary>
    public ClusterSnapshot? Last { get; private set; }

    public async Task<ClusterGuardState?> GetStateAsync(string cluster, CancellationToken cancellationToken)
    {
        if (_snapshots.Topology.FindCluster(cluster) is null)
        {
            return null;
        }

        Last = await _snapshots.TakeAsync(cluster, cancellationToken).ConfigureAwait(false);
        return SnapshotGuard.From(Last);
    }

    public void Dispose() => _snapshots.Dispose();
}

/// <summary>Plugs sensing into the policy gate for every verb that acts.</summary>
internal sealed class SnapshotClusterStateFactory : IClusterStateProviderFactory
{
    public IClusterStateProvider Create(ActuatorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new SnapshotClusterStateProvider(new SnapshotService(context.Topology, context.Settings, context.Secrets, context.Time));
    }
}
