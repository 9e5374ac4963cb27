using System.Text.Json;

namespace PgRuntimeAgent.Sensing.Backup;

/// <summary>One backup in the repository.</summary>
public sealed record BackupSet
{
    public required string Label { get; init; }

    /// <summary>full, diff or incr.</summary>
    public required string Type { get; init; }

    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? StoppedAt { get; init; }
    public long? SizeBytes { get; init; }
    public long? DeltaBytes { get; init; }
    public long? RepoSizeBytes { get; init; }
    public long? RepoDeltaBytes { get; init; }
    public string? WalStart { get; init; }
    public string? WalStop { get; init; }
    public string? LsnStart { get; init; }
    public string? LsnStop { get; init; }
    public string? Prior { get; init; }
    public bool Error { get; init; }
}

/// <summary>One repository's status for the stanza.</summary>
public sealed record BackupRepoStatus(int Key, int? Code, string? Message, string? Cipher);

/// <summary>A stanza as <c>pgbackrest info --output=json</c> describes it.</summary>
public sealed record PgBackRestStanza
{
    public required string Name { get; init; }

    /// <summary>0 ok, 1 missing stanza path, 2 no valid backups, 3 missing stanza data, 4 different cipher,
    /// 5 database mismatch, 6 backup/expire running, 99 other.</summary>
    public int? StatusCode { get; init; }

    public string? StatusMessage { get; init; }
    public bool BackupLockHeld { get; init; }
    public IReadOnlyList<BackupSet> Backups { get; init; } = [];
    public string? ArchiveMin { get; init; }
    public string? ArchiveMax { get; init; }
    public IReadOnlyList<BackupRepoStatus> Repos { get; init; } = [];
    public string? DbVersion { get; init; }
    public string? SystemId { get; init; }
    public string? Cipher { get; init; }

    public BackupSet? LastOf(string type) => Backups.Where(b => b.Type == type && !b.Error).MaxBy(b => b.StoppedAt ?? b.StartedAt);

    public BackupSet? Last => Backups.Where(b => !b.Error).MaxBy(b => b.StoppedAt ?? b.StartedAt);
}

/// <summary>Parses <c>pgbackrest info --output=json</c> (format 5, pgBackRest 2.x).</summary>
public static class PgBackRestInfoParser
{
    public static IReadOnlyList<PgBackRestStanza> Parse(string json, string endpoint)
    {
        using var doc = JsonRead.Parse(json, endpoint);
        if (doc.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw new SensorResponseException(endpoint, $"expected a JSON array of stanzas; got: {JsonRead.Excerpt(json)}");
        }

        var list = new List<PgBackRestStanza>();
        foreach (var s in doc.RootElement.EnumerateArray())
        {
            var name = s.Str("name") ?? throw new SensorResponseException(endpoint, "a stanza has no name");
            var status = s.Prop("status");
            var backups = new List<BackupSet>();
            if (s.Prop("backup") is { ValueKind: JsonValueKind.Array } bs)
            {
                foreach (var b in bs.EnumerateArray())
                {
                    var ts = b.Prop("timestamp");
                    var info = b.Prop("info");
                    var repo = info?.Prop("repository");
                    var archive = b.Prop("archive");
                    var lsn = b.Prop("lsn");
                    backups.Add(new BackupSet
                    {
                        Label = b.Str("label") ?? throw new SensorResponseException(endpoint, $"stanza {name}: a backup has no label"),
                        Type = b.Str("type") ?? "unknown",
                        StartedAt = ts?.UnixSeconds("start"),
                        StoppedAt = ts?.UnixSeconds("stop"),
                        SizeBytes = info?.Long("size"),
                        DeltaBytes = info?.Long("delta"),
                        RepoSizeBytes = repo?.Long("size"),
                        RepoDeltaBytes = repo?.Long("delta"),
                        WalStart = archive?.Str("start"),
                        WalStop = archive?.Str("stop"),
                        LsnStart = lsn?.Str("start"),
                        LsnStop = lsn?.Str("stop"),
                        Prior = b.Str("prior"),
                        Error = b.Bool("error") ?? false,
                    });
                }
            }

            string? min = null, max = null;
            if (s.Prop("archive") is { ValueKind: JsonValueKind.Array } archives)
            {
                // The current database's archive (highest db id) is the one that matters.
                var current = archives.EnumerateArray().OrderByDescending(a => a.Prop("database")?.Long("id") ?? 0).FirstOrDefault();
                if (current.ValueKind == JsonValueKind.Object)
                {
                    min = current.Str("min");
                    max = current.Str("max");
                }
            }

            var repos = new List<BackupRepoStatus>();
            if (s.Prop("repo") is { ValueKind: JsonValueKind.Array } rs)
            {
                repos.AddRange(rs.EnumerateArray().Select(r => new BackupRepoStatus(
                    (int)(r.Long("key") ?? 0), (int?)r.Prop("status")?.Long("code"), r.Prop("status")?.Str("message"), r.Str("cipher"))));
            }

            var db = s.Prop("db") is { ValueKind: JsonValueKind.Array } dbs
                ? dbs.EnumerateArray().OrderByDescending(d => d.Long("id") ?? 0).FirstOrDefault()
                : default;
            list.Add(new PgBackRestStanza
            {
                Name = name,
                StatusCode = (int?)status?.Long("code"),
                StatusMessage = status?.Str("message"),
                BackupLockHeld = status?.Prop("lock")?.Prop("backup")?.Bool("held") ?? false,
                Backups = backups,
                ArchiveMin = min,
                ArchiveMax = max,
                Repos = repos,
                DbVersion = db.ValueKind == JsonValueKind.Object ? db.Str("version") : null,
                SystemId = db.ValueKind == JsonValueKind.Object ? db.Str("system-id") : null,
                Cipher = s.Str("cipher"),
            });
        }

        return list;
    }
}
