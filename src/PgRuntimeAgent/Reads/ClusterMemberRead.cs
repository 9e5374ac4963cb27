using System.Text.Json.Nodes;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Logs;

namespace PgRuntimeAgent.Reads;

/// <summary><c>cluster.member</c>: one member's part of a fresh snapshot.</summary>
internal sealed class ClusterMemberRead : IRead
{
    /// <summary>Most of the snapshot's log entries kept for the member (warnings and worse first).</summary>
    public const int MaxLogEntries = 50;

    public ReadDescriptor Descriptor { get; } = new()
    {
        Name = "cluster.member",
        Summary = "One member's part of a fresh snapshot: its fused state (role, lag, timeline, notes), its Patroni answers, its PostgreSQL probes, its host, the sensors and drift about it, and its recent log entries.",
        Source = ReadSource.Snapshot,
        Member = MemberUse.Required,
        Bound = $"one member of one snapshot; at most {MaxLogEntries} log entries (warnings and worse first)",
    };

    public async Task<JsonNode> ReadAsync(ReadContext context, ReadRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var name = request.Member!;
        var snapshot = await context.TakeSnapshotAsync(context.Cluster(request.Cluster), cancellationToken).ConfigureAwait(false);
        var entries = snapshot.Logs?.Entries.Where(e => string.Equals(e.Member, name, StringComparison.Ordinal)).ToList() ?? [];
        var kept = entries.OrderByDescending(e => e.Severity >= LogSeverity.Warning).ThenByDescending(e => e.Time).Take(MaxLogEntries)
            .OrderByDescending(e => e.Time).ToList();
        return new JsonObject
        {
            ["taken_at"] = snapshot.TakenAt,
            ["leader"] = snapshot.Leader,
            ["is_leader"] = string.Equals(snapshot.Leader, name, StringComparison.Ordinal),
            ["state"] = ReadResults.ToNode(snapshot.FindMember(name)),
            ["inventory"] = ReadResults.ToNode(snapshot.Inventory.Members.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal))),
            ["patroni"] = ReadResults.ToNode(snapshot.Patroni?.Members.FirstOrDefault(m => string.Equals(m.Member, name, StringComparison.Ordinal))),
            ["postgres"] = ReadResults.ToNode(snapshot.Postgres.FirstOrDefault(p => string.Equals(p.Member, name, StringComparison.Ordinal))),
            ["host"] = ReadResults.ToNode(snapshot.Hosts.FirstOrDefault(h => string.Equals(h.Member, name, StringComparison.Ordinal))),
            ["sensors"] = ReadResults.ToNode(snapshot.SensorDetails.Where(s => string.Equals(s.Target, name, StringComparison.Ordinal)).ToList()),
            ["drift"] = ReadResults.ToNode(snapshot.Drift.Where(d => string.Equals(d.Member, name, StringComparison.Ordinal)).ToList()),
            ["logs"] = new JsonObject
            {
                ["limit"] = MaxLogEntries,
                ["truncated"] = entries.Count > kept.Count || snapshot.Logs?.Truncated == true,
                ["entries"] = ReadResults.ToNode(kept),
            },
        };
    }
}
