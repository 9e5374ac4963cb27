using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Telemetry;

namespace PgRuntimeAgent.Journal;

/// <summary>
/// The journal over ADO.NET, shared by both backends: one table of entries, one of metadata (schema version, head).
/// Appends run in a transaction that holds the backend's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
/// advisory transaction lock), read the last entry, and write the new one chained to it: several processes can
/// append to the same journal and the chain stays valid.
/// </summary>
internal abstract class SqlJournal : IJournal
{
    /// <summary>The schema version this code writes; older journals are migrated on open, newer ones refused.</summary>
    public const int SchemaVersion = 1;

    private const string Columns = "seq, time, kind, cluster, member, correlation_id, topic, summary, payload, prev_hash, hash";

    private readonly SecretStore _secrets;
    private readonly TimeProvider _time;

    protected SqlJournal(SecretStore secrets, TimeProvider time, ILogger? logger = null)
    {
        _secrets = secrets;
        _time = time;
        Logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Where the journal logs (<see cref="Log"/>, event ids 3000-3099); null logger when none was given.</summary>
    protected ILogger Logger { get; }

    public abstract string Location { get; }

    /// <summary>Fully qualified table name for <paramref name="name"/> (journal_entries, journal_meta).</summary>
    protected abstract string Table(string name);

    /// <summary>An open connection with the backend's session settings applied.</summary>
    protected abstract Task<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>A transaction that holds the journal's write lock until it ends.</summary>
    protected abstract Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>DDL of migration <paramref name="version"/> (1 = initial schema).</summary>
    protected abstract IReadOnlyList<string> Migration(int version);

    /// <summary>Statements run before the migration transaction (SQLite: WAL mode; PostgreSQL: the schema).</summary>
    protected virtual Task PrepareAsync(DbConnection connection, CancellationToken cancellationToken) => Task.CompletedTask;

    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>Creates or migrates the schema. Called once by the backend's factory.</summary>
    protected async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await PrepareAsync(connection, cancellationToken).ConfigureAwait(false);
        await using var tx = await BeginWriteAsync(connection, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, tx, $"CREATE TABLE IF NOT EXISTS {Table("journal_meta")} (key TEXT PRIMARY KEY, value TEXT NOT NULL)", cancellationToken).ConfigureAwait(false);
        var version = await CheckSchemaVersionAsync(connection, tx, cancellationToken).ConfigureAwait(false);

        for (var v = version + 1; v <= SchemaVersion; v++)
        {
            foreach (var statement in Migration(v))
            {
                await ExecuteAsync(connection, tx, statement, cancellationToken).ConfigureAwait(false);
            }

            await WriteMetaAsync(connection, tx, "schema_version", v.ToString(CultureInfo.InvariantCulture), cancellationToken).ConfigureAwait(false);
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        if (version < SchemaVersion)
        {
            Log.Migrated(Logger, _secrets.Redact(Location), version, SchemaVersion);
        }

        Log.Opened(Logger, _secrets.Redact(Location), SchemaVersion);
    }

    /// <summary>The schema version the journal records (0: none yet); refuses one newer than this code or unreadable.</summary>
    protected async Task<int> CheckSchemaVersionAsync(DbConnection connection, DbTransaction? tx, CancellationToken cancellationToken)
    {
        var current = await ReadMetaAsync(connection, tx, "schema_version", cancellationToken).ConfigureAwait(false);
        var version = 0;
        if (current is not null && !int.TryParse(current, NumberStyles.None, CultureInfo.InvariantCulture, out version))
        {
            throw new JournalException($"journal {Location} records schema version '{current}', which is not a number: the file is damaged or not a pgra journal.");
        }

        if (version > SchemaVersion)
        {
            throw new JournalException(
                $"journal {Location} has schema version {version}; this pgra understands up to {SchemaVersion}. Upgrade pgra or point journal.path elsewhere.");
        }

        return version;
    }

    /// <summary><see cref="CheckSchemaVersionAsync(DbConnection, DbTransaction?, CancellationToken)"/> outside a transaction.</summary>
    protected Task<int> CheckSchemaVersionAsync(DbConnection connection, CancellationToken cancellationToken) =>
        CheckSchemaVersionAsync(connection, null, cancellationToken);

    /// <summary>The initial schema, with the backend's integer type for the sequence.</summary>
    protected IReadOnlyList<string> InitialSchema(string bigint) =>
    [
        $"""
        CREATE TABLE IF NOT EXISTS {Table("journal_entries")} (
            seq {bigint} PRIMARY KEY,
            time TEXT NOT NULL,
            kind TEXT NOT NULL,
            cluster TEXT NULL,
            member TEXT NULL,
            correlation_id TEXT NULL,
            topic TEXT NULL,
            summary TEXT NOT NULL,
            payload TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL)
        """,
        $"CREATE INDEX IF NOT EXISTS journal_entries_cluster_time ON {Table("journal_entries")} (cluster, time)",
        $"CREATE INDEX IF NOT EXISTS journal_entries_kind_time ON {Table("journal_entries")} (kind, time)",
        $"CREATE INDEX IF NOT EXISTS journal_entries_correlation ON {Table("journal_entries")} (correlation_id, kind)",
        $"CREATE INDEX IF NOT EXISTS journal_entries_topic ON {Table("journal_entries")} (topic, cluster)",
    ];

    public async Task<JournalEntry> AppendAsync(JournalRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        return (await TimedAppendAsync(record, intentLock: false, "append to it", cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>An append through <see cref="GuardAsync"/>, its duration recorded (<c>pgra.journal.append.duration</c>).</summary>
    private async Task<JournalEntry?> TimedAppendAsync(JournalRecord record, bool intentLock, string what, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var entry = await GuardAsync(what, () => AppendCoreAsync(record, intentLock, cancellationToken)).ConfigureAwait(false);
        AgentTelemetry.Journal.AppendDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("kind", record.Kind));
        return entry;
    }

    public async Task<JournalEntry?> TryAppendIntentAsync(JournalRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.Cluster is null || record.CorrelationId is null)
        {
            throw new ArgumentException("An intent needs a cluster and a correlation id (the action id).", nameof(record));
        }

        return await TimedAppendAsync(record, intentLock: true, "append an intent to it", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs a backend call, turning the backend's own failure (SQLite, PostgreSQL) into a <see cref="JournalException"/>
    /// that names the journal and what was being done; its message goes through the secret store (a connection
    /// string or a password in a driver's message is masked) and the driver's exception is not kept, so nothing
    /// unredacted reaches a log.
    /// </summary>
    private async Task<T> GuardAsync<T>(string what, Func<Task<T>> run)
    {
        try
        {
            return await run().ConfigureAwait(false);
        }
        catch (DbException ex)
        {
            AgentTelemetry.Journal.Failures.Add(1, new KeyValuePair<string, object?>("operation", what));
            var failure = Failure(what, ex);
            Log.CallFailed(Logger, _secrets.Redact(Location), what, LogRedaction.Exception(failure, _secrets));
            throw failure;
        }
    }

    /// <summary>The journal's own exception for a backend failure while doing <paramref name="what"/> (redacted, see <see cref="GuardAsync"/>).</summary>
    protected JournalException Failure(string what, DbException ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        var state = ex.SqlState is { Length: > 0 } code ? $" (SQLSTATE {code})" : "";
        return new JournalException($"journal {_secrets.Redact(Location)}: could not {what}: {ex.GetType().Name}{state}: {LogRedaction.Exception(ex, _secrets)}");
    }

    /// <summary>The newest <c>fleet.gained</c> note of <paramref name="cluster"/> when its token is larger than <paramref name="token"/>.</summary>
    private async Task<(string Agent, long Token, long Seq)?> NewerOwnerAsync(DbConnection connection, DbTransaction tx, string? cluster, long token, CancellationToken cancellationToken)
    {
        await using var newest = Command(connection, tx,
            $"SELECT seq, payload FROM {Table("journal_entries")} WHERE kind = @note AND topic = @gained AND cluster = @cluster ORDER BY seq DESC LIMIT 1");
        Add(newest, "note", JournalKinds.Note);
        Add(newest, "gained", JournalKinds.FleetGained);
        Add(newest, "cluster", cluster);
        await using var reader = await newest.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var seq = reader.GetInt64(0);
        try
        {
            var payload = JsonNode.Parse(reader.GetString(1));
            var theirs = payload?["token"]?.GetValue<long>();
            return theirs is { } t && t > token ? (payload?["agent"]?.GetValue<string>() ?? "another agent", t, seq) : null;
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    private async Task<JournalEntry?> AppendCoreAsync(JournalRecord record, bool intentLock, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentException.ThrowIfNullOrWhiteSpace(record.Kind);

        // Everything that can be prepared outside the lock is.
        var payload = JournalJson.Canonicalize(record.Payload, _secrets);
        var kind = _secrets.Redact(record.Kind);
        var summary = _secrets.Redact(record.Summary);
        var cluster = RedactNullable(record.Cluster);
        var member = RedactNullable(record.Member);
        var correlation = RedactNullable(record.CorrelationId);
        var topic = RedactNullable(record.Topic);

        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await BeginWriteAsync(connection, cancellationToken).ConfigureAwait(false);

        if (intentLock)
        {
            // The cluster lock: no other open intent on the cluster, and no earlier intent for the same action id
            // (an action runs at most once, even when two operators approve it at the same moment).
            var open = await QueryOpenIntentsAsync(connection, tx, cluster, cancellationToken).ConfigureAwait(false);
            await using var same = Command(connection, tx,
                $"SELECT COUNT(*) FROM {Table("journal_entries")} WHERE kind = @intent AND correlation_id = @correlation");
            Add(same, "intent", JournalKinds.ActionIntent);
            Add(same, "correlation", correlation);
            var earlier = Convert.ToInt64(await same.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
            if (open.Count > 0 || earlier > 0)
            {
                await tx.RollbackAsync(cancellationToken).ConfigureAwait(false);
                return null;
            }

            if (record.FencingToken is { } token && await NewerOwnerAsync(connection, tx, cluster, token, cancellationToken).ConfigureAwait(false) is { } newer)
            {
                await tx.RollbackAsync(cancellationToken).ConfigureAwait(false);
                throw new FencedException(
                    $"{cluster} was taken by {newer.Agent} with token {newer.Token} (journal #{newer.Seq}) after this agent's token {token}: its intent is refused, it no longer owns the cluster");
            }
        }

        long prevSeq = 0;
        var prevHash = JournalJson.GenesisHash;
        var now = _time.GetUtcNow();
        await using (var last = Command(connection, tx, $"SELECT seq, hash, time FROM {Table("journal_entries")} ORDER BY seq DESC LIMIT 1"))
        await using (var reader = await last.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                prevSeq = reader.GetInt64(0);
                prevHash = reader.GetString(1);

                // Times never go backwards along the chain, so time ranges and sequence order agree.
                if (DateTimeOffset.TryParseExact(reader.GetString(2), "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture,
                        DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var lastTime) && lastTime > now)
                {
                    now = lastTime;
                }
            }
        }

        var seq = prevSeq + 1;
        var time = JournalEntry.FormatTime(now);
        var hash = JournalJson.ComputeHash(seq, time, kind, cluster, member, correlation, topic, summary, payload, prevHash);
        await using (var insert = Command(connection, tx,
            $"INSERT INTO {Table("journal_entries")} ({Columns}) VALUES (@seq, @time, @kind, @cluster, @member, @correlation, @topic, @summary, @payload, @prev, @hash)"))
        {
            Add(insert, "seq", seq);
            Add(insert, "time", time);
            Add(insert, "kind", kind);
            Add(insert, "cluster", cluster);
            Add(insert, "member", member);
            Add(insert, "correlation", correlation);
            Add(insert, "topic", topic);
            Add(insert, "summary", summary);
            Add(insert, "payload", payload);
            Add(insert, "prev", prevHash);
            Add(insert, "hash", hash);
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await WriteMetaAsync(connection, tx, "head_seq", seq.ToString(CultureInfo.InvariantCulture), cancellationToken).ConfigureAwait(false);
        await WriteMetaAsync(connection, tx, "head_hash", hash, cancellationToken).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);

        return new JournalEntry
        {
            Seq = seq,
            Time = JournalEntry.ParseTime(time),
            Kind = kind,
            Cluster = cluster,
            Member = member,
            CorrelationId = correlation,
            Topic = topic,
            Summary = summary,
            Payload = payload,
            PrevHash = prevHash,
            Hash = hash,
        };
    }

    private string? RedactNullable(string? text) => text is null ? null : _secrets.Redact(text);

    public Task<JournalEntry?> GetAsync(long seq, CancellationToken cancellationToken) =>
        GuardAsync("read an entry", () => GetCoreAsync(seq, cancellationToken));

    private async Task<JournalEntry?> GetCoreAsync(long seq, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, $"SELECT {Columns} FROM {Table("journal_entries")} WHERE seq = @seq");
        Add(command, "seq", seq);
        var list = await ReadEntriesAsync(command, tolerant: false, cancellationToken).ConfigureAwait(false);
        return list.Count == 0 ? null : list[0];
    }

    public Task<IReadOnlyList<JournalEntry>> QueryAsync(JournalQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        return GuardAsync("query it", () => QueryCoreAsync(query, cancellationToken));
    }

    private async Task<IReadOnlyList<JournalEntry>> QueryCoreAsync(JournalQuery query, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        var where = new List<string>();
        if (query.Cluster is not null)
        {
            where.Add("cluster = @cluster");
            Add(command, "cluster", query.Cluster);
        }

        if (query.Kinds.Count > 0)
        {
            var names = new List<string>();
            for (var i = 0; i < query.Kinds.Count; i++)
            {
                names.Add($"@kind{i}");
                Add(command, $"kind{i}", query.Kinds[i]);
            }

            where.Add($"kind IN ({string.Join(", ", names)})");
        }

        if (query.Topic is not null)
        {
            where.Add("topic = @topic");
            Add(command, "topic", query.Topic);
        }

        if (query.CorrelationId is not null)
        {
            where.Add("(correlation_id = @corr OR substr(correlation_id, 1, @corrlen) = @corrprefix)");
            Add(command, "corr", query.CorrelationId);
            Add(command, "corrlen", query.CorrelationId.Length + 1);
            Add(command, "corrprefix", query.CorrelationId + ".");
        }

        if (query.Since is { } since)
        {
            where.Add("time >= @since");
            Add(command, "since", JournalEntry.FormatTime(since));
        }

        if (query.Until is { } until)
        {
            where.Add("time < @until");
            Add(command, "until", JournalEntry.FormatTime(until));
        }

        if (query.AfterSeq is { } after)
        {
            where.Add("seq > @after");
            Add(command, "after", after);
        }

        var sql = new StringBuilder($"SELECT {Columns} FROM {Table("journal_entries")}");
        if (where.Count > 0)
        {
            sql.Append(" WHERE ").AppendJoin(" AND ", where);
        }

        sql.Append(query.Descending ? " ORDER BY seq DESC" : " ORDER BY seq");
        if (query.Limit is { } limit)
        {
            sql.Append(" LIMIT @limit");
            Add(command, "limit", (long)limit);
        }

        command.CommandText = sql.ToString();
        return await ReadEntriesAsync(command, query.IncludeDamaged, cancellationToken).ConfigureAwait(false);
    }

    public Task<IReadOnlyList<JournalEntry>> GetOpenIntentsAsync(string? cluster, CancellationToken cancellationToken) =>
        GuardAsync("read its open intents", () => GetOpenIntentsCoreAsync(cluster, cancellationToken));

    private async Task<IReadOnlyList<JournalEntry>> GetOpenIntentsCoreAsync(string? cluster, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await QueryOpenIntentsAsync(connection, null, cluster, cancellationToken).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<JournalEntry>> QueryOpenIntentsAsync(DbConnection connection, DbTransaction? tx, string? cluster, CancellationToken cancellationToken)
    {
        var entries = Table("journal_entries");
        var sql = $"""
            SELECT {Columns} FROM {entries} i
            WHERE i.kind = @intent {(cluster is null ? "" : "AND i.cluster = @cluster")}
            AND NOT EXISTS (SELECT 1 FROM {entries} o WHERE o.correlation_id = i.correlation_id AND o.kind = @outcome)
            ORDER BY i.seq
            """;
        await using var command = Command(connection, tx, sql);
        Add(command, "intent", JournalKinds.ActionIntent);
        Add(command, "outcome", JournalKinds.ActionOutcome);
        if (cluster is not null)
        {
            Add(command, "cluster", cluster);
        }

        return await ReadEntriesAsync(command, tolerant: false, cancellationToken).ConfigureAwait(false);
    }

    public async IAsyncEnumerable<JournalEntry> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, $"SELECT {Columns} FROM {Table("journal_entries")} ORDER BY seq");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return ReadEntry(reader, tolerant: true);
        }
    }

    public async Task<JournalVerification> VerifyAsync(CancellationToken cancellationToken)
    {
        var result = await GuardAsync("verify its chain", () => VerifyCoreAsync(cancellationToken)).ConfigureAwait(false);
        if (result.Ok)
        {
            Log.Verified(Logger, _secrets.Redact(Location), result.Checked, result.LastSeq);
        }
        else
        {
            Log.VerificationFailed(Logger, _secrets.Redact(Location), result.FirstBadSeq ?? result.LastSeq, result.Problem ?? "unknown",
                LogRedaction.Text(result.Message, _secrets));
        }

        return result;
    }

    private async Task<JournalVerification> VerifyCoreAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        long expected = 1;
        long count = 0;
        var prevHash = JournalJson.GenesisHash;
        await using (var command = Command(connection, null, $"SELECT {Columns} FROM {Table("journal_entries")} ORDER BY seq"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                count++;
                var seq = reader.GetInt64(0);
                var storedPrev = reader.GetString(9);
                var storedHash = reader.GetString(10);
                if (seq != expected)
                {
                    return Bad(count, expected - 1, expected, "missing",
                        seq == expected + 1
                            ? $"entry #{expected} is missing (removed): the chain goes from #{expected - 1} to #{seq}."
                            : $"entries #{expected}..#{seq - 1} are missing (removed): the chain goes from #{expected - 1} to #{seq}.");
                }

                var recomputed = JournalJson.ComputeHash(seq, reader.GetString(1), reader.GetString(2), NullableString(reader, 3),
                    NullableString(reader, 4), NullableString(reader, 5), NullableString(reader, 6), reader.GetString(7),
                    SafePayload(reader.GetString(8)), storedPrev);
                var linked = string.Equals(storedPrev, prevHash, StringComparison.Ordinal);
                if (!linked || !string.Equals(recomputed, storedHash, StringComparison.Ordinal))
                {
                    var after = linked ? null : await FindSeqByHashAsync(storedPrev, cancellationToken).ConfigureAwait(false);
                    if (after is { } follows && follows != seq - 1)
                    {
                        return Bad(count, seq, seq, "reordered",
                            $"entry #{seq} is out of order: it was written right after #{follows}, but now follows #{seq - 1}.");
                    }

                    if (!string.Equals(recomputed, storedHash, StringComparison.Ordinal))
                    {
                        return Bad(count, seq, seq, "changed", $"entry #{seq} was changed: its content no longer matches its hash.");
                    }

                    return Bad(count, seq, seq - 1, "changed",
                        $"entry #{seq - 1} was changed or replaced (its hash was recomputed): entry #{seq} no longer links to it.");
                }

                prevHash = storedHash;
                expected = seq + 1;
            }
        }

        var last = expected - 1;
        var headSeqText = await ReadMetaAsync(connection, null, "head_seq", cancellationToken).ConfigureAwait(false);
        var headHash = await ReadMetaAsync(connection, null, "head_hash", cancellationToken).ConfigureAwait(false);
        if (headSeqText is not null && long.TryParse(headSeqText, NumberStyles.Integer, CultureInfo.InvariantCulture, out var headSeq))
        {
            if (headSeq > last)
            {
                return Bad(count, last, last + 1, "truncated",
                    headSeq == last + 1
                        ? $"entry #{headSeq} was removed from the end (the journal head records #{headSeq})."
                        : $"entries #{last + 1}..#{headSeq} were removed from the end (the journal head records #{headSeq}).");
            }

            if (headSeq < last)
            {
                return Bad(count, last, headSeq + 1, "changed",
                    $"entries after #{headSeq} were not appended through the journal (the head records #{headSeq}, the table ends at #{last}).");
            }

            if (headSeq == last && last > 0 && !string.Equals(headHash, prevHash, StringComparison.Ordinal))
            {
                return Bad(count, last, last, "changed", $"entry #{last} was changed and rehashed: it no longer matches the journal head.");
            }
        }

        return new JournalVerification { Ok = true, Checked = count, LastSeq = last };
    }

    private static JournalVerification Bad(long count, long last, long firstBad, string problem, string message) => new()
    {
        Ok = false,
        Checked = count,
        LastSeq = last,
        FirstBadSeq = firstBad,
        Problem = problem,
        Message = message,
    };

    private static string SafePayload(string payload)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(payload);
            return payload;
        }
        catch (System.Text.Json.JsonException)
        {
            return "\"invalid payload\"";
        }
    }

    private async Task<long?> FindSeqByHashAsync(string hash, CancellationToken cancellationToken)
    {
        // Its own connection: the verifying reader is still open on the other one.
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, $"SELECT seq FROM {Table("journal_entries")} WHERE hash = @hash ORDER BY seq LIMIT 1");
        Add(command, "hash", hash);
        var result = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return result is null or DBNull ? null : Convert.ToInt64(result, CultureInfo.InvariantCulture);
    }

    private async Task<string?> ReadMetaAsync(DbConnection connection, DbTransaction? tx, string key, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, tx, $"SELECT value FROM {Table("journal_meta")} WHERE key = @key");
        Add(command, "key", key);
        var result = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return result as string;
    }

    private async Task WriteMetaAsync(DbConnection connection, DbTransaction tx, string key, string value, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, tx,
            $"INSERT INTO {Table("journal_meta")} (key, value) VALUES (@key, @value) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
        Add(command, "key", key);
        Add(command, "value", value);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    protected static async Task ExecuteAsync(DbConnection connection, DbTransaction? tx, string sql, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, tx, sql);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    protected static DbCommand Command(DbConnection connection, DbTransaction? tx, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = tx;
#pragma warning disable CA2100 // Table names come from code and validated settings; values are parameters.
        command.CommandText = sql;
#pragma warning restore CA2100
        return command;
    }

    protected static void Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        if (value is null)
        {
            parameter.DbType = System.Data.DbType.String;
        }

        command.Parameters.Add(parameter);
    }

    private async Task<IReadOnlyList<JournalEntry>> ReadEntriesAsync(DbCommand command, bool tolerant, CancellationToken cancellationToken)
    {
        var list = new List<JournalEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(ReadEntry(reader, tolerant));
        }

        return list;
    }

    /// <summary>
    /// One row as an entry. A row whose time is not a date is damaged: <paramref name="tolerant"/> readers (listing,
    /// export) get it with <see cref="JournalEntry.Damage"/> set; the others a <see cref="JournalException"/> that
    /// names the entry, rather than a parse error deep in a caller.
    /// </summary>
    private JournalEntry ReadEntry(DbDataReader reader, bool tolerant)
    {
        var seq = reader.GetInt64(0);
        var timeText = reader.GetString(1);
        string? damage = null;
        if (!JournalEntry.TryParseTime(timeText, out var time))
        {
            damage = $"its time '{(timeText.Length > 40 ? timeText[..40] + "..." : timeText)}' is not a date";
            if (!tolerant)
            {
                throw new JournalException(
                    $"journal {Location}: entry #{seq.ToString(CultureInfo.InvariantCulture)} is damaged ({damage}); 'pgra journal verify' checks the chain, 'pgra journal list' shows the damaged entries.");
            }
        }

        return ReadEntry(reader, seq, time, damage);
    }

    private static JournalEntry ReadEntry(DbDataReader reader, long seq, DateTimeOffset time, string? damage) => new()
    {
        Seq = seq,
        Time = time,
        Damage = damage,
        Kind = reader.GetString(2),
        Cluster = NullableString(reader, 3),
        Member = NullableString(reader, 4),
        CorrelationId = NullableString(reader, 5),
        Topic = NullableString(reader, 6),
        Summary = reader.GetString(7),
        Payload = reader.GetString(8),
        PrevHash = reader.GetString(9),
        Hash = reader.GetString(10),
    };

    private static string? NullableString(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);
}
