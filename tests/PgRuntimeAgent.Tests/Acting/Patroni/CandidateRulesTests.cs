using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Tests.Acting.Patroni.ActingSnapshots;

namespace PgRuntimeAgent.Tests.Acting.Patroni;

public sealed class CandidateRulesTests
{
    [Fact]
    public void Choose_HealthyReplicas_SmallestLagWins()
    {
        var s = Healthy(lag2: 40_000, lag3: 1_000);

        var evaluations = CandidateRules.EvaluateAll(s, CandidatePurpose.AutomaticSwitchover);
        var chosen = CandidateRules.Choose(s, evaluations);

        Assert.Equal(["pg-test-2", "pg-test-3"], evaluations.Select(e => e.Member));
        Assert.All(evaluations, e => Assert.True(e.Eligible, e.Describe()));
        Assert.Equal("pg-test-3", chosen?.Member);
        Assert.Equal(1_000, chosen?.LagBytes);
    }

    [Fact]
    public void Choose_EqualLag_InventoryOrderWins()
    {
        var s = Healthy();

        Assert.Equal("pg-test-2", CandidateRules.Choose(s, CandidateRules.EvaluateAll(s, CandidatePurpose.AutomaticSwitchover))?.Member);
    }

    [Fact]
    public void Evaluate_ReplayPausedButWalReceived_LagCountsUnreplayedWal()
    {
        // Patroni reports lag 0 (it counts received WAL), but 5 MiB are not replayed yet.
        var s = Snapshot("pg-test-1", [Leader(), Replica("pg-test-2"), Replica("pg-test-3", patroniLag: 0, replayBehind: 5 * 1024 * 1024)]);

        var e = CandidateRules.Evaluate(s, "pg-test-3", CandidatePurpose.Failover);

        Assert.False(e.Eligible);
        Assert.Equal(5 * 1024 * 1024, e.LagBytes);
        Assert.Contains("it lags 5242880 bytes, past maximum_lag_on_failover 1048576 bytes", e.Problems);
        Assert.Equal(5 * 1024 * 1024, CandidateRules.EffectiveLag(s, s.FindMember("pg-test-3")!));
    }

    [Fact]
    public void Evaluate_LagWithinLimit_Eligible()
    {
        var s = Healthy(lag3: 1_048_576);

        Assert.True(CandidateRules.Evaluate(s, "pg-test-3", CandidatePurpose.Failover).Eligible);
        Assert.False(CandidateRules.Evaluate(Healthy(lag3: 1_048_577), "pg-test-3", CandidatePurpose.Failover).Eligible);
    }

    [Fact]
    public void Evaluate_LimitFromPatroniConfig_OverridesInventory()
    {
        var s = Snapshot("pg-test-1", [Leader(), Replica("pg-test-2", 2_000_000), Replica("pg-test-3")], maximumLag: 4_000_000);

        Assert.Equal(4_000_000, CandidateRules.LagLimit(s));
        Assert.True(CandidateRules.Evaluate(s, "pg-test-2", CandidatePurpose.Failover).Eligible);
        Assert.Equal(1_048_576, CandidateRules.LagLimit(s with { Patroni = s.Patroni! with { Config = null } }));
    }

    [Fact]
    public void Evaluate_NoFailoverTag_NeverEligible()
    {
        var s = Snapshot("pg-test-1", [Leader(), Replica("pg-test-2"), Replica("pg-test-3")],
            tags: new Dictionary<string, Dictionary<string, string>> { ["pg-test-2"] = new() { ["nofailover"] = "true" } });

        var auto = CandidateRules.Evaluate(s, "pg-test-2", CandidatePurpose.AutomaticSwitchover);
        var named = CandidateRules.Evaluate(s, "pg-test-2", CandidatePurpose.NamedSwitchover);

        Assert.Contains("tagged nofailover", auto.Problems);
        Assert.Contains("tagged nofailover", named.Problems);
        Assert.Equal("pg-test-3", CandidateRules.Choose(s, CandidateRules.EvaluateAll(s, CandidatePurpose.AutomaticSwitchover))?.Member);
    }

    [Fact]
    public void Evaluate_NoLoadBalanceTag_ExcludedFromAutomaticChoiceOnly()
    {
        var s = Snapshot("pg-test-1", [Leader(), Replica("pg-test-2"), Replica("pg-test-3")],
            tags: new Dictionary<string, Dictionary<string, string>> { ["pg-test-2"] = new() { ["noloadbalance"] = "true" } });

        var auto = CandidateRules.Evaluate(s, "pg-test-2", CandidatePurpose.AutomaticSwitchover);
        var named = CandidateRules.Evaluate(s, "pg-test-2", CandidatePurpose.NamedSwitchover);

        Assert.False(auto.Eligible);
        Assert.Contains("tagged noloadbalance", auto.Problems);
        Assert.True(named.Eligible);
        Assert.Contains("tagged noloadbalance", named.Notes);
    }

    [Fact]
    public void Evaluate_NotStreaming_RefusedForSwitchoverAllowedForFailover()
    {
        var s = Snapshot("pg-test-1", [Leader(), Replica("pg-test-2", streaming: false), Replica("pg-test-3")]);

        Assert.Contains("pg-test-1 is not streaming WAL to it", CandidateRules.Evaluate(s, "pg-test-2", CandidatePurpose.NamedSwitchover).Problems);
        Assert.True(CandidateRules.Evaluate(s, "pg-test-2", CandidatePurpose.Failover).Eligible);
    }

    [Fact]
    public void Evaluate_LagUnknown_NotEligible()
    {
        var s = Snapshot("pg-test-1", [Leader() with { WalLsn = null }, Replica("pg-test-2", lagUnknown: true), Replica("pg-test-3")]);

        var e = CandidateRules.Evaluate(s, "pg-test-2", CandidatePurpose.Failover);

        Assert.Null(e.LagBytes);
        Assert.Contains("its lag is unknown", e.Problems);
    }

    [Fact]
    public void Evaluate_DownOrOtherTimelineOrLeader_NotEligibleWithReasons()
    {
        var down = Replica("pg-test-2") with { Reachable = false, PostgresRunning = false };
        var s = Snapshot("pg-test-1", [Leader(), down, Replica("pg-test-3", timeline: 6)]);

        var e2 = CandidateRules.Evaluate(s, "pg-test-2", CandidatePurpose.Failover);
        var e3 = CandidateRules.Evaluate(s, "pg-test-3", CandidatePurpose.Failover);
        var e1 = CandidateRules.Evaluate(s, "pg-test-1", CandidatePurpose.Failover);
        var e9 = CandidateRules.Evaluate(s, "pg-test-9", CandidatePurpose.Failover);

        Assert.Contains("its Patroni API does not answer", e2.Problems);
        Assert.Contains("PostgreSQL is not running", e2.Problems);
        Assert.Contains("it is on timeline 6, the leader on 7", e3.Problems);
        Assert.Contains("it is the leader", e1.Problems);
        Assert.False(e9.Eligible);
        Assert.Null(CandidateRules.Choose(s, [e2, e3]));
    }

    [Fact]
    public void StateProvider_FromSnapshot_LagIsEffectiveAndOnlyCriticalDriftCounts()
    {
        var drift = new List<DriftItem>
        {
            new("declared-primary-not-leader", "warning", "inventory/patroni", "pg-test-1", "pg-test-1", "pg-test-2", "pg_role is stale"),
            new("ha-config-differs", "info", "inventory/patroni", null, "loop_wait=5", "loop_wait=2", "loop_wait differs"),
        };
        var s = Snapshot("pg-test-1", [Leader(), Replica("pg-test-2", 100), Replica("pg-test-3", 0, replayBehind: 3_000_000)], drift: drift);

        var state = SnapshotClusterStateProvider.FromSnapshot(s);

        Assert.True(state.LeaderKnown);
        Assert.Equal("pg-test-1", state.Leader);
        Assert.Empty(state.Drift);
        Assert.Equal(100, state.MemberLagBytes["pg-test-2"]);
        Assert.Equal(3_000_000, state.MemberLagBytes["pg-test-3"]);
        Assert.False(state.MemberLagBytes.ContainsKey("pg-test-1"));
        Assert.Equal(1_048_576, state.MaximumLagOnFailoverBytes);
        Assert.Equal(s.TakenAt, state.ObservedAt);
    }

    [Fact]
    public void StateProvider_FromSnapshot_CriticalDriftOrNoLeader_LeaderNotKnown()
    {
        var split = new DriftItem("role-mismatch-postgres", "critical", "patroni/postgres", "pg-test-2", "in recovery", "not in recovery", "a second writable primary");
        var disputed = SnapshotClusterStateProvider.FromSnapshot(Snapshot("pg-test-1", [Leader(), Replica("pg-test-2")], drift: [split]));
        var none = SnapshotClusterStateProvider.FromSnapshot(Snapshot(null, [Replica("pg-test-2"), Replica("pg-test-3")],
            drift: [new DriftItem("no-leader", "critical", "patroni", null, null, null, "no leader key")]));

        Assert.Equal(["role-mismatch-postgres: a second writable primary"], disputed.Drift);
        Assert.False(none.LeaderKnown);
        Assert.Null(none.Leader);
    }
}
