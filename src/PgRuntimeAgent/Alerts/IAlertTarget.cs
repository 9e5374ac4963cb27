using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Alerts;

/// <summary>
/// What the intake hands firing alerts to: the agent's loop (<see cref="Agent.AgentLoop"/>), which runs each alert's
/// skill through the cluster's skill slot. Every member is safe to call from any thread while the loop runs.
/// </summary>
internal interface IAlertTarget
{
    /// <summary>The clusters the agent watches.</summary>
    IReadOnlyList<string> Clusters { get; }

    /// <summary>The skills (<see cref="SkillCatalog.ForAlert"/> finds an alert's).</summary>
    SkillCatalog Skills { get; }

    /// <summary>The inventory's topology, to map <c>ins</c>/<c>instance</c> labels to members; null: labels taken as given.</summary>
    Topology? Topology { get; }

    /// <summary>Whether <paramref name="cluster"/>'s queue of alerts not yet taken by its loop has room for one more.</summary>
    bool CanQueueAlert(string cluster);

    /// <summary>Queues <paramref name="firing"/> for its cluster's loop; false when the cluster is not watched or its queue is full.</summary>
    bool QueueAlert(AlertFiring firing);

    /// <summary>An occurrence resolved: a run it queued that has not started yet is dropped.</summary>
    void WithdrawAlert(string cluster, string occurrence);
}

/// <summary>A firing alert's skill, owed to its cluster's skill slot: the occurrence, the skill and the run's trigger.</summary>
/// <param name="Occurrence"><see cref="AlertTrigger.Occurrence(string, DateTimeOffset)"/>: fingerprint and start.</param>
/// <param name="Trigger">The alert as a <see cref="Finding"/> (<see cref="AlertTrigger.Create"/>): what the run sees as <c>$trigger</c>.</param>
internal sealed record AlertFiring(string Occurrence, Skill Skill, Finding Trigger);
