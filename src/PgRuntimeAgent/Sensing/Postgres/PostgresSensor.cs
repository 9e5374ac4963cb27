using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Sensing.Postgres;

/// <summary>One probe's outcome: its rows as strings (invariant culture), or why there are none.</summary>
public sealed record ProbeResult
{
    public required string Name { get; init; }

    /// <summary>ok, error or skipped.</summary>
    public required string Status { get; init; }

    public double ElapsedMs { get; init; }
    public int BudgetMs { get; init; }
    public bool OverBudget { get; init; }
    public IReadOnlyList<IReadOnlyDictionary<string, string?>> Rows { get; init; } = [];
    public string? Error { get; init; }
}

/// <summary>A replica as the primary's pg_stat_replication shows it.</summary>
public sealed record ReplicationPeer(string Name, string? ClientAddr, string? State, string? SyncState, long? ReplayLagBytes, double? ReplayLagSeconds);

/// <summary>A replication slot and the WAL it holds back.</summary>
public sealed record SlotState(string Name, string? Type, bool Active, string? WalStatus, long? RetainedBytes);

/// <summary>What the Postgres sensor saw on one member: typed essentials plus every probe's rows.</summary>
public sealed record PostgresMemberObservation
{
    public required string Member { get; init; }
    public bool Reachable { get; init; }
    public bool? InRecovery { get; init; }
    public int? ServerVersionNum { get; init; }
    public string? CurrentLsn { get; init; }
    public string? ReceiveLsn { get; init; }
    public string? ReplayLsn { get; init; }
    public double? ReplayDelaySeconds { get; init; }
    public int? Connections { get; init; }
    public int? MaxConnections { get; init; }
    public double? LongestTransactionSeconds { get; init; }
    public int? BlockedSessions { get; init; }
    public long? MaxXidAge { get; init; }
    public long? ArchiverFailedCount { get; init; }
    public bool? PendingRestart { get; init; }
    public IReadOnlyList<ReplicationPeer> Replication { get; init; } = [];
    public IReadOnlyList<SlotState> Slots { get; init; } = [];

    /// <summary>Head blockers and the sessions queued behind them (probe <c>lock_heads</c>); empty when none or not sensed.</summary>
    public IReadOnlyList<LockHead> LockHeads { get; init; } = [];

    /// <summary>Client sessions by state, user and application against the limit (probe <c>connection_clients</c>); null when not sensed.</summary>
    public ConnectionUse? ConnectionUse { get; init; }

    /// <summary>What holds the xmin horizon back (probe <c>xmin_horizon</c>); empty when nothing or not sensed.</summary>
    public IReadOnlyList<XminHolder> XminHolders { get; init; } = [];

    public IReadOnlyList<ProbeResult> Probes { get; init; } = [];

    /// <summary>Statements this snapshot ran on the member, and their total database time.</summary>
    public int Queries { get; init; }

    public double DbTimeMs { get; init; }
    public string? Error { get; init; }

    public ProbeResult? Probe(string name) => Probes.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.Ordinal));
}

/// <summary>
/// Runs the <see cref="PostgresProbeCatalogue"/> on one member with the monitor credentials: application_name=pgra,
/// a short statement_timeout and lock_timeout, every transaction read-only. One pooled connection per member.
/// </summary>
internal sealed partial class PostgresSensor(SecretStore secrets, PostgresProbeSettings settings, TimeProvider time, TimeSpan timeout)
{
    /// <summary>Builds the host and port to connect to; replaceable for tests.</summary>
    public Func<PgMember, (string Host, int Port)> AddressOf { get; init; } = m => (m.Ip, m.Ports.Postgres);

    /// <summary>The deadline for one member (a member that hung on the last snapshot gets a shorter one); null: the sensor's timeout.</summary>
    public Func<PgMember, TimeSpan>? TimeoutOf { get; init; }

    public async Task<(PostgresMemberObservation Observation, SensorStatus Health)> ObserveAsync(PgCluster cluster, PgMember member, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(member);
        var sw = SensorStopwatch.Start(time);
        var (host, port) = AddressOf(member);
        var endpoint = $"postgres://{cluster.Credentials.MonitorUsername}@{host}:{port}/{settings.Database}";
        var results = new List<ProbeResult>();
        var deadline = TimeoutOf?.Invoke(member) ?? timeout;
        string? error = null;
        // The deadline is enforced here, not by cancelling Npgsql: cancelling a query on a frozen server sends a cancel
        // request to a postmaster that does not answer, blocks the cancelling thread, and took 7 s for a 2 s deadline
        // in the lab (a frozen leader then held every snapshot, and the fence, back by seconds). Npgsql gets the
        // caller's token only; work abandoned at the deadline ends by Npgsql's own Timeout and CommandTimeout.
        var connectionString = ConnectionString(cluster, host, port);
        var databases = cluster.Databases.Where(d => !string.Equals(d, settings.Database, StringComparison.Ordinal)).Take(MaxExtraDatabases)
            .Select(d => (d, ConnectionString(cluster, host, port, d))).ToList();
        var work = Task.Run(() => ProbeAllAsync(connectionString, databases, results, cancellationToken), CancellationToken.None);
        try
        {
            await work.WaitAsync(deadline, time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (TimeoutException) when (!work.IsCompleted)
        {
            _ = work.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            error = $"{endpoint}: timed out after {deadline.TotalSeconds:0.###}s ({Count(results)} of {PostgresProbeCatalogue.All.Count} probes done)";
        }
        catch (Exception ex) when (SensorCall.IsExpected(ex))
        {
            error = $"{endpoint}: {secrets.Redact(SensorCall.Describe(ex))}";
        }

        List<ProbeResult> done;
        lock (results)
        {
            done = [.. results];
        }

        results = done;
        var observation = Summarise(member.Name, results, error);
        var failed = results.Where(r => r.Status == "error").Select(r => $"{r.Name}: {r.Error}").ToList();
        var health = !observation.Reachable ? SensorHealth.Unknown
            : error is not null || failed.Count > 0 ? SensorHealth.Degraded
            : SensorHealth.Ok;
        var reason = error ?? (failed.Count > 0 ? string.Join("; ", failed.Take(3)) : null);
        return (observation, new SensorStatus(SensorNames.Postgres, member.Name, health, reason, sw.ElapsedMs));
    }

    /// <summary>Databases of pg_databases besides the sensing database whose per-database probes run on each member (the first ones).</summary>
    internal const int MaxExtraDatabases = 8;

    /// <summary>
    /// Opens a connection and runs every probe, adding each result to <paramref name="results"/> (locked: the caller may
    /// read it at its deadline while this goes on); then the per-database probes in each of <paramref name="databases"/>.
    /// </summary>
    private async Task ProbeAllAsync(string connectionString, IReadOnlyList<(string Name, string ConnectionString)> databases, List<ProbeResult> results,
        CancellationToken cancellationToken)
    {
        await ProbeMainAsync(connectionString, results, cancellationToken).ConfigureAwait(false);
        foreach (var (database, databaseConnection) in databases)
        {
            await ProbeDatabaseAsync(database, databaseConnection, results, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs the per-database probes in <paramref name="database"/> and merges their rows (tagged with <c>datname</c>)
    /// into the results the sensing database gave. A database that cannot be read (gone, no CONNECT privilege) is named
    /// in each probe's error and its rows are missing; the others stand.
    /// </summary>
    private async Task ProbeDatabaseAsync(string database, string connectionString, List<ProbeResult> results, CancellationToken cancellationToken)
    {
        // Only the per-database probes that ran in the sensing database (not skipped there: scope, extension, settings).
        HashSet<string> ran;
        lock (results)
        {
            ran = results.Where(r => r.Status == "ok").Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        }

        var probes = PostgresProbeCatalogue.All.Where(p => p.PerDatabase && ran.Contains(p.Name)).ToList();
        if (probes.Count == 0)
        {
            return;
        }

        var extra = new List<ProbeResult>();
        try
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            foreach (var probe in probes)
            {
                extra.Add(await RunProbeAsync(connection, probe, cancellationToken, database).ConfigureAwait(false));
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            var why = ex is PostgresException pg ? $"{pg.SqlState}: {secrets.Redact(pg.MessageText)}" : secrets.Redact(SensorCall.Describe(ex));
            extra = [.. probes.Select(p => new ProbeResult { Name = p.Name, Status = "error", BudgetMs = p.BudgetMs, Error = $"database {database}: {why}" })];
        }

        lock (results)
        {
            foreach (var more in extra)
            {
                var i = results.FindIndex(r => r.Name == more.Name);
                if (i < 0 || results[i].Status != "ok")
                {
                    continue;
                }

                var main = results[i];
                results[i] = main with
                {
                    ElapsedMs = main.ElapsedMs + more.ElapsedMs,
                    OverBudget = main.OverBudget || more.OverBudget,
                    Rows = more.Status == "ok" ? [.. main.Rows, .. more.Rows] : main.Rows,
                    Error = more.Status == "ok" ? main.Error : string.Join("; ", new[] { main.Error, more.Error }.Where(e => e is not null)),
                };
            }
        }
    }

    private async Task ProbeMainAsync(string connectionString, List<ProbeResult> results, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        bool? inRecovery = null;
        var extensions = new HashSet<string>(StringComparer.Ordinal);
        foreach (var probe in PostgresProbeCatalogue.All)
        {
            if (settings.Skip.Contains(probe.Name, StringComparer.Ordinal))
            {
                Add(results, new ProbeResult { Name = probe.Name, Status = "skipped", BudgetMs = probe.BudgetMs, Error = "skipped by sensing.postgres.skip" });
                continue;
            }

            if ((probe.Scope == ProbeScope.PrimaryOnly && inRecovery != false) || (probe.Scope == ProbeScope.ReplicaOnly && inRecovery != true)
                || (probe.RequiresExtension is { } ext && !extensions.Contains(ext)))
            {
                Add(results, new ProbeResult { Name = probe.Name, Status = "skipped", BudgetMs = probe.BudgetMs, Error = SkipReason(probe, inRecovery) });
                continue;
            }

            var result = await RunProbeAsync(connection, probe, cancellationToken, probe.PerDatabase ? settings.Database : null).ConfigureAwait(false);
            Add(results, result);
            if (probe.Name == "server" && result.Rows.Count == 1)
            {
                inRecovery = result.Rows[0].GetValueOrDefault("in_recovery") == "true";
                if (result.Rows[0].GetValueOrDefault("has_pg_stat_statements") == "true")
                {
                    extensions.Add("pg_stat_statements");
                }
            }
        }
    }

    private static void Add(List<ProbeResult> results, ProbeResult result)
    {
        lock (results)
        {
            results.Add(result);
        }
    }

    private static int Count(List<ProbeResult> results)
    {
        lock (results)
        {
            return results.Count;
        }
    }

    private string ConnectionString(PgCluster cluster, string host, int port, string? database = null)
    {
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = host,
            Port = port,
            Database = database ?? settings.Database,
            Username = cluster.Credentials.MonitorUsername,
            ApplicationName = "pgra",
            Timeout = Math.Max(1, (int)Math.Ceiling(timeout.TotalSeconds)),
            CommandTimeout = Math.Max(1, (int)Math.Ceiling(settings.StatementTimeoutMs / 1000.0) + 1),
            Options = string.Create(CultureInfo.InvariantCulture,
                $"-c statement_timeout={settings.StatementTimeoutMs} -c lock_timeout=500 -c default_transaction_read_only=on -c idle_in_transaction_session_timeout=10000"),
            Pooling = true,
            MaxPoolSize = 2,
            ConnectionIdleLifetime = 60,
            SslMode = SslMode.Prefer,
        };
        // The password is revealed here, where the connection is opened, and nowhere else.
        if (secrets.TryReveal(cluster.Credentials.MonitorPassword, out var password))
        {
            builder.Password = password;
        }

        return builder.ConnectionString;
    }

    /// <summary>Runs one probe; <paramref name="database"/> (a per-database probe's) is added to every row as <c>datname</c>.</summary>
    private async Task<ProbeResult> RunProbeAsync(NpgsqlConnection connection, PostgresProbe probe, CancellationToken cancellationToken, string? database = null)
    {
        var started = time.GetTimestamp();
        try
        {
            await using var command = new NpgsqlCommand(probe.Sql, connection);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var rows = new List<IReadOnlyDictionary<string, string?>>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var row = new SortedDictionary<string, string?>(StringComparer.Ordinal);
                for (var i = 0; i < reader.FieldCount; i++)
                {
                    var name = reader.GetName(i);
                    var value = await reader.IsDBNullAsync(i, cancellationToken).ConfigureAwait(false) ? null : Format(reader.GetValue(i));
                    row[name] = name == "query" && value is not null ? MaskLiterals(value) : value;
                }

                if (database is not null)
                {
                    row["datname"] = database;
                }

                rows.Add(row);
            }

            var elapsed = SensorCall.Ms(time, started);
            return new ProbeResult { Name = probe.Name, Status = "ok", ElapsedMs = elapsed, BudgetMs = probe.BudgetMs, OverBudget = elapsed > probe.BudgetMs, Rows = rows };
        }
        catch (PostgresException ex)
        {
            // A probe's own failure (permission, statement_timeout) does not end the session.
            return new ProbeResult
            {
                Name = probe.Name,
                Status = "error",
                ElapsedMs = SensorCall.Ms(time, started),
                BudgetMs = probe.BudgetMs,
                Error = $"{ex.SqlState}: {secrets.Redact(ex.MessageText)}",
            };
        }
    }

    private static string SkipReason(PostgresProbe probe, bool? inRecovery) => probe switch
    {
        { RequiresExtension: { } ext } => $"extension {ext} is not installed",
        { Scope: ProbeScope.PrimaryOnly } => inRecovery is null ? "role unknown" : "runs on the primary only",
        { Scope: ProbeScope.ReplicaOnly } => inRecovery is null ? "role unknown" : "runs on replicas only",
        _ => "skipped",
    };

    private static string? Format(object value) => value switch
    {
        bool b => b ? "true" : "false",
        DateTime dt => dt.ToString("O", CultureInfo.InvariantCulture),
        DateTimeOffset dto => dto.ToString("O", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        Array a => "{" + string.Join(",", a.Cast<object?>().Select(x => x is null ? "NULL" : Format(x))) + "}",
        _ => value.ToString(),
    };

    [GeneratedRegex(@"'(?:[^']|'')*'", RegexOptions.CultureInvariant)]
    private static partial Regex StringLiteral();

    [GeneratedRegex(@"(?<![\w$])-?\d+(?:\.\d+)?(?![\w$])", RegexOptions.CultureInvariant)]
    private static partial Regex NumberLiteral();

    /// <summary>Masks string and number literals in a query text ('x' -> '?', 42 -> ?), keeping $1-style parameters.</summary>
    public static string MaskLiterals(string query) => NumberLiteral().Replace(StringLiteral().Replace(query, "'?'"), "?");

    internal static PostgresMemberObservation Summarise(string member, IReadOnlyList<ProbeResult> results, string? error)
    {
        IReadOnlyDictionary<string, string?>? First(string name) =>
            results.FirstOrDefault(r => r.Name == name && r.Status == "ok" && r.Rows.Count > 0)?.Rows[0];
        IEnumerable<IReadOnlyDictionary<string, string?>> Rows(string name) =>
            results.FirstOrDefault(r => r.Name == name && r.Status == "ok")?.Rows ?? [];

        var server = First("server");
        var wal = First("wal_position");
        var conns = Rows("connections").ToList();
        var replication = Rows("replication").Select(r => new ReplicationPeer(
            r.GetValueOrDefault("application_name") ?? "", r.GetValueOrDefault("client_addr"), r.GetValueOrDefault("state"),
            r.GetValueOrDefault("sync_state"), L(r.GetValueOrDefault("replay_lag_bytes")), D(r.GetValueOrDefault("replay_lag_seconds")))).ToList();
        var slots = Rows("replication_slots").Select(r => new SlotState(
            r.GetValueOrDefault("slot_name") ?? "", r.GetValueOrDefault("slot_type"), r.GetValueOrDefault("active") == "true",
            r.GetValueOrDefault("wal_status"), L(r.GetValueOrDefault("retained_bytes")))).ToList();
        var settingsRows = Rows("settings").ToList();
        return new PostgresMemberObservation
        {
            Member = member,
            Reachable = results.Any(r => r.Status == "ok"),
            InRecovery = server?.GetValueOrDefault("in_recovery") is { } rec ? rec == "true" : null,
            ServerVersionNum = (int?)L(server?.GetValueOrDefault("server_version_num")),
            CurrentLsn = wal?.GetValueOrDefault("current_lsn"),
            ReceiveLsn = wal?.GetValueOrDefault("receive_lsn"),
            ReplayLsn = wal?.GetValueOrDefault("replay_lsn"),
            ReplayDelaySeconds = D(wal?.GetValueOrDefault("replay_delay_seconds")),
            Connections = conns.Count > 0 ? conns.Sum(r => (int)(L(r.GetValueOrDefault("count")) ?? 0)) : null,
            MaxConnections = conns.Count > 0 ? (int?)L(conns[0].GetValueOrDefault("max_connections")) : null,
            LongestTransactionSeconds = Rows("long_transactions").Select(r => D(r.GetValueOrDefault("xact_age_seconds"))).Max(),
            BlockedSessions = results.Any(r => r.Name == "blocking" && r.Status == "ok") ? Rows("blocking").Count() : null,
            MaxXidAge = Rows("xid_age").Select(r => L(r.GetValueOrDefault("xid_age"))).Max(),
            ArchiverFailedCount = L(First("archiver")?.GetValueOrDefault("failed_count")),
            PendingRestart = settingsRows.Count > 0 ? settingsRows.Any(r => r.GetValueOrDefault("pending_restart") == "true") : null,
            Replication = replication,
            Slots = slots,
            LockHeads = SessionRows.LockHeads(Rows("lock_heads")),
            ConnectionUse = SessionRows.Connections(Rows("connection_clients").ToList()),
            XminHolders = SessionRows.XminHolders(Rows("xmin_horizon")),
            Probes = results,
            Queries = results.Count(r => r.Status != "skipped"),
            DbTimeMs = Math.Round(results.Sum(r => r.ElapsedMs), 1),
            Error = error,
        };
    }

    private static long? L(string? s) => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
        : double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && !double.IsNaN(d) ? (long)d : null;

    private static double? D(string? s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
}
