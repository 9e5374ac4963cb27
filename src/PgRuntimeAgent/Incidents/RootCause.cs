using PgRuntimeAgent.Detection;

namespace PgRuntimeAgent.Incidents;

/// <summary>Which finding explains an incident best, and what each code means to a reader of a post-mortem.</summary>
public static class RootCause
{
    /// <summary>Most specific first: a full disk or a freeze explains "the key holder cannot serve", which explains "no leader".</summary>
    public static IReadOnlyList<string> Priority { get; } =
    [
        FindingCodes.TimelineRollback,
        FindingCodes.StaleLeader,
        FindingCodes.DeposedPrimary,
        FindingCodes.PrimaryDiskFull,
        FindingCodes.PrimaryFrozen,
        FindingCodes.SplitBrain,
        FindingCodes.PrimaryDownHoldingLock,
        FindingCodes.LeaderMissing,
        FindingCodes.ReplicationBroken,
        FindingCodes.ReplicationLag,
        FindingCodes.ArchiveFailing,
        FindingCodes.BackupStale,
        FindingCodes.SensorBlind,
        FindingCodes.InventoryDrift,
    ];

    public static int Rank(string code)
    {
        var i = Priority.IndexOf(code);
        return i < 0 ? Priority.Count : i;
    }

    private static int IndexOf(this IReadOnlyList<string> list, string code)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (string.Equals(list[i], code, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>The finding that explains the others: highest severity, then most specific code, then earliest.</summary>
    public static Finding? Primary(IEnumerable<Finding> findings) =>
        findings.OrderByDescending(f => f.Severity).ThenBy(f => Rank(f.Code)).ThenBy(f => f.FirstSeen).FirstOrDefault();

    /// <summary>What the code means, for the root-cause paragraph.</summary>
    public static string Explain(string code) => code switch
    {
        FindingCodes.PrimaryDiskFull => "The primary ran out of space for WAL: PostgreSQL PANICs on ENOSPC, Patroni restarts it read-only and retries "
            + "the promotion forever while it keeps the leader key, so Patroni alone never fails over.",
        FindingCodes.PrimaryFrozen => "The primary stopped answering (a frozen postmaster or node): connections time out, while Patroni either still "
            + "reports it running and keeps the key (no failover) or lets the key expire with PostgreSQL possibly still taking writes.",
        FindingCodes.TimelineRollback => "A leader took the key back after another member had been promoted: the newer timeline was discarded "
            + "(pg_rewind), and with it every write its leader acknowledged after the fork.",
        FindingCodes.StaleLeader => "A member took the leader key back after another member had been promoted on a newer timeline (a thawed "
            + "ex-leader's Patroni writing the key from its stale cache): unless it is fenced at once, the newer leader is rewound onto the old "
            + "timeline and every write it acknowledged is discarded.",
        FindingCodes.DeposedPrimary => "A member that no longer held the leader key in etcd could still take writes or take the key back "
            + "(a frozen or partitioned ex-leader): writes it acknowledges are lost, and if it retakes the key, the new leader's are.",
        FindingCodes.SplitBrain => "More than one member accepted writes at the same time: acknowledged writes on the member that loses are lost.",
        FindingCodes.PrimaryDownHoldingLock => "The primary's PostgreSQL was down or read-only while its Patroni kept the leader key and retried, "
            + "so no replica was promoted.",
        FindingCodes.LeaderMissing => "The cluster had no leader: the leader's node or Patroni went away and its key expired (or was about to), "
            + "which is the case Patroni handles by itself.",
        FindingCodes.ReplicationBroken => "A replica stopped replicating from the leader.",
        FindingCodes.ReplicationLag => "A replica fell behind the leader past the lag limit (it could not be a failover candidate within the RPO).",
        FindingCodes.ArchiveFailing => "WAL archiving failed: point-in-time recovery is at risk and WAL piles up on the primary.",
        FindingCodes.BackupStale => "No backup was taken when the schedule said one should be.",
        FindingCodes.SensorBlind => "The agent could not see part of the cluster.",
        FindingCodes.InventoryDrift => "The inventory no longer describes the cluster (pg_role or members differ from Patroni).",
        _ => "",
    };
}
