using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;

namespace PgRuntimeAgent.Agent;

/// <summary>
/// The agent's hands: the action pipeline (policy gate, approvals, every discovered actuator, the sensing-backed
/// cluster state) and the planner that turns a skill's <c>action:</c> into a typed action. A skill more cautious than
/// the policy passes its autonomy ceiling with each run; the same pipeline serves every action.
/// </summary>
internal sealed class AgentActing
{
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
        Gate = new PolicyGate(policy, journal, time);
        Approvals = new ApprovalBook(journal, policy.ApprovalTtl(), time);
        Pipeline = new ActionPipeline(journal, Gate, Approvals, actuators, state, time, PipelineOptions, (logging ?? NullLoggerFactory.Instance).CreateLogger<ActionPipeline>());
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

    /// <summary>The one pipeline every action runs through (skills', approvals', reconciliation's).</summary>
    public ActionPipeline Pipeline { get; }
}
