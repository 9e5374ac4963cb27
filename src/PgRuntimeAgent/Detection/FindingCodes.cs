namespace PgRuntimeAgent.Detection;

/// <summary>
/// Stable finding codes. Skills, silences, dashboards and post-mortems refer to findings by these strings, so a code
/// is never renamed or reused. The list of codes is the detectors' own (<see cref="Stable"/>); a constant here is only
/// for code that names a finding.
/// </summary>
public static class FindingCodes
{
    /// <summary>No member holds the leader key (the cluster is unlocked) or no member answers as leader.</summary>
    public const string LeaderMissing = "leader-missing";

    /// <summary>The leader's PostgreSQL is down while its Patroni still holds the leader key (restart loop).</summary>
    public const string PrimaryDownHoldingLock = "primary-down-holding-lock";

    /// <summary>The leader is frozen: its REST API and SQL time out while the leader key is still held.</summary>
    public const string PrimaryFrozen = "primary-frozen";

    /// <summary>The leader's data or WAL filesystem is full (ENOSPC in the logs, filesystem free space at zero).</summary>
    public const string PrimaryDiskFull = "primary-disk-full";

    /// <summary>More than one member claims to be primary (writable or leader).</summary>
    public const string SplitBrain = "split-brain";

    /// <summary>A member that does not hold the leader key (etcd, read by the agent) accepts writes, claims the leader role, or is a frozen ex-leader.</summary>
    public const string DeposedPrimary = "deposed-primary";

    /// <summary>The leader key holder took the key back on an older timeline than a member that held the key after it (Patroni's stale cache): the newer leader is about to be rewound onto it.</summary>
    public const string StaleLeader = "stale-leader";

    /// <summary>The writable leader is on a lower timeline than one seen before: a newer timeline and its writes were discarded.</summary>
    public const string TimelineRollback = "timeline-rollback";

    /// <summary>A replica is not streaming from the leader (no WAL receiver, stopped, wrong timeline).</summary>
    public const string ReplicationBroken = "replication-broken";

    /// <summary>A replica lags past the limit (maximum_lag_on_failover or a configured threshold).</summary>
    public const string ReplicationLag = "replication-lag";

    /// <summary>WAL archiving fails (pg_stat_archiver failures, archive_command errors in the logs).</summary>
    public const string ArchiveFailing = "archive-failing";

    /// <summary>The newest backup is older than the backup schedule allows.</summary>
    public const string BackupStale = "backup-stale";

    /// <summary>The inventory (pigsty.yml) disagrees with the live cluster (pg_role after a failover, members).</summary>
    public const string InventoryDrift = "inventory-drift";

    /// <summary>A sensor cannot see (unreachable, timed out): decisions that need it must not be taken.</summary>
    public const string SensorBlind = "sensor-blind";

    /// <summary>Every stable code: the codes of the detectors, in detector order (<see cref="Detectors.Codes"/>).</summary>
    public static IReadOnlyList<string> Stable => Detectors.Codes;

    public static bool IsKnown(string code) => Detectors.Find(code) is not null;
}
