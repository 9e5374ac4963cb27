using System.Text.Json.Nodes;
using PgRuntimeAgent.Catalog;

namespace PgRuntimeAgent.Reads;

/// <summary><c>cluster.snapshot</c>: one full snapshot of a cluster, optionally cut to some sections.</summary>
internal sealed class ClusterSnapshotRead : IRead
{
    /// <summary>The snapshot's sections a caller may pick (its top-level keys besides the identity ones).</summary>
    public static IReadOnlyList<string> Sections { get; } =
        ["members", "patroni", "metrics", "logs", "backup", "postgres", "hosts", "sensors", "sensor_details", "drift", "inventory", "last_writable"];

    /// <summary>Keys every result keeps, whatever sections are asked for.</summary>
    private static readonly string[] Identity = ["schema_version", "cluster", "taken_at", "duration_ms", "leader", "leader_source", "timeline"];

    public ReadDescriptor Descriptor { get; } = new()
    {
        Name = "cluster.snapshot",
        Summary = "One full snapshot of the cluster as the agent senses it (Patroni, PostgreSQL, metrics, logs, backup, hosts, drift), the same document as 'pgra snapshot --json'.",
        Source = ReadSource.Snapshot,
        Member = MemberUse.None,
        Parameters =
        [
            new ParameterSpec("sections", ParameterType.List, $"Only these sections besides the identity fields (comma-separated: {string.Join(", ", Sections)}); absent: all."),
        ],
        Bound = "one snapshot: at most sensing.logs_max_entries log entries (default 200), the probes' own LIMITs, every sensor under its timeout; at most 1 MiB",
    };

    public async Task<JsonNode> ReadAsync(ReadContext context, ReadRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var sections = request.Names("sections");
        var unknown = sections.Where(s => !Sections.Contains(s, StringComparer.Ordinal)).ToList();
        if (unknown.Count > 0)
        {
            throw new InputException($"parameter sections: unknown section(s) {string.Join(", ", unknown)} (sections: {string.Join(", ", Sections)})");
        }

        var snapshot = await context.TakeSnapshotAsync(context.Cluster(request.Cluster), cancellationToken).ConfigureAwait(false);
        var node = ReadResults.ToNode(snapshot)!.AsObject();
        if (sections.Count > 0)
        {
            foreach (var key in node.Select(p => p.Key).ToList())
            {
                if (!Identity.Contains(key, StringComparer.Ordinal) && !sections.Contains(key, StringComparer.Ordinal))
                {
                    node.Remove(key);
                }
            }
        }

        return node;
    }
}
