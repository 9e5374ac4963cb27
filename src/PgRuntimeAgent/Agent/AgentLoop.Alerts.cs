using PgRuntimeAgent.Alerts;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Agent;

/// <summary>
/// Alert-triggered skill runs: the <see cref="AlertIntake"/> queues a firing alert's skills here (from the web host's
/// thread); each cluster's tick takes them and runs them through the cluster's skill slot, as it does a finding's.
/// </summary>
internal sealed partial class AgentLoop : IAlertTarget
{
    /// <summary>Alerts the intake may queue for one cluster before the cluster's loop has taken them.</summary>
    internal const int MaxQueuedAlerts = 256;

    IReadOnlyList<string> IAlertTarget.Clusters => _options.Clusters;

    SkillCatalog IAlertTarget.Skills => _skills;

    Topology? IAlertTarget.Topology => _acting.Workspace?.Topology;

    public bool CanQueueAlert(string cluster) => _states.TryGetValue(cluster, out var st) && st.AlertInbox.Count < MaxQueuedAlerts;

    public bool QueueAlert(AlertFiring firing)
    {
        ArgumentNullException.ThrowIfNull(firing);
        if (!_states.TryGetValue(firing.Trigger.Cluster, out var st) || st.AlertInbox.Count >= MaxQueuedAlerts)
        {
            return false;
        }

        st.AlertInbox.Enqueue(firing);
        st.WakeUp();
        return true;
    }

    public void WithdrawAlert(string cluster, string occurrence)
    {
        if (_states.TryGetValue(cluster, out var st))
        {
            st.AlertWithdrawn.Enqueue(occurrence);
        }
    }

    /// <summary>
    /// Takes the alerts queued since the last tick (one owed run per skill and member: a second alert for the same
    /// skill on the same member is served by the first's run, unless it is more severe, when it takes its place), drops
    /// the runs of occurrences that resolved meanwhile, and starts the most severe owed run (the oldest among equals)
    /// when the cluster's slot is free: no run in either slot and no approved action whose skill is to look again.
    /// Findings come first: this runs after the incident's skills had their turn in the tick. A run waits while the
    /// cluster has an open incident more severe than its alert, and while its skill waits for an operator's approval. The
    /// skill's cooldown holds as for a finding's run (by skill, member and severity): an alert whose skill acted on the
    /// member within the cooldown is served by that run and dropped (logged). The retry time does not: a new occurrence
    /// is news, as a newly raised finding is.
    /// </summary>
    private void StartAlertedIfDue(ClusterState st, ClusterSnapshot snapshot)
    {
        while (st.AlertInbox.TryDequeue(out var firing))
        {
            var same = st.AlertsDue.FindIndex(d => d.Skill.Name == firing.Skill.Name && d.Trigger.Member == firing.Trigger.Member);
            if (same < 0)
            {
                st.AlertsDue.Add(firing);
            }
            else if (firing.Trigger.Severity > st.AlertsDue[same].Trigger.Severity)
            {
                st.AlertsDue[same] = firing;
            }
        }

        while (st.AlertWithdrawn.TryDequeue(out var occurrence))
        {
            st.AlertsDue.RemoveAll(d => d.Occurrence == occurrence);
        }

        if (st.AlertsDue.Count == 0 || _runStop.IsCancellationRequested || st.Run is not null || st.Urgent is not null || st.Rerun is not null)
        {
            return;
        }

        var now = _time.GetUtcNow();
        var incident = _incidents.Current(st.Cluster) is { IsOpen: true } open ? open.Severity : (FindingSeverity?)null;
        foreach (var due in st.AlertsDue.OrderByDescending(d => d.Trigger.Severity).ThenBy(d => d.Trigger.LastSeen).ToList())
        {
            if ((incident is { } severity && due.Trigger.Severity < severity) || st.Awaiting?.Skill.Name == due.Skill.Name)
            {
                continue;
            }

            st.AlertsDue.Remove(due);
            if (st.HeldBack(due.Skill, due.Trigger, now) == Hold.Cooldown)
            {
                Log.AlertRunSkipped(_logger, due.Skill.Name, st.Cluster, due.Trigger.Code, "the skill is in its cooldown on this member after it acted");
                continue;
            }

            Start(st, due.Skill, due.Trigger, snapshot, "alert");
            return;
        }
    }
}
