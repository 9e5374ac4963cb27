namespace PgRuntimeAgent.Sensing.Patroni;

/// <summary>A member's role as Patroni says it, normalised across versions ("master", "primary" and "leader" are one).</summary>
public enum PatroniRole
{
    Unknown,
    Leader,
    Replica,
    SyncStandby,
    QuorumStandby,
    StandbyLeader,
    Uninitialized,
}

/// <summary>/cluster: every member as one member sees the cluster.</summary>
public sealed record PatroniClusterView
{
    public IReadOnlyList<PatroniClusterMember> Members { get; init; } = [];

    /// <summary>Holder of the leader key in this view (role leader or standby_leader), null when none.</summary>
    public string? Leader { get; init; }

    /// <summary>Maintenance mode (pause) as this view reports it.</summary>
    public bool Paused { get; init; }

    /// <summary>A scheduled switchover, raw, when one is pending.</summary>
    public string? ScheduledSwitchover { get; init; }
}

/// <summary>One member in a /cluster view.</summary>
public sealed record PatroniClusterMember
{
    public required string Name { get; init; }
    public PatroniRole Role { get; init; }

    /// <summary>The role string exactly as sent.</summary>
    public string? RawRole { get; init; }

    /// <summary>running, streaming, stopped, starting, start failed, crashed, restarting...</summary>
    public string? State { get; init; }

    public string? ApiUrl { get; init; }
    public string? Host { get; init; }
    public int? Port { get; init; }
    public long? Timeline { get; init; }

    /// <summary>Replication lag in bytes; null when absent or "unknown".</summary>
    public long? LagBytes { get; init; }

    /// <summary>True when Patroni said the lag is "unknown" (or another non-number).</summary>
    public bool LagUnknown { get; init; }

    /// <summary>Patroni 4: receive and replay lag and LSNs, when present.</summary>
    public long? ReceiveLagBytes { get; init; }
    public long? ReplayLagBytes { get; init; }
    public string? ReceiveLsn { get; init; }
    public string? ReplayLsn { get; init; }

    public bool PendingRestart { get; init; }
    public bool NoFailover { get; init; }
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();
}

/// <summary>/patroni (and the health endpoints): one member's own status. A 503 answer is data, not an error.</summary>
public sealed record PatroniNodeStatus
{
    /// <summary>HTTP status the endpoint answered with (200, or 503 when PostgreSQL is not running / not that role).</summary>
    public int HttpStatus { get; init; }

    public string? State { get; init; }
    public PatroniRole Role { get; init; }
    public string? RawRole { get; init; }
    public int? ServerVersion { get; init; }
    public long? Timeline { get; init; }

    /// <summary>Primary: current WAL write position (xlog.location), bytes.</summary>
    public long? WalPosition { get; init; }

    /// <summary>Replica: received and replayed positions, bytes.</summary>
    public long? ReceivedPosition { get; init; }
    public long? ReplayedPosition { get; init; }
    public string? ReplayedTimestamp { get; init; }
    public bool? ReplayPaused { get; init; }

    public IReadOnlyList<PatroniReplicationEntry> Replication { get; init; } = [];

    /// <summary>Seconds since epoch the member last talked to the DCS.</summary>
    public long? DcsLastSeen { get; init; }

    public bool PendingRestart { get; init; }

    /// <summary>Maintenance mode as the member reports it.</summary>
    public bool Paused { get; init; }

    public string? PostmasterStartTime { get; init; }
    public string? PatroniVersion { get; init; }
    public string? Scope { get; init; }
    public string? SystemIdentifier { get; init; }
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    /// <summary>True when PostgreSQL runs (state running or streaming).</summary>
    public bool PostgresRunning => State is "running" or "streaming";
}

/// <summary>One row of the leader's pg_stat_replication as /patroni reports it.</summary>
public sealed record PatroniReplicationEntry(string? ApplicationName, string? ClientAddr, string? State, string? SyncState, int? SyncPriority, string? Usename);

/// <summary>/history: one timeline switch.</summary>
public sealed record PatroniHistoryEntry(long Timeline, long SwitchPosition, string? Reason, string? Timestamp, string? NewLeader)
{
    public string SwitchLsn => Lsn.Format(SwitchPosition);
}

/// <summary>/config: the dynamic configuration held in the DCS.</summary>
public sealed record PatroniDynamicConfig
{
    public int? TtlSeconds { get; init; }
    public int? LoopWaitSeconds { get; init; }
    public int? RetryTimeoutSeconds { get; init; }
    public long? MaximumLagOnFailoverBytes { get; init; }
    public int? PrimaryStartTimeoutSeconds { get; init; }
    public bool? SynchronousMode { get; init; }
    public bool? SynchronousModeStrict { get; init; }
    public bool Paused { get; init; }

    /// <summary>postgresql.parameters as strings.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>();
}
