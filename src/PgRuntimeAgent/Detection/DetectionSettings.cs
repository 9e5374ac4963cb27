using System.Globalization;
using PgRuntimeAgent.Catalog;

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
/// A detector's thresholds are declared in its descriptor too (<see cref="DetectorDescriptor.Thresholds"/>) and set the
/// same way: <see cref="Thresholds"/> per finding code, else the older key (<c>disk_full_free_ratio</c>, ...), else the
/// declared default; detectors read them with <see cref="Threshold(string, string)"/>.
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
    private double? _promotionGraceSeconds;
    private double? _diskFullLogWindowSeconds;
    private double? _diskFullFreeRatio;
    private long? _replicationLagBytes;
    private double? _replicationLagSeconds;
    private double? _backupMaxAgeHours;
    private double? _backupGraceMinutes;

    /// <summary>
    /// Persistence per finding code (<c>detection.persistence: { primary-frozen: { consecutive: 2, seconds: 5 } }</c>):
    /// consecutive snapshots and minimum seconds before the code's detector raises it. A code not listed keeps its
    /// detector's defaults; an unknown code, or one whose detector fires on one snapshot by design, is a settings error.
    /// </summary>
    [Settings.SettingsKeys(typeof(Detectors), nameof(Detectors.CheckPersistenceCode))]
    public IReadOnlyDictionary<string, PersistenceOverride> Persistence { get; init; } = new Dictionary<string, PersistenceOverride>(StringComparer.Ordinal);

    /// <summary>
    /// Thresholds per finding code (<c>detection.thresholds: { primary-disk-full: { free_ratio: 0.02 } }</c>): each name
    /// is one its detector declares (<see cref="DetectorDescriptor.Thresholds"/>, listed by <c>pgra catalog</c>); an
    /// unknown code or name, or a value of the wrong type or out of bounds, is a settings error at its line. A name not
    /// listed keeps the older key's value when one was set, else the declared default.
    /// </summary>
    [Settings.SettingsKeys(typeof(Detectors), nameof(Detectors.CheckThresholdCode), Entries = nameof(Detectors.CheckThreshold))]
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Thresholds { get; init; } =
        new Dictionary<string, IReadOnlyDictionary<string, double>>(StringComparer.Ordinal);

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
    /// <remarks>Older key of <c>detection.thresholds.primary-down-holding-lock.promotion_grace_seconds</c>; reads the effective value.</remarks>
    public double PromotionGraceSeconds { get => Threshold(FindingCodes.PrimaryDownHoldingLock, "promotion_grace_seconds") ?? 0; init => _promotionGraceSeconds = value; }

    /// <summary>SQL (and usually REST) on the leader time out: <c>primary-frozen</c>. Never fires on one slow probe.</summary>
    public int PrimaryFrozenConsecutive { get => ConsecutiveOf(FindingCodes.PrimaryFrozen); init => _primaryFrozenConsecutive = value; }

    public double PrimaryFrozenSeconds { get => SecondsOf(FindingCodes.PrimaryFrozen); init => _primaryFrozenSeconds = value; }

    /// <summary>ENOSPC on the leader: <c>primary-disk-full</c> (the log line is unambiguous; two snapshots confirm it).</summary>
    public int DiskFullConsecutive { get => ConsecutiveOf(FindingCodes.PrimaryDiskFull); init => _diskFullConsecutive = value; }

    public double DiskFullSeconds { get => SecondsOf(FindingCodes.PrimaryDiskFull); init => _diskFullSeconds = value; }

    /// <summary>How recent an ENOSPC log line of the leader must be to count (seconds before the snapshot).</summary>
    /// <remarks>Older key of <c>detection.thresholds.primary-disk-full.log_window_seconds</c>; reads the effective value.</remarks>
    public double DiskFullLogWindowSeconds { get => Threshold(FindingCodes.PrimaryDiskFull, "log_window_seconds") ?? 0; init => _diskFullLogWindowSeconds = value; }

    /// <summary>The leader's lowest filesystem free ratio at or below this counts as full (metrics <c>fs_free_ratio</c>).</summary>
    /// <remarks>Older key of <c>detection.thresholds.primary-disk-full.free_ratio</c>; reads the effective value.</remarks>
    public double DiskFullFreeRatio { get => Threshold(FindingCodes.PrimaryDiskFull, "free_ratio") ?? 0; init => _diskFullFreeRatio = value; }

    /// <summary>Two members accept writes (or claim the key): <c>split-brain</c>.</summary>
    public int SplitBrainConsecutive { get => ConsecutiveOf(FindingCodes.SplitBrain); init => _splitBrainConsecutive = value; }

    public double SplitBrainSeconds { get => SecondsOf(FindingCodes.SplitBrain); init => _splitBrainSeconds = value; }

    /// <summary>A replica is not streaming: <c>replication-broken</c>.</summary>
    public int ReplicationBrokenConsecutive { get => ConsecutiveOf(FindingCodes.ReplicationBroken); init => _replicationBrokenConsecutive = value; }

    public double ReplicationBrokenSeconds { get => SecondsOf(FindingCodes.ReplicationBroken); init => _replicationBrokenSeconds = value; }

    /// <summary>Lag limit in bytes; null: Patroni's maximum_lag_on_failover, else the inventory's pg_rpo.</summary>
    /// <remarks>Older key of <c>detection.thresholds.replication-lag.lag_bytes</c>; reads the effective value.</remarks>
    public long? ReplicationLagBytes
    {
        get => Threshold(FindingCodes.ReplicationLag, "lag_bytes") is { } bytes ? (long)bytes : null;
        init => _replicationLagBytes = value;
    }

    /// <summary>Replay lag limit in seconds (<c>replication-lag</c> also fires on time lag).</summary>
    /// <remarks>Older key of <c>detection.thresholds.replication-lag.lag_seconds</c>; reads the effective value.</remarks>
    public double ReplicationLagSeconds { get => Threshold(FindingCodes.ReplicationLag, "lag_seconds") ?? 0; init => _replicationLagSeconds = value; }

    public int ReplicationLagConsecutive { get => ConsecutiveOf(FindingCodes.ReplicationLag); init => _replicationLagConsecutive = value; }

    public double ReplicationLagSecondsHeld { get => SecondsOf(FindingCodes.ReplicationLag); init => _replicationLagSecondsHeld = value; }

    /// <summary>archive_command failures: consecutive snapshots with the last failure newer than the last success.</summary>
    public int ArchiveFailingConsecutive { get => ConsecutiveOf(FindingCodes.ArchiveFailing); init => _archiveFailingConsecutive = value; }

    public double ArchiveFailingSeconds { get => SecondsOf(FindingCodes.ArchiveFailing); init => _archiveFailingSeconds = value; }

    /// <summary>Newest backup allowed age when the inventory has no pg_crontab backup schedule (hours).</summary>
    /// <remarks>Older key of <c>detection.thresholds.backup-stale.max_age_hours</c>; reads the effective value.</remarks>
    public double BackupMaxAgeHours { get => Threshold(FindingCodes.BackupStale, "max_age_hours") ?? 0; init => _backupMaxAgeHours = value; }

    /// <summary>A scheduled backup counts as missed this long after its start time (minutes).</summary>
    /// <remarks>Older key of <c>detection.thresholds.backup-stale.grace_minutes</c>; reads the effective value.</remarks>
    public double BackupGraceMinutes { get => Threshold(FindingCodes.BackupStale, "grace_minutes") ?? 0; init => _backupGraceMinutes = value; }

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

    /// <summary>
    /// The value of threshold <paramref name="name"/> of <paramref name="code"/>'s detector: <see cref="Thresholds"/>'s
    /// entry, else the older key when one was set, else the declared default; null only for a threshold declared
    /// without a default that nobody set. A name the detector does not declare is a bug.
    /// </summary>
    /// <exception cref="InvalidOperationException">The detector of <paramref name="code"/> declares no threshold <paramref name="name"/>.</exception>
    public double? Threshold(string code, string name)
    {
        ArgumentNullException.ThrowIfNull(code);
        ArgumentNullException.ThrowIfNull(name);
        var declared = Detectors.Describe(code)?.FindThreshold(name)
            ?? throw new InvalidOperationException($"the detector of '{code}' declares no threshold '{name}'");
        if (Thresholds.TryGetValue(code, out var set) && set.TryGetValue(name, out var value))
        {
            return value;
        }

        return LegacyThreshold(code, name) ?? (declared.Default is { } d ? double.Parse(d, NumberStyles.Float, CultureInfo.InvariantCulture) : null);
    }

    /// <summary>The value of <paramref name="threshold"/>, declared by <paramref name="code"/>'s detector with a default (<see cref="Threshold(string, string)"/>).</summary>
    internal double Threshold(string code, ParameterSpec threshold)
    {
        ArgumentNullException.ThrowIfNull(threshold);
        return Threshold(code, threshold.Name) ?? throw new InvalidOperationException($"threshold '{threshold.Name}' of '{code}' has no default");
    }

    /// <summary>A copy whose <see cref="Thresholds"/> sets <paramref name="name"/> of <paramref name="code"/> to <paramref name="value"/> (the other entries kept).</summary>
    public DetectionSettings WithThreshold(string code, string name, double value)
    {
        ArgumentNullException.ThrowIfNull(code);
        ArgumentNullException.ThrowIfNull(name);
        var entry = new Dictionary<string, double>(StringComparer.Ordinal);
        if (Thresholds.TryGetValue(code, out var existing))
        {
            foreach (var (k, v) in existing)
            {
                entry[k] = v;
            }
        }

        entry[name] = value;
        var map = new Dictionary<string, IReadOnlyDictionary<string, double>>(Thresholds, StringComparer.Ordinal) { [code] = entry };
        return this with { Thresholds = map };
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

    /// <summary>The older key of threshold <paramref name="name"/> of <paramref name="code"/>, when one exists and was set.</summary>
    private double? LegacyThreshold(string code, string name) => (code, name) switch
    {
        (FindingCodes.PrimaryDownHoldingLock, "promotion_grace_seconds") => _promotionGraceSeconds,
        (FindingCodes.PrimaryDiskFull, "log_window_seconds") => _diskFullLogWindowSeconds,
        (FindingCodes.PrimaryDiskFull, "free_ratio") => _diskFullFreeRatio,
        (FindingCodes.ReplicationLag, "lag_bytes") => _replicationLagBytes,
        (FindingCodes.ReplicationLag, "lag_seconds") => _replicationLagSeconds,
        (FindingCodes.BackupStale, "max_age_hours") => _backupMaxAgeHours,
        (FindingCodes.BackupStale, "grace_minutes") => _backupGraceMinutes,
        _ => null,
    };
}
