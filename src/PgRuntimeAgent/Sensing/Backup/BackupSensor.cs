using CliWrap;
using CliWrap.Buffered;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing.Host;
using PgRuntimeAgent.Transport;

namespace PgRuntimeAgent.Sensing.Backup;

/// <summary>A short summary of one backup for the snapshot.</summary>
public sealed record BackupSummary(string Label, string Type, DateTimeOffset? StoppedAt, long? SizeBytes, long? RepoSizeBytes);

/// <summary>The backup sensor's result: the stanza, the latest backups and their age at snapshot time.</summary>
public sealed record BackupObservation
{
    public required string Stanza { get; init; }

    /// <summary>How pgbackrest was run (command line, local or over SSH), for the operator; never holds secrets.</summary>
    public string? Command { get; init; }

    public int? StatusCode { get; init; }
    public string? StatusMessage { get; init; }
    public bool BackupRunning { get; init; }
    public BackupSummary? LastFull { get; init; }
    public BackupSummary? LastDiff { get; init; }
    public BackupSummary? LastIncr { get; init; }

    /// <summary>Seconds between the newest good backup's end and the snapshot; null when there is none.</summary>
    public double? LastBackupAgeSeconds { get; init; }

    public int BackupCount { get; init; }
    public string? ArchiveMin { get; init; }
    public string? ArchiveMax { get; init; }
    public IReadOnlyList<BackupRepoStatus> Repos { get; init; } = [];
    public string? DbVersion { get; init; }
}

/// <summary>Runs a command locally (CliWrap), optionally as another OS user through runuser.</summary>
internal sealed class LocalCommandRunner : ICommandRunner
{
    public async Task<ShellResult> RunAsync(string host, string command, CancellationToken cancellationToken)
    {
        var result = await Cli.Wrap("/bin/sh").WithArguments(["-c", command])
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(cancellationToken).ConfigureAwait(false);
        return new ShellResult(result.ExitCode, result.StandardOutput, result.StandardError);
    }
}

/// <summary>
/// <c>pgbackrest --stanza=&lt;cls&gt; [--config X] info --output=json</c>, run locally (as <c>run_as</c> through
/// runuser when the agent runs as root) or on the repository host over SSH.
/// </summary>
internal sealed class BackupSensor(PgBackRestSettings settings, ICommandRunner local, ICommandRunner? ssh, TimeProvider time, TimeSpan timeout)
{
    public string CommandFor(string stanza)
    {
        var args = new List<string> { settings.Command, $"--stanza={stanza}" };
        if (!string.IsNullOrEmpty(settings.Config))
        {
            args.Add($"--config={settings.Config}");
        }

        args.AddRange(["info", "--output=json"]);
        var command = string.Join(' ', args.Select(SshRunner.Quote));
        if (settings.SshHost is null && !string.IsNullOrEmpty(settings.RunAs) && IsRoot() && !string.Equals(settings.RunAs, "root", StringComparison.Ordinal))
        {
            command = $"runuser -u {SshRunner.Quote(settings.RunAs)} -- {command}";
        }

        return command;
    }

    public async Task<(BackupObservation? Observation, SensorStatus Health)> ObserveAsync(PgCluster cluster, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var stanza = string.IsNullOrEmpty(cluster.Backup.Stanza) ? cluster.Name : cluster.Backup.Stanza;
        var command = CommandFor(stanza);
        var where = settings.SshHost is { } h ? $"ssh {h}: " : "";
        var runner = settings.SshHost is null ? local : ssh;
        if (runner is null)
        {
            return (null, new SensorStatus(SensorNames.Backup, stanza, SensorHealth.Unknown, "pgbackrest over SSH requested but SSH is not configured", 0));
        }

        var endpoint = $"{where}{command}";
        var outcome = await SensorCall.RunAsync(endpoint, timeout, time, async ct =>
        {
            var result = await runner.RunAsync(settings.SshHost ?? "localhost", command, ct).ConfigureAwait(false);
            if (result.ExitCode != 0 && string.IsNullOrWhiteSpace(result.StandardOutput))
            {
                throw new SensorResponseException(endpoint, $"exit code {result.ExitCode}: {JsonRead.Excerpt(result.StandardError, 300)}");
            }

            return PgBackRestInfoParser.Parse(result.StandardOutput, endpoint);
        }, cancellationToken).ConfigureAwait(false);

        if (outcome.Value is null)
        {
            return (null, new SensorStatus(SensorNames.Backup, stanza, SensorHealth.Unknown, outcome.Reason, outcome.ElapsedMs));
        }

        var found = outcome.Value.FirstOrDefault(s => string.Equals(s.Name, stanza, StringComparison.Ordinal));
        if (found is null)
        {
            return (null, new SensorStatus(SensorNames.Backup, stanza, SensorHealth.Unknown,
                $"{endpoint}: stanza {stanza} is not in the output (stanzas: {string.Join(", ", outcome.Value.Select(s => s.Name))})", outcome.ElapsedMs));
        }

        var observation = Summarise(found, command, time.GetUtcNow());
        return (observation, new SensorStatus(SensorNames.Backup, stanza, SensorHealth.Ok, null, outcome.ElapsedMs));
    }

    public static BackupObservation Summarise(PgBackRestStanza stanza, string? command, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(stanza);
        static BackupSummary? S(BackupSet? b) => b is null ? null : new BackupSummary(b.Label, b.Type, b.StoppedAt, b.SizeBytes, b.RepoSizeBytes);
        var last = stanza.Last;
        return new BackupObservation
        {
            Stanza = stanza.Name,
            Command = command,
            StatusCode = stanza.StatusCode,
            StatusMessage = stanza.StatusMessage,
            BackupRunning = stanza.BackupLockHeld || stanza.StatusCode == 6,
            LastFull = S(stanza.LastOf("full")),
            LastDiff = S(stanza.LastOf("diff")),
            LastIncr = S(stanza.LastOf("incr")),
            LastBackupAgeSeconds = last?.StoppedAt is { } stop ? Math.Round((now - stop).TotalSeconds, 1) : null,
            BackupCount = stanza.Backups.Count,
            ArchiveMin = stanza.ArchiveMin,
            ArchiveMax = stanza.ArchiveMax,
            Repos = stanza.Repos,
            DbVersion = stanza.DbVersion,
        };
    }

    private static bool IsRoot() => OperatingSystem.IsLinux() && Environment.UserName == "root";
}
