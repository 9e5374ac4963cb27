using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Sensing.Logs;

/// <summary>
/// Parses PostgreSQL stderr lines (Pigsty's and Debian's <c>%m [%p] </c> prefixes, optionally with user@db and
/// SQLSTATE), PostgreSQL csvlog records and Patroni lines into <see cref="LogEntry"/>. Continuation lines (DETAIL,
/// STATEMENT, tab-indented text, tracebacks) are folded into the entry they belong to.
/// </summary>
public static partial class LogLineParser
{
    // 2026-11-22 17:54:45.154 UTC [12921] LOG:  message      (also with +08 / CST zones and extra prefix fields)
    [GeneratedRegex(@"^(?<ts>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?)(?:\s*(?<tz>[A-Z]{2,5}|[+-]\d{2}(?::?\d{2})?))?\s+\[(?<pid>\d+)\](?<rest>.*?)\s(?<level>DEBUG\d?|INFO|NOTICE|WARNING|ERROR|LOG|FATAL|PANIC|DETAIL|HINT|STATEMENT|CONTEXT|QUERY|LOCATION):\s\s?(?<msg>.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex PostgresLine();

    // 2026-11-22 17:54:40,372 INFO: message
    [GeneratedRegex(@"^(?<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(?<ms>\d{3})\s+(?<level>DEBUG|INFO|WARNING|ERROR|CRITICAL|FATAL):\s(?<msg>.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex PatroniLine();

    // A 5-character SQLSTATE in the prefix, e.g. "[12921] 57P01 FATAL:" or "... app=x,57P01 ERROR:".
    [GeneratedRegex(@"(?:^|[\s,\[:=])(?<state>[0-9A-Z]{5})(?:[\s\],]|$)", RegexOptions.CultureInvariant)]
    private static partial Regex SqlStateInPrefix();

    private static readonly string[] Continuations = ["DETAIL", "HINT", "STATEMENT", "CONTEXT", "QUERY", "LOCATION"];

    /// <summary>Well-known messages whose SQLSTATE is fixed, used when the log line does not carry one.</summary>
    private static readonly (string Prefix, string State)[] KnownMessages =
    [
        ("cannot execute ", "25006"), // read_only_sql_transaction ("... in a read-only transaction")
        ("terminating connection due to administrator command", "57P01"),
        ("the database system is starting up", "57P03"),
        ("the database system is shutting down", "57P03"),
        ("the database system is in recovery mode", "57P03"),
        ("the database system is not yet accepting connections", "57P03"),
        ("sorry, too many clients already", "53300"),
        ("remaining connection slots are reserved", "53300"),
        ("password authentication failed", "28P01"),
        ("no pg_hba.conf entry", "28000"),
        ("deadlock detected", "40P01"),
        ("canceling statement due to statement timeout", "57014"),
        ("canceling statement due to lock timeout", "55P03"),
        ("canceling statement due to conflict with recovery", "40001"),
        ("terminating connection due to conflict with recovery", "40001"),
        ("could not extend file", "53100"),
        ("No space left on device", "53100"),
        ("could not write to file", "58030"),
        ("duplicate key value violates unique constraint", "23505"),
        ("terminating connection because of crash of another server process", "57P02"),
        ("terminating connection due to idle-in-transaction timeout", "25P03"),
        ("database is not accepting commands to avoid wraparound", "54000"),
    ];

    public static string? InferSqlState(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        foreach (var (prefix, state) in KnownMessages)
        {
            if (message.Contains(prefix, StringComparison.OrdinalIgnoreCase))
            {
                return prefix == "cannot execute " && !message.Contains("read-only transaction", StringComparison.Ordinal) ? null : state;
            }
        }

        return null;
    }

    /// <summary>Parses a text log (PostgreSQL stderr, Patroni, or both interleaved) into entries in file order.</summary>
    public static IReadOnlyList<LogEntry> ParseText(IEnumerable<string> lines, string? member, TimeZoneInfo? localZone = null)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var zone = localZone ?? TimeZoneInfo.Utc;
        var entries = new List<LogEntry>();
        LogEntry? current = null;
        StringBuilder? extra = null;

        void Flush()
        {
            if (current is not null)
            {
                entries.Add(extra is { Length: > 0 } ? current with { Message = current.Message + extra } : current);
            }

            current = null;
            extra = null;
        }

        foreach (var raw in lines)
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                continue;
            }

            var pg = PostgresLine().Match(line);
            if (pg.Success)
            {
                var level = pg.Groups["level"].Value;
                var msg = pg.Groups["msg"].Value;
                if (Array.IndexOf(Continuations, level) >= 0 && current is not null && current.Source == "postgres")
                {
                    (extra ??= new StringBuilder()).Append('\n').Append(level).Append(": ").Append(msg);
                    continue;
                }

                Flush();
                var time = ParseTime(pg.Groups["ts"].Value, pg.Groups["tz"].Value, zone);
                var prefixState = SqlStateInPrefix().Match(pg.Groups["rest"].Value);
                var severity = LogSeverities.Parse(level);
                var state = prefixState.Success ? prefixState.Groups["state"].Value
                    : severity >= LogSeverity.Warning ? InferSqlState(msg) : null;
                current = new LogEntry(time, member, "postgres", severity, state, msg);
                continue;
            }

            var pt = PatroniLine().Match(line);
            if (pt.Success)
            {
                Flush();
                var time = ParseTime($"{pt.Groups["ts"].Value}.{pt.Groups["ms"].Value}", "", zone);
                current = new LogEntry(time, member, "patroni", LogSeverities.Parse(pt.Groups["level"].Value), null, pt.Groups["msg"].Value);
                continue;
            }

            // Continuation: tab-indented detail, a traceback, or tool output between entries.
            if (current is not null)
            {
                (extra ??= new StringBuilder()).Append('\n').Append(line.Trim());
            }
        }

        Flush();
        return entries;
    }

    /// <summary>
    /// Parses PostgreSQL csvlog text (log_time, user, db, pid, conn, session, line, tag, session start, vxid, xid,
    /// severity, sqlstate, message, detail, hint, ...). Quoted fields may span lines.
    /// </summary>
    public static IReadOnlyList<LogEntry> ParseCsv(string text, string? member)
    {
        ArgumentNullException.ThrowIfNull(text);
        var entries = new List<LogEntry>();
        foreach (var record in CsvRecords(text))
        {
            if (record.Count < 14)
            {
                continue;
            }

            if (!TryParseCsvTime(record[0], out var time))
            {
                continue;
            }

            var message = record[13];
            if (record.Count > 14 && record[14].Length > 0)
            {
                message += "\nDETAIL: " + record[14];
            }

            if (record.Count > 15 && record[15].Length > 0)
            {
                message += "\nHINT: " + record[15];
            }

            var state = record[12].Length == 5 ? record[12] : null;
            if (state == "00000")
            {
                state = null;
            }

            entries.Add(new LogEntry(time, member, "postgres", LogSeverities.Parse(record[11]), state, message));
        }

        return entries;
    }

    /// <summary>Parses one line as a whole entry (Loki/VictoriaLogs lines); falls back to the raw line.</summary>
    public static LogEntry ParseSingle(string line, DateTimeOffset time, string? member, string source, string? level)
    {
        ArgumentNullException.ThrowIfNull(line);
        var parsed = ParseText([line], member);
        if (parsed.Count == 1)
        {
            var p = parsed[0];
            return p with
            {
                Time = time,
                Source = source == "other" ? p.Source : source,
                Severity = p.Severity == LogSeverity.Unknown ? LogSeverities.Parse(level) : p.Severity,
            };
        }

        var severity = LogSeverities.Parse(level);
        return new LogEntry(time, member, source, severity, severity >= LogSeverity.Warning ? InferSqlState(line) : null, line);
    }

    private static DateTimeOffset ParseTime(string ts, string tz, TimeZoneInfo zone)
    {
        var local = DateTime.ParseExact(ts.Replace('T', ' '), ["yyyy-MM-dd HH:mm:ss.FFFFFFF", "yyyy-MM-dd HH:mm:ss"], CultureInfo.InvariantCulture, DateTimeStyles.None);
        if (tz is "UTC" or "GMT" or "Z")
        {
            return new DateTimeOffset(local, TimeSpan.Zero);
        }

        if (tz.Length > 0 && (tz[0] == '+' || tz[0] == '-'))
        {
            var digits = tz[1..].Replace(":", "", StringComparison.Ordinal);
            var hours = int.Parse(digits[..2], CultureInfo.InvariantCulture);
            var minutes = digits.Length >= 4 ? int.Parse(digits[2..4], CultureInfo.InvariantCulture) : 0;
            var offset = new TimeSpan(hours, minutes, 0);
            return new DateTimeOffset(local, tz[0] == '-' ? -offset : offset);
        }

        return new DateTimeOffset(local, zone.GetUtcOffset(local));
    }

    private static bool TryParseCsvTime(string text, out DateTimeOffset time)
    {
        // "2026-11-22 17:54:45.154 UTC" or "... +08"
        time = default;
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2)
        {
            return false;
        }

        try
        {
            time = ParseTime($"{parts[0]} {parts[1]}", parts.Length > 2 ? parts[2] : "UTC", TimeZoneInfo.Utc);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static IEnumerable<List<string>> CsvRecords(string text)
    {
        var record = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"')
                    {
                        field.Append('"');
                        i++;
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    field.Append(c);
                }

                continue;
            }

            switch (c)
            {
                case '"':
                    quoted = true;
                    break;
                case ',':
                    record.Add(field.ToString());
                    field.Clear();
                    break;
                case '\n':
                    record.Add(field.ToString());
                    field.Clear();
                    yield return record;
                    record = [];
                    break;
                case '\r':
                    break;
                default:
                    field.Append(c);
                    break;
            }
        }

        if (field.Length > 0 || record.Count > 0)
        {
            record.Add(field.ToString());
            yield return record;
        }
    }
}
