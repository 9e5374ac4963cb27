using System.Text.Json;

namespace PgRuntimeAgent.Lab;

/// <summary>What <c>pgbackrest info --output=json</c> says about the lab's stanza.</summary>
internal sealed record LabBackupInfo(int StatusCode, string StatusMessage, int FullBackups, int Backups, string? Error)
{
    public string Describe() =>
        Error ?? (FullBackups > 0 ? $"stanza ok, {FullBackups} full backup(s), {Backups} in all" : $"stanza: {StatusMessage}, no full backup");

    /// <summary>Parses the JSON array pgBackRest prints for one stanza.</summary>
    public static LabBackupInfo Parse(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var stanza = doc.RootElement.EnumerateArray().FirstOrDefault();
            if (stanza.ValueKind != JsonValueKind.Object)
            {
                return new LabBackupInfo(-1, "no stanza", 0, 0, "pgbackrest info returned no stanza");
            }

            var status = stanza.GetProperty("status");
            var backups = stanza.TryGetProperty("backup", out var b) ? b.EnumerateArray().ToList() : [];
            return new LabBackupInfo(
                status.GetProperty("code").GetInt32(),
                status.TryGetProperty("message", out var m) ? m.GetString() ?? "" : "",
                backups.Count(x => x.TryGetProperty("type", out var t) && t.GetString() == "full" && !(x.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.True)),
                backups.Count,
                null);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            return new LabBackupInfo(-1, "", 0, 0, "cannot read pgbackrest info: " + ex.Message);
        }
    }
}

internal static class LabBackup
{
    public static async Task<LabBackupInfo> InfoAsync(LabManifest manifest, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var result = await LabShell.RunAsync("runuser",
            ["-u", manifest.Pgbackrest.RunAs, "--", "pgbackrest", $"--config={manifest.Pgbackrest.Config}", $"--stanza={manifest.Pgbackrest.Stanza}", "info", "--output=json"],
            TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        return result.Ok
            ? LabBackupInfo.Parse(result.StandardOutput)
            : new LabBackupInfo(-1, "", 0, 0, "pgbackrest info failed: " + result.Tail(3));
    }

    /// <summary>
    /// <c>pgbackrest check</c> against the leader: it switches WAL and waits until the segment is in the repository,
    /// so it fails when archive_command fails (a repository left unwritable, or a segment of a reused timeline id).
    /// </summary>
    public static async Task<ShellResult> CheckArchiveAsync(LabManifest manifest, LabMember leader, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(leader);
        return await LabShell.RunAsync("runuser",
            ["-u", manifest.Pgbackrest.RunAs, "--", "pgbackrest", $"--config={manifest.Pgbackrest.Config}", $"--stanza={manifest.Pgbackrest.Stanza}",
                $"--pg1-path={leader.DataDir}", $"--pg1-socket-path={leader.SocketDir}", $"--pg1-port={leader.Ports.Postgres.ToString(System.Globalization.CultureInfo.InvariantCulture)}",
                "--archive-timeout=20", "check"],
            TimeSpan.FromSeconds(40), cancellationToken).ConfigureAwait(false);
    }
}
