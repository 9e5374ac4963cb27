using System.Collections.Concurrent;
using System.Globalization;
using Npgsql;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Sensing.Postgres;

/// <summary>
/// The index advisor: for a hot statement of the leader it EXPLAINs (never ANALYZE) the normalised text as a prepared
/// statement, finds its costliest sequential scan, builds a candidate index (equality columns, then ORDER BY columns),
/// and compares the plan cost without and with the candidate as a hypopg hypothetical index. Everything runs in one
/// session, in one READ ONLY transaction that is rolled back (hypopg_reset and DEALLOCATE too), under statement_timeout
/// and lock_timeout. Parameters get representative values: the constant this statement ran with most often as
/// pg_qualstats sampled it (when its library is preloaded and the extension created), else from pg_stats (most common
/// value, else the middle histogram bound); LIMIT 10, OFFSET 0; when one has none the generic plan is compared (PostgreSQL 15 has no EXPLAIN
/// GENERIC_PLAN: <c>plan_cache_mode = force_generic_plan</c> gives it). Without hypopg the advice says what could not
/// be checked. It connects as the admin user: EXPLAIN needs SELECT on the table, which Pigsty's monitor role lacks.
/// </summary>
internal static class IndexAdvisor
{
    private const string Statement = "pgra_advise";

    /// <summary>Advice for one statement; expected failures (SQL errors, timeouts) are advice with status <c>error</c>.</summary>
    public static async Task<IndexAdvice> AdviseAsync(NpgsqlConnection connection, string queryId, string? database, TimeProvider time,
        TimeSpan statementTimeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(time);
        var started = time.GetTimestamp();
        IndexAdvice Done(IndexAdvice a) => a with { ElapsedMs = Math.Round(time.GetElapsedTime(started).TotalMilliseconds, 1) };
        var advice = new IndexAdvice { QueryId = queryId, Database = database, Status = "no-candidate", AdvisedAt = time.GetUtcNow() };
        var ms = ((int)statementTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ExecAsync(connection, $"set transaction read only; set local statement_timeout = {ms}; set local lock_timeout = 500", cancellationToken).ConfigureAwait(false);
            var query = await ScalarAsync(connection, "select query from pg_stat_statements where queryid = $1::int8 limit 1", [long.Parse(queryId, CultureInfo.InvariantCulture)],
                cancellationToken).ConfigureAwait(false);
            if (!PlanReading.Advisable(query))
            {
                return Done(advice with { Reason = "not a single plain SELECT: never prepared" });
            }

            var count = PlanReading.ParameterCount(query!);
            await ExecAsync(connection, $"prepare {Statement} as {query}", cancellationToken).ConfigureAwait(false);
            await ExecAsync(connection, "set local plan_cache_mode = force_generic_plan", cancellationToken).ConfigureAwait(false);
            var generic = await ExplainAsync(connection, PlanReading.Arguments(count, new Dictionary<int, string>()), cancellationToken).ConfigureAwait(false);
            var scan = PlanReading.SeqScans(generic).FirstOrDefault();
            if (scan is null || PlanReading.Candidate(scan) is not { } candidate)
            {
                return Done(advice with { Reason = scan is null ? "the plan has no sequential scan" : $"the scan of {scan.Schema}.{scan.Table} filters on no column an index could serve" });
            }

            advice = advice with { Schema = candidate.Schema, Table = candidate.Table, Columns = string.Join(",", candidate.Columns), Definition = candidate.Definition };
            var values = new Dictionary<int, string>(PlanReading.LimitValues(query!));
            var sources = new SortedSet<string>(StringComparer.Ordinal);
            var qualstats = await ScalarAsync(connection, QualstatsSchema, [], cancellationToken).ConfigureAwait(false);
            foreach (var (n, column) in candidate.ParameterColumns)
            {
                if (qualstats is not null)
                {
                    // The values this very statement ran with, most frequent first (pg_qualstats samples quals with their constants).
                    var constant = await ScalarAsync(connection,
                        $"""
                         select q.constvalue from {Identifier(qualstats)}.pg_qualstats() q
                         join pg_attribute a on a.attrelid = q.lrelid and a.attnum = q.lattnum
                         where q.queryid = $1::int8 and q.lrelid = to_regclass(format('%I.%I', $2::text, $3::text)) and a.attname = $4::text
                           and q.constvalue is not null
                         group by q.constvalue order by sum(q.occurences) desc, q.constvalue limit 1
                         """,
                        [long.Parse(queryId, CultureInfo.InvariantCulture), candidate.Schema, candidate.Table, column], cancellationToken).ConfigureAwait(false);
                    if (PlanReading.QualstatsValue(constant) is { } seen)
                    {
                        values[n] = seen;
                        sources.Add("pg_qualstats");
                        continue;
                    }
                }

                var stats = await RowAsync(connection,
                    "select most_common_vals::text as mcv, histogram_bounds::text as hist from pg_stats where schemaname = $1 and tablename = $2 and attname = $3",
                    [candidate.Schema, candidate.Table, column], cancellationToken).ConfigureAwait(false);
                if (stats is not null && PlanReading.Representative(stats.GetValueOrDefault("mcv"), stats.GetValueOrDefault("hist")) is { } v)
                {
                    values[n] = v;
                    sources.Add("pg_stats");
                }
            }

            var custom = Enumerable.Range(1, count).All(values.ContainsKey);
            var args = PlanReading.Arguments(count, custom ? values : new Dictionary<int, string>());
            if (custom)
            {
                await ExecAsync(connection, "set local plan_cache_mode = force_custom_plan", cancellationToken).ConfigureAwait(false);
            }

            var before = PlanReading.TotalCost(custom ? await ExplainAsync(connection, args, cancellationToken).ConfigureAwait(false) : generic);
            advice = advice with { CostBefore = before, Plan = custom ? "custom" : "generic", ValuesFrom = custom && sources.Count > 0 ? string.Join("+", sources) : null };
            if (await ScalarAsync(connection, "select extversion from pg_extension where extname = 'hypopg'", [], cancellationToken).ConfigureAwait(false) is null)
            {
                return Done(advice with { Status = "unchecked", Reason = $"hypopg is not installed in {database ?? connection.Database}: the gain of {candidate.Definition} could not be checked" });
            }

            await ScalarAsync(connection, "select indexname from hypopg_create_index($1)", [candidate.Definition], cancellationToken).ConfigureAwait(false);
            var with = await ExplainAsync(connection, args, cancellationToken).ConfigureAwait(false);
            await ExecAsync(connection, "select hypopg_reset()", cancellationToken).ConfigureAwait(false);
            return Done(advice with { Status = "checked", CostAfter = PlanReading.TotalCost(with), UsesIndex = PlanReading.UsesHypotheticalIndex(with) });
        }
        catch (PostgresException ex)
        {
            return Done(advice with { Status = "error", Reason = $"{ex.SqlState}: {ex.MessageText}" });
        }
        finally
        {
            // Rolls back the transaction; the prepared statement outlives it, so it is deallocated too.
            await tx.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
            await ExecAsync(connection, "deallocate all", CancellationToken.None).ConfigureAwait(false);
            await ExecAsync(connection, "do $$ begin perform hypopg_reset(); exception when undefined_function then null; end $$", CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The schema of pg_qualstats when it can be read in this database: the extension is created and its library is in
    /// shared_preload_libraries (else calling it raises an error, which would abort the advisor's transaction).
    /// </summary>
    private const string QualstatsSchema = """
        select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace
        where e.extname = 'pg_qualstats'
          and 'pg_qualstats' = any (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))
        """;

    private static string Identifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static async Task<string> ExplainAsync(NpgsqlConnection connection, string args, CancellationToken cancellationToken) =>
        await ScalarAsync(connection, $"explain (format json, verbose) execute {Statement}({args})", [], cancellationToken).ConfigureAwait(false)
        ?? throw new InvalidOperationException("EXPLAIN returned no plan");

    private static async Task ExecAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<string?> ScalarAsync(NpgsqlConnection connection, string sql, object[] parameters, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var p in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = p });
        }

        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is null or DBNull ? null : Convert.ToString(value, CultureInfo.InvariantCulture);
    }

    private static async Task<IReadOnlyDictionary<string, string?>?> RowAsync(NpgsqlConnection connection, string sql, object[] parameters, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var p in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = p });
        }

        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var row = new Dictionary<string, string?>(StringComparer.Ordinal);
        for (var i = 0; i < reader.FieldCount; i++)
        {
            row[reader.GetName(i)] = reader.IsDBNull(i) ? null : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture);
        }

        return row;
    }
}

/// <summary>
/// The advisor's cadence: the latest advice per cluster and queryid, attached to every snapshot of the leader as the
/// <see cref="IndexAdvice.ProbeName"/> probe so detectors stay pure functions of the snapshot; and a refresh, started
/// in the background (never inside the snapshot's deadline), of at most <see cref="PerRefresh"/> of the leader's
/// hottest statements not advised for <see cref="Interval"/>. One refresh per cluster at a time. Lives as long as the
/// snapshot service. Left out with <c>sensing.postgres.skip: [index_advice]</c>.
/// </summary>
internal sealed class IndexAdvisorCache(SecretStore secrets, TimeProvider time, IndexAdvisorSettings? settings = null)
{
    /// <summary>The advisor's sessions' application_name (pgra's own: never cancelled or terminated by pgra).</summary>
    public const string ApplicationName = "pgra-advise";

    private readonly IndexAdvisorSettings _settings = settings ?? new IndexAdvisorSettings();

    /// <summary>How long one statement's advice stands before it is checked again (<c>interval_seconds</c>, at least 10 s).</summary>
    public TimeSpan Interval => TimeSpan.FromSeconds(Math.Max(10, _settings.IntervalSeconds));

    /// <summary>Statements advised per refresh (<c>per_refresh</c>, 1-20).</summary>
    public int PerRefresh => Math.Clamp(_settings.PerRefresh, 1, 20);

    /// <summary>statement_timeout of each advisor statement (<c>statement_timeout_ms</c>, 100 ms - 60 s).</summary>
    public TimeSpan StatementTimeout => TimeSpan.FromMilliseconds(Math.Clamp(_settings.StatementTimeoutMs, 100, 60_000));

    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, IndexAdvice>> _advice = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task> _running = new(StringComparer.Ordinal);

    /// <summary>Where to reach a member; replaceable for tests.</summary>
    public Func<PgMember, (string Host, int Port)> AddressOf { get; init; } = m => (m.Ip, m.Ports.Postgres);

    /// <summary>The refresh started by the last <see cref="Attach"/> of a cluster (tests await it).</summary>
    public Task? Pending(string cluster) => _running.GetValueOrDefault(cluster);

    /// <summary>
    /// The observation of the leader with the advice known so far attached; starts a refresh when statements are due.
    /// Replicas and observations without the statements probe come back as they were.
    /// </summary>
    public PostgresMemberObservation Attach(PgCluster cluster, PgMember member, PostgresMemberObservation observation)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(member);
        ArgumentNullException.ThrowIfNull(observation);
        if (observation.InRecovery != false || observation.Probe("statements_top") is not { Status: "ok" } statements)
        {
            return observation;
        }

        var known = _advice.GetOrAdd(cluster.Name, _ => new(StringComparer.Ordinal));
        var now = time.GetUtcNow();
        var due = statements.Rows
            .Where(r => r.GetValueOrDefault("queryid") is { } id && PlanReading.Advisable(r.GetValueOrDefault("query"))
                && (!known.TryGetValue(id, out var a) || now - a.AdvisedAt >= Interval))
            .Select(r => (Id: r["queryid"]!, Database: r.GetValueOrDefault("datname")))
            .Take(PerRefresh)
            .ToList();
        if (due.Count > 0 && (!_running.TryGetValue(cluster.Name, out var running) || running.IsCompleted))
        {
            _running[cluster.Name] = Task.Run(() => RefreshAsync(cluster, member, due, known), CancellationToken.None);
        }

        var live = statements.Rows.Select(r => r.GetValueOrDefault("queryid")).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var rows = known.Values.Where(a => live.Contains(a.QueryId)).OrderBy(a => a.QueryId, StringComparer.Ordinal).Select(a => a.ToRow()).ToList();
        return observation with
        {
            Probes = [.. observation.Probes, new ProbeResult { Name = IndexAdvice.ProbeName, Status = "ok", Rows = rows, ElapsedMs = rows.Sum(r => double.Parse(r["elapsed_ms"]!, CultureInfo.InvariantCulture)) }],
        };
    }

    private async Task RefreshAsync(PgCluster cluster, PgMember member, IReadOnlyList<(string Id, string? Database)> due,
        ConcurrentDictionary<string, IndexAdvice> known)
    {
        foreach (var group in due.GroupBy(d => d.Database ?? "postgres", StringComparer.Ordinal))
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(6) + (StatementTimeout * 2), time);
            try
            {
                await using var connection = new NpgsqlConnection(ConnectionString(cluster, member, group.Key));
                await connection.OpenAsync(cts.Token).ConfigureAwait(false);
                foreach (var (id, database) in group)
                {
                    known[id] = await IndexAdvisor.AdviseAsync(connection, id, database, time, StatementTimeout, cts.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (SensorCall.IsExpected(ex) || ex is OperationCanceledException)
            {
                foreach (var (id, database) in group)
                {
                    known[id] = new IndexAdvice
                    {
                        QueryId = id, Database = database, Status = "error", AdvisedAt = time.GetUtcNow(),
                        Reason = secrets.Redact(SensorCall.Describe(ex)),
                    };
                }
            }
        }
    }

    private string ConnectionString(PgCluster cluster, PgMember member, string database)
    {
        var (host, port) = AddressOf(member);
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = host,
            Port = port,
            Database = database,
            Username = cluster.Credentials.AdminUsername,
            ApplicationName = ApplicationName,
            Timeout = 5,
            CommandTimeout = (int)Math.Ceiling(StatementTimeout.TotalSeconds) + 1,
            Pooling = false,
            SslMode = SslMode.Prefer,
        };
        if (secrets.TryReveal(cluster.Credentials.AdminPassword, out var password))
        {
            builder.Password = password;
        }

        return builder.ConnectionString;
    }
}
