using System.Globalization;

namespace PgRuntimeAgent.Sensing.Postgres;

/// <summary>
/// A head blocker (probe <c>lock_heads</c>): a session others wait on that waits on nobody itself, with the sessions
/// queued behind it. <see cref="Pid"/> 0 is a prepared transaction (pg_blocking_pids names it so); then the session
/// fields are null. <see cref="BackendStart"/> is ISO 8601 as the sensor formats pg_stat_activity.backend_start, the
/// form <c>sql.terminate_backend</c>'s <c>backend_start</c> takes.
/// </summary>
public sealed record LockHead
{
    public int Pid { get; init; }
    public string? BackendStart { get; init; }
    public string? User { get; init; }
    public string? Application { get; init; }

    /// <summary>pg_stat_activity.state: <c>idle in transaction</c> is the classic culprit (a client that forgot to commit).</summary>
    public string? State { get; init; }

    public string? BackendType { get; init; }
    public double? TransactionAgeSeconds { get; init; }
    public double? StateAgeSeconds { get; init; }

    /// <summary>Sessions waiting behind it, directly and transitively.</summary>
    public int Waiters { get; init; }

    /// <summary>Sessions waiting on it directly (a row lock queues later writers behind the first waiter's tuple lock).</summary>
    public int DirectWaiters { get; init; }

    public double? LongestWaitSeconds { get; init; }

    /// <summary>Its last query, cut to 200 characters, literals masked.</summary>
    public string? Query { get; init; }
}

/// <summary>Client sessions of one state, user or application (probe <c>connection_clients</c>).</summary>
public sealed record ConnectionGroup(string Name, int Count, int IdleInTransaction);

/// <summary>
/// Client sessions against the limit (probe <c>connection_clients</c>): max_connections minus
/// superuser_reserved_connections is what non-superusers may open; at that point the next login is refused (53300).
/// </summary>
public sealed record ConnectionUse
{
    /// <summary>Client backends (walsenders and background workers have their own slots).</summary>
    public int Used { get; init; }

    public int MaxConnections { get; init; }
    public int Reserved { get; init; }
    public int IdleInTransaction { get; init; }

    /// <summary>By state, largest first (every state: there are few).</summary>
    public IReadOnlyList<ConnectionGroup> ByState { get; init; } = [];

    /// <summary>By user, the top 10.</summary>
    public IReadOnlyList<ConnectionGroup> ByUser { get; init; } = [];

    /// <summary>By application_name, the top 10.</summary>
    public IReadOnlyList<ConnectionGroup> ByApplication { get; init; } = [];

    /// <summary>Used over what non-superusers may open (max_connections - superuser_reserved_connections).</summary>
    public double Ratio => MaxConnections - Reserved > 0 ? (double)Used / (MaxConnections - Reserved) : 0;
}

/// <summary>What one xmin holder is (probe <c>xmin_horizon</c>).</summary>
public static class XminHolderKinds
{
    /// <summary>A client session's open transaction (backend_xmin or backend_xid).</summary>
    public const string Backend = "backend";

    /// <summary>A prepared transaction (pg_prepared_xacts): it survives restarts and holds locks until COMMIT/ROLLBACK PREPARED.</summary>
    public const string Prepared = "prepared";

    /// <summary>A replication slot's xmin or catalog_xmin.</summary>
    public const string Slot = "slot";

    /// <summary>A replica's hot_standby_feedback xmin (pg_stat_replication.backend_xmin).</summary>
    public const string Replica = "replica";
}

/// <summary>One thing that holds the xmin horizon back (probe <c>xmin_horizon</c>); fields not of its kind are null.</summary>
public sealed record XminHolder
{
    /// <summary><see cref="XminHolderKinds"/>.</summary>
    public required string Kind { get; init; }

    public int? Pid { get; init; }
    public string? BackendStart { get; init; }
    public string? User { get; init; }
    public string? Application { get; init; }

    /// <summary>Session state (backend), slot activity (<c>active</c>/<c>inactive</c>), replica's replication state.</summary>
    public string? State { get; init; }

    public string? Gid { get; init; }
    public string? Slot { get; init; }

    /// <summary>Transactions since its xmin (age()).</summary>
    public long? XminAge { get; init; }

    /// <summary>Seconds since its transaction started (backend) or was prepared; null for slots and replicas.</summary>
    public double? AgeSeconds { get; init; }

    public double? StateAgeSeconds { get; init; }
    public string? Query { get; init; }
}

/// <summary>Typed views of the session probes' rows (strings, invariant culture). Pure.</summary>
internal static class SessionRows
{
    public static IReadOnlyList<LockHead> LockHeads(IEnumerable<IReadOnlyDictionary<string, string?>> rows) =>
        rows.Select(r => new LockHead
        {
            Pid = (int)(L(r, "pid") ?? 0),
            BackendStart = r.GetValueOrDefault("backend_start"),
            User = r.GetValueOrDefault("usename"),
            Application = r.GetValueOrDefault("application_name"),
            State = r.GetValueOrDefault("state"),
            BackendType = r.GetValueOrDefault("backend_type"),
            TransactionAgeSeconds = D(r, "xact_age_seconds"),
            StateAgeSeconds = D(r, "state_age_seconds"),
            Waiters = (int)(L(r, "waiters") ?? 0),
            DirectWaiters = (int)(L(r, "direct_waiters") ?? 0),
            LongestWaitSeconds = D(r, "longest_wait_seconds"),
            Query = r.GetValueOrDefault("query"),
        }).ToList();

    /// <summary>Null when the probe gave no row (it always gives the caller's own session when it ran).</summary>
    public static ConnectionUse? Connections(IReadOnlyList<IReadOnlyDictionary<string, string?>> rows)
    {
        if (rows.Count == 0)
        {
            return null;
        }

        List<ConnectionGroup> Of(string dimension) => rows
            .Where(r => r.GetValueOrDefault("dimension") == dimension)
            .Select(r => new ConnectionGroup(r.GetValueOrDefault("name") ?? "", (int)(L(r, "count") ?? 0), (int)(L(r, "idle_in_transaction") ?? 0)))
            .OrderByDescending(g => g.Count).ThenBy(g => g.Name, StringComparer.Ordinal)
            .ToList();

        var byState = Of("state");
        return new ConnectionUse
        {
            Used = byState.Sum(g => g.Count),
            MaxConnections = (int)(L(rows[0], "max_connections") ?? 0),
            Reserved = (int)(L(rows[0], "reserved") ?? 0),
            IdleInTransaction = byState.Sum(g => g.IdleInTransaction),
            ByState = byState,
            ByUser = Of("user"),
            ByApplication = Of("application"),
        };
    }

    public static IReadOnlyList<XminHolder> XminHolders(IEnumerable<IReadOnlyDictionary<string, string?>> rows) =>
        rows.Where(r => r.GetValueOrDefault("kind") is { Length: > 0 }).Select(r => new XminHolder
        {
            Kind = r.GetValueOrDefault("kind")!,
            Pid = (int?)L(r, "pid"),
            BackendStart = r.GetValueOrDefault("backend_start"),
            User = r.GetValueOrDefault("usename"),
            Application = r.GetValueOrDefault("application_name"),
            State = r.GetValueOrDefault("state"),
            Gid = r.GetValueOrDefault("gid"),
            Slot = r.GetValueOrDefault("slot_name"),
            XminAge = L(r, "xmin_age"),
            AgeSeconds = D(r, "age_seconds"),
            StateAgeSeconds = D(r, "state_age_seconds"),
            Query = r.GetValueOrDefault("query"),
        }).ToList();

    private static long? L(IReadOnlyDictionary<string, string?> r, string name) =>
        r.GetValueOrDefault(name) is { } s && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? (long)d : null;

    private static double? D(IReadOnlyDictionary<string, string?> r, string name) =>
        r.GetValueOrDefault(name) is { } s && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : null;
}
