using System.Globalization;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Inventory;

namespace PgRuntimeAgent.Reads;

/// <summary>
/// What a caller asks of a read: the cluster, the member (when the read is about one) and parameters as text (a
/// CLI's <c>-p key=value</c>, a tool call's arguments). <see cref="Validate"/> checks it against the read's
/// descriptor; the typed accessors then give each parameter's value or its default.
/// </summary>
internal sealed record ReadRequest
{
    public required string Cluster { get; init; }

    public string? Member { get; init; }

    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The descriptor this request was validated against (set by <see cref="Validate"/>).</summary>
    public ReadDescriptor? Descriptor { get; private init; }

    /// <summary>
    /// Every problem of the request against <paramref name="descriptor"/> and <paramref name="topology"/> (unknown
    /// cluster or member, a member where none is taken or none where one is required, unknown parameters, missing
    /// required ones, values of the wrong type or out of bounds), each naming what is wrong; an
    /// <see cref="InputException"/> when there is any. Returns the request bound to the descriptor.
    /// </summary>
    public ReadRequest Validate(ReadDescriptor descriptor, Topology topology)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        ArgumentNullException.ThrowIfNull(topology);
        var problems = new List<string>();
        var cluster = topology.FindCluster(Cluster);
        if (cluster is null)
        {
            problems.Add($"no cluster '{Cluster}' in {topology.SourcePath} (clusters: {string.Join(", ", topology.Clusters.Select(c => c.Name))})");
        }

        switch (descriptor.Member)
        {
            case MemberUse.None when Member is not null:
                problems.Add($"{descriptor.Name} is about the whole cluster: it takes no member (got '{Member}')");
                break;
            case MemberUse.Required when Member is null:
                problems.Add($"{descriptor.Name} needs a member (--member)" + (cluster is null ? "" : $": one of {string.Join(", ", cluster.Members.Select(m => m.Name))}"));
                break;
        }

        if (Member is not null && cluster is not null && descriptor.Member != MemberUse.None && cluster.FindMember(Member) is null)
        {
            problems.Add($"no member '{Member}' in cluster {cluster.Name} (members: {string.Join(", ", cluster.Members.Select(m => m.Name))})");
        }

        foreach (var (name, value) in Parameters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var spec = descriptor.Parameters.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.Ordinal));
            if (spec is null)
            {
                problems.Add($"unknown parameter '{name}' for {descriptor.Name}" +
                    (descriptor.Parameters.Count == 0 ? " (it takes none)" : $" (parameters: {string.Join(", ", descriptor.Parameters.Select(p => p.Name))})"));
            }
            else if (spec.Check(value) is { } wrong)
            {
                problems.Add($"parameter {wrong}");
            }
        }

        foreach (var missing in descriptor.Parameters.Where(p => p.Required && !Parameters.ContainsKey(p.Name)))
        {
            problems.Add($"parameter '{missing.Name}' is required by {descriptor.Name}: {missing.Description}");
        }

        if (problems.Count > 0)
        {
            throw problems.Count == 1
                ? new InputException($"read {descriptor.Name}: {problems[0]}")
                : new InputException($"read {descriptor.Name}: {problems.Count} problems", problems);
        }

        return this with { Descriptor = descriptor };
    }

    /// <summary>The parameter's text, else its default, else null.</summary>
    public string? Text(string name) => Parameters.TryGetValue(name, out var v) ? v : Spec(name).Default;

    public long? Integer(string name) => Text(name) is { } v ? long.Parse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) : null;

    public bool Flag(string name) => Text(name) == "true";

    public DateTimeOffset? Time(string name) => Text(name) is { } v
        ? DateTimeOffset.Parse(v, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal)
        : null;

    /// <summary>A list parameter's names (trimmed), empty when absent.</summary>
    public IReadOnlyList<string> Names(string name) => Text(name) is { } v ? [.. v.Split(',').Select(s => s.Trim())] : [];

    private ParameterSpec Spec(string name) =>
        Descriptor?.Parameters.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.Ordinal))
        ?? throw new InvalidOperationException($"parameter '{name}' is not declared by {Descriptor?.Name ?? "an unvalidated request"}");
}
