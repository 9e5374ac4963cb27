using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing.Dcs;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Detection;

/// <summary>
/// leader-not-renewing on the recorded healthy lab snapshot (pg-test-3 leads, ttl 10, loop_wait 2): the holder's
/// Patroni missed two renewals of the key's etcd lease while it writes WAL no replica receives (its postmaster's
/// children frozen, new sessions still committing).
/// </summary>
public sealed class LeaderNotRenewingDetectorTests
{
    private const string Code = LeaderNotRenewingDetector.FindingCode;

    /// <summary>The healthy snapshot <paramref name="at"/> s later, etcd naming pg-test-3 with <paramref name="leaseLeft"/> of 10 s left, its WAL at <paramref name="wal"/>.</summary>
    private static ClusterSnapshot Leading(double at, long leaseLeft, string wal, string? replicasReceive = null)
    {
        var s = Healthy(at);
        return s with
        {
            Patroni = SnapshotFusion.WithDcs(s.Patroni!, new DcsLeaderObservation(true, "pg-test-3", "/pg/pg-test/leader", "127.0.0.10:2379", 100, 90, null)
            {
                LeaseRemainingSeconds = leaseLeft,
                LeaseGrantedSeconds = 10,
            }),
            Leader = "pg-test-3",
            LeaderSource = "dcs",
            Members = s.Members.Select(m => m.Name == "pg-test-3" ? m with { WalLsn = wal }
                : replicasReceive is null ? m : m with { ReceiveLsn = replicasReceive, ReplayLsn = replicasReceive }).ToList(),
        };
    }

    [Fact]
    public void Fires_LeaseTwoRenewalsOverdueWhileTheLeaderWritesWalNoReplicaReceives_NamesTheLeaderAndTheWal()
    {
        var findings = Run(Leading(0, 9, "0/24000140"), Leading(1, 6, "0/24001000"), Leading(2, 5, "0/24002000"));

        var f = findings.Find(Code);
        Assert.NotNull(f);
        Assert.Equal(FindingSeverity.Critical, f.Severity);
        Assert.Equal(["pg-test-3"], f.Members);
        Assert.Contains("no longer renews the leader key (etcd lease: 5 of 10 s left)", f.Summary, StringComparison.Ordinal);
        Assert.Contains("0/24001000 -> 0/24002000", f.Summary, StringComparison.Ordinal);
        Assert.Null(findings.Find(FindingCodes.PrimaryFrozen));
    }

    [Fact]
    public void Silent_LeaseRenewedEveryLoop_WhateverTheReplication()
    {
        Assert.Null(Run(Leading(0, 9, "0/24000140"), Leading(1, 8, "0/24001000"), Leading(2, 9, "0/24002000")).Find(Code));
    }

    [Fact]
    public void Silent_LeaseOverdueButReplicasReceive_PatroniAloneIsStuck()
    {
        // Patroni's loop is late, but the WAL reaches the replicas: nothing is being lost (primary-frozen judges a frozen Patroni).
        var findings = Run(Leading(0, 9, "0/24000140"), Leading(1, 6, "0/24001000", "0/24001000"), Leading(2, 5, "0/24002000", "0/24002000"));

        Assert.Null(findings.Find(Code));
    }

    [Fact]
    public void Silent_LeaseOverdueOnAnIdleLeader_NoWalToLose()
    {
        Assert.Null(Run(Leading(0, 9, "0/24000140"), Leading(1, 6, "0/24000140"), Leading(2, 5, "0/24000140")).Find(Code));
    }

    [Fact]
    public void Silent_OneOverdueSnapshot_NeedsTwo()
    {
        Assert.Null(Run(Leading(0, 9, "0/24000140"), Leading(1, 9, "0/24001000"), Leading(2, 5, "0/24002000")).Find(Code));
    }

    [Fact]
    public void NotRenewingUnreplicated_FencePrecheckFact_OnlyWhileOverdueAndNoReplicaHasTheWal()
    {
        Assert.Contains("no longer renews it (etcd lease: 5 of 10 s left)", SnapshotFacts.NotRenewingUnreplicated(Leading(0, 5, "0/24002000"), "pg-test-3"), StringComparison.Ordinal);
        Assert.Null(SnapshotFacts.NotRenewingUnreplicated(Leading(0, 9, "0/24002000"), "pg-test-3"));
        Assert.Null(SnapshotFacts.NotRenewingUnreplicated(Leading(0, 5, "0/24002000", "0/24002000"), "pg-test-3"));
        Assert.Null(SnapshotFacts.NotRenewingUnreplicated(Leading(0, 5, "0/24002000"), "pg-test-1"));
    }
}
