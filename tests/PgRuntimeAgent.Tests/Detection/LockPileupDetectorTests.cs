using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;
using static PgRuntimeAgent.Tests.Detection.SessionKit;

namespace PgRuntimeAgent.Tests.Detection;

/// <summary>lock-pileup on the healthy lab snapshot with the leader's lock_heads probe answering the lab's lock-pileup shape.</summary>
public sealed class LockPileupDetectorTests
{
    private const string Code = LockPileupDetector.FindingCode;

    private static ClusterSnapshot Pile(double at, int waiters = 6, double wait = 12, string? state = "idle in transaction", int pid = 4242, string member = Leader) =>
        WithRows(Healthy(at), member, "lock_heads", Head(waiters, wait + at, state, pid));

    [Fact]
    public void Detect_SixWritersQueuedBehindAnIdleTransaction_FiresWithTheHeadBlockerAsFacts()
    {
        var f = Run(Healthy(), Pile(2), Pile(8)).Find(Code);

        Assert.NotNull(f);
        Assert.Equal(FindingSeverity.Warning, f.Severity);
        Assert.Equal(Leader, f.Member);
        Assert.Equal("4242", f.Facts["pid"]);
        Assert.Equal(BlockerStart, f.Facts["backend_start"]);
        Assert.Equal("dbuser_meta", f.Facts["user"]);
        Assert.Equal("pgra-lab-lock-pileup", f.Facts["application"]);
        Assert.Equal("idle in transaction", f.Facts["state"]);
        Assert.Equal("6", f.Facts["waiters"]);
        Assert.Equal("20", f.Facts["longest_wait_seconds"]);
        Assert.Equal("UPDATE pgra_lab_lock SET v = v + ? WHERE id = ?", f.Facts["query"]);
        Assert.Equal("6 session(s) on pg-test-3 queue behind pid 4242 (user dbuser_meta, application 'pgra-lab-lock-pileup', idle in transaction for 40 s, "
            + "transaction open 41 s); the longest has waited 20 s", f.Summary);
        Assert.Contains(f.Evidence, e => e.Member == Leader && e.Observation.Contains("6 waiting (1 directly", StringComparison.Ordinal));
    }

    [Fact]
    public void Detect_BackendStartFact_IsATimeTheTerminateActionAccepts()
    {
        var f = Run(Healthy(), Pile(2), Pile(8)).Find(Code)!;

        var spec = PgRuntimeAgent.Acting.Sql.SqlTerminateBackendAction.Info.Parameters.Single(p => p.Name == "backend_start");
        Assert.Null(spec.Check(f.Facts["backend_start"]));
    }

    [Fact]
    public void Detect_OneSnapshotOnly_DoesNotFire()
    {
        Assert.Null(Run(Healthy(), Pile(2)).Find(Code));
    }

    [Fact]
    public void Detect_TransientWaitThatDrains_DoesNotFire()
    {
        // A burst: six sessions waited briefly (under wait_seconds) on two snapshots, then nobody waits.
        var findings = Run(Healthy(), Pile(2, wait: 1 - 2), Pile(4, wait: 3 - 4), Healthy(6));

        Assert.Null(findings.Find(Code));
    }

    [Fact]
    public void Detect_FewerWaitersThanTheThreshold_DoesNotFireUntilTheThresholdIsLowered()
    {
        ClusterSnapshot Two(double at) => Pile(at, waiters: 2);

        Assert.Null(Run(Healthy(), Two(2), Two(8)).Find(Code));

        var settings = DetectionSettings.Default.WithThreshold(Code, "min_waiters", 2);
        Assert.NotNull(Run(settings, Healthy(), Two(2), Two(8)).Find(Code));
    }

    [Fact]
    public void Detect_WaitSecondsThreshold_IsRespected()
    {
        var settings = DetectionSettings.Default.WithThreshold(Code, "wait_seconds", 60);

        Assert.Null(Run(settings, Healthy(), Pile(2), Pile(8)).Find(Code));
        Assert.NotNull(Run(settings, Healthy(), Pile(50), Pile(56)).Find(Code));
    }

    [Fact]
    public void Detect_WaitersAtTheCriticalThreshold_IsCritical()
    {
        var f = Run(Healthy(), Pile(2, waiters: 25), Pile(8, waiters: 25)).Find(Code);

        Assert.NotNull(f);
        Assert.Equal(FindingSeverity.Critical, f.Severity);
    }

    [Fact]
    public void Detect_OnAReplica_NamesTheReplica()
    {
        var f = Run(Healthy(), Pile(2, member: "pg-test-1", state: "active"), Pile(8, member: "pg-test-1", state: "active")).Find(Code);

        Assert.NotNull(f);
        Assert.Equal("pg-test-1", f.Member);
        Assert.Equal("active", f.Facts["state"]);
    }

    [Fact]
    public void Detect_PreparedTransactionHead_SaysSoAndMarksTheFact()
    {
        var f = Run(Healthy(), Pile(2, pid: 0), Pile(8, pid: 0)).Find(Code);

        Assert.NotNull(f);
        Assert.Equal("true", f.Facts["prepared"]);
        Assert.False(f.Facts.ContainsKey("backend_start"));
        Assert.Contains("a prepared transaction", f.Summary, StringComparison.Ordinal);
    }
}
