using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Tests.Acting.Patroni;
using PgRuntimeAgent.Tests.Sensing;
using static PgRuntimeAgent.Tests.Acting.Patroni.ActingSnapshots;

namespace PgRuntimeAgent.Tests.Acting.Planning;

/// <summary>patroni.reinit, sql.checkpoint and backup.run planned from a skill step's <c>with:</c> and from <c>pgra act</c>'s parameters.</summary>
public sealed class MaintenanceActionPlanningTests
{
    private static readonly FakeTimeProvider Time = new(new DateTimeOffset(2026, 11, 22, 19, 0, 0, TimeSpan.Zero));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ActionPlanner Planner(params PgRuntimeAgent.Sensing.Snapshot.ClusterSnapshot[] snapshots)
    {
        var secrets = new SecretStore();
        var topology = SensingFixtures.Topology(SensingFixtures.Cluster(secrets: secrets));
        return new ActionPlanner(topology, new ScriptedSensing(topology, snapshots.Length == 0 ? [Healthy()] : snapshots), new PatroniControl(secrets, Time), Time, "postgres");
    }

    /// <summary>What the skill host turns a step's <c>with:</c> into (member becomes the action's member).</summary>
    private static ActionRequest FromSkill(string actionClass, string withJson)
    {
        using var doc = JsonDocument.Parse(withJson);
        var request = new SkillActionRequest("pg-test", actionClass, doc.RootElement.Clone(), "test-skill", "step", null, true, null, null, null, "digest");
        var (member, parameters) = PipelineSkillHost.Parameters(request);
        return new ActionRequest { Kind = actionClass, Cluster = "pg-test", Member = member, Parameters = parameters, Trigger = ActionTrigger.Reactive };
    }

    [Fact]
    public async Task Plan_BackupStaleSkillStep_BackupRunOnTheNamedLeader()
    {
        var plan = await Planner().PlanAsync(FromSkill("backup.run", """{"member":"pg-test-1","stanza":"pg-test","type":"diff"}"""), Ct);

        var action = Assert.IsType<PlannedAction>(plan.Action);
        Assert.Equal("backup.run", action.Kind);
        Assert.Equal("pg-test-1", action.Member);
        Assert.Equal("pg-test", action.Parameter("stanza"));
        Assert.Equal("diff", action.Parameter("type"));
        Assert.Equal(Time.GetUtcNow(), DateTimeOffset.Parse(action.Parameter("planned_at")!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(ActionTrigger.Reactive, action.Trigger);
    }

    [Fact]
    public async Task Plan_PrimaryFailureFailoverAfterPatroniElectedAnotherMember_NothingPlanned()
    {
        // The skill fenced pg-test-1 and fails over to pg-test-2; meanwhile Patroni gave the key to pg-test-3.
        var elected = Snapshot("pg-test-3", [Replica("pg-test-1") with { Reachable = false, PostgresReachable = false }, Replica("pg-test-2"), Leader("pg-test-3", 8)], timeline: 8);

        var ex = await Assert.ThrowsAsync<InputException>(() => Planner(elected).PlanAsync(FromSkill("patroni.failover", """{"candidate":"pg-test-2","leader":"pg-test-1"}"""), Ct));

        Assert.Contains("pg-test-3 holds the leader key of pg-test in place of pg-test-1", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plan_PrimaryFailureFailoverWithTheKeyReleased_FromTheNamedFailedLeader()
    {
        var released = Snapshot(null, [Replica("pg-test-1") with { Reachable = false, PostgresReachable = false }, Replica("pg-test-2"), Replica("pg-test-3")]);

        var plan = await Planner(released).PlanAsync(FromSkill("patroni.failover", """{"candidate":"pg-test-2","leader":"pg-test-1"}"""), Ct);

        var action = Assert.IsType<PlannedAction>(plan.Action);
        Assert.Equal("pg-test-1", action.Parameter(ActionParameters.Leader));
        Assert.Equal("failover pg-test from pg-test-1 to pg-test-2", action.Summary);
    }

    [Fact]
    public async Task Plan_ReplicationLagSkillStep_ReinitWithTheSensedTimeline()
    {
        var plan = await Planner(Healthy()).PlanAsync(FromSkill("patroni.reinit", """{"member":"pg-test-3"}"""), Ct);

        var action = Assert.IsType<PlannedAction>(plan.Action);
        Assert.Equal("patroni.reinit", action.Kind);
        Assert.Equal("pg-test-3", action.Member);
        Assert.Equal("7", action.Parameter(PatroniActions.Timeline));
        Assert.True(action.LossBounded);
        Assert.NotNull(plan.Snapshot);
    }

    [Fact]
    public async Task Plan_CheckpointWithoutMember_OnTheLeader()
    {
        var plan = await Planner().PlanAsync(new ActionRequest { Kind = "sql.checkpoint", Cluster = "pg-test", Parameters = new Dictionary<string, string> { ["timeout_seconds"] = "60" } }, Ct);

        var action = Assert.IsType<PlannedAction>(plan.Action);
        Assert.Null(action.Member);
        Assert.Equal("60", action.Parameter("timeout_seconds"));
    }

    [Fact]
    public async Task Plan_ReinitWithoutMember_InputError()
    {
        var ex = await Assert.ThrowsAsync<InputException>(() => Planner().PlanAsync(new ActionRequest { Kind = "patroni.reinit", Cluster = "pg-test" }, Ct));

        Assert.Contains("needs a member", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("backup.run", "retention", "full")]
    [InlineData("sql.checkpoint", "database", "postgres")]
    [InlineData("patroni.reinit", "force", "true")]
    public async Task Plan_UnknownParameter_InputErrorNamingTheAllowedOnes(string kind, string name, string value)
    {
        var request = new ActionRequest { Kind = kind, Cluster = "pg-test", Member = "pg-test-2", Parameters = new Dictionary<string, string> { [name] = value } };

        var ex = await Assert.ThrowsAsync<InputException>(() => Planner().PlanAsync(request, Ct));

        Assert.Contains($"takes no parameter '{name}'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plan_BackupBadType_InputError()
    {
        var request = new ActionRequest { Kind = "backup.run", Cluster = "pg-test", Parameters = new Dictionary<string, string> { ["type"] = "differential" } };

        var ex = await Assert.ThrowsAsync<InputException>(() => Planner().PlanAsync(request, Ct));

        Assert.Contains("type must be one of full, diff, incr, got 'differential'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Kinds_IncludeTheThreeMaintenanceActions()
    {
        Assert.Contains("patroni.reinit", ActionKinds.Names);
        Assert.Contains("sql.checkpoint", ActionKinds.Names);
        Assert.Contains("backup.run", ActionKinds.Names);
    }
}
