namespace PgRuntimeAgent.Sensing.Logs;

/// <summary>Severity normalised across PostgreSQL (DEBUG..PANIC), Patroni (Python levels) and pgBackRest.</summary>
public enum LogSeverity
{
    Unknown,
    Debug,
    Info,
    Notice,
    Log,
    Warning,
    Error,
    Fatal,
    Panic,
}

/// <summary>One log entry, the same shape whatever backend it came from.</summary>
/// <param name="Source">postgres, patroni, pgbackrest or other.</param>
/// <param name="SqlState">SQLSTATE when the log carries it (csvlog) or the message is a well-known one (inferred).</param>
public sealed record LogEntry(DateTimeOffset Time, string? Member, string Source, LogSeverity Severity, string? SqlState, string Message);

/// <summary>What to read: a cluster's (or some members') logs in a time window, optionally filtered by text.</summary>
public sealed record LogQuery
{
    public required string Cluster { get; init; }

    /// <summary>Members to read; empty: all members of the cluster.</summary>
    public IReadOnlyList<string> Members { get; init; } = [];

    public required DateTimeOffset Since { get; init; }
    public required DateTimeOffset Until { get; init; }

    /// <summary>Plain text every returned message contains (case-insensitive for files; backend semantics otherwise).</summary>
    public string? Grep { get; init; }

    public int Limit { get; init; } = 500;
}

/// <summary>The entries found (newest first) and whether the limit cut the list.</summary>
public sealed record LogQueryResult(IReadOnlyList<LogEntry> Entries, bool Truncated, IReadOnlyList<string> Warnings);

/// <summary>A log backend: Loki, VictoriaLogs or log files read directly.</summary>
public interface ILogSource
{
    /// <summary>loki, victorialogs or files.</summary>
    string Kind { get; }

    Task<LogQueryResult> QueryAsync(LogQuery query, CancellationToken cancellationToken);
}

internal static class LogSeverities
{
    public static LogSeverity Parse(string? level) => level?.Trim().ToUpperInvariant() switch
    {
        "DEBUG" or "DEBUG1" or "DEBUG2" or "DEBUG3" or "DEBUG4" or "DEBUG5" or "TRACE" => LogSeverity.Debug,
        "INFO" or "INFORMATION" => LogSeverity.Info,
        "NOTICE" => LogSeverity.Notice,
        "LOG" => LogSeverity.Log,
        "WARNING" or "WARN" => LogSeverity.Warning,
        "ERROR" or "ERR" => LogSeverity.Error,
        "FATAL" or "CRITICAL" or "CRIT" => LogSeverity.Fatal,
        "PANIC" => LogSeverity.Panic,
        _ => LogSeverity.Unknown,
    };

    public static string SourceOf(string? job) => job?.ToLowerInvariant() switch
    {
        null or "" => "other",
        var j when j.Contains("patroni", StringComparison.Ordinal) => "patroni",
        var j when j.Contains("pgbackrest", StringComparison.Ordinal) => "pgbackrest",
        var j when j.Contains("postgres", StringComparison.Ordinal) || j == "pgsql" || j.StartsWith("pg", StringComparison.Ordinal) => "postgres",
        _ => "other",
    };

    /// <summary>Orders newest first, prefers the worst entries when cutting to the limit, then restores time order.</summary>
    public static (IReadOnlyList<LogEntry> Entries, bool Truncated) Bound(IEnumerable<LogEntry> entries, int limit)
    {
        var all = entries.OrderByDescending(e => e.Time).ToList();
        if (limit <= 0 || all.Count <= limit)
        {
            return (all, false);
        }

        return (all.Take(limit).ToList(), true);
    }
}
