using System.Globalization;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Tests.Sensing;
using static PgRuntimeAgent.Tests.Acting.Patroni.ActingSnapshots;

namespace PgRuntimeAgent.Tests.Acting.Patroni;

public sealed class ReinitActuatorTests
{
    private static readonly DateTimeOffset PlannedAt = new(2026, 11, 22, 18, 0, 0, TimeSpan.Zero);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static PlannedAction Reinit(string member = "pg-test-2") => ReinitActuator.Plan("pg-test", member, PlannedAt, 7);

    /// <summary>The recorded GET /patroni of a replica, with its postmaster start time replaced.</summary>
    private static string NodeBody(string startTime, string state = "running")
    {
        var node = JsonNode.Parse(SensingFixtures.Recorded("patroni-3.0.2", "patroni-replica.json"))!.AsObject();
        node["postmaster_start_time"] = startTime;
        node["state"] = state;
        return node.ToJsonString();
    }

    private static (ReinitActuator Actuator, RecordingHandler Http) Create(Func<HttpRequestMessage, string, (int, string)> answer, params ClusterSnapshot[] snapshots)
    {
        var secrets = new SecretStore();
        var topology = SensingFixtures.Topology(SensingFixtures.Cluster(secrets: secrets));
        var http = new RecordingHandler(answer);
        var actuator = new ReinitActuator(new ScriptedSensing(topology, snapshots), new PatroniControl(secrets, TimeProvider.System, http),
            TimeProvider.System);
        return (actuator, http);
    }

    private static string Checks(PrecheckResult p) => string.Join("; ", p.Checks.Select(c => $"{c.Name}={c.Passed}: {c.Detail}"));

    [Fact]
    public void Plan_IrreversibleHighRiskLossBoundedWithTimelineAndPlannedAt()
    {
        var action = Reinit();

        Assert.Equal("patroni.reinit", action.Kind);
        Assert.False(action.Reversible);
        Assert.True(action.LossBounded);
        Assert.Equal(ActionRisk.High, action.Risk);
        Assert.Equal("pg-test-2", action.Member);
        Assert.Equal("7", action.Parameter(PatroniActions.Timeline));
        Assert.Equal(PlannedAt, DateTimeOffset.Parse(action.Parameter(PatroniActions.PlannedAt)!, CultureInfo.InvariantCulture));
        Assert.Equal(300, action.VerifyTimeoutSeconds);
        Assert.Equal(AutonomyLevel.ActWithinGuardrails, PolicyGate.RequiredLevel(action with { Trigger = ActionTrigger.Reactive }));
    }

    [Fact]
    public void PlanFor_BadTimeout_InputError()
    {
        var ex = Assert.Throws<InputException>(() => ReinitActuator.PlanFor("pg-test", "pg-test-2", Healthy(), "soon", PlannedAt));

        Assert.Contains("timeout_seconds", ex.Message, StringComparison.Ordinal);
        Assert.Equal(60, ReinitActuator.PlanFor("pg-test", "pg-test-2", Healthy(), "60", PlannedAt).VerifyTimeoutSeconds);
    }

    [Fact]
    public async Task Precheck_Replica_Passes()
    {
        var (actuator, _) = Create((_, _) => (200, ""), Healthy());

        var precheck = await actuator.PrecheckAsync(Reinit(), Ct);

        Assert.True(precheck.Passed, Checks(precheck));
        Assert.Contains(precheck.Checks, c => c.Name == "not-leader" && c.Detail.Contains("the leader is pg-test-1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Precheck_TheLeader_Refused()
    {
        var (actuator, _) = Create((_, _) => (200, ""), Healthy());

        var precheck = await actuator.PrecheckAsync(Reinit("pg-test-1"), Ct);

        Assert.False(precheck.Passed);
        Assert.Contains(precheck.Checks, c => c is { Name: "not-leader", Passed: false } && c.Detail.Contains("pg-test-1 is the leader", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Precheck_NoLeader_Refused()
    {
        var (actuator, _) = Create((_, _) => (200, ""), Snapshot(null, [Replica("pg-test-1"), Replica("pg-test-2"), Replica("pg-test-3")]));

        var precheck = await actuator.PrecheckAsync(Reinit(), Ct);

        Assert.Contains(precheck.Checks, c => c is { Name: "leader", Passed: false });
    }

    [Fact]
    public async Task Precheck_Paused_Refused()
    {
        var paused = Snapshot("pg-test-1", [Leader(), Replica("pg-test-2"), Replica("pg-test-3")], paused: true);
        var (actuator, _) = Create((_, _) => (200, ""), paused);

        var precheck = await actuator.PrecheckAsync(Reinit(), Ct);

        Assert.Contains(precheck.Checks, c => c is { Name: "not-paused", Passed: false });
    }

    [Fact]
    public async Task Precheck_MembersPatroniDown_Refused()
    {
        var down = Snapshot("pg-test-1", [Leader(), Replica("pg-test-2") with { Reachable = false }, Replica("pg-test-3")]);
        var (actuator, _) = Create((_, _) => (200, ""), down);

        var precheck = await actuator.PrecheckAsync(Reinit(), Ct);

        Assert.Contains(precheck.Checks, c => c is { Name: "patroni-answers", Passed: false });
    }

    [Fact]
    public async Task Execute_PostsReinitializeToTheMembersApiWithBasicAuth()
    {
        var (actuator, http) = Create((r, _) => r.Method == HttpMethod.Get ? (200, NodeBody("2026-11-22 17:54:45.160164+00:00")) : (200, "reinitialize started"), Healthy());

        var result = await actuator.ExecuteAsync(Reinit(), Ct);

        Assert.True(result.Succeeded, result.Message);
        Assert.Equal("Patroni answered HTTP 200: reinitialize started", result.Message);
        var post = Assert.Single(http.Requests, r => r.Method == "POST");
        Assert.Equal("http://127.0.0.12:8008/reinitialize", post.Url.ToString());
        Assert.Equal("""{"force":false}""", post.Body);
        Assert.StartsWith("Basic ", post.Authorization, StringComparison.Ordinal);
        Assert.Equal("2026-11-22 17:54:45.160164+00:00", result.Details["postmaster_start_time_before"]);
        Assert.Equal("1", result.Details["timeline_before"]);
    }

    [Fact]
    public async Task Execute_Patroni503_FailedWithItsText()
    {
        var (actuator, _) = Create((r, _) => r.Method == HttpMethod.Get ? (200, NodeBody("2026-11-22 17:54:45+00:00")) : (503, "I am the leader, can not reinitialize"), Healthy());

        var result = await actuator.ExecuteAsync(Reinit(), Ct);

        Assert.False(result.Succeeded);
        Assert.Contains("HTTP 503: I am the leader, can not reinitialize", result.Message, StringComparison.Ordinal);
        Assert.Equal("503", result.Details["http_status"]);
    }

    [Fact]
    public async Task Verify_CreatingReplicaThenStreamingWithNewPostmaster_PendingThenVerified()
    {
        var before = "2026-11-22 17:54:45.160164+00:00";
        var after = "2026-11-22 18:00:05.000000+00:00";
        var creating = Snapshot("pg-test-1", [Leader(), Replica("pg-test-2") with { PatroniState = "creating replica", PostgresRunning = false, Streaming = null }, Replica("pg-test-3")]);
        var starts = new Queue<string>([before, after]);
        var (actuator, _) = Create((_, _) => (200, NodeBody(starts.Count > 1 ? starts.Dequeue() : starts.Peek())), creating, Healthy());
        var execution = ExecuteResult.Ok("ok") with { Details = new Dictionary<string, string> { ["postmaster_start_time_before"] = before } };

        var pending = await actuator.VerifyAsync(Reinit(), execution, Ct);
        var verified = await actuator.VerifyAsync(Reinit(), execution, Ct);

        Assert.Equal(VerifyStatus.Pending, pending.Status);
        Assert.Contains("creating replica", pending.Message, StringComparison.Ordinal);
        Assert.Equal(VerifyStatus.Verified, verified.Status);
        Assert.Contains("a replica streaming from pg-test-1 on timeline 7", verified.Message, StringComparison.Ordinal);
        Assert.Equal(after, verified.Evidence["postmaster_start_time"]);
        Assert.Equal("True", verified.Evidence["streaming"]);
    }

    [Fact]
    public void Judge_RunningButSamePostmaster_Pending()
    {
        var (status, message) = ReinitActuator.Judge(Healthy(), "pg-test-2", "2026-11-22 17:54:45+00:00", "2026-11-22 17:54:45+00:00");

        Assert.Equal(VerifyStatus.Pending, status);
        Assert.Contains("has not begun", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Judge_NotStreamingYet_Pending()
    {
        var s = Snapshot("pg-test-1", [Leader(), Replica("pg-test-2", streaming: false), Replica("pg-test-3")]);

        var (status, message) = ReinitActuator.Judge(s, "pg-test-2", "b", "a");

        Assert.Equal(VerifyStatus.Pending, status);
        Assert.Contains("does not stream to it yet", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Judge_OnAnotherTimeline_Pending()
    {
        var s = Snapshot("pg-test-1", [Leader(timeline: 8), Replica("pg-test-2", timeline: 7), Replica("pg-test-3", timeline: 8)], timeline: 8);

        var (status, message) = ReinitActuator.Judge(s, "pg-test-2", "b", "a");

        Assert.Equal(VerifyStatus.Pending, status);
        Assert.Contains("timeline 7, the leader on 8", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Judge_MemberBecameLeader_Failed()
    {
        var s = Snapshot("pg-test-2", [Replica("pg-test-1"), Leader("pg-test-2"), Replica("pg-test-3")]);

        var (status, _) = ReinitActuator.Judge(s, "pg-test-2", "b", "a");

        Assert.Equal(VerifyStatus.Failed, status);
    }

    [Theory]
    [InlineData("2026-11-22 18:00:05.000000+00:00", "running", "Happened")]
    [InlineData("2026-11-22 17:54:45.160164+00:00", "running", "NotHappened")]
    [InlineData("2026-11-22 17:54:45.160164+00:00", "creating replica", "Happened")]
    public async Task Reconcile_ComparesThePostmasterWithThePlannedTime(string started, string state, string expected)
    {
        var (actuator, _) = Create((_, _) => (200, NodeBody(started, state)), Healthy());

        var result = await actuator.ReconcileAsync(Reinit(), Ct);

        Assert.Equal(Enum.Parse<ReconcileStatus>(expected), result.Status);
        if (state == "running")
        {
            Assert.Contains("timeline 1 (the cluster's when planned: 7)", result.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Reconcile_PatroniDoesNotAnswer_Unknown()
    {
        var (actuator, _) = Create((_, _) => throw new HttpRequestException("connection refused"), Healthy());

        var result = await actuator.ReconcileAsync(Reinit(), Ct);

        Assert.Equal(ReconcileStatus.Unknown, result.Status);
    }
}
