using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Sql;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Tests.Acting.Patroni;
using PgRuntimeAgent.Tests.Sensing;
using static PgRuntimeAgent.Tests.Acting.Patroni.ActingSnapshots;

namespace PgRuntimeAgent.Tests.Acting.Sql;

public sealed class CheckpointActuatorTests
{
    private static readonly DateTimeOffset PlannedAt = new(2026, 11, 22, 18, 0, 0, TimeSpan.Zero);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static CheckpointActuator Create(params PgRuntimeAgent.Sensing.Snapshot.ClusterSnapshot[] snapshots)
    {
        var secrets = new SecretStore();
        var sensing = new ScriptedSensing(SensingFixtures.Topology(SensingFixtures.Cluster(secrets: secrets)), snapshots);

        // Never the lab's addresses: a closed local port refuses at once.
        var connector = new SqlConnector(secrets, "postgres") { AddressOf = _ => ("127.0.0.1", 9) };
        return new CheckpointActuator(new SqlTargets(sensing, connector), TimeProvider.System);
    }

    [Fact]
    public void Plan_LowRiskIrreversibleLossBoundedOnTheLeaderByDefault()
    {
        var action = CheckpointActuator.Plan("pg-test", null, PlannedAt);

        Assert.Equal("sql.checkpoint", action.Kind);
        Assert.Equal(ActionRisk.Low, action.Risk);
        Assert.False(action.Reversible);
        Assert.True(action.LossBounded);
        Assert.Null(action.Member);
        Assert.Equal("CHECKPOINT on the leader of pg-test", action.Summary);
        Assert.Equal(AutonomyLevel.ActWithinGuardrails, PolicyGate.RequiredLevel(action with { Trigger = ActionTrigger.Reactive }));
    }

    [Fact]
    public void Plan_BadTimeout_InputError()
    {
        var ex = Assert.Throws<InputException>(() => CheckpointActuator.Plan("pg-test", "pg-test-2", PlannedAt, "-1"));

        Assert.Contains("timeout_seconds must be a positive number", ex.Message, StringComparison.Ordinal);
        Assert.Equal("30", CheckpointActuator.Plan("pg-test", "pg-test-2", PlannedAt, "30").Parameter(SqlActions.TimeoutSeconds));
    }

    [Theory]
    [InlineData("0/6000028", 0x6000028UL)]
    [InlineData("1A/FF000100", 0x1A_FF000100UL)]
    [InlineData("", 0UL)]
    public void Parse_Lsn(string text, ulong expected) => Assert.Equal(expected, CheckpointState.Parse(text));

    [Fact]
    public void IsOlderThan_LaterLsnOrLaterTime_True_SameCheckpoint_False()
    {
        var t = new DateTime(2026, 11, 22, 18, 0, 0, DateTimeKind.Utc);
        var before = new CheckpointState("0/6000028", "0/6000028", 7, t, false);

        Assert.True(before.IsOlderThan(before with { CheckpointLsn = "0/7000060" }));
        Assert.True(before.IsOlderThan(before with { CheckpointTime = t.AddSeconds(1) }));
        Assert.False(before.IsOlderThan(before));
        Assert.False(before.IsOlderThan(before with { CheckpointLsn = "0/5000000" }));
    }

    [Fact]
    public void Before_FromExecutionDetails()
    {
        var state = CheckpointActuator.Before(new Dictionary<string, string>
        {
            ["checkpoint_lsn_before"] = "0/6000028",
            ["redo_lsn_before"] = "0/6000000",
            ["checkpoint_time_before"] = "2026-11-22T18:00:00.0000000Z",
            ["in_recovery"] = "true",
        });

        Assert.NotNull(state);
        Assert.Equal(0x6000028UL, state.Lsn);
        Assert.True(state.InRecovery);
        Assert.Null(CheckpointActuator.Before(new Dictionary<string, string>()));
    }

    [Fact]
    public async Task Precheck_NoLeaderAndNoMember_Refused()
    {
        var actuator = Create(Snapshot(null, [Replica("pg-test-1"), Replica("pg-test-2"), Replica("pg-test-3")]));

        var precheck = await actuator.PrecheckAsync(CheckpointActuator.Plan("pg-test", null, PlannedAt), Ct);

        Assert.False(precheck.Passed);
        Assert.Contains("no leader known", Assert.Single(precheck.Checks).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Precheck_ServerRefuses_ConnectFailsWithWhere()
    {
        var actuator = Create(Healthy());

        var precheck = await actuator.PrecheckAsync(CheckpointActuator.Plan("pg-test", null, PlannedAt), Ct);

        var check = Assert.Single(precheck.Checks);
        Assert.Equal("connect", check.Name);
        Assert.False(check.Passed);
        Assert.Contains("127.0.0.1:9/postgres (pg-test-1)", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reconcile_ServerRefuses_Unknown()
    {
        var actuator = Create(Healthy());

        var result = await actuator.ReconcileAsync(CheckpointActuator.Plan("pg-test", null, PlannedAt), Ct);

        Assert.Equal(ReconcileStatus.Unknown, result.Status);
    }
}
