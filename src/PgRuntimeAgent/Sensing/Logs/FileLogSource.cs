using System.Text;
using PgRuntimeAgent.Inventory;

namespace PgRuntimeAgent.Sensing.Logs;

/// <summary>A file as listed by <see cref="IFileAccess"/>.</summary>
public sealed record FileStat(string Path, long Size, DateTimeOffset Modified);

/// <summary>Where log files are read: this machine, or another over SSH.</summary>
public interface IFileAccess
{
    /// <summary>Files matching a path whose last segment may hold * and ? wildcards.</summary>
    Task<IReadOnlyList<FileStat>> ListAsync(string pattern, CancellationToken cancellationToken);

    Task<byte[]> ReadRangeAsync(string path, long offset, int length, CancellationToken cancellationToken);
}

/// <summary>Reads files on this machine.</summary>
public sealed class LocalFileAccess : IFileAccess
{
    public static LocalFileAccess Instance { get; } = new();

    public Task<IReadOnlyList<FileStat>> ListAsync(string pattern, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var dir = Path.GetDirectoryName(pattern);
        var name = Path.GetFileName(pattern);
        if (string.IsNullOrEmpty(dir) || !Directory.Exists(dir))
        {
            return Task.FromResult<IReadOnlyList<FileStat>>([]);
        }

        var files = Directory.EnumerateFiles(dir, name, SearchOption.TopDirectoryOnly)
            .Select(p => new FileInfo(p))
            .Select(f => new FileStat(f.FullName, f.Length, new DateTimeOffset(f.LastWriteTimeUtc, TimeSpan.Zero)))
            .ToList();
        return Task.FromResult<IReadOnlyList<FileStat>>(files);
    }

    public async Task<byte[]> ReadRangeAsync(string path, long offset, int length, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 4096, useAsync: true);
        stream.Seek(offset, SeekOrigin.Begin);
        var buffer = new byte[length];
        var read = 0;
        while (read < length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read, length - read), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }

            read += n;
        }

        return read == length ? buffer : buffer[..read];
    }
}

/// <summary>
/// Log files read directly (locally or over SSH): PostgreSQL stderr (<c>*.log</c>) and csvlog (<c>*.csv</c>) logs
/// and Patroni logs. Tails by time window: only files modified since the window start are read, each from its end
/// backwards until the window start is passed; rotated siblings (patroni.log.1, postgresql-Mon.csv) are included.
/// </summary>
internal sealed class FileLogSource(
    IReadOnlyDictionary<string, MemberLogFiles> configured,
    PgCluster cluster,
    Func<PgMember, MemberLogFiles, IFileAccess> accessFor) : ILogSource
{
    /// <summary>Pigsty's default log locations (pg_log_dir /pg/log/postgres, patroni_log_dir /pg/log/patroni).</summary>
    public static MemberLogFiles PigstyDefaults { get; } = new()
    {
        Postgres = "/pg/log/postgres/*.csv",
        Patroni = "/pg/log/patroni/patroni.log",
        Pgbackrest = null,
    };

    /// <summary>Most bytes read from one file per query.</summary>
    public long MaxBytesPerFile { get; init; } = 16 * 1024 * 1024;

    public TimeZoneInfo Zone { get; init; } = TimeZoneInfo.Local;

    public string Kind => "files";

    public async Task<LogQueryResult> QueryAsync(LogQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var members = query.Members.Count == 0 ? cluster.Members : cluster.Members.Where(m => query.Members.Contains(m.Name, StringComparer.Ordinal)).ToList();
        var warnings = new List<string>();
        var all = new List<LogEntry>();
        var tasks = members.Select(async m =>
        {
            var files = configured.TryGetValue(m.Name, out var f) ? f : PigstyDefaults;
            var access = accessFor(m, files);
            var found = new List<LogEntry>();
            var notes = new List<string>();
            foreach (var pattern in new[] { files.Postgres, files.Patroni, files.Pgbackrest }.OfType<string>().Distinct(StringComparer.Ordinal))
            {
                var (entries, note) = await ReadPatternAsync(access, pattern, m.Name, query, cancellationToken).ConfigureAwait(false);
                found.AddRange(entries);
                if (note is not null)
                {
                    notes.Add($"{m.Name}: {note}");
                }
            }

            return (found, notes);
        });
        foreach (var (found, notes) in await Task.WhenAll(tasks).ConfigureAwait(false))
        {
            all.AddRange(found);
            warnings.AddRange(notes);
        }

        var (bounded, truncated) = LogSeverities.Bound(all, query.Limit);
        return new LogQueryResult(bounded, truncated, warnings);
    }

    private async Task<(List<LogEntry> Entries, string? Note)> ReadPatternAsync(
        IFileAccess access, string pattern, string member, LogQuery query, CancellationToken cancellationToken)
    {
        var files = new List<FileStat>(await access.ListAsync(pattern, cancellationToken).ConfigureAwait(false));
        if (!HasWildcard(pattern))
        {
            // Rotated siblings: patroni.log.1, postgresql.log-20261122...
            foreach (var suffix in new[] { ".*", "-*" })
            {
                files.AddRange(await access.ListAsync(pattern + suffix, cancellationToken).ConfigureAwait(false));
            }
        }

        files = files.DistinctBy(f => f.Path).ToList();
        if (files.Count == 0)
        {
            return ([], $"no file matches {pattern}");
        }

        var entries = new List<LogEntry>();
        // Newest first; a file last written before the window holds nothing in it.
        foreach (var file in files.Where(f => f.Modified >= query.Since).OrderByDescending(f => f.Modified))
        {
            var (fileEntries, reachedWindowStart) = await TailAsync(access, file, member, query, cancellationToken).ConfigureAwait(false);
            entries.AddRange(fileEntries);
            if (reachedWindowStart)
            {
                break;
            }
        }

        return (entries, null);
    }

    private async Task<(List<LogEntry> Entries, bool ReachedWindowStart)> TailAsync(
        IFileAccess access, FileStat file, string member, LogQuery query, CancellationToken cancellationToken)
    {
        var csv = file.Path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase);
        long chunk = 64 * 1024;
        while (true)
        {
            var length = Math.Min(Math.Min(chunk, file.Size), MaxBytesPerFile);
            var offset = file.Size - length;
            var bytes = await access.ReadRangeAsync(file.Path, offset, (int)length, cancellationToken).ConfigureAwait(false);
            var text = Encoding.UTF8.GetString(bytes);
            if (offset > 0)
            {
                // Drop the partial first line.
                var nl = text.IndexOf('\n', StringComparison.Ordinal);
                text = nl >= 0 ? text[(nl + 1)..] : "";
            }

            var parsed = csv ? LogLineParser.ParseCsv(text, member) : LogLineParser.ParseText(text.Split('\n'), member, Zone);
            var startsBeforeWindow = parsed.Count > 0 && parsed[0].Time < query.Since;
            if (startsBeforeWindow || offset == 0 || length >= MaxBytesPerFile)
            {
                var inWindow = parsed.Where(e => e.Time >= query.Since && e.Time <= query.Until)
                    .Where(e => string.IsNullOrEmpty(query.Grep) || e.Message.Contains(query.Grep, StringComparison.OrdinalIgnoreCase))
                    .ToList();
                return (inWindow, startsBeforeWindow || length >= MaxBytesPerFile);
            }

            chunk *= 4;
        }
    }

    private static bool HasWildcard(string pattern) => pattern.AsSpan().IndexOfAny('*', '?') >= 0;
}
