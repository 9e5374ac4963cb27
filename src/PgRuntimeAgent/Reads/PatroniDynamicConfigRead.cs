using System.Text.Json.Nodes;
using PgRuntimeAgent.Catalog;

namespace PgRuntimeAgent.Reads;

/// <summary><c>patroni.config</c>: the dynamic configuration Patroni holds in the DCS (GET /config).</summary>
internal sealed class PatroniDynamicConfigRead : IRead
{
    /// <summary>Largest /config document returned whole (characters); a larger one is returned as the typed view only.</summary>
    public const int MaxDocumentChars = 64 * 1024;

    public ReadDescriptor Descriptor { get; } = new()
    {
        Name = "patroni.config",
        Summary = "Patroni's dynamic configuration (GET /config, held in the DCS): ttl, loop_wait, retry_timeout, maximum_lag_on_failover, synchronous mode, pause, postgresql.parameters; the typed view the agent uses and the document as sent. From the member named, else the first that answers.",
        Source = ReadSource.Patroni,
        Member = MemberUse.Optional,
        Bound = $"one document of at most {MaxDocumentChars / 1024} KiB (a larger one: the typed view only); one GET per member tried",
    };

    public async Task<JsonNode> ReadAsync(ReadContext context, ReadRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var cluster = context.Cluster(request.Cluster);
        var errors = new List<string>();
        foreach (var member in PatroniHistoryRead.Candidates(cluster, request.Member))
        {
            var outcome = await context.GetPatroniConfigAsync(cluster, member, cancellationToken).ConfigureAwait(false);
            if (outcome.Value is not { } read)
            {
                errors.Add($"{member.Name}: {outcome.Reason}");
                continue;
            }

            var document = read.Document?.ToJsonString();
            var whole = document is not null && document.Length <= MaxDocumentChars;
            return new JsonObject
            {
                ["from_member"] = member.Name,
                ["config"] = ReadResults.ToNode(read.Config),
                ["document"] = whole ? JsonNode.Parse(document!) : null,
                ["truncated"] = document is not null && !whole,
            };
        }

        return ReadResults.Failed("no member's Patroni answered GET /config: " + string.Join("; ", errors));
    }
}
