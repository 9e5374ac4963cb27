using System.Text.Json.Nodes;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing;

namespace PgRuntimeAgent.Reads;

/// <summary><c>patroni.history</c>: the cluster's timeline switches as Patroni's /history tells them.</summary>
internal sealed class PatroniHistoryRead : IRead
{
    public const int MaxEntries = 500;

    public ReadDescriptor Descriptor { get; } = new()
    {
        Name = "patroni.history",
        Summary = "The cluster's failovers and switchovers as Patroni's GET /history lists them (timeline, switch LSN, reason, time, new leader), newest first; from the member named, else from the first member that answers.",
        Source = ReadSource.Patroni,
        Member = MemberUse.Optional,
        Parameters =
        [
            new ParameterSpec("limit", ParameterType.Integer, "Most timeline switches listed (the newest).")
            {
                Default = "50",
                Minimum = 1,
                Maximum = MaxEntries,
            },
        ],
        Bound = $"at most {MaxEntries} timeline switches (default 50), newest first; one GET per member tried",
    };

    public async Task<JsonNode> ReadAsync(ReadContext context, ReadRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var cluster = context.Cluster(request.Cluster);
        var limit = (int)request.Integer("limit")!.Value;
        var errors = new List<string>();
        foreach (var member in Candidates(cluster, request.Member))
        {
            var outcome = await context.GetPatroniHistoryAsync(cluster, member, cancellationToken).ConfigureAwait(false);
            if (outcome.Value is not { } history)
            {
                errors.Add($"{member.Name}: {outcome.Reason}");
                continue;
            }

            var newest = history.OrderByDescending(h => h.Timeline).ToList();
            var (entries, truncated) = ReadResults.Take(newest, limit);
            return new JsonObject
            {
                ["from_member"] = member.Name,
                ["limit"] = limit,
                ["total"] = history.Count,
                ["truncated"] = truncated,
                ["entries"] = new JsonArray([.. entries.Select(h => (JsonNode)new JsonObject
                {
                    ["timeline"] = h.Timeline,
                    ["switch_lsn"] = h.SwitchLsn,
                    ["switch_position"] = h.SwitchPosition,
                    ["reason"] = h.Reason,
                    ["timestamp"] = h.Timestamp,
                    ["new_leader"] = h.NewLeader,
                })]),
            };
        }

        return ReadResults.Failed("no member's Patroni answered GET /history: " + string.Join("; ", errors));
    }

    /// <summary>The member named, else every member (declared primary first).</summary>
    internal static IEnumerable<PgMember> Candidates(PgCluster cluster, string? member) =>
        member is not null ? [cluster.FindMember(member)!] : cluster.Members.OrderByDescending(m => m.DeclaredRole == DeclaredRole.Primary).ThenBy(m => m.Seq);
}
