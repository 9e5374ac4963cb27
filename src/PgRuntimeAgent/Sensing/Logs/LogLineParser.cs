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
    // ASCII digits only ([0-9], not \d: \d also matches Arabic-Indic and other digits, which no date parser reads).
    [GeneratedRegex(@"^(?<ts>[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?)(?:\s*(?<tz>[A-Z]{2,5}|[+-][0-9]{2}(?::?[0-9]{2})?))?\s+\[(?<pid>[0-9]+)\](?<rest>.*?)\s(?<level>DEBUG\d?|INFO|NOTICE|WARNING|ERROR|LOG|FATAL|PANIC|DETAIL|HINT|STATEMENT|CONTEXT|QUERY|LOCATION):\s\s?(?<msg>.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex PostgresLine();

    // 2026-11-22 17:54:40,372 INFO: message
    [GeneratedRegex(@"^(?<ts>[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}),(?<ms>[0-9]{3})\s+(?<level>DEBUG|INFO|WARNING|ERROR|CRITICAL|FATAL):\s(?<msg>.*)$", RegexOptions.CultureInvariant)]
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

        void Fold(string line)
        {
            if (current is not null)
            {
                (extra ??= new StringBuilder()).Append('\n').Append(line.Trim());
            }
        }

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

                if (!TryParseTime(pg.Groups["ts"].Value, pg.Groups["tz"].Value, zone, out var time))
                {
                    // Shaped like an entry, but no real time (February 30th, an offset past 14 h): a continuation.
                    Fold(line);
                    continue;
                }

                Flush();
                var prefixState = SqlStateInPrefix().Match(pg.Groups["rest"].Value);
                var severity = LogSeverities.Parse(level);
                var state = prefixState.Success ? prefixState.Groups["state"].Value
                    : severity >= LogSeverity.Warning ? InferSqlState(msg) : null;
                current = new LogEntry(time, member, "postgres", severity, state, msg);
                continue;
            }

            var pt = PatroniLine().Match(line);
            if (pt.Success && TryParseTime($"{pt.Groups["ts"].Value}.{pt.Groups["ms"].Value}", "", zone, out var patroniTime))
            {
                Flush();
                current = new LogEntry(patroniTime, member, "patroni", LogSeverities.Parse(pt.Groups["level"].Value), null, pt.Groups["msg"].Value);
                continue;
            }

            // Continuation: tab-indented detail, a traceback, or tool output between entries.
            Fold(line);
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

    /// <summary>
    /// A log timestamp ("2026-11-22 17:54:45.154", 'T' allowed, up to 7 fraction digits kept) in a zone: UTC/GMT/Z, an
    /// offset (+08, -05:30; at most 14 h), else <paramref name="zone"/>. False for what is no real time: a date or hour
    /// that does not exist, an offset past 14 h, or a time that leaves year 1-9999 once shifted to UTC.
    /// </summary>
    private static bool TryParseTime(string ts, string tz, TimeZoneInfo zone, out DateTimeOffset time)
    {
        time = default;
        var text = ts.Replace('T', ' ');
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        if (dot >= 0 && text.Length - dot - 1 > 7)
        {
            text = text[..(dot + 8)]; // finer than a tick (nanoseconds and beyond): cut, not refused
        }

        if (!DateTime.TryParseExact(text, ["yyyy-MM-dd HH:mm:ss.FFFFFFF", "yyyy-MM-dd HH:mm:ss"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
        {
            return false;
        }

        TimeSpan offset;
        if (tz is "UTC" or "GMT" or "Z")
        {
            offset = TimeSpan.Zero;
        }
        else if (tz.Length > 0 && (tz[0] == '+' || tz[0] == '-'))
        {
            var digits = tz[1..].Replace(":", "", StringComparison.Ordinal);
            if (digits.Length < 2
                || !int.TryParse(digits.AsSpan(0, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var hours)
                || !int.TryParse(digits.Length >= 4 ? digits.AsSpan(2, 2) : "0", NumberStyles.None, CultureInfo.InvariantCulture, out var minutes))
            {
                return false;
            }

            offset = new TimeSpan(hours, minutes, 0);
            offset = tz[0] == '-' ? -offset : offset;
        }
        else
        {
            offset = zone.GetUtcOffset(local);
        }

        var utcTicks = local.Ticks - offset.Ticks;
        if (offset.Duration() > TimeSpan.FromHours(14) || utcTicks < DateTime.MinValue.Ticks || utcTicks > DateTime.MaxValue.Ticks)
        {
            return false;
        }

        time = new DateTimeOffset(local, offset);
        return true;
    }

    private static bool TryParseCsvTime(string text, out DateTimeOffset time)
    {
        // "2026-11-22 17:54:45.154 UTC" or "... +08"
        time = default;
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && TryParseTime($"{parts[0]} {parts[1]}", parts.Length > 2 ? parts[2] : "UTC", TimeZoneInfo.Utc, out time);
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
