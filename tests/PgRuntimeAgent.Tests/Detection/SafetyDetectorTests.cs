using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing.Dcs;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Detection;

/// <summary>deposed-primary and timeline-rollback on recorded lab snapshots (healthy: pg-test-3 leads timeline 12).</summary>
public sealed class SafetyDetectorTests
{
    private static ClusterSnapshot Etcd(ClusterSnapshot s, string? holder, bool read = true) => s with
    {
        Patroni = SnapshotFusion.WithDcs(s.Patroni!, read
            ? new DcsLeaderObservation(true, holder, "/pg/pg-test/leader", "127.0.0.10:2379", 100, 90, null)
            : DcsLeaderObservation.Unknown("/pg/pg-test/leader", "connection refused")),
        Leader = read ? holder : s.Leader,
        LeaderSource = read ? "dcs" : s.LeaderSource,
    };

    private static ClusterSnapshot Writable(ClusterSnapshot s, string member) => s with
    {
        Members = s.Members.Select(m => m.Name == member ? m with { InRecovery = false, PostgresReachable = true, WalLsn = "0/25000000" } : m).ToList(),
    };

    [Fact]
    public void DeposedPrimary_MemberTakesWritesWhileEtcdGivesTheKeyToAnother_FiresOnTheFirstSnapshot()
    {
        var h = Etcd(Healthy(), "pg-test-3");

        var findings = Run(h, Writable(Etcd(Shift(Healthy(), 1), "pg-test-3"), "pg-test-1"));

        var f = findings.Find(FindingCodes.DeposedPrimary);
        Assert.NotNull(f);
        Assert.Equal(FindingSeverity.Critical, f.Severity);
        Assert.Equal(["pg-test-1"], f.Members);
        Assert.Contains("accepts writes", f.Summary, StringComparison.Ordinal);
        Assert.Contains("etcd gives the leader key to pg-test-3", f.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void PrimaryDownHoldingLock_MemberThatJustTookTheKeyIsPromoting_WaitsOutTheGraceThenFires()
    {
        // pg-test-3 leads; then etcd gives the key to pg-test-1, still in recovery (Patroni promotes it, slowly on a loaded host).
        var before = Etcd(Healthy(), "pg-test-3");
        var promoting = Enumerable.Range(1, 5).Select(i => Etcd(Shift(Healthy(), i), "pg-test-1")).ToList();

        Assert.Null(Run([before, .. promoting]).Find(FindingCodes.PrimaryDownHoldingLock));

        var stuck = Run([before, .. promoting, Etcd(Shift(Healthy(), 11), "pg-test-1"), Etcd(Shift(Healthy(), 12), "pg-test-1")]).Find(FindingCodes.PrimaryDownHoldingLock);
        Assert.NotNull(stuck);
        Assert.Equal("pg-test-1", stuck.Member);
    }

    [Fact]
    public void PrimaryDownHoldingLock_HolderWasWritableSinceItTookTheKey_NoGrace()
    {
        var before = Etcd(Healthy(), "pg-test-3");
        var took = Writable(Etcd(Shift(Healthy(), 1), "pg-test-1"), "pg-test-1");

        var f = Run(before, took, Etcd(Shift(Healthy(), 2), "pg-test-1"), Etcd(Shift(Healthy(), 4), "pg-test-1")).Find(FindingCodes.PrimaryDownHoldingLock);

        Assert.NotNull(f);
        Assert.Equal("pg-test-1", f.Member);
    }

    private static ClusterSnapshot OnTimeline(ClusterSnapshot s, string member, long timeline) => s with
    {
        Members = s.Members.Select(m => m.Name == member ? m with { Timeline = timeline } : m).ToList(),
    };

    [Fact]
    public void StaleLeader_KeyTakenBackOnAnOlderTimeline_FencesTheHolderNotTheNewerLeader()
    {
        // pg-test-3 leads timeline 12; pg-test-1 is promoted on 13 and holds the key; then pg-test-3 (thawed, still a
        // primary on 12) writes the key back while pg-test-1 still takes writes on 13.
        var before = Etcd(Healthy(), "pg-test-3");
        var promoted = OnTimeline(Writable(Etcd(Shift(Healthy(), 12), "pg-test-1"), "pg-test-1"), "pg-test-1", 13);
        var takenBack = OnTimeline(Writable(Etcd(Shift(Healthy(), 14), "pg-test-3"), "pg-test-1"), "pg-test-1", 13);

        var findings = Run(before, promoted, takenBack);

        var f = findings.Find(FindingCodes.StaleLeader);
        Assert.NotNull(f);
        Assert.Equal(FindingSeverity.Critical, f.Severity);
        Assert.Equal(["pg-test-3", "pg-test-1"], f.Members);
        Assert.Contains("took the leader key back on timeline 12 while pg-test-1 is on timeline 13", f.Summary, StringComparison.Ordinal);
        Assert.DoesNotContain(findings, x => x.Code == FindingCodes.DeposedPrimary && x.Member == "pg-test-1");
        Assert.Equal("pg-test-1", SnapshotFacts.NewerTimelineThanHolder(takenBack)?.Member);
    }

    [Fact]
    public void StaleLeader_HolderFrozenWhenItTookTheKeyBackAndTheNewLeadersTenureFellBetweenSnapshots_StillFires()
    {
        // pg-test-3 leads timeline 12, freezes (answers nothing), its key expires; pg-test-1's tenure on 13 is not
        // sampled; then etcd names pg-test-3 again while it is still silent (being fenced) and pg-test-1 takes writes on 13.
        var before = Etcd(Healthy(), "pg-test-3");
        var frozen = Etcd(Frozen(Shift(Healthy(), 6), rest: true), null);
        var takenBack = OnTimeline(Writable(Etcd(Frozen(Shift(Healthy(), 14), rest: true), "pg-test-3"), "pg-test-1"), "pg-test-1", 13);

        var findings = Run(before, frozen, takenBack);

        Assert.Equal(["pg-test-3", "pg-test-1"], findings.Find(FindingCodes.StaleLeader)?.Members);
        Assert.DoesNotContain(findings, x => x.Code == FindingCodes.DeposedPrimary && x.Member == "pg-test-1");
    }

    [Fact]
    public void StaleLeader_NewLeaderStillPromotingOrNewerMemberNeverHeldTheKey_Silent()
    {
        var before = Etcd(Healthy(), "pg-test-3");
        var promoting = OnTimeline(Etcd(Shift(Healthy(), 12), "pg-test-1"), "pg-test-3", 13);
        var rogue = OnTimeline(Writable(Etcd(Shift(Healthy(), 14), "pg-test-3"), "pg-test-2"), "pg-test-2", 13);

        Assert.Null(Run(before, promoting).Find(FindingCodes.StaleLeader));
        Assert.Null(SnapshotFacts.NewerTimelineThanHolder(promoting));
        var findings = Run(before, rogue);
        Assert.Null(findings.Find(FindingCodes.StaleLeader));
        Assert.Contains(findings, x => x.Code == FindingCodes.DeposedPrimary && x.Member == "pg-test-2");
    }

    [Fact]
    public void DeposedPrimary_EtcdNotRead_NothingOnAVoteOfViews()
    {
        var findings = Run(Healthy(), Writable(Etcd(Shift(Healthy(), 1), null, read: false), "pg-test-1"));

        Assert.Null(findings.Find(FindingCodes.DeposedPrimary));
    }

    [Fact]
    public void DeposedPrimary_LeaderFrozeAndEtcdMovedTheKey_FrozenExLeaderIsAHazard()
    {
        var before = Etcd(Healthy(), "pg-test-3");
        var frozen = Etcd(Frozen(Shift(Healthy(), 2), rest: true), "pg-test-1");

        var findings = Run(before, frozen);

        var f = findings.Find(FindingCodes.DeposedPrimary);
        Assert.NotNull(f);
        Assert.Equal(["pg-test-3"], f.Members);
        Assert.Contains("frozen", f.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void DeposedPrimary_FrozenMemberThatWasAReplica_NotAHazard()
    {
        // Before: pg-test-1 leads, pg-test-3 is a replica in recovery. Then pg-test-3 freezes.
        var h = Healthy();
        var before = Writable(Etcd(h, "pg-test-1"), "pg-test-1") with
        {
            Members = Writable(h, "pg-test-1").Members.Select(m => m.Name == "pg-test-3" ? m with { InRecovery = true, WalLsn = null } : m).ToList(),
        };
        before = before with
        {
            Patroni = before.Patroni! with
            {
                Members = before.Patroni.Members.Select(v => v.Member == "pg-test-3" && v.Node is { } n
                    ? v with { Node = n with { Role = PgRuntimeAgent.Sensing.Patroni.PatroniRole.Replica, RawRole = "replica" } } : v).ToList(),
            },
        };
        var frozen = Etcd(Frozen(Shift(h, 2), rest: true), "pg-test-1");

        Assert.Null(Run(before, frozen).Find(FindingCodes.DeposedPrimary));
    }

    [Fact]
    public void DeposedPrimary_PatroniPaused_Silent()
    {
        var s = Writable(Etcd(Shift(Healthy(), 1), "pg-test-3"), "pg-test-1");

        Assert.Null(Run(Healthy(), s with { Patroni = s.Patroni! with { Paused = true } }).Find(FindingCodes.DeposedPrimary));
    }

    [Fact]
    public void TimelineRollback_LeaderBackOnALowerTimeline_CriticalWithTheDiscardedWal()
    {
        var h = Healthy();
        var newer = Shift(h, 1) with
        {
            Timeline = 13,
            Leader = "pg-test-2",
            Members = h.Members.Select(m => m.Name switch
            {
                "pg-test-2" => m with { InRecovery = false, Timeline = 13, WalLsn = "0/24100000" },
                "pg-test-3" => m with { InRecovery = null, PostgresReachable = false },
                _ => m,
            }).ToList(),
            Patroni = h.Patroni! with { History = [new PgRuntimeAgent.Sensing.Patroni.PatroniHistoryEntry(12, 0x24000000, "no recovery target specified", null, "pg-test-2")] },
        };
        var back = Shift(h, 5);

        var findings = Run(h, newer, back);

        var f = findings.Find(FindingCodes.TimelineRollback);
        Assert.NotNull(f);
        Assert.Equal(["pg-test-2"], f.Members);
        Assert.Contains("from 13 to 12", f.Summary, StringComparison.Ordinal);
        Assert.Contains("at least 1048576 bytes", f.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void TimelineRollback_TimelineOnlyMovesForward_Silent()
    {
        var h = Healthy();
        var later = Shift(h, 3) with { Timeline = 13, Members = h.Members.Select(m => m with { Timeline = 13 }).ToList() };

        Assert.Null(Run(h, later).Find(FindingCodes.TimelineRollback));
    }

    [Fact]
    public void PrimaryFrozen_LeadersPatroniGoneWhilePostgresTakesWrites_FiresSoTheKeyDoesNotExpireUnderAWritablePrimary()
    {
        static ClusterSnapshot PatroniGone(ClusterSnapshot s) => s with
        {
            SensorDetails = s.SensorDetails.Select(d => d.Target == "pg-test-3" && d.Sensor == PgRuntimeAgent.Sensing.SensorNames.Patroni
                ? d with { Health = PgRuntimeAgent.Sensing.SensorHealth.Unknown, Reason = "GET http://127.0.0.13:8008/patroni: Connection refused" } : d).ToList(),
            Patroni = s.Patroni! with
            {
                Members = s.Patroni.Members.Select(v => v.Member == "pg-test-3" ? v with { Reachable = false, Node = null, Cluster = null, Errors = ["Connection refused"] } : v).ToList(),
            },
            Members = s.Members.Select(m => m.Name == "pg-test-3" ? m with { Reachable = false } : m).ToList(),
        };

        var findings = Run(Healthy(), PatroniGone(Shift(Healthy(), 2)), PatroniGone(Shift(Healthy(), 4)), PatroniGone(Shift(Healthy(), 6)));

        var f = findings.Find(FindingCodes.PrimaryFrozen);
        Assert.NotNull(f);
        Assert.Contains("Patroni is gone while PostgreSQL takes writes", f.Summary, StringComparison.Ordinal);
        Assert.Null(Run(Healthy(), PatroniGone(Shift(Healthy(), 2))).Find(FindingCodes.PrimaryFrozen));
    }
}
