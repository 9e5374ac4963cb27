using System.Globalization;
using System.Text.Json.Nodes;

namespace PgRuntimeAgent.Acting.Patroni;

/// <summary>Kinds of the Patroni actions and the typed values they are planned as.</summary>
internal static class PatroniActions
{
    public const string Switchover = "patroni.switchover";
    public const string Failover = "patroni.failover";
    public const string Config = "patroni.config";
    public const string Pause = "patroni.pause";
    public const string Resume = "patroni.resume";
    public const string Restart = "patroni.restart";
    public const string Reload = "patroni.reload";

    /// <summary>Parameter: the leader's timeline when the action was planned (reconciliation compares it).</summary>
    public const string Timeline = "timeline";

    /// <summary>Parameter of patroni.config: the JSON merge patch.</summary>
    public const string Patch = "patch";

    /// <summary>Parameter of patroni.config: the patch that takes it back, as computed when planned.</summary>
    public const string Inverse = "inverse";

    /// <summary>Parameter of patroni.config (an undo): member → parameter → pg_settings.setting to find again.</summary>
    public const string Restores = "restores";

    /// <summary>Parameter: when the action was planned (ISO 8601), for reconciling a restart.</summary>
    public const string PlannedAt = "planned_at";

    /// <summary>A planned switchover: Patroni's current leader hands over to <paramref name="candidate"/>. Reversible: the undo switches back.</summary>
    public static PlannedAction PlanSwitchover(string cluster, string leader, string candidate, long? timeline, ActionTrigger trigger = ActionTrigger.Operator,
        string? initiator = null, string? reason = null)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [ActionParameters.Leader] = leader,
            [ActionParameters.Candidate] = candidate,
        };
        if (timeline is { } t)
        {
            parameters[Timeline] = t.ToString(CultureInfo.InvariantCulture);
        }

        var action = PatroniSwitchoverAction.Info.Plan(cluster, candidate, parameters, $"switchover {cluster} from {leader} to {candidate}", trigger, initiator, reason);
        return action with { Undo = SwitchBack(action) };
    }

    /// <summary>The switchover that takes <paramref name="action"/> back (its id is assigned when it runs).</summary>
    public static PlannedAction? SwitchBack(PlannedAction action)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (action.Parameter(ActionParameters.Leader) is not { } leader || action.Parameter(ActionParameters.Candidate) is not { } candidate)
        {
            return null;
        }

        var parameters = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [ActionParameters.Leader] = candidate,
            [ActionParameters.Candidate] = leader,
        };
        return PatroniSwitchoverAction.Info.Plan(action.Cluster, leader, parameters, $"switchover {action.Cluster} from {candidate} back to {leader}", action.Trigger, null, null)
            with { Id = "", VerifyTimeoutSeconds = action.VerifyTimeoutSeconds };
    }

    /// <summary>
    /// A failover to a named member. Irreversible: when the leader is gone or unhealthy, WAL it did not ship is lost,
    /// so the policy asks for one level more (or an approval) than for a switchover.
    /// </summary>
    public static PlannedAction PlanFailover(string cluster, string candidate, string? leader, long? timeline, ActionTrigger trigger = ActionTrigger.Operator,
        string? initiator = null, string? reason = null)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { [ActionParameters.Candidate] = candidate };
        if (leader is not null)
        {
            parameters[ActionParameters.Leader] = leader;
        }

        if (timeline is { } t)
        {
            parameters[Timeline] = t.ToString(CultureInfo.InvariantCulture);
        }

        return PatroniFailoverAction.Info.Plan(cluster, candidate, parameters,
            leader is null ? $"failover {cluster} to {candidate} (no leader)" : $"failover {cluster} from {leader} to {candidate}", trigger, initiator, reason);
    }

    /// <summary>A PATCH of the dynamic configuration. Reversible: the undo PATCHes the previous values back (null for keys that were absent).</summary>
    public static PlannedAction PlanConfig(string cluster, JsonObject patch, JsonObject? inverse, IReadOnlyList<ConfigChange> changes,
        ActionTrigger trigger = ActionTrigger.Operator, string? initiator = null, string? reason = null)
    {
        ArgumentNullException.ThrowIfNull(patch);
        ArgumentNullException.ThrowIfNull(changes);
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { [Patch] = patch.ToJsonString() };
        if (inverse is not null)
        {
            parameters[Inverse] = inverse.ToJsonString();
        }

        var action = PatroniConfigAction.Info.Plan(cluster, null, parameters, $"change {cluster} config: {DescribeChanges(changes, patch)}", trigger, initiator, reason);
        return inverse is null ? action : action with { Undo = ConfigUndo(action, inverse, null) };
    }

    /// <summary>The patroni.config action that PATCHes <paramref name="inverse"/> (the previous values) back.</summary>
    public static PlannedAction ConfigUndo(PlannedAction original, JsonObject inverse, JsonObject? restores)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(inverse);
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { [Patch] = inverse.ToJsonString() };
        if (restores is { Count: > 0 })
        {
            parameters[Restores] = restores.ToJsonString();
        }

        return PatroniConfigAction.Info.Plan(original.Cluster, null, parameters, $"change {original.Cluster} config back: {DescribeChanges([], inverse)}", original.Trigger,
            null, null) with { Id = "", Risk = original.Risk, VerifyTimeoutSeconds = original.VerifyTimeoutSeconds };
    }

    /// <summary>Maintenance mode on (Patroni stops acting on failures) or off. Each is the undo of the other.</summary>
    public static PlannedAction PlanPause(string cluster, bool pause, ActionTrigger trigger = ActionTrigger.Operator, string? initiator = null, string? reason = null)
    {
        var action = (pause ? PatroniPauseAction.Info : PatroniResumeAction.Info).Plan(cluster, null, null,
            pause ? $"pause Patroni on {cluster} (maintenance mode)" : $"resume Patroni on {cluster}", trigger, initiator, reason);
        return action with
        {
            Undo = action with
            {
                Id = "",
                Kind = pause ? Resume : Pause,
                Initiator = null,
                Reason = null,
                Summary = pause ? $"resume Patroni on {cluster}" : $"pause Patroni on {cluster} again",
            },
        };
    }

    /// <summary>A restart of one member's PostgreSQL through its Patroni (irreversible: nothing to take back).</summary>
    public static PlannedAction PlanRestart(string cluster, string member, DateTimeOffset plannedAt, ActionTrigger trigger = ActionTrigger.Operator,
        string? initiator = null, string? reason = null) =>
        PatroniRestartAction.Info.Plan(cluster, member,
            new Dictionary<string, string>(StringComparer.Ordinal) { [PlannedAt] = plannedAt.ToString("O", CultureInfo.InvariantCulture) },
            $"restart PostgreSQL of {member} ({cluster}) through Patroni", trigger, initiator, reason);

    /// <summary>A reload of one member's Patroni and PostgreSQL configuration (low risk, nothing to take back).</summary>
    public static PlannedAction PlanReload(string cluster, string member, ActionTrigger trigger = ActionTrigger.Operator, string? initiator = null,
        string? reason = null) =>
        PatroniReloadAction.Info.Plan(cluster, member, null, $"reload the configuration of {member} ({cluster})", trigger, initiator, reason);

    private static string DescribeChanges(IReadOnlyList<ConfigChange> changes, JsonObject patch)
    {
        var list = changes.Count > 0
            ? changes.Select(c => $"{c.Path} {ConfigChange.Show(c.Before)} -> {ConfigChange.Show(c.After)}")
            : ConfigPatch.Changes(new JsonObject(), patch).Select(c => c.Removes ? $"remove {c.Path}" : $"{c.Path}={ConfigChange.Show(c.After)}");
        var text = string.Join(", ", list);
        return text.Length <= 300 ? text : text[..300] + "...";
    }
}
