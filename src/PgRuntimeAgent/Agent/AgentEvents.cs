using System.Globalization;

namespace PgRuntimeAgent.Agent;

/// <summary>Stable names of the events the agent emits (notifications, the demo's live view, tests).</summary>
public static class AgentEventNames
{
    public const string Started = "agent.started";
    public const string Stopped = "agent.stopped";
    public const string Reconciled = "agent.reconciled";
    public const string Snapshot = "snapshot";
    public const string SensingOutage = "sensing.outage";
    public const string SensingRestored = "sensing.restored";
    public const string FindingRaised = "finding.raised";
    public const string FindingCleared = "finding.cleared";
    public const string IncidentOpened = "incident.opened";
    public const string IncidentMitigating = "incident.mitigating";
    public const string IncidentResolved = "incident.resolved";
    public const string SkillStarted = "skill.started";
    public const string SkillFinished = "skill.finished";
    public const string ActionFinished = "action.finished";
    public const string ApprovalRequested = "approval.requested";
    public const string ApprovalDecided = "approval.decided";

    /// <summary>A skill run ended in error: the skill itself broke (an expression, the host, a loop), not the fix.</summary>
    public const string SkillErrored = "skill.errored";

    /// <summary>One sensor of a cluster has not been ok for longer than <c>notify.sensor_blind_seconds</c>.</summary>
    public const string SensorBlind = "sensor.blind";

    /// <summary>A sensor <see cref="SensorBlind"/> reported is ok again.</summary>
    public const string SensorRestored = "sensor.restored";

    /// <summary>This agent took a cluster through its etcd lease (several agents share the clusters: docs/fleet.md).</summary>
    public const string OwnershipGained = "fleet.gained";

    /// <summary>This agent no longer owns a cluster: it neither senses nor acts there until it owns it again.</summary>
    public const string OwnershipLost = "fleet.lost";

    /// <summary>Every event name, in the order above (what <c>notify.events</c> may name).</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        Started, Stopped, Reconciled, Snapshot, SensingOutage, SensingRestored, FindingRaised, FindingCleared, IncidentOpened, IncidentMitigating,
        IncidentResolved, SkillStarted, SkillFinished, SkillErrored, ActionFinished, ApprovalRequested, ApprovalDecided, SensorBlind, SensorRestored,
        OwnershipGained, OwnershipLost,
    ];
}

/// <summary>
/// Something the agent saw or did, for people: what the notifier sends and the demo prints. The journal remains the
/// record; an event names the journal entries it is about in <see cref="Details"/> where there are some.
/// </summary>
public sealed record AgentEvent
{
    /// <summary>One of <see cref="AgentEventNames"/>.</summary>
    public required string Name { get; init; }

    public required DateTimeOffset At { get; init; }

    public string? Cluster { get; init; }

    public string? Incident { get; init; }

    /// <summary>info, warning or critical.</summary>
    public string Severity { get; init; } = "info";

    /// <summary>One line.</summary>
    public required string Title { get; init; }

    public string? Message { get; init; }

    public IReadOnlyDictionary<string, string?> Details { get; init; } = new Dictionary<string, string?>(StringComparer.Ordinal);

    /// <summary>One line for a console: <c>21:30:01.250 incident.opened pg-test critical: ...</c>.</summary>
    public string ToLine() =>
        string.Create(CultureInfo.InvariantCulture, $"{At.UtcDateTime:HH:mm:ss.fff}Z {Name,-19} {Cluster ?? "-"} {Title}")
        + (string.IsNullOrWhiteSpace(Message) ? "" : " — " + Message);
}

/// <summary>Receives the agent's events. Called on the agent's own tasks: return quickly, never throw.</summary>
public interface IAgentObserver
{
    void OnEvent(AgentEvent agentEvent);
}

/// <summary>An observer from a delegate (the demo, tests).</summary>
public sealed class DelegateObserver(Action<AgentEvent> onEvent) : IAgentObserver
{
    public void OnEvent(AgentEvent agentEvent) => onEvent(agentEvent);
}
