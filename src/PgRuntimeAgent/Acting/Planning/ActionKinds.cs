using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Inventory;

namespace PgRuntimeAgent.Acting.Planning;

/// <summary>What a kind's planner may use: the inventory, sensing, Patroni's API, the clock and the default database.</summary>
internal sealed record PlanContext(Topology Topology, IClusterSensing Sensing, PatroniControl Control, TimeProvider Time, string DefaultDatabase)
{
    /// <summary>Checks the cluster and member names against the inventory (<see cref="InputException"/> with the valid names).</summary>
    public (PgCluster Cluster, PgMember? Member) Resolve(string cluster, string? member)
    {
        var c = Topology.FindCluster(cluster)
            ?? throw new InputException($"no cluster '{cluster}' in {Topology.SourcePath}", [$"clusters: {string.Join(", ", Topology.Clusters.Select(x => x.Name))}"]);
        if (member is null)
        {
            return (c, null);
        }

        var m = c.FindMember(member)
            ?? throw new InputException($"no member '{member}' in cluster {cluster}", [$"members: {string.Join(", ", c.Members.Select(x => x.Name))}"]);
        return (c, m);
    }
}

/// <summary>
/// A request checked against its kind's descriptor: the cluster and member exist, the member is given when the kind
/// needs one, every parameter is known and of its type, the required ones are there.
/// </summary>
internal sealed record PlanInput(ActionRequest Request, PgCluster Cluster, PgMember? Member)
{
    public ActionTrigger Trigger => Request.Trigger;

    public string? Initiator => Request.Initiator;

    public string? Reason => Request.Reason;

    /// <summary>The member's name (null when none was named).</summary>
    public string? MemberName => Member?.Name;

    /// <summary>The member's name for a kind whose descriptor requires one (checked before planning).</summary>
    public string RequiredMember => Member?.Name ?? throw new InvalidOperationException($"{Request.Kind} was planned without the member its descriptor requires");

    /// <summary>A parameter's text, null when absent.</summary>
    public string? P(string name) => Request.Parameters.TryGetValue(name, out var v) ? v : null;

    /// <summary>A required parameter's text (its presence is checked before planning).</summary>
    public string Required(string name) => P(name) ?? throw new InvalidOperationException($"{Request.Kind} was planned without its required parameter {name}");

    /// <summary>A boolean parameter (its type is checked before planning); <paramref name="absent"/> when it is not given.</summary>
    public bool Flag(string name, bool absent = false) => P(name) is { } v ? v == "true" : absent;
}

/// <summary>
/// One action kind: its descriptor (what it is, its parameters, risk, undo) and its planner, which turns a checked
/// request into a <see cref="PlannedAction"/> (sensing what it needs). Implementations are discovered by reflection in
/// this assembly and live beside their actuator, so a new action needs no central registration.
/// </summary>
internal interface IActionKind
{
    ActionDescriptor Descriptor { get; }

    Task<ActionPlan> PlanAsync(PlanContext context, PlanInput input, CancellationToken cancellationToken);
}

/// <summary>An action kind whose planning needs no I/O.</summary>
internal abstract class ImmediateActionKind : IActionKind
{
    public abstract ActionDescriptor Descriptor { get; }

    public Task<ActionPlan> PlanAsync(PlanContext context, PlanInput input, CancellationToken cancellationToken) =>
        Task.FromResult(new ActionPlan { Action = Plan(context, input) });

    protected abstract PlannedAction Plan(PlanContext context, PlanInput input);
}

/// <summary>Every <see cref="IActionKind"/> in this assembly, by kind.</summary>
internal static class ActionKinds
{
    /// <summary>All kinds, sorted by kind.</summary>
    public static IReadOnlyList<IActionKind> All { get; } = Discover();

    public static IActionKind? Find(string kind) => All.FirstOrDefault(k => string.Equals(k.Descriptor.Kind, kind, StringComparison.Ordinal));

    /// <summary>The kinds' names, sorted.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(k => k.Descriptor.Kind)];

    private static List<IActionKind> Discover()
    {
        var kinds = typeof(ActionKinds).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IActionKind).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => (IActionKind)Activator.CreateInstance(t)!)
            .OrderBy(k => k.Descriptor.Kind, StringComparer.Ordinal)
            .ToList();
        var twice = kinds.GroupBy(k => k.Descriptor.Kind, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        return twice is null ? kinds
            : throw new InvalidOperationException($"Two action kinds are named '{twice.Key}': {string.Join(", ", twice.Select(k => k.GetType().Name))}.");
    }
}
