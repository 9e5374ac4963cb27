using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing.Backup;
using PgRuntimeAgent.Sensing.Host;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Sensing.Metrics;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Sensing.Postgres;

namespace PgRuntimeAgent.Sensing.Snapshot;

/// <summary>
/// Everything known about one cluster at one moment: immutable, JSON-serialisable with a versioned schema
/// (<see cref="SchemaVersion"/>; see docs/sensing.md), journaled and replayable. Sensors that could
/// not see are recorded in <see cref="Sensors"/> with the reason; disagreements between sources in <see cref="Drift"/>.
/// </summary>
public sealed record ClusterSnapshot
{
    /// <summary>Bumped on any incompatible change of the JSON shape.</summary>
    public const int CurrentSchemaVersion = 1;

    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    public required string Cluster { get; init; }

    public required DateTimeOffset TakenAt { get; init; }

    /// <summary>Wall time the snapshot took.</summary>
    public double DurationMs { get; init; }

    public required InventoryView Inventory { get; init; }

    /// <summary>Fused state of every inventory member (and of any member Patroni knows that the inventory lacks).</summary>
    public IReadOnlyList<MemberState> Members { get; init; } = [];

    /// <summary>The leader, as the sources agree on it (Patroni's leader key first); null when unknown or none.</summary>
    public string? Leader { get; init; }

    /// <summary>Which source named the leader: patroni, postgres, or null.</summary>
    public string? LeaderSource { get; init; }

    public long? Timeline { get; init; }

    public PatroniObservation? Patroni { get; init; }
    public MetricsObservation? Metrics { get; init; }
    public LogsObservation? Logs { get; init; }
    public BackupObservation? Backup { get; init; }
    public IReadOnlyList<PostgresMemberObservation> Postgres { get; init; } = [];
    public IReadOnlyList<HostObservation> Hosts { get; init; } = [];

    /// <summary>One entry per sensor (all six, always), target null: the sensor's overall health.</summary>
    public IReadOnlyList<SensorStatus> Sensors { get; init; } = [];

    /// <summary>Per target (member, endpoint, stanza) health of each sensor.</summary>
    public IReadOnlyList<SensorStatus> SensorDetails { get; init; } = [];

    /// <summary>Disagreements between the inventory and the live sources, or between sources.</summary>
    public IReadOnlyList<DriftItem> Drift { get; init; } = [];

    /// <summary>
    /// The last time this agent saw a leader of the cluster take writes (PostgreSQL answering, not in recovery) and
    /// its WAL position then: this snapshot's leader when it is writable, else what an earlier snapshot saw. Null
    /// when the agent never saw one (it started during the outage). What a failover can lose is measured from here.
    /// </summary>
    public WritablePosition? LastWritable { get; init; }

    public SensorHealth HealthOf(string sensor) =>
        Sensors.FirstOrDefault(s => string.Equals(s.Sensor, sensor, StringComparison.Ordinal))?.Health ?? SensorHealth.Unknown;

    public MemberState? FindMember(string name) => Members.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal));
}

/// <summary>The inventory's view of the cluster, as it was when the snapshot was taken.</summary>
public sealed record InventoryView
{
    public string? SourcePath { get; init; }
    public string? DeclaredPrimary { get; init; }
    public IReadOnlyList<InventoryMember> Members { get; init; } = [];
    public int TtlSeconds { get; init; }
    public int LoopWaitSeconds { get; init; }
    public long MaximumLagOnFailoverBytes { get; init; }
    public bool Synchronous { get; init; }
    public string? Vip { get; init; }
    public string? BackupStanza { get; init; }

    public static InventoryView From(PgCluster cluster, string? sourcePath)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        return new InventoryView
        {
            SourcePath = sourcePath,
            DeclaredPrimary = cluster.DeclaredPrimary?.Name,
            Members = cluster.Members.Select(m => new InventoryMember(m.Name, m.Seq, m.Ip, m.DeclaredRole, m.Offline, m.Ports.Postgres, m.Ports.Patroni)).ToList(),
            TtlSeconds = cluster.Ha.TtlSeconds,
            LoopWaitSeconds = cluster.Ha.LoopWaitSeconds,
            MaximumLagOnFailoverBytes = cluster.Ha.MaximumLagOnFailoverBytes,
            Synchronous = cluster.Ha.Synchronous,
            Vip = cluster.Vip,
            BackupStanza = string.IsNullOrEmpty(cluster.Backup.Stanza) ? cluster.Name : cluster.Backup.Stanza,
        };
    }
}

public sealed record InventoryMember(string Name, int Seq, string Ip, DeclaredRole DeclaredRole, bool Offline, int PostgresPort, int PatroniPort);

/// <summary>One member's state fused from every sensor; each field is null when no source could tell.</summary>
public sealed record MemberState
{
    public required string Name { get; init; }

    /// <summary>pg_role in the inventory; null for a member only Patroni knows.</summary>
    public DeclaredRole? DeclaredRole { get; init; }

    /// <summary>The role the Patroni cluster view gives the member (leader key holder = leader).</summary>
    public PatroniRole PatroniRole { get; init; }

    /// <summary>The role string as Patroni sent it (master, primary, leader, replica, sync_standby...).</summary>
    public string? PatroniRawRole { get; init; }

    /// <summary>Patroni's state for the member (running, streaming, stopped, starting, crashed...).</summary>
    public string? PatroniState { get; init; }

    /// <summary>The member's Patroni REST API answered.</summary>
    public bool Reachable { get; init; }

    /// <summary>PostgreSQL runs (Patroni state), else whether a SQL session could be opened.</summary>
    public bool? PostgresRunning { get; init; }

    /// <summary>The Postgres sensor opened a session.</summary>
    public bool? PostgresReachable { get; init; }

    public bool? InRecovery { get; init; }
    public long? Timeline { get; init; }

    /// <summary>Primary: current WAL position (pg_lsn text).</summary>
    public string? WalLsn { get; init; }

    public string? ReceiveLsn { get; init; }
    public string? ReplayLsn { get; init; }

    /// <summary>Replica lag behind the leader in bytes (Patroni's lag, else computed from LSNs, else metrics).</summary>
    public long? LagBytes { get; init; }

    /// <summary>True when Patroni reported the lag as "unknown".</summary>
    public bool LagUnknown { get; init; }

    /// <summary>Replay lag in seconds (pg_stat_replication.replay_lag, else metrics).</summary>
    public double? LagSeconds { get; init; }

    /// <summary>The leader streams WAL to this replica (pg_stat_replication state streaming).</summary>
    public bool? Streaming { get; init; }

    public string? SyncState { get; init; }
    public bool? PendingRestart { get; init; }
    public bool NoFailover { get; init; }

    /// <summary>
    /// WAL of the last writable leader (<see cref="ClusterSnapshot.LastWritable"/>) this member has not received:
    /// what promoting it would lose. Null when unknown or for that leader itself.
    /// </summary>
    public long? UnreceivedBytes { get; init; }

    /// <summary>
    /// The lag a failover or switchover to this member is judged by (maximum_lag_on_failover): see
    /// <see cref="SnapshotFusion.FailoverLag"/>. 0 for the leader; null when unknown.
    /// </summary>
    public long? FailoverLagBytes { get; init; }

    /// <summary>Short notes on how fields were derived or why they are missing.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <summary>A disagreement the snapshot records instead of silently trusting one side.</summary>
/// <param name="Code">Stable code (declared-primary-not-leader, member-not-in-patroni, ...); see docs/sensing.md.</param>
/// <param name="Severity">info, warning or critical.</param>
/// <param name="Between">The sources that disagree, for example "inventory/patroni".</param>
public sealed record DriftItem(string Code, string Severity, string Between, string? Member, string? Expected, string? Observed, string Message);

/// <summary>Recent log entries of the cluster, bounded.</summary>
public sealed record LogsObservation
{
    public required string Backend { get; init; }
    public DateTimeOffset Since { get; init; }
    public DateTimeOffset Until { get; init; }
    public IReadOnlyList<LogEntry> Entries { get; init; } = [];
    public bool Truncated { get; init; }

    /// <summary>Entries per severity in the window (of those returned).</summary>
    public IReadOnlyDictionary<string, int> CountsBySeverity { get; init; } = new Dictionary<string, int>();

    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>A leader seen taking writes: who, at which WAL position and timeline, when.</summary>
public sealed record WritablePosition(string Member, string Lsn, long? Timeline, DateTimeOffset At);
