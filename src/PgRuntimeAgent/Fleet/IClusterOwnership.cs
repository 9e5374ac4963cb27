namespace PgRuntimeAgent.Fleet;

/// <summary>Which clusters this agent may sense and act on now (an agent alone owns all of its clusters).</summary>
public interface IClusterOwnership
{
    /// <summary>This agent's name among the agents.</summary>
    string AgentId { get; }

    /// <summary>
    /// True while this agent holds <paramref name="cluster"/>'s owner key and its lease has not run out by the agent's
    /// own monotonic clock (measured from before its last renewal was sent, so it runs out no later than etcd's).
    /// </summary>
    bool Owns(string cluster);

    /// <summary>The last change of <paramref name="cluster"/>'s ownership this agent saw; null when none.</summary>
    OwnershipChange? LastChange(string cluster);

    /// <summary>The owners etcd named at the last round, by cluster (every agent's, not only this one's).</summary>
    IReadOnlyDictionary<string, ClusterOwner> Owners { get; }
}

/// <summary>One change of ownership as this agent saw it.</summary>
/// <param name="Gained">True: the agent took the cluster; false: it lost it (another agent holds it, or its lease ran out).</param>
/// <param name="Token">The fencing token: the owner key's etcd create revision, larger for every new owner.</param>
public sealed record OwnershipChange(string Cluster, string Agent, bool Gained, long? Token, string Detail)
{
    /// <summary>On a gain: the other agent etcd last named as the cluster's owner, with its token (null: none seen since this agent started).</summary>
    public ClusterOwner? Previous { get; init; }
}

/// <summary>The owner of one cluster as etcd says.</summary>
/// <param name="Token">The owner key's create revision: a new owner always has a larger one.</param>
public sealed record ClusterOwner(string Cluster, string Agent, long Token, long Lease);
