using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Tests.Acting.Patroni;

namespace PgRuntimeAgent.Tests.Sensing;

/// <summary>What a failover decision is judged by: the last writable leader position and each member's loss.</summary>
public sealed class FailoverFactsTests
{
    private const long NineMiB = 9_680_000;

    [Fact]
    public void WithFailoverFacts_WritableLeader_RecordsItsPositionAndTheReplicasUnreceivedWal()
    {
        var snapshot = ActingSnapshots.Snapshot("pg-test-1",
            [ActingSnapshots.Leader(), ActingSnapshots.Replica("pg-test-2", patroniLag: 100, replayBehind: 4096), ActingSnapshots.Replica("pg-test-3")]);

        var facts = SnapshotFusion.WithFailoverFacts(snapshot, previous: null);

        Assert.Equal(new WritablePosition("pg-test-1", Lsn.Format(ActingSnapshots.LeaderWal), 7, snapshot.TakenAt), facts.LastWritable);
        Assert.Null(facts.FindMember("pg-test-1")!.UnreceivedBytes);
        Assert.Equal(4096, facts.FindMember("pg-test-2")!.UnreceivedBytes);
        Assert.Equal(0, facts.FindMember("pg-test-1")!.FailoverLagBytes);
        Assert.Equal(4096, facts.FindMember("pg-test-2")!.FailoverLagBytes); // replay lag beats Patroni's 100 bytes
        Assert.Equal(0, facts.FindMember("pg-test-3")!.FailoverLagBytes);
    }

    [Fact]
    public void WithFailoverFacts_LeaderCrashLoopingAfterAWritablePosition_JudgesCandidatesByWhatTheyMissOfIt()
    {
        // The leader's PostgreSQL restarts read-only on a full WAL disk; Patroni's optime moved 9 MiB past the replicas
        // with WAL of failed recoveries, but they hold everything written while the leader took writes.
        var seen = new WritablePosition("pg-test-1", Lsn.Format(ActingSnapshots.LeaderWal), 7, new DateTimeOffset(2026, 3, 1, 11, 59, 58, TimeSpan.Zero));
        var dying = ActingSnapshots.Leader() with { InRecovery = true, WalLsn = Lsn.Format(ActingSnapshots.LeaderWal + NineMiB) };
        var snapshot = ActingSnapshots.Snapshot("pg-test-1",
            [dying, ActingSnapshots.Replica("pg-test-2", patroniLag: NineMiB), ActingSnapshots.Replica("pg-test-3", patroniLag: NineMiB, replayBehind: 512)]);

        var facts = SnapshotFusion.WithFailoverFacts(snapshot, seen);

        Assert.Equal(seen, facts.LastWritable);
        Assert.Equal(0, facts.FindMember("pg-test-2")!.FailoverLagBytes);
        Assert.Equal(512, facts.FindMember("pg-test-3")!.FailoverLagBytes);
        Assert.Null(facts.FindMember("pg-test-1")!.FailoverLagBytes);
    }

    [Fact]
    public void WithFailoverFacts_LeaderDeadAndNeverSeenWritable_FallsBackToPatronisLag()
    {
        var dead = ActingSnapshots.Leader() with { PostgresReachable = false, InRecovery = null, Reachable = false };
        var snapshot = ActingSnapshots.Snapshot("pg-test-1", [dead, ActingSnapshots.Replica("pg-test-2", patroniLag: NineMiB), ActingSnapshots.Replica("pg-test-3", lagUnknown: true)]);

        var facts = SnapshotFusion.WithFailoverFacts(snapshot, previous: null);

        Assert.Null(facts.LastWritable);
        Assert.Equal(NineMiB, facts.FindMember("pg-test-2")!.FailoverLagBytes);
        Assert.Equal(0, facts.FindMember("pg-test-3")!.FailoverLagBytes); // replay position equals the leader's last WAL
    }

    [Fact]
    public void WithFailoverFacts_AppliedTwice_GivesTheSameSnapshotJson()
    {
        var seen = new WritablePosition("pg-test-1", Lsn.Format(ActingSnapshots.LeaderWal), 7, new DateTimeOffset(2026, 3, 1, 11, 59, 58, TimeSpan.Zero));
        var snapshot = ActingSnapshots.Snapshot("pg-test-1", [ActingSnapshots.Leader() with { InRecovery = true }, ActingSnapshots.Replica("pg-test-2", replayBehind: 100)]);

        var once = SnapshotFusion.WithFailoverFacts(snapshot, seen);
        var twice = SnapshotFusion.WithFailoverFacts(once, once.LastWritable);

        Assert.Equal(SnapshotJson.Serialize(once, indented: false), SnapshotJson.Serialize(twice, indented: false));
        Assert.Contains("\"failover_lag_bytes\":100", SnapshotJson.Serialize(once, indented: false), StringComparison.Ordinal);
    }
}
