using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Tests.Sensing;

/// <summary>A replica's lag in bytes is what it has not REPLAYED of the leader's WAL; what a failover loses stays the unreceived WAL.</summary>
public sealed class ReplayLagFusionTests
{
    private const long LeaderWal = 0x5_0100_0000;
    private const long StalledBytes = 16_800_000;

    /// <summary>
    /// Patroni 3.0 as the lab showed it: pg-test-1 leads at <see cref="LeaderWal"/>; pg-test-2 received everything but
    /// its startup process is stopped, so replay stands <paramref name="replayBehind"/> bytes back; Patroni's /cluster
    /// still says lag 0 (measured from the received position).
    /// </summary>
    private static PatroniObservation Patroni(long replayBehind, bool replicaNodeAnswers = true)
    {
        var view = new PatroniClusterView
        {
            Leader = "pg-test-1",
            Members =
            [
                new PatroniClusterMember { Name = "pg-test-1", Role = PatroniRole.Leader, RawRole = "leader", State = "running", Timeline = 3 },
                new PatroniClusterMember { Name = "pg-test-2", Role = PatroniRole.Replica, RawRole = "replica", State = "streaming", Timeline = 3, LagBytes = 0 },
                new PatroniClusterMember { Name = "pg-test-3", Role = PatroniRole.Replica, RawRole = "replica", State = "streaming", Timeline = 3, LagBytes = 0 },
            ],
        };
        return new PatroniObservation
        {
            Leader = "pg-test-1",
            Timeline = 3,
            Members =
            [
                new PatroniMemberView
                {
                    Member = "pg-test-1", ApiUrl = "http://127.0.0.11:8008/", Reachable = true, Cluster = view,
                    Node = new PatroniNodeStatus { State = "running", Role = PatroniRole.Leader, Timeline = 3, WalPosition = LeaderWal },
                },
                new PatroniMemberView
                {
                    Member = "pg-test-2", ApiUrl = "http://127.0.0.12:8008/", Reachable = replicaNodeAnswers, Cluster = replicaNodeAnswers ? view : null,
                    Node = replicaNodeAnswers
                        ? new PatroniNodeStatus { State = "streaming", Role = PatroniRole.Replica, Timeline = 3, ReceivedPosition = LeaderWal, ReplayedPosition = LeaderWal - replayBehind }
                        : null,
                },
                new PatroniMemberView
                {
                    Member = "pg-test-3", ApiUrl = "http://127.0.0.13:8008/", Reachable = true, Cluster = view,
                    Node = new PatroniNodeStatus { State = "streaming", Role = PatroniRole.Replica, Timeline = 3, ReceivedPosition = LeaderWal, ReplayedPosition = LeaderWal },
                },
            ],
        };
    }

    private static ClusterSnapshot Fused(PatroniObservation patroni)
    {
        var cluster = SensingFixtures.Cluster();
        var (members, leader, source, timeline) = SnapshotFusion.FuseMembers(cluster, patroni, metrics: null, postgres: []);
        var snapshot = new ClusterSnapshot
        {
            Cluster = cluster.Name,
            TakenAt = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero),
            Inventory = InventoryView.From(cluster, "/tmp/test-inventory.yml"),
            Members = members
                .Select(m => m with { PostgresReachable = true, InRecovery = m.Name != "pg-test-1" })
                .ToList(),
            Leader = leader,
            LeaderSource = source,
            Timeline = timeline,
            Patroni = patroni,
        };
        return SnapshotFusion.WithFailoverFacts(snapshot, previous: null);
    }

    [Fact]
    public void FuseMembers_ReplayStandsStillWhileEverythingIsReceived_LagIsLeaderWalMinusReplayNotPatronisZero()
    {
        var replica = Fused(Patroni(replayBehind: StalledBytes)).FindMember("pg-test-2")!;

        Assert.Equal(StalledBytes, replica.LagBytes);
        var note = Assert.Single(replica.Notes, n => n.StartsWith("lag bytes", StringComparison.Ordinal));
        Assert.Contains($"leader WAL {Lsn.Format(LeaderWal)} - replay {Lsn.Format(LeaderWal - StalledBytes)}", note, StringComparison.Ordinal);
        Assert.Contains("Patroni's /cluster lag is 0", note, StringComparison.Ordinal);
    }

    [Fact]
    public void WithFailoverFacts_ReplayStalled_FailoverStillLosesOnlyUnreceivedWal()
    {
        var snapshot = Fused(Patroni(replayBehind: StalledBytes));

        var replica = snapshot.FindMember("pg-test-2")!;
        Assert.Equal(0, replica.UnreceivedBytes); // everything was received: a promotion replays it first
        Assert.Equal(StalledBytes, replica.FailoverLagBytes); // and must replay it all before taking writes
        Assert.Equal(0, snapshot.FindMember("pg-test-3")!.LagBytes);
    }

    [Fact]
    public void FuseMembers_NoReplayPositionForTheReplica_FallsBackToPatronisLagAndSaysSo()
    {
        var replica = Fused(Patroni(replayBehind: StalledBytes, replicaNodeAnswers: false)).FindMember("pg-test-2")!;

        Assert.Equal(0, replica.LagBytes);
        Assert.Contains(replica.Notes, n => n.StartsWith("lag bytes from Patroni", StringComparison.Ordinal));
    }
}
