using System.Text.Json.Nodes;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Backup;

namespace PgRuntimeAgent.Reads;

/// <summary><c>backup.info</c>: <c>pgbackrest info</c> of the cluster's stanza, with its newest backups.</summary>
internal sealed class BackupInfoRead : IRead
{
    public const int MaxBackups = 100;

    public ReadDescriptor Descriptor { get; } = new()
    {
        Name = "backup.info",
        Summary = "pgBackRest's view of the cluster's stanza ('pgbackrest info --output=json', run as the backup sensor runs it): status, WAL archive range, repositories and the newest backups with their type, times, sizes and WAL/LSN ranges.",
        Source = ReadSource.Backup,
        Member = MemberUse.None,
        Parameters =
        [
            new ParameterSpec("limit", ParameterType.Integer, "Most backups listed (the newest).")
            {
                Default = "20",
                Minimum = 1,
                Maximum = MaxBackups,
            },
        ],
        Bound = $"one stanza; at most {MaxBackups} backups (default 20), newest first",
    };

    public async Task<JsonNode> ReadAsync(ReadContext context, ReadRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var limit = (int)request.Integer("limit")!.Value;
        var (outcome, stanzaName, endpoint) = await context.GetBackupInfoAsync(context.Cluster(request.Cluster), cancellationToken).ConfigureAwait(false);
        if (outcome.Value is not { } stanzas)
        {
            return ReadResults.Failed(outcome.Reason ?? $"{endpoint}: no answer");
        }

        if (stanzas.FirstOrDefault(s => string.Equals(s.Name, stanzaName, StringComparison.Ordinal)) is not { } stanza)
        {
            return ReadResults.Failed($"{endpoint}: stanza {stanzaName} is not in the output (stanzas: {string.Join(", ", stanzas.Select(s => s.Name))})");
        }

        var newest = stanza.Backups.OrderByDescending(b => b.StoppedAt ?? b.StartedAt).ToList();
        var (backups, truncated) = ReadResults.Take(newest, limit);
        var summary = BackupSensor.Summarise(stanza, endpoint, context.Time.GetUtcNow());
        return new JsonObject
        {
            ["stanza"] = stanza.Name,
            ["command"] = endpoint,
            ["status_code"] = stanza.StatusCode,
            ["status_message"] = stanza.StatusMessage,
            ["backup_running"] = summary.BackupRunning,
            ["last_backup_age_seconds"] = summary.LastBackupAgeSeconds,
            ["archive_min"] = stanza.ArchiveMin,
            ["archive_max"] = stanza.ArchiveMax,
            ["db_version"] = stanza.DbVersion,
            ["system_id"] = stanza.SystemId,
            ["cipher"] = stanza.Cipher,
            ["repos"] = ReadResults.ToNode(stanza.Repos),
            ["limit"] = limit,
            ["backup_count"] = stanza.Backups.Count,
            ["truncated"] = truncated,
            ["backups"] = ReadResults.ToNode(backups),
        };
    }
}
