using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PgRuntimeAgent.Journal;

/// <summary>What a caller appends: the journal adds the sequence number, the time and the hash chain.</summary>
internal sealed record JournalRecord
{
    /// <summary>One of <see cref="JournalKinds"/> (or a new dotted name).</summary>
    public required string Kind { get; init; }

    /// <summary>One line for humans (<c>pgra journal list</c>). Redacted before it is written.</summary>
    public required string Summary { get; init; }

    public string? Cluster { get; init; }

    public string? Member { get; init; }

    /// <summary>Links entries of one action: the action id (an undo's id is <c>&lt;action id&gt;.undo-xxxx</c>).</summary>
    public string? CorrelationId { get; init; }

    /// <summary>What the entry is about within its kind: the action kind, the finding code.</summary>
    public string? Topic { get; init; }

    /// <summary>Structured content; any JSON value. Every string in it is redacted before it is written.</summary>
    public JsonNode? Payload { get; init; }

    /// <summary>
    /// On an intent when several agents share the clusters: the fencing token the agent holds for the cluster (docs/fleet.md).
    /// The journal refuses the intent (<see cref="FencedException"/>) when it already holds a <c>fleet.gained</c> note of the
    /// cluster with a larger token: another agent took the cluster since. Not stored; the intent's payload names it.
    /// </summary>
    public long? FencingToken { get; init; }

    /// <summary>A record whose payload is <paramref name="payload"/> serialized with <see cref="JournalJson.Options"/>.</summary>
    public static JournalRecord Create<T>(string kind, string summary, T payload, string? cluster = null, string? member = null,
        string? correlationId = null, string? topic = null) => new()
        {
            Kind = kind,
            Summary = summary,
            Cluster = cluster,
            Member = member,
            CorrelationId = correlationId,
            Topic = topic,
            Payload = JsonSerializer.SerializeToNode(payload, JournalJson.Options),
        };
}

/// <summary>One stored journal entry. <see cref="Seq"/> is its id (1, 2, 3... without gaps).</summary>
internal sealed record JournalEntry
{
    public required long Seq { get; init; }

    /// <summary>When it was appended (UTC, 100 ns precision as stored).</summary>
    public required DateTimeOffset Time { get; init; }

    public required string Kind { get; init; }

    public string? Cluster { get; init; }

    public string? Member { get; init; }

    public string? CorrelationId { get; init; }

    public string? Topic { get; init; }

    public required string Summary { get; init; }

    /// <summary>The payload in canonical JSON form (sorted keys, no whitespace), exactly as hashed.</summary>
    public required string Payload { get; init; }

    /// <summary>Hash of the previous entry (64 zeros for the first).</summary>
    public required string PrevHash { get; init; }

    /// <summary>SHA-256 (hex) over the canonical serialisation of this entry, including <see cref="PrevHash"/>.</summary>
    public required string Hash { get; init; }

    /// <summary>
    /// Why the stored row is not a valid entry (its time is not a date), or null. Only listing and export read such
    /// rows; <see cref="Time"/> is then <see cref="DateTimeOffset.MinValue"/>.
    /// </summary>
    public string? Damage { get; init; }

    /// <summary>The payload as JSON; a payload that is not JSON (a damaged journal) is a <see cref="JournalException"/>.</summary>
    public JsonElement PayloadElement() =>
        TryPayloadElement(out var element)
            ? element
            : throw new JournalException($"journal entry #{Seq.ToString(CultureInfo.InvariantCulture)} is damaged (its payload is not JSON); 'pgra journal verify' checks the chain.");

    /// <summary>The payload as JSON, or false when it is not JSON (a damaged journal).</summary>
    public bool TryPayloadElement(out JsonElement element)
    {
        try
        {
            using var doc = JsonDocument.Parse(Payload);
            element = doc.RootElement.Clone();
            return true;
        }
        catch (JsonException)
        {
            element = default;
            return false;
        }
    }

    public T? PayloadAs<T>() => JsonSerializer.Deserialize<T>(Payload, JournalJson.Options);

    /// <summary>The stored text form of <see cref="Time"/>, part of the hashed content.</summary>
    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    public static DateTimeOffset ParseTime(string text) =>
        DateTimeOffset.ParseExact(text, "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    public static bool TryParseTime(string? text, out DateTimeOffset time) =>
        DateTimeOffset.TryParseExact(text, "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time);
}

/// <summary>Which entries to read. Every filter is optional; entries come in sequence order.</summary>
internal sealed record JournalQuery
{
    public string? Cluster { get; init; }

    /// <summary>Any of these kinds (empty: all).</summary>
    public IReadOnlyList<string> Kinds { get; init; } = [];

    public string? Topic { get; init; }

    /// <summary>This correlation id and every id below it (<c>act-1</c> matches <c>act-1</c> and <c>act-1.undo-ab12</c>).</summary>
    public string? CorrelationId { get; init; }

    /// <summary>Entries at or after this time.</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>Entries before this time.</summary>
    public DateTimeOffset? Until { get; init; }

    /// <summary>Entries with a sequence number greater than this.</summary>
    public long? AfterSeq { get; init; }

    public int? Limit { get; init; }

    /// <summary>Newest first (with <see cref="Limit"/>: the last N).</summary>
    public bool Descending { get; init; }

    /// <summary>Return damaged rows (see <see cref="JournalEntry.Damage"/>) instead of failing on them (listing).</summary>
    public bool IncludeDamaged { get; init; }
}

/// <summary>Result of <see cref="IJournal.VerifyAsync"/>: the chain is intact, or the first bad entry and why.</summary>
internal sealed record JournalVerification
{
    public required bool Ok { get; init; }

    /// <summary>Entries read.</summary>
    public required long Checked { get; init; }

    /// <summary>Sequence number of the last entry read (the head).</summary>
    public long LastSeq { get; init; }

    /// <summary>The first entry that is wrong (changed, out of order) or missing; null when <see cref="Ok"/>.</summary>
    public long? FirstBadSeq { get; init; }

    /// <summary>changed | reordered | missing | broken-link | truncated.</summary>
    public string? Problem { get; init; }

    public string? Message { get; init; }
}

/// <summary>Operational failure of the journal itself (unreadable file, newer schema, database down).</summary>
internal sealed class JournalException : Exception
{
    public JournalException(string message)
        : base(message)
    {
    }

    public JournalException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public JournalException()
    {
    }
}

/// <summary>An intent refused because another agent took the cluster with a larger fencing token (docs/fleet.md).</summary>
internal sealed class FencedException : Exception
{
    public FencedException(string message)
        : base(message)
    {
    }

    public FencedException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public FencedException()
    {
    }
}
