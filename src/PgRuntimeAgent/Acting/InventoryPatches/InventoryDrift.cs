using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Acting.InventoryPatches;

/// <summary>How the inventory's <c>pg_role</c> compares with Patroni's leader.</summary>
internal enum InventoryDriftStatus
{
    /// <summary>No member holds the leader key: nothing to compare with.</summary>
    LeaderUnknown,

    /// <summary>The inventory calls Patroni's leader the primary.</summary>
    InAgreement,

    /// <summary>The inventory calls another member (or none) the primary; <see cref="InventoryDrift.Changes"/> says what to change.</summary>
    Drift,
}

/// <summary>
/// Does the inventory's <c>pg_role</c> name Patroni's leader as the primary (<c>pgra inventory drift</c>, the
/// <c>inventory-drift</c> skill's question)? A value: the cluster, both names, the status, an operator's sentence and
/// the <c>pg_role</c> changes that would settle it.
/// </summary>
internal sealed record InventoryDrift(string Cluster, string? DeclaredPrimary, string? Leader, InventoryDriftStatus Status, string Message,
    IReadOnlyList<InventoryChange> Changes)
{
    /// <summary>Compares <paramref name="cluster"/>'s declared primary with the leader of <paramref name="snapshot"/>.</summary>
    public static InventoryDrift Judge(PgCluster cluster, ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(snapshot);
        var declared = cluster.DeclaredPrimary?.Name;
        if (snapshot.Leader is not { } leader)
        {
            return new(cluster.Name, declared, null, InventoryDriftStatus.LeaderUnknown,
                $"no member of {cluster.Name} holds the leader key: cannot tell which member the inventory should call primary", []);
        }

        var changes = InventoryChange.RoleChanges(cluster, leader);
        return changes.Count == 0
            ? new(cluster.Name, declared, leader, InventoryDriftStatus.InAgreement, $"the inventory names {leader}, Patroni's leader, as the primary of {cluster.Name}", changes)
            : new(cluster.Name, declared, leader, InventoryDriftStatus.Drift,
                $"the inventory names {declared ?? "no member"} as the primary of {cluster.Name}; Patroni's leader is {leader}", changes);
    }
}
