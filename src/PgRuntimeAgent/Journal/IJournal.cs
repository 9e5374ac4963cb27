namespace PgRuntimeAgent.Journal;

/// <summary>
/// The append-only, hash-chained event store. Implementations: <see cref="SqliteJournal"/> (default, one file, WAL)
/// and <see cref="PostgresJournal"/> (shared). Both are safe for concurrent appends from several processes.
/// Every string written is redacted through the <see cref="Secrets.SecretStore"/> the journal was opened with.
/// </summary>
internal interface IJournal : IAsyncDisposable
{
    /// <summary>Where it lives, for messages (file path or host/database/schema; never a password).</summary>
    string Location { get; }

    /// <summary>Appends one entry at the end of the chain and returns it as stored (with seq, time and hash).</summary>
    Task<JournalEntry> AppendAsync(JournalRecord record, CancellationToken cancellationToken);

    /// <summary>
    /// Appends an <see cref="JournalKinds.ActionIntent"/> only if <paramref name="record"/>'s cluster has no open
    /// intent (an intent without an outcome) and no intent was ever written for the same correlation id (the action
    /// id), atomically with respect to every other writer: the cluster lock, and at most one run per action.
    /// Returns null and writes nothing otherwise; <see cref="GetOpenIntentsAsync"/> tells which intent holds the lock.
    /// </summary>
    Task<JournalEntry?> TryAppendIntentAsync(JournalRecord record, CancellationToken cancellationToken);

    Task<JournalEntry?> GetAsync(long seq, CancellationToken cancellationToken);

    Task<IReadOnlyList<JournalEntry>> QueryAsync(JournalQuery query, CancellationToken cancellationToken);

    /// <summary>Intents without an outcome (same correlation id), oldest first; <paramref name="cluster"/> null: all clusters.</summary>
    Task<IReadOnlyList<JournalEntry>> GetOpenIntentsAsync(string? cluster, CancellationToken cancellationToken);

    /// <summary>Every entry in sequence order (export, replay).</summary>
    IAsyncEnumerable<JournalEntry> ReadAllAsync(CancellationToken cancellationToken);

    /// <summary>Recomputes every hash and link; names the first changed, removed or reordered entry.</summary>
    Task<JournalVerification> VerifyAsync(CancellationToken cancellationToken);
}
