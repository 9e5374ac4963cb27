using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Tests.Sensing;
using static PgRuntimeAgent.Tests.Acting.Patroni.ActingSnapshots;

namespace PgRuntimeAgent.Tests.Acting.Patroni;

public sealed class LeaderChangeActuatorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly PlannedAction Switchover = PatroniActions.PlanSwitchover("pg-test", "pg-test-1", "pg-test-2", 7);

    private static (LeaderChangeActuator Actuator, ScriptedSensing Sensing, RecordingHandler Http) Create(Func<HttpRequestMessage, string, (int, string)> answer,
        params ClusterSnapshot[] snapshots)
    {
        var secrets = new SecretStore();
        var topology = SensingFixtures.Topology(SensingFixtures.Cluster(secrets: secrets));
        var sensing = new ScriptedSensing(topology, snapshots);
        var http = new RecordingHandler(answer);
        var control = new PatroniControl(secrets, TimeProvider.System, http);
        var actuator = new LeaderChangeActuator(sensing, control, TimeProvider.System, NullLogger.Instance)
        {
            SettleTime = TimeSpan.FromMilliseconds(300),
            PollInterval = TimeSpan.FromMilliseconds(50),
            ElectionGrace = TimeSpan.FromMilliseconds(150),
        };
        return (actuator, sensing, http);
    }

    private static ClusterSnapshot Switched(long timeline = 8) =>
        Snapshot("pg-test-2", [Replica("pg-test-1", timeline: timeline), Leader("pg-test-2", timeline), Replica("pg-test-3", timeline: timeline)], timeline: timeline);

    [Fact]
    public void PlanSwitchover_IsReversibleHighRiskWithSwitchBackUndo()
    {
        Assert.True(Switchover.Reversible);
        Assert.Equal(ActionRisk.High, Switchover.Risk);
        Assert.Equal("switchover pg-test from pg-test-1 to pg-test-2", Switchover.Summary);
        Assert.Equal("pg-test-2", Switchover.Undo?.Parameter(ActionParameters.Leader));
        Assert.Equal("pg-test-1", Switchover.Undo?.Parameter(ActionParameters.Candidate));
        Assert.Equal("7", Switchover.Parameter(PatroniActions.Timeline));
        Assert.False(PatroniActions.PlanFailover("pg-test", "pg-test-2", null, null).Reversible);
    }

    [Fact]
    public async Task Execute_Switchover_PostsLeaderAndCandidateToTheLeadersApiWithBasicAuth()
    {
        var (actuator, _, http) = Create((_, _) => (200, "Successfully switched over to \"pg-test-2\""), Healthy());

        var result = await actuator.ExecuteAsync(Switchover, Ct);

        Assert.True(result.Succeeded, result.Message);
        var request = Assert.Single(http.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal("http://127.0.0.11:8008/switchover", request.Url.ToString());
        using var body = JsonDocument.Parse(request.Body);
        Assert.Equal("pg-test-1", body.RootElement.GetProperty("leader").GetString());
        Assert.Equal("pg-test-2", body.RootElement.GetProperty("candidate").GetString());
        Assert.StartsWith("Basic ", request.Authorization, StringComparison.Ordinal);
        Assert.Equal("7", result.Details["old_timeline"]);
        Assert.Equal("pg-test-1", result.Undo?.Parameter(ActionParameters.Candidate));
    }

    [Fact]
    public async Task Execute_Patroni412_FailedWithItsTextAndReconcileSaysNotHappenedAtOnce()
    {
        var (actuator, sensing, _) = Create((_, _) => (412, "candidate does not exists"), Healthy());

        var result = await actuator.ExecuteAsync(Switchover, Ct);
        var before = sensing.Calls;
        var reconcile = await actuator.ReconcileAsync(Switchover, Ct);

        Assert.False(result.Succeeded);
        Assert.Contains("HTTP 412: candidate does not exists", result.Message, StringComparison.Ordinal);
        Assert.Equal("412", result.Details["http_status"]);
        Assert.Equal(ReconcileStatus.NotHappened, reconcile.Status);
        Assert.Equal(1, sensing.Calls - before);
    }

    [Fact]
    public async Task Execute_LeaderChangedSincePlanning_NothingSent()
    {
        var (actuator, _, http) = Create((_, _) => (200, "ok"), Switched());

        var result = await actuator.ExecuteAsync(Switchover, Ct);

        Assert.False(result.Succeeded);
        Assert.Contains("the leader is now pg-test-2", result.Message, StringComparison.Ordinal);
        Assert.Empty(http.Requests);
    }

    [Fact]
    public async Task Execute_FailoverWithoutLeader_PostsToTheCandidate()
    {
        var noLeader = Snapshot(null, [Replica("pg-test-1") with { Reachable = false }, Replica("pg-test-2"), Replica("pg-test-3")]);
        var (actuator, _, http) = Create((_, _) => (200, "Successfully failed over to \"pg-test-2\""), noLeader);

        var result = await actuator.ExecuteAsync(PatroniActions.PlanFailover("pg-test", "pg-test-2", null, 7), Ct);

        Assert.True(result.Succeeded);
        var request = Assert.Single(http.Requests);
        Assert.Equal("http://127.0.0.12:8008/failover", request.Url.ToString());
        Assert.Equal("""{"candidate":"pg-test-2"}""", request.Body);
    }

    [Fact]
    public async Task Execute_FailoverWhenPatroniElectedAnotherMemberSinceThePrecheck_NothingSentAndReconcileNotHappened()
    {
        var elected = Snapshot("pg-test-3", [Replica("pg-test-1", timeline: 7) with { Reachable = false, PostgresReachable = false }, Replica("pg-test-2"), Leader("pg-test-3") with { InRecovery = true }]);
        var (actuator, _, http) = Create((_, _) => (200, "ok"), elected);
        var failover = PatroniActions.PlanFailover("pg-test", "pg-test-2", "pg-test-1", 7);

        var result = await actuator.ExecuteAsync(failover, Ct);
        var reconcile = await actuator.ReconcileAsync(failover, Ct);

        Assert.False(result.Succeeded);
        Assert.Contains("not sent: pg-test-3 took the leader key in place of pg-test-1", result.Message, StringComparison.Ordinal);
        Assert.Empty(http.Requests);
        Assert.NotEqual(ReconcileStatus.Happened, reconcile.Status);
    }

    [Fact]
    public async Task Execute_FailoverWhileTheFailedLeaderHoldsTheKey_NamesItSoPatroniRefusesIfTheKeyMoves()
    {
        var frozen = Snapshot("pg-test-1", [Leader() with { Reachable = false, PostgresReachable = false, InRecovery = null }, Replica("pg-test-2"), Replica("pg-test-3")]);
        var (actuator, _, http) = Create((_, _) => (200, "Successfully failed over to \"pg-test-2\""), frozen);

        var result = await actuator.ExecuteAsync(PatroniActions.PlanFailover("pg-test", "pg-test-2", "pg-test-1", 7), Ct);

        Assert.True(result.Succeeded, result.Message);
        var request = Assert.Single(http.Requests);
        Assert.Equal("http://127.0.0.12:8008/failover", request.Url.ToString());
        Assert.Equal("""{"candidate":"pg-test-2","leader":"pg-test-1"}""", request.Body);
    }

    [Fact]
    public async Task Verify_CandidateLeadsOnNewTimelineOutOfRecovery_Verified()
    {
        var (actuator, _, _) = Create((_, _) => (200, ""), Healthy(), Switched());
        var execution = ExecuteResult.Ok("ok") with { Details = new Dictionary<string, string> { ["old_leader"] = "pg-test-1", ["old_timeline"] = "7" } };

        var pending = await actuator.VerifyAsync(Switchover, execution, Ct);
        var verified = await actuator.VerifyAsync(Switchover, execution, Ct);

        Assert.Equal(VerifyStatus.Pending, pending.Status);
        Assert.Equal(VerifyStatus.Verified, verified.Status);
        Assert.Contains("pg-test-2 holds the leader key on timeline 8", verified.Message, StringComparison.Ordinal);
        Assert.Equal("pg-test-2", verified.Evidence["leader"]);
    }

    [Fact]
    public async Task Verify_AnotherMemberLeads_Failed()
    {
        var other = Snapshot("pg-test-3", [Replica("pg-test-1", timeline: 8), Replica("pg-test-2", timeline: 8), Leader("pg-test-3", 8)], timeline: 8);
        var (actuator, _, _) = Create((_, _) => (200, ""), other);

        var result = await actuator.VerifyAsync(Switchover, ExecuteResult.Ok("ok"), Ct);

        Assert.Equal(VerifyStatus.Failed, result.Status);
        Assert.Contains("pg-test-3 became the leader, not pg-test-2", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reconcile_SwitchoverHappenedWhileNobodyWatched_HappenedWithUndo()
    {
        var (actuator, _, _) = Create((_, _) => (200, ""), Healthy(), Switched());

        var result = await actuator.ReconcileAsync(Switchover, Ct);

        Assert.Equal(ReconcileStatus.Happened, result.Status);
        Assert.Equal("switchover pg-test from pg-test-2 back to pg-test-1", result.Undo?.Summary);
    }

    [Fact]
    public async Task Reconcile_OldLeaderStaysOnTheSameTimeline_NotHappenedAfterSettling()
    {
        var (actuator, sensing, _) = Create((_, _) => (200, ""), Healthy());

        var result = await actuator.ReconcileAsync(Switchover, Ct);

        Assert.Equal(ReconcileStatus.NotHappened, result.Status);
        Assert.Contains("pg-test-1 still holds the leader key on timeline 7", result.Message, StringComparison.Ordinal);
        Assert.True(sensing.Calls > 1, "it watched for a while before concluding");
    }

    [Fact]
    public async Task Reconcile_NoLeaderAfterSettling_Unknown()
    {
        var (actuator, _, _) = Create((_, _) => (200, ""), Snapshot(null, [Replica("pg-test-1"), Replica("pg-test-2"), Replica("pg-test-3")]));

        var result = await actuator.ReconcileAsync(Switchover, Ct);

        Assert.Equal(ReconcileStatus.Unknown, result.Status);
    }

    [Fact]
    public async Task Precheck_LaggingCandidate_FailsWithTheLag()
    {
        var lagging = Snapshot("pg-test-1", [Leader(), Replica("pg-test-2", 0, replayBehind: 8_000_000), Replica("pg-test-3")]);
        var (actuator, _, _) = Create((_, _) => (200, ""), lagging);

        var precheck = await actuator.PrecheckAsync(Switchover, Ct);

        Assert.False(precheck.Passed);
        var candidate = precheck.Checks.Single(c => c.Name == "candidate");
        Assert.False(candidate.Passed);
        Assert.Contains("lags 8000000 bytes", candidate.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Precheck_FailoverAwayFromALeaderPatroniAlreadyReplaced_RefusedNoSecondLeaderChange()
    {
        var replaced = Snapshot("pg-test-3", [Replica("pg-test-1", timeline: 8) with { Reachable = false, PostgresReachable = false }, Replica("pg-test-2", timeline: 8), Leader("pg-test-3", 8)], timeline: 8);
        var (actuator, _, http) = Create((_, _) => (200, ""), replaced);

        var precheck = await actuator.PrecheckAsync(PatroniActions.PlanFailover("pg-test", "pg-test-2", "pg-test-1", 7), Ct);

        Assert.False(precheck.Passed);
        var check = precheck.Checks.Single(c => c.Name == "not-failed-over");
        Assert.Contains("pg-test-3 already leads in place of pg-test-1", check.Detail, StringComparison.Ordinal);
        Assert.Empty(http.Requests);
    }

    [Fact]
    public async Task Precheck_FailoverRightAfterTheKeyWasReleased_GivesPatroniItsElectionAndRefusesWhenItElects()
    {
        static ClusterSnapshot Etcd(ClusterSnapshot s, string? holder) => s with
        {
            Patroni = PgRuntimeAgent.Sensing.Snapshot.SnapshotFusion.WithDcs(s.Patroni!,
                new PgRuntimeAgent.Sensing.Dcs.DcsLeaderObservation(true, holder, "/pg/pg-test/leader", "127.0.0.10:2379", 5, 4, null)),
            Leader = holder,
            LeaderSource = "dcs",
        };
        var fenced = Replica("pg-test-1", timeline: 7) with { Reachable = false, PostgresReachable = false };
        var released = Etcd(Snapshot(null, [fenced, Replica("pg-test-2"), Replica("pg-test-3")]), null);
        var promoting = Etcd(Snapshot("pg-test-3", [fenced, Replica("pg-test-2"), Leader("pg-test-3") with { InRecovery = true }]), "pg-test-3");
        var (actuator, sensing, http) = Create((_, _) => (200, ""), released, promoting);

        var precheck = await actuator.PrecheckAsync(PatroniActions.PlanFailover("pg-test", "pg-test-2", "pg-test-1", 7), Ct);

        Assert.False(precheck.Passed);
        var check = precheck.Checks.Single(c => c.Name == "not-failed-over");
        Assert.Contains("pg-test-3 holds the leader key in place of pg-test-1 (promoting)", check.Detail, StringComparison.Ordinal);
        Assert.Empty(http.Requests);
    }

    [Fact]
    public async Task Precheck_FailoverWhileTheOldLeaderStillHoldsTheKey_NoFailedOverCheck()
    {
        var frozen = Snapshot("pg-test-1", [Leader() with { Reachable = false, PostgresReachable = false, InRecovery = null }, Replica("pg-test-2"), Replica("pg-test-3")]);
        var (actuator, _, _) = Create((_, _) => (200, ""), frozen);

        var precheck = await actuator.PrecheckAsync(PatroniActions.PlanFailover("pg-test", "pg-test-2", "pg-test-1", 7), Ct);

        Assert.DoesNotContain(precheck.Checks, c => c.Name == "not-failed-over");
    }

    [Fact]
    public async Task Precheck_LeaderMovedSincePlanning_Fails()
    {
        var (actuator, _, _) = Create((_, _) => (200, ""), Switched());

        var precheck = await actuator.PrecheckAsync(Switchover, Ct);

        Assert.Contains(precheck.Checks, c => c is { Name: "leader", Passed: false } && c.Detail.Contains("the leader is pg-test-2, not pg-test-1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Precheck_Healthy_AllPass()
    {
        var (actuator, _, _) = Create((_, _) => (200, ""), Healthy());

        var precheck = await actuator.PrecheckAsync(Switchover, Ct);

        Assert.True(precheck.Passed, string.Join("; ", precheck.Checks.Select(c => $"{c.Name}: {c.Detail}")));
        Assert.Equal(["leader", "leader-running", "candidate", "sources-agree"], precheck.Checks.Select(c => c.Name));
    }
}
