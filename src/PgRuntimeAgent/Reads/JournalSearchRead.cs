using System.Text.Json.Nodes;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Journal;

namespace PgRuntimeAgent.Reads;

/// <summary><c>journal.search</c>: the cluster's journal entries, filtered, newest first, bounded.</summary>
internal sealed class JournalSearchRead : IRead
{
    public const int MaxEntries = 500;

    public const int DefaultEntries = 50;

    /// <summary>Longest payload returned (characters of its JSON); a longer one is replaced by its start, marked.</summary>
    public const int MaxPayloadChars = 4000;

    public ReadDescriptor Descriptor { get; } = new()
    {
        Name = "journal.search",
        Summary = "The cluster's entries in the agent's hash-chained journal (snapshots, findings, decisions, action intents and outcomes, approvals, incidents, notes), newest first, filtered by kind, topic, correlation id (an action and its undo) and time.",
        Source = ReadSource.Journal,
        Member = MemberUse.None,
        Parameters =
        [
            new ParameterSpec("kinds", ParameterType.List, $"Only these kinds (comma-separated: {string.Join(", ", JournalKinds.All)})."),
            new ParameterSpec("topic", ParameterType.String, "Only this topic (an action kind, a finding code, an incident event)."),
            new ParameterSpec("correlation_id", ParameterType.String, "Only this correlation id and the ids below it (act-1 matches act-1.undo-ab12)."),
            new ParameterSpec("since", ParameterType.Time, "Entries at or after this time."),
            new ParameterSpec("until", ParameterType.Time, "Entries before this time."),
            new ParameterSpec("limit", ParameterType.Integer, "Most entries returned (the newest).")
            {
                Default = "50",
                Minimum = 1,
                Maximum = MaxEntries,
            },
            new ParameterSpec("include_payload", ParameterType.Boolean, $"Include each entry's payload (cut at {MaxPayloadChars:N0} characters).") { Default = "false" },
        ],
        Bound = $"at most {MaxEntries} entries (default {DefaultEntries}), newest first; payloads only on request and cut at {MaxPayloadChars:N0} characters each",
    };

    public async Task<JsonNode> ReadAsync(ReadContext context, ReadRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var limit = (int)request.Integer("limit")!.Value;
        var payloads = request.Flag("include_payload");
        IReadOnlyList<JournalEntry> found;
        try
        {
            found = await context.QueryJournalAsync(new JournalQuery
            {
                Cluster = request.Cluster,
                Kinds = request.Names("kinds"),
                Topic = request.Text("topic"),
                CorrelationId = request.Text("correlation_id"),
                Since = request.Time("since"),
                Until = request.Time("until"),
                Limit = limit + 1,
                Descending = true,
                IncludeDamaged = true,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (JournalException ex)
        {
            return ReadResults.Failed(ex.Message);
        }

        var newest = found.OrderByDescending(e => e.Seq).ToList();
        var (entries, truncated) = ReadResults.Take(newest, limit);
        return new JsonObject
        {
            ["limit"] = limit,
            ["truncated"] = truncated,
            ["count"] = entries.Count,
            ["entries"] = new JsonArray([.. entries.Select(e => (JsonNode)Entry(e, payloads))]),
        };
    }

    private static JsonObject Entry(JournalEntry e, bool payloads)
    {
        var entry = new JsonObject
        {
            ["seq"] = e.Seq,
            ["time"] = e.Damage is null ? e.Time : null,
            ["kind"] = e.Kind,
            ["member"] = e.Member,
            ["topic"] = e.Topic,
            ["correlation_id"] = e.CorrelationId,
            ["summary"] = e.Summary,
        };
        if (e.Damage is not null)
        {
            entry["damage"] = e.Damage;
        }

        if (payloads)
        {
            var whole = e.Payload.Length <= MaxPayloadChars && e.TryPayloadElement(out _);
            entry["payload"] = whole ? JsonNode.Parse(e.Payload) : ReadResults.Cut(e.Payload, MaxPayloadChars);
            entry["payload_truncated"] = e.Payload.Length > MaxPayloadChars;
        }

        return entry;
    }
}
