namespace PgRuntimeAgent.Acting;

/// <summary>
/// Whether this agent may still act on a cluster when several agents share the clusters (docs/fleet.md): the pipeline
/// asks right before it writes an action's intent, and an agent that cannot confirm does not act. Null in the
/// pipeline: the agent is alone.
/// </summary>
public interface IOwnershipFence
{
    /// <summary>This agent's id (<c>fleet.agent_id</c>): written on its intents and outcomes, so a post-mortem says which agent did what.</summary>
    string AgentId { get; }

    Task<OwnershipFenceResult> ConfirmAsync(string cluster, CancellationToken cancellationToken);
}

/// <param name="Held">True when the agent still owns the cluster.</param>
/// <param name="Detail">What etcd said, for the journal.</param>
/// <param name="Token">The fencing token the agent held; null when it held none.</param>
public sealed record OwnershipFenceResult(bool Held, string Detail, long? Token);
