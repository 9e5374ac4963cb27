namespace PgRuntimeAgent.Sensing;

/// <summary>How and how often the agent senses (settings section <c>sensing:</c>).</summary>
public sealed record SensingSettings
{
    /// <summary>Seconds between snapshots of a cluster in the daemon.</summary>
    public double IntervalSeconds { get; init; } = 10;

    /// <summary>
    /// Seconds between snapshots of a calm cluster (no active finding, incident, skill run, approval or alert), so a large
    /// fleet is sensed at <see cref="IntervalSeconds"/> only where something is going on; an alert for the cluster wakes it
    /// at once. Null (the default): every cluster at <see cref="IntervalSeconds"/>. Kept between that and 300.
    /// </summary>
    public double? CalmIntervalSeconds { get; init; }

    /// <summary>Default timeout of one sensor call, in seconds.</summary>
    public double TimeoutSeconds { get; init; } = 2;

    /// <summary>Snapshots taken at once across the fleet.</summary>
    public int MaxParallelism { get; init; } = 8;

    /// <summary>Per-sensor timeouts in seconds (patroni, metrics, logs, backup, postgres, host); absent => <see cref="TimeoutSeconds"/>.</summary>
    public IReadOnlyDictionary<string, double> SensorTimeouts { get; init; } = new Dictionary<string, double>(StringComparer.Ordinal);

    /// <summary>Sensors switched off (names as in <see cref="SensorNames"/>).</summary>
    public IReadOnlyList<string> Disabled { get; init; } = [];

    /// <summary>Member name -> log files (globs allowed). Absent members use Pigsty's default paths.</summary>
    public IReadOnlyDictionary<string, MemberLogFiles> LogFiles { get; init; } = new Dictionary<string, MemberLogFiles>(StringComparer.Ordinal);

    /// <summary>How far back the snapshot reads logs, in minutes.</summary>
    public double LogsWindowMinutes { get; init; } = 5;

    /// <summary>Most log entries a snapshot keeps (newest first, warnings and worse preferred).</summary>
    public int LogsMaxEntries { get; init; } = 200;

    public PgBackRestSettings Pgbackrest { get; init; } = new();

    public SshSettings Ssh { get; init; } = new();

    public PostgresProbeSettings Postgres { get; init; } = new();

    /// <summary>Timeout of one sensor, falling back to the default.</summary>
    public TimeSpan TimeoutFor(string sensor) =>
        TimeSpan.FromSeconds(SensorTimeouts.TryGetValue(sensor, out var s) && s > 0 ? s : TimeoutSeconds > 0 ? TimeoutSeconds : 2);

    public bool IsEnabled(string sensor) => !Disabled.Contains(sensor, StringComparer.OrdinalIgnoreCase);
}

/// <summary>Log files of one member (<c>sensing.log_files.&lt;member&gt;</c>); globs allowed, rotated files included.</summary>
public sealed record MemberLogFiles
{
    /// <summary>PostgreSQL log files: stderr (<c>*.log</c>) or csvlog (<c>*.csv</c>).</summary>
    public string? Postgres { get; init; }

    public string? Patroni { get; init; }

    public string? Pgbackrest { get; init; }

    /// <summary>Read the files on this host over SSH instead of locally (null: local).</summary>
    public string? SshHost { get; init; }
}

/// <summary>How to run <c>pgbackrest info</c> (<c>sensing.pgbackrest</c>).</summary>
public sealed record PgBackRestSettings
{
    public string Command { get; init; } = "pgbackrest";

    /// <summary>--config FILE; null: pgBackRest's default.</summary>
    public string? Config { get; init; }

    /// <summary>Run locally as this OS user through runuser (when the agent is root); null: as the agent.</summary>
    public string? RunAs { get; init; } = "postgres";

    /// <summary>Run on this host over SSH (the repository host) instead of locally.</summary>
    public string? SshHost { get; init; }
}

/// <summary>
/// Every SSH connection of the agent (<c>sensing.ssh</c>): the Host sensor, remote log files and pgBackRest, and the
/// actions <c>ssh.command</c>, <c>member.fence</c> and <c>backup.run</c> on remote hosts (<see cref="Transport.SshRunner"/>).
/// </summary>
public sealed record SshSettings
{
    public string User { get; init; } = "root";

    public int Port { get; init; } = 22;

    /// <summary>Private key file (used alone: IdentitiesOnly); null: ssh's own defaults (~/.ssh/id_ed25519, id_ecdsa, id_rsa, an agent).</summary>
    public string? PrivateKeyPath { get; init; }

    /// <summary>known_hosts file that pins host keys; null: ~/.ssh/known_hosts. A host it pins no key for is refused before connecting.</summary>
    public string? KnownHostsPath { get; init; }

    /// <summary>False switches the Host sensor off (it then reports unknown: "host sensor disabled").</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Data and WAL paths whose filesystem use the Host sensor reports.</summary>
    public IReadOnlyList<string> Paths { get; init; } = ["/pg/data", "/pg/data/pg_wal"];
}

/// <summary>The Postgres sensor's session (<c>sensing.postgres</c>).</summary>
public sealed record PostgresProbeSettings
{
    public string Database { get; init; } = "postgres";

    /// <summary>statement_timeout of each probe, in milliseconds.</summary>
    public int StatementTimeoutMs { get; init; } = 1000;

    /// <summary>Probes left out by name (see the catalogue in docs/sensing.md).</summary>
    public IReadOnlyList<string> Skip { get; init; } = [];

    /// <summary>The index advisor's cadence and limits (<c>sensing.postgres.advisor</c>).</summary>
    public IndexAdvisorSettings Advisor { get; init; } = new();
}

/// <summary>The index advisor (<c>sensing.postgres.advisor</c>): how often and how much it EXPLAINs on the leader.</summary>
public sealed record IndexAdvisorSettings
{
    /// <summary>How long one statement's advice stands before it is checked again, in seconds (at least 10).</summary>
    public int IntervalSeconds { get; init; } = 300;

    /// <summary>Statements advised per refresh (1-20; each costs a few EXPLAINs, tens of milliseconds).</summary>
    public int PerRefresh { get; init; } = 3;

    /// <summary>statement_timeout of each advisor statement, in milliseconds (100-60000).</summary>
    public int StatementTimeoutMs { get; init; } = 2000;
}

/// <summary>Stable sensor names (JSON, settings keys, health entries).</summary>
public static class SensorNames
{
    public const string Patroni = "patroni";
    public const string Metrics = "metrics";
    public const string Logs = "logs";
    public const string Backup = "backup";
    public const string Postgres = "postgres";
    public const string Host = "host";

    public static IReadOnlyList<string> All { get; } = [Patroni, Metrics, Logs, Backup, Postgres, Host];
}
