using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Tests.Policy;

public sealed class SnapshotGuardTests
{
    private static readonly DateTimeOffset At = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static ClusterSnapshot Snapshot(string? leader, params DriftItem[] drift) => new()
    {
        Cluster = "pg-test",
        TakenAt = At,
        Inventory = new InventoryView { MaximumLagOnFailoverBytes = 2_000_000 },
        Leader = leader,
        Members =
        [
            new MemberState { Name = "pg-test-1", LagBytes = 0 },
            new MemberState { Name = "pg-test-2", LagBytes = 4096 },
            new MemberState { Name = "pg-test-3", LagUnknown = true },
        ],
        Drift = drift,
    };

    [Fact]
    public void From_HealthySnapshot_LeaderKnownLagsAndLimit()
    {
        var state = SnapshotGuard.From(Snapshot("pg-test-1"));

        Assert.True(state.LeaderKnown);
        Assert.Equal("pg-test-1", state.Leader);
        Assert.Equal(At, state.ObservedAt);
        Assert.Equal(4096, state.MemberLagBytes["pg-test-2"]);
        Assert.Null(state.MemberLagBytes["pg-test-3"]);
        Assert.Equal(2_000_000, state.MaximumLagOnFailoverBytes);
        Assert.Empty(state.Drift);
    }

    [Fact]
    public void From_NoLeaderOrCriticalDisagreement_LeaderUnknown()
    {
        var none = SnapshotGuard.From(Snapshot(null, new DriftItem("no-leader", "critical", "patroni", null, "pg-test-1", null, "no member holds the leader key")));
        var disputed = SnapshotGuard.From(Snapshot("pg-test-1",
            new DriftItem("patroni-views-disagree", "critical", "patroni/patroni", null, null, null, "pg-test-1 and pg-test-2 both report leader")));

        Assert.False(none.LeaderKnown);
        Assert.False(disputed.LeaderKnown);
        Assert.Contains("patroni-views-disagree: pg-test-1 and pg-test-2 both report leader", disputed.Drift);
    }

    [Fact]
    public void From_StaleInventoryAfterFailover_IsNotBlockingDrift()
    {
        var state = SnapshotGuard.From(Snapshot("pg-test-2",
            new DriftItem("declared-primary-not-leader", "warning", "inventory/patroni", "pg-test-1", "pg-test-1", "pg-test-2", "inventory says pg-test-1, Patroni says pg-test-2"),
            new DriftItem("role-mismatch-metrics", "info", "patroni/metrics", "pg-test-2", "leader", "replica", "metrics lag behind")));

        Assert.True(state.LeaderKnown);
        Assert.Empty(state.Drift);
    }

    [Fact]
    public void From_PatroniAndPostgresDisagree_BlockingDrift()
    {
        var state = SnapshotGuard.From(Snapshot("pg-test-1",
            new DriftItem("role-mismatch-postgres", "warning", "patroni/postgres", "pg-test-2", "replica", "primary", "Patroni says replica, PostgreSQL is not in recovery")));

        Assert.Single(state.Drift);
    }
}
