using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;

namespace PgRuntimeAgent.Agent;

/// <summary>
/// The agent's hands: the action pipeline (policy gate, approvals, every discovered actuator, the sensing-backed
/// cluster state), the planner that turns a skill's <c>action:</c> into a typed action, and a way to run one action
/// under a skill's autonomy ceiling. The gate knows the policy only; a skill may be more cautious, so an action
/// whose skill caps its class below the policy's level runs through a pipeline whose policy says the capped level.
/// </summary>
internal sealed class AgentActing
{
    private readonly ILoggerFactory _logging;

    public AgentActing(IJournal journal, PolicySettings policy, ActuatorRegistry actuators, IClusterStateProvider state, ActionPlanner planner,
        TimeProvider time, PipelineOptions? pipelineOptions = null, ILoggerFactory? logging = null)
    {
        Journal = journal;
        Policy = policy;
        Actuators = actuators;
        State = state;
        Planner = planner;
        Time = time;
        PipelineOptions = pipelineOptions ?? new PipelineOptions();
        _logging = logging ?? NullLoggerFactory.Instance;
        Gate = new PolicyGate(policy, journal, time);
        Approvals = new ApprovalBook(journal, policy, time);
        Pipeline = new ActionPipeline(journal, Gate, Approvals, actuators, state, time, PipelineOptions, _logging.CreateLogger<ActionPipeline>());
    }

    public IJournal Journal { get; }

    public PolicySettings Policy { get; }

    public PolicyGate Gate { get; }

    public ApprovalBook Approvals { get; }

    public ActuatorRegistry Actuators { get; }

    public IClusterStateProvider State { get; }

    public ActionPlanner Planner { get; }

    public TimeProvider Time { get; }

    public PipelineOptions PipelineOptions { get; }

    /// <summary>The pipeline with the policy as configured (approvals run through it, reconciliation too).</summary>
    public ActionPipeline Pipeline { get; }

    /// <summary>
    /// The pipeline an action of <paramref name="actionClass"/> on <paramref name="cluster"/> runs through when its
    /// skill caps the level at <paramref name="ceiling"/>: the configured one when the cap does not lower the level,
    /// else one whose policy says min(policy level, ceiling) for this class on this cluster.
    /// </summary>
    public ActionPipeline PipelineFor(string cluster, string actionClass, int? ceiling)
    {
        if (ceiling is not { } cap || Gate.LevelFor(cluster, actionClass) <= cap)
        {
            return Pipeline;
        }

        var perCluster = Policy.Clusters.TryGetValue(cluster, out var existing)
            ? new Dictionary<string, int>(existing, StringComparer.Ordinal)
            : new Dictionary<string, int>(StringComparer.Ordinal);
        perCluster[actionClass] = Math.Max(0, cap);
        var clusters = new Dictionary<string, IReadOnlyDictionary<string, int>>(Policy.Clusters, StringComparer.Ordinal) { [cluster] = perCluster };
        var capped = Policy with { Clusters = clusters };
        return new ActionPipeline(Journal, new PolicyGate(capped, Journal, Time), Approvals, Actuators, State, Time, PipelineOptions,
            _logging.CreateLogger<ActionPipeline>());
    }
}
