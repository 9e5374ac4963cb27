namespace PgRuntimeAgent.Detection;

/// <summary>One entry of <c>detection.persistence</c>: what replaces a detector's persistence defaults (either or both).</summary>
public sealed record PersistenceOverride
{
    /// <summary>Consecutive snapshots the symptom must be seen on (<c>consecutive</c>); null: keep the detector's.</summary>
    public int? Consecutive { get; init; }

    /// <summary>Seconds the symptom must last (<c>seconds</c>); null: keep the detector's.</summary>
    public double? Seconds { get; init; }
}

/// <summary>How long a symptom must hold before its detector raises a finding: both must be met.</summary>
public readonly record struct HeldFor(int Consecutive, double Seconds);

/// <summary>
/// Thresholds of the detectors (settings section <c>detection:</c>). A gray failure must be seen on several consecutive
/// snapshots AND for a minimum time before it becomes a finding, so one slow probe never fires; the defaults suit a
/// sensing interval of a few seconds (docs/detection.md lists every key). Each detector's persistence defaults are its
/// own (its descriptor); <see cref="Persistence"/> sets them per finding code, and the older per-detector keys
/// (<c>primary_frozen_consecutive</c>, ...) still do: the map wins, then the older key, then the detector's default.
/// </summary>
public sealed record DetectionSettings
{
    private int? _leaderMissingConsecutive;
    private double? _leaderMissingSeconds;
    private int? _primaryDownConsecutive;
    private double? _primaryDownSeconds;
    private int? _primaryFrozenConsecutive;
    private double? _primaryFrozenSeconds;
    private int? _diskFullConsecutive;
    private double? _diskFullSeconds;
    private int? _splitBrainConsecutive;
    private double? _splitBrainSeconds;
    private int? _replicationBrokenConsecutive;
    private double? _replicationBrokenSeconds;
    private int? _replicationLagConsecutive;
    private double? _replicationLagSecondsHeld;
    private int? _archiveFailingConsecutive;
    private double? _archiveFailingSeconds;
    private int? _inventoryDriftConsecutive;
    private double? _inventoryDriftSeconds;
    private int? _sensorBlindConsecutive;
    private double? _sensorBlindSeconds;

    /// <summary>
    /// Persistence per finding code (<c>detection.persistence: { primary-frozen: { consecutive: 2, seconds: 5 } }</c>):
    /// consecutive snapshots and minimum seconds before the code's detector raises it. A code not listed keeps its
    /// detector's defaults; an unknown code, or one whose detector fires on one snapshot by design, is a settings error.
    /// </summary>
    [Settings.SettingsKeys(typeof(Detectors), nameof(Detectors.CheckPersistenceCode))]
    public IReadOnlyDictionary<string, PersistenceOverride> Persistence { get; init; } = new Dictionary<string, PersistenceOverride>(StringComparer.Ordinal);

    /// <summary>Previous snapshots kept per cluster for "for N seconds" and "rising" judgements (<c>detection.history_size</c>).</summary>
    public int HistorySize { get; init; } = 30;

    /// <summary>No member holds the leader key: consecutive snapshots / seconds before <c>leader-missing</c>.</summary>
    public int LeaderMissingConsecutive { get => ConsecutiveOf(FindingCodes.LeaderMissing); init => _leaderMissingConsecutive = value; }

    public double LeaderMissingSeconds { get => SecondsOf(FindingCodes.LeaderMissing); init => _leaderMissingSeconds = value; }

    /// <summary>The leader key holder's PostgreSQL is down while the key is held: <c>primary-down-holding-lock</c>.</summary>
    public int PrimaryDownConsecutive { get => ConsecutiveOf(FindingCodes.PrimaryDownHoldingLock); init => _primaryDownConsecutive = value; }

    public double PrimaryDownSeconds { get => SecondsOf(FindingCodes.PrimaryDownHoldingLock); init => _primaryDownSeconds = value; }

    /// <summary>
    /// A member seen taking the leader key from another (or from none) is promoting, not down, for this long:
    /// <c>primary-down-holding-lock</c> waits that out. On a loaded host a promotion took over 3 s in CI, the agent
    /// fenced the new leader as "down" and lost what it had acknowledged meanwhile.
    /// </summary>
    public double PromotionGraceSeconds { get; init; } = 10;

    /// <summary>SQL (and usually REST) on the leader time out: <c>primary-frozen</c>. Never fires on one slow probe.</summary>
    public int PrimaryFrozenConsecutive { get => ConsecutiveOf(FindingCodes.PrimaryFrozen); init => _primaryFrozenConsecutive = value; }

    public double PrimaryFrozenSeconds { get => SecondsOf(FindingCodes.PrimaryFrozen); init => _primaryFrozenSeconds = value; }

    /// <summary>ENOSPC on the leader: <c>primary-disk-full</c> (the log line is unambiguous; two snapshots confirm it).</summary>
    public int DiskFullConsecutive { get => ConsecutiveOf(FindingCodes.PrimaryDiskFull); init => _diskFullConsecutive = value; }

    public double DiskFullSeconds { get => SecondsOf(FindingCodes.PrimaryDiskFull); init => _diskFullSeconds = value; }

    /// <summary>How recent an ENOSPC log line of the leader must be to count (seconds before the snapshot).</summary>
    public double DiskFullLogWindowSeconds { get; init; } = 120;

    /// <summary>The leader's lowest filesystem free ratio at or below this counts as full (metrics <c>fs_free_ratio</c>).</summary>
    public double DiskFullFreeRatio { get; init; } = 0.01;

    /// <summary>Two members accept writes (or claim the key): <c>split-brain</c>.</summary>
    public int SplitBrainConsecutive { get => ConsecutiveOf(FindingCodes.SplitBrain); init => _splitBrainConsecutive = value; }

    public double SplitBrainSeconds { get => SecondsOf(FindingCodes.SplitBrain); init => _splitBrainSeconds = value; }

    /// <summary>A replica is not streaming: <c>replication-broken</c>.</summary>
    public int ReplicationBrokenConsecutive { get => ConsecutiveOf(FindingCodes.ReplicationBroken); init => _replicationBrokenConsecutive = value; }

    public double ReplicationBrokenSeconds { get => SecondsOf(FindingCodes.ReplicationBroken); init => _replicationBrokenSeconds = value; }

    /// <summary>Lag limit in bytes; null: Patroni's maximum_lag_on_failover, else the inventory's pg_rpo.</summary>
    public long? ReplicationLagBytes { get; init; }

    /// <summary>Replay lag limit in seconds (<c>replication-lag</c> also fires on time lag).</summary>
    public double ReplicationLagSeconds { get; init; } = 60;

    public int ReplicationLagConsecutive { get => ConsecutiveOf(FindingCodes.ReplicationLag); init => _replicationLagConsecutive = value; }

    public double ReplicationLagSecondsHeld { get => SecondsOf(FindingCodes.ReplicationLag); init => _replicationLagSecondsHeld = value; }

    /// <summary>archive_command failures: consecutive snapshots with the last failure newer than the last success.</summary>
    public int ArchiveFailingConsecutive { get => ConsecutiveOf(FindingCodes.ArchiveFailing); init => _archiveFailingConsecutive = value; }

    public double ArchiveFailingSeconds { get => SecondsOf(FindingCodes.ArchiveFailing); init => _archiveFailingSeconds = value; }

    /// <summary>Newest backup allowed age when the inventory has no pg_crontab backup schedule (hours).</summary>
    public double BackupMaxAgeHours { get; init; } = 26;

    /// <summary>A scheduled backup counts as missed this long after its start time (minutes).</summary>
    public double BackupGraceMinutes { get; init; } = 120;

    /// <summary>Inventory and Patroni disagree: <c>inventory-drift</c>.</summary>
    public int InventoryDriftConsecutive { get => ConsecutiveOf(FindingCodes.InventoryDrift); init => _inventoryDriftConsecutive = value; }

    public double InventoryDriftSeconds { get => SecondsOf(FindingCodes.InventoryDrift); init => _inventoryDriftSeconds = value; }

    /// <summary>A sensor sees nothing: <c>sensor-blind</c>.</summary>
    public int SensorBlindConsecutive { get => ConsecutiveOf(FindingCodes.SensorBlind); init => _sensorBlindConsecutive = value; }

    public double SensorBlindSeconds { get => SecondsOf(FindingCodes.SensorBlind); init => _sensorBlindSeconds = value; }

    /// <summary>Sensors whose blindness is not reported (for example <c>host</c> where no SSH is set up).</summary>
    public IReadOnlyList<string> IgnoreSensors { get; init; } = [];

    /// <summary>A finding clears after this many consecutive snapshots without it (<c>detection.clear_after</c>).</summary>
    public int ClearAfter { get; init; } = 2;

    /// <summary>Finding codes never reported (silenced).</summary>
    public IReadOnlyList<string> Silenced { get; init; } = [];

    public static DetectionSettings Default { get; } = new();

    /// <summary>
    /// How long <paramref name="code"/>'s symptom must hold: <see cref="Persistence"/>'s entry, else the older
    /// per-detector key when one was set, else the detector's default (one snapshot, no minimum for an unknown code).
    /// </summary>
    public HeldFor PersistenceOf(string code)
    {
        ArgumentNullException.ThrowIfNull(code);
        var entry = Persistence.GetValueOrDefault(code);
        var (legacyConsecutive, legacySeconds) = Legacy(code);
        var descriptor = Detectors.Describe(code);
        return new HeldFor(
            entry?.Consecutive ?? legacyConsecutive ?? descriptor?.ConsecutiveSnapshots ?? 1,
            entry?.Seconds ?? legacySeconds ?? descriptor?.MinimumSeconds ?? 0);
    }

    /// <summary>A copy whose <see cref="Persistence"/> sets <paramref name="code"/> to <paramref name="held"/> (the other entries kept).</summary>
    public DetectionSettings WithPersistence(string code, HeldFor held)
    {
        ArgumentNullException.ThrowIfNull(code);
        var map = new Dictionary<string, PersistenceOverride>(Persistence, StringComparer.Ordinal)
        {
            [code] = new PersistenceOverride { Consecutive = held.Consecutive, Seconds = held.Seconds },
        };
        return this with { Persistence = map };
    }

    private int ConsecutiveOf(string code) => PersistenceOf(code).Consecutive;

    private double SecondsOf(string code) => PersistenceOf(code).Seconds;

    /// <summary>The older per-detector keys of <paramref name="code"/>, when they were set.</summary>
    private (int? Consecutive, double? Seconds) Legacy(string code) => code switch
    {
        FindingCodes.LeaderMissing => (_leaderMissingConsecutive, _leaderMissingSeconds),
        FindingCodes.PrimaryDownHoldingLock => (_primaryDownConsecutive, _primaryDownSeconds),
        FindingCodes.PrimaryFrozen => (_primaryFrozenConsecutive, _primaryFrozenSeconds),
        FindingCodes.PrimaryDiskFull => (_diskFullConsecutive, _diskFullSeconds),
        FindingCodes.SplitBrain => (_splitBrainConsecutive, _splitBrainSeconds),
        FindingCodes.ReplicationBroken => (_replicationBrokenConsecutive, _replicationBrokenSeconds),
        FindingCodes.ReplicationLag => (_replicationLagConsecutive, _replicationLagSecondsHeld),
        FindingCodes.ArchiveFailing => (_archiveFailingConsecutive, _archiveFailingSeconds),
        FindingCodes.InventoryDrift => (_inventoryDriftConsecutive, _inventoryDriftSeconds),
        FindingCodes.SensorBlind => (_sensorBlindConsecutive, _sensorBlindSeconds),
        _ => (null, null),
    };
}
