using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Acting.Planning;

/// <summary>What somebody asks for: an action kind on a cluster (and member), with text parameters (a CLI's <c>--param</c>, a skill's <c>with:</c>).</summary>
internal sealed record ActionRequest
{
    public required string Kind { get; init; }

    public required string Cluster { get; init; }

    public string? Member { get; init; }

    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    public ActionTrigger Trigger { get; init; } = ActionTrigger.Operator;

    public string? Initiator { get; init; }

    public string? Reason { get; init; }
}

/// <summary>A request turned into an action, or the reason it could not be (no leader, no eligible candidate, configuration unreadable).</summary>
internal sealed record ActionPlan
{
    public PlannedAction? Action { get; init; }

    public string? Problem { get; init; }

    /// <summary>The snapshot the plan was made on, when it needed one.</summary>
    public ClusterSnapshot? Snapshot { get; init; }

    /// <summary>How each possible new leader fared against the rules (switchover, failover).</summary>
    public IReadOnlyList<CandidateEvaluation> Candidates { get; init; } = [];

    /// <summary>What a configuration change changes (patroni.config).</summary>
    public IReadOnlyList<ConfigChange> Changes { get; init; } = [];
}

/// <summary>
/// Turns an <see cref="ActionRequest"/> into a <see cref="PlannedAction"/> for the pipeline. It looks the kind up
/// among the <see cref="IActionKind"/>s and checks the request against the kind's descriptor (unknown cluster,
/// member, kind or parameter, a missing member or required parameter, a value of the wrong type or not allowed:
/// <see cref="InputException"/>); then the kind plans, sensing what depends on the cluster (the current leader, the
/// best candidate, the current configuration). The daemon's skill host and the CLI use the same planner, so an
/// action means the same whoever asks.
/// </summary>
internal sealed class ActionPlanner
{
    private readonly PlanContext _context;

    public ActionPlanner(Topology topology, IClusterSensing sensing, PatroniControl control, TimeProvider time, string defaultDatabase)
    {
        _context = new PlanContext(topology, sensing, control, time, defaultDatabase);
    }

    /// <summary>A planner for a deployment, sharing the deployment's action sensing.</summary>
    public static ActionPlanner For(ActuatorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new ActionPlanner(context.Topology, ActionSensing.For(context), new PatroniControl(context.Secrets, context.Time), context.Time,
            context.Sensing.Postgres.Database);
    }

    /// <summary>Checks the cluster and member names against the inventory (<see cref="InputException"/> with the valid names).</summary>
    public (PgCluster Cluster, PgMember? Member) Resolve(string cluster, string? member) => _context.Resolve(cluster, member);

    public async Task<ActionPlan> PlanAsync(ActionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var kind = ActionKinds.Find(request.Kind)
            ?? throw new InputException($"unknown action '{request.Kind}'", [$"known: {string.Join(", ", ActionKinds.Names)}"]);
        var input = Check(kind.Descriptor, request);
        return await kind.PlanAsync(_context, input, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The request checked against <paramref name="descriptor"/>: parameter names, cluster and member, member use, required parameters, values.</summary>
    private PlanInput Check(ActionDescriptor descriptor, ActionRequest request)
    {
        var unknown = request.Parameters.Keys.Where(k => descriptor.FindParameter(k) is null).ToList();
        if (unknown.Count > 0)
        {
            throw new InputException($"{request.Kind} takes no parameter {string.Join(", ", unknown.Select(u => $"'{u}'"))}", [descriptor.DescribeParameters()]);
        }

        var (cluster, member) = Resolve(request.Cluster, request.Member);
        var members = $"members: {string.Join(", ", cluster.Members.Select(x => x.Name))}";
        if (descriptor.Member == MemberUse.Required && member is null)
        {
            throw new InputException($"{request.Kind} needs a member (--member)", [members]);
        }

        if (descriptor.Member == MemberUse.None && member is not null)
        {
            throw new InputException($"{request.Kind} acts on cluster {cluster.Name} as a whole: it takes no member (got '{member.Name}')");
        }

        foreach (var spec in descriptor.Parameters)
        {
            if (!request.Parameters.TryGetValue(spec.Name, out var value))
            {
                if (spec.Required)
                {
                    throw new InputException($"{request.Kind} needs '{spec.Name}' ({spec.Description})", [descriptor.DescribeParameters()]);
                }

                continue;
            }

            if (spec.Check(value) is { } problem)
            {
                throw new InputException(problem, [$"{spec.Name}: {spec.Description}"]);
            }
        }

        return new PlanInput(request, cluster, member);
    }
}
