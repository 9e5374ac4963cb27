namespace PgRuntimeAgent.Detection;

/// <summary>
/// Thresholds of the detectors (settings section <c>detection:</c>). A gray failure must be seen on several consecutive
/// snapshots AND for a minimum time before it becomes a finding, so one slow probe never fires; the defaults suit a
/// sensing interval of a few seconds (docs/detection.md lists every key).
/// </summary>
public sealed record DetectionSettings
{
    /// <summary>Previous snapshots kept per cluster for "for N seconds" and "rising" judgements (<c>detection.history_size</c>).</summary>
    public int HistorySize { get; init; } = 30;

    /// <summary>No member holds the leader key: consecutive snapshots / seconds before <c>leader-missing</c>.</summary>
    public int LeaderMissingConsecutive { get; init; } = 2;

    public double LeaderMissingSeconds { get; init; } = 1;

    /// <summary>The leader key holder's PostgreSQL is down while the key is held: <c>primary-down-holding-lock</c>.</summary>
    public int PrimaryDownConsecutive { get; init; } = 2;

    public double PrimaryDownSeconds { get; init; } = 2;

    /// <summary>
    /// A member seen taking the leader key from another (or from none) is promoting, not down, for this long:
    /// <c>primary-down-holding-lock</c> waits that out. On a loaded host a promotion took over 3 s in CI, the agent
    /// fenced the new leader as "down" and lost what it had acknowledged meanwhile.
    /// </summary>
    public double PromotionGraceSeconds { get; init; } = 10;

    /// <summary>SQL (and usually REST) on the leader time out: <c>primary-frozen</c>. Never fires on one slow probe.</summary>
    public int PrimaryFrozenConsecutive { get; init; } = 3;

    public double PrimaryFrozenSeconds { get; init; } = 4;

    /// <summary>ENOSPC on the leader: <c>primary-disk-full</c> (the log line is unambiguous; two snapshots confirm it).</summary>
    public int DiskFullConsecutive { get; init; } = 2;

    public double DiskFullSeconds { get; init; } = 0;

    /// <summary>How recent an ENOSPC log line of the leader must be to count (seconds before the snapshot).</summary>
    public double DiskFullLogWindowSeconds { get; init; } = 120;

    /// <summary>The leader's lowest filesystem free ratio at or below this counts as full (metrics <c>fs_free_ratio</c>).</summary>
    public double DiskFullFreeRatio { get; init; } = 0.01;

    /// <summary>Two members accept writes (or claim the key): <c>split-brain</c>.</summary>
    public int SplitBrainConsecutive { get; init; } = 2;

    public double SplitBrainSeconds { get; init; } = 0;

    /// <summary>A replica is not streaming: <c>replication-broken</c>.</summary>
    public int ReplicationBrokenConsecutive { get; init; } = 3;

    public double ReplicationBrokenSeconds { get; init; } = 10;

    /// <summary>Lag limit in bytes; null: Patroni's maximum_lag_on_failover, else the inventory's pg_rpo.</summary>
    public long? ReplicationLagBytes { get; init; }

    /// <summary>Replay lag limit in seconds (<c>replication-lag</c> also fires on time lag).</summary>
    public double ReplicationLagSeconds { get; init; } = 60;

    public int ReplicationLagConsecutive { get; init; } = 3;

    public double ReplicationLagSecondsHeld { get; init; } = 10;

    /// <summary>archive_command failures: consecutive snapshots with the last failure newer than the last success.</summary>
    public int ArchiveFailingConsecutive { get; init; } = 2;

    public double ArchiveFailingSeconds { get; init; } = 0;

    /// <summary>Newest backup allowed age when the inventory has no pg_crontab backup schedule (hours).</summary>
    public double BackupMaxAgeHours { get; init; } = 26;

    /// <summary>A scheduled backup counts as missed this long after its start time (minutes).</summary>
    public double BackupGraceMinutes { get; init; } = 120;

    /// <summary>Inventory and Patroni disagree: <c>inventory-drift</c>.</summary>
    public int InventoryDriftConsecutive { get; init; } = 2;

    public double InventoryDriftSeconds { get; init; } = 0;

    /// <summary>A sensor sees nothing: <c>sensor-blind</c>.</summary>
    public int SensorBlindConsecutive { get; init; } = 2;

    public double SensorBlindSeconds { get; init; } = 0;

    /// <summary>Sensors whose blindness is not reported (for example <c>host</c> where no SSH is set up).</summary>
    public IReadOnlyList<string> IgnoreSensors { get; init; } = [];

    /// <summary>A finding clears after this many consecutive snapshots without it (<c>detection.clear_after</c>).</summary>
    public int ClearAfter { get; init; } = 2;

    /// <summary>Finding codes never reported (silenced).</summary>
    public IReadOnlyList<string> Silenced { get; init; } = [];

    public static DetectionSettings Default { get; } = new();
}
