namespace PgRuntimeAgent.Journal;

/// <summary>A journal entry as <c>pgra journal ... --json</c> prints it, the export writes it and the API answers it.</summary>
internal static class JournalEntryJson
{
    /// <summary>
    /// An entry as printed by --json and exported as JSONL (the payload as JSON, not as a string). A damaged entry
    /// (time not a date, payload not JSON) keeps what is stored: time null or the payload as a string, and a
    /// <c>damage</c> field saying what is wrong.
    /// </summary>
    public static object ToJson(JournalEntry entry) => entry.Damage is null && entry.TryPayloadElement(out var payload)
        ? new
        {
            seq = entry.Seq,
            time = JournalEntry.FormatTime(entry.Time),
            kind = entry.Kind,
            cluster = entry.Cluster,
            member = entry.Member,
            correlationId = entry.CorrelationId,
            topic = entry.Topic,
            summary = entry.Summary,
            payload,
            prevHash = entry.PrevHash,
            hash = entry.Hash,
        }
        : DamagedToJson(entry);

    private static object DamagedToJson(JournalEntry entry) => new
    {
        seq = entry.Seq,
        time = entry.Damage is null ? JournalEntry.FormatTime(entry.Time) : null,
        kind = entry.Kind,
        cluster = entry.Cluster,
        member = entry.Member,
        correlationId = entry.CorrelationId,
        topic = entry.Topic,
        summary = entry.Summary,
        payload = entry.TryPayloadElement(out var element) ? (object)element : entry.Payload,
        prevHash = entry.PrevHash,
        hash = entry.Hash,
        damage = Damage(entry),
    };

    /// <summary>What is wrong with a stored entry (null when nothing is).</summary>
    public static string? Damage(JournalEntry entry)
    {
        var problems = new List<string>();
        if (entry.Damage is not null)
        {
            problems.Add(entry.Damage);
        }

        if (!entry.TryPayloadElement(out _))
        {
            problems.Add("its payload is not JSON");
        }

        return problems.Count == 0 ? null : "damaged: " + string.Join("; ", problems) + " ('pgra journal verify' checks the chain)";
    }

    /// <summary>What <c>pgra journal verify --json</c> prints: where, intact or not, how many entries, the first bad one and why.</summary>
    public static object Verification(string location, JournalVerification result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new { location, result.Ok, result.Checked, result.LastSeq, result.FirstBadSeq, result.Problem, result.Message };
    }
}
