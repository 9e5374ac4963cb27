using System.Globalization;
using Cronos;

namespace PgRuntimeAgent.Inventory;

/// <summary>One scheduled backup: the crontab line, its cron expression and the backup type it runs.</summary>
/// <param name="Origin">Where it came from: <c>file:line</c> of the pg_crontab / node_crontab entry.</param>
public sealed record ScheduledBackup(string Line, string Cron, string Type, string Origin);

/// <summary>
/// When backups are supposed to run: Pigsty's <c>pg_crontab</c> (v4: <c>'00 01 * * * /pg/bin/pg-backup full'</c>) or
/// <c>node_crontab</c> (v3, with a user field) lines that run <c>pg-backup</c> or <c>pgbackrest backup</c>. Cron times
/// are read in UTC (Pigsty nodes default to UTC).
/// </summary>
public sealed record BackupSchedule(IReadOnlyList<ScheduledBackup> Entries)
{
    public static BackupSchedule None { get; } = new([]);

    public bool IsEmpty => Entries.Count == 0;

    /// <summary>
    /// The most recent scheduled start at or before <paramref name="dueBy"/> (the snapshot time minus the grace), over
    /// every entry; null when nothing was due in the previous 35 days.
    /// </summary>
    public (DateTimeOffset At, ScheduledBackup Entry)? LastDue(DateTimeOffset dueBy)
    {
        (DateTimeOffset, ScheduledBackup)? best = null;
        foreach (var entry in Entries)
        {
            if (!TryParseCron(entry.Cron, out var cron))
            {
                continue;
            }

            DateTimeOffset? last = null;
            foreach (var at in cron!.GetOccurrences(dueBy.AddDays(-35), dueBy, TimeZoneInfo.Utc, fromInclusive: true, toInclusive: true))
            {
                last = at;
            }

            if (last is { } l && (best is null || l > best.Value.Item1))
            {
                best = (l, entry);
            }
        }

        return best;
    }

    public static bool TryParseCron(string text, out CronExpression? cron)
    {
        cron = null;
        try
        {
            cron = CronExpression.Parse(text, CronFormat.Standard);
            return true;
        }
        catch (Exception ex) when (ex is CronFormatException or MissingSeedException)
        {
            return false;
        }
    }

    /// <summary>
    /// Parses crontab lines: five cron fields, an optional user (node_crontab), then the command. Only lines whose
    /// command runs <c>pg-backup</c> or <c>pgbackrest ... backup</c> count.
    /// </summary>
    public static BackupSchedule Parse(IEnumerable<(string Line, string Origin)> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var entries = new List<ScheduledBackup>();
        foreach (var (raw, origin) in lines)
        {
            var parts = raw.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 6)
            {
                continue;
            }

            var cron = string.Join(' ', parts.Take(5));
            var command = parts.Skip(5).ToList();
            if (command.Count > 1 && !command[0].Contains('/', StringComparison.Ordinal) && !command[0].StartsWith("pg", StringComparison.Ordinal))
            {
                command.RemoveAt(0); // node_crontab: the user field
            }

            var text = string.Join(' ', command);
            var isBackup = text.Contains("pg-backup", StringComparison.Ordinal)
                || (text.Contains("pgbackrest", StringComparison.Ordinal) && command.Contains("backup", StringComparer.Ordinal));
            if (!isBackup || !TryParseCron(cron, out _))
            {
                continue;
            }

            var type = command.Select(c => c.TrimStart('-').Replace("type=", "", StringComparison.Ordinal))
                .FirstOrDefault(c => c is "full" or "diff" or "incr") ?? "incr";
            entries.Add(new ScheduledBackup(raw.Trim(), cron, type, origin));
        }

        return new BackupSchedule(entries);
    }

    public string Describe() => IsEmpty
        ? "no backup schedule in the inventory"
        : string.Join("; ", Entries.Select(e => string.Create(CultureInfo.InvariantCulture, $"'{e.Cron}' {e.Type} ({e.Origin})")));
}
