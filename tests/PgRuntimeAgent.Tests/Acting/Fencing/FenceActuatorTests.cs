using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Fencing;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Tests.Acting.Patroni;
using PgRuntimeAgent.Tests.Sensing;
using static PgRuntimeAgent.Tests.Acting.Patroni.ActingSnapshots;

namespace PgRuntimeAgent.Tests.Acting.Fencing;

public sealed class FenceActuatorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static FenceActuator Create(PolicySettings policy, bool local, params PgRuntimeAgent.Sensing.Snapshot.ClusterSnapshot[] snapshots) =>
        new(new ScriptedSensing(SensingFixtures.Topology(SensingFixtures.Cluster()), snapshots), policy,
            new ProcessTable(Directory.CreateTempSubdirectory("pgra-empty-proc-").FullName), NullLogger.Instance)
        {
            IsLocal = _ => local,
        };

    [Fact]
    public void Plan_IrreversibleHighRiskLossBounded()
    {
        var action = FenceActuator.Plan("pg-test", "pg-test-1");

        Assert.False(action.Reversible);
        Assert.Equal(ActionRisk.High, action.Risk);
        Assert.Equal("member.fence", action.Kind);
        Assert.True(action.LossBounded);
        Assert.Equal(4, PolicyGate.RequiredLevel(action with { Trigger = ActionTrigger.Proactive }));
        Assert.Equal(3, PolicyGate.RequiredLevel(action with { Trigger = ActionTrigger.Reactive }));
    }

    [Fact]
    public async Task Precheck_HealthyLeader_Refused()
    {
        var fence = Create(new PolicySettings(), local: true, Healthy());

        var precheck = await fence.PrecheckAsync(FenceActuator.Plan("pg-test", "pg-test-1"), Ct);

        Assert.False(precheck.Passed);
        Assert.Contains(precheck.Checks, c => c is { Name: "not-a-healthy-leader", Passed: false });
    }

    [Fact]
    public async Task Precheck_FrozenOldLeader_PassesLocally()
    {
        // The frozen leader's own API and SQL time out; the others still hold the cluster.
        var frozen = Leader() with { Reachable = false, PostgresReachable = null };
        var fence = Create(new PolicySettings(), local: true, Snapshot("pg-test-1", [frozen, Replica("pg-test-2"), Replica("pg-test-3")]));

        var precheck = await fence.PrecheckAsync(FenceActuator.Plan("pg-test", "pg-test-1"), Ct);

        Assert.True(precheck.Passed, string.Join("; ", precheck.Checks.Select(c => $"{c.Name}: {c.Detail}")));
        Assert.Contains(precheck.Checks, c => c.Name == "how" && c.Detail.Contains("is local", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Precheck_RemoteWithoutAllowListedCommand_Refused()
    {
        var broken = Replica("pg-test-3") with { Reachable = false, PostgresRunning = false };
        var snapshot = Snapshot("pg-test-1", [Leader(), Replica("pg-test-2"), broken]);
        var without = Create(new PolicySettings(), local: false, snapshot);
        var with = Create(new PolicySettings { SshCommands = new Dictionary<string, string> { ["fence-member"] = "sudo systemctl kill -s SIGKILL patroni" } }, local: false, snapshot);

        var refused = await without.PrecheckAsync(FenceActuator.Plan("pg-test", "pg-test-3"), Ct);
        var allowed = await with.PrecheckAsync(FenceActuator.Plan("pg-test", "pg-test-3"), Ct);

        Assert.Contains(refused.Checks, c => c is { Name: "how", Passed: false } && c.Detail.Contains("policy.ssh_commands has no 'fence-member'", StringComparison.Ordinal));
        Assert.True(allowed.Passed);
    }

    [Fact]
    public async Task Precheck_NoOtherMemberRuns_Refused()
    {
        var down = Replica("pg-test-2") with { Reachable = false, PostgresRunning = false };
        var fence = Create(new PolicySettings(), local: true, Snapshot(null, [Leader() with { Reachable = false }, down, down with { Name = "pg-test-3" }]));

        var precheck = await fence.PrecheckAsync(FenceActuator.Plan("pg-test", "pg-test-1"), Ct);

        Assert.Contains(precheck.Checks, c => c is { Name: "others-run", Passed: false });
    }

    [Fact]
    public async Task Execute_NothingListening_SucceedsWithoutKilling()
    {
        var fence = Create(new PolicySettings(), local: true, Healthy());

        var result = await fence.ExecuteAsync(FenceActuator.Plan("pg-test", "pg-test-3"), Ct);

        Assert.True(result.Succeeded);
        Assert.Equal("none", result.Details["killed_pids"]);
        Assert.Contains("already down", result.Message, StringComparison.Ordinal);
    }
}
