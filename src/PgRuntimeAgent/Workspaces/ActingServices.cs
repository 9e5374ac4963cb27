using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;

namespace PgRuntimeAgent.Workspaces;

/// <summary>
/// The hands, one for the agent and the CLI: the action pipeline (policy gate, approvals, every discovered actuator,
/// the sensing-backed cluster state) and the planner that turns a skill's <c>action:</c> or an operator's verb into a
/// typed action. A skill more cautious than the policy passes its autonomy ceiling with each run; the same pipeline
/// serves every action. <see cref="Workspace.OpenActingAsync"/> opens it for a deployment; tests build it from parts.
/// </summary>
internal sealed class ActingServices : IAsyncDisposable
{
    public ActingServices(IJournal journal, PolicySettings policy, ActuatorRegistry actuators, IClusterStateProvider state, ActionPlanner planner,
        TimeProvider time, PipelineOptions? pipelineOptions = null, ILoggerFactory? logging = null)
    {
        Journal = journal;
        Policy = policy;
        Actuators = actuators;
        State = state;
        Planner = planner;
        Time = time;
        PipelineOptions = pipelineOptions ?? new PipelineOptions();
        Gate = new PolicyGate(policy, journal, time, (logging ?? NullLoggerFactory.Instance).CreateLogger<PolicyGate>());
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

    /// <summary>The deployment these services were opened for (null when built from parts).</summary>
    public Workspace? Workspace { get; init; }

    /// <summary>What the actuators were built from; snapshots offered to its action sensing serve the guardrails.</summary>
    public ActuatorContext? Context { get; init; }

    /// <summary>True when the services opened the journal and close it.</summary>
    public bool OwnsJournal { get; init; }

    /// <summary>
    /// An action asked for by someone (<c>pgra act</c>, an action tool, the API's <c>POST /api/v1/actions</c>): planned
    /// (a bad kind, cluster, member or parameter is an <see cref="InputException"/>) and, when it could be planned, run
    /// through the one pipeline (policy gate, approvals, prechecks, journal, verification); with
    /// <paramref name="dryRun"/>, planned, judged and prechecked only. <c>Result</c> is null when it could not be
    /// planned (<c>Plan.Problem</c> says why).
    /// </summary>
    public async Task<(ActionPlan Plan, ActionRunResult? Result)> RequestAsync(ActionRequest request, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        Planner.Resolve(request.Cluster, request.Member);
        var plan = await Planner.PlanAsync(request, cancellationToken).ConfigureAwait(false);
        return plan.Action is null ? (plan, null) : (plan, await Pipeline.RunAsync(plan.Action, dryRun, cancellationToken).ConfigureAwait(false));
    }

    public async ValueTask DisposeAsync()
    {
        (State as IDisposable)?.Dispose();
        if (OwnsJournal)
        {
            await Journal.DisposeAsync().ConfigureAwait(false);
        }
    }
}
