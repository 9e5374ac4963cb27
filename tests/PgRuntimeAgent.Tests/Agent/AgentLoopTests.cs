using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Skills;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Agent;

/// <summary>The loop's decisions on recorded lab snapshots: incidents, which skill runs when, actions, approvals, outages, start-up.</summary>
public sealed class AgentLoopTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<IReadOnlyList<SkillRunRecord>> SkillRunsAsync(AgentKit kit) =>
        (await kit.EntriesAsync(IncidentKinds.SkillRun)).Select(e => e.PayloadAs<SkillRunRecord>()!).ToList();

    [Fact]
    public async Task Tick_LeaderGoneThenPatroniFailsOver_OpensIncidentVerifiesWithoutActingAndResolves()
    {
        await using var kit = await AgentKit.CreateAsync();

        await kit.FeedAsync(Load("leader-gone-00"));
        await kit.FeedAsync(Load("leader-gone-01"));
        Assert.Single(kit.EventsNamed(AgentEventNames.IncidentOpened));
        var started = Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted));
        Assert.Contains("primary-failure for leader-missing on pg-test-1", started.Title, StringComparison.Ordinal);

        // Patroni elects pg-test-3 while the skill waits for it.
        kit.World = Load("leader-gone-02");
        await kit.SettleAsync();
        foreach (var name in new[] { "leader-gone-03", "leader-gone-04", "leader-gone-04", "leader-gone-04" })
        {
            await kit.TickAsync();
            kit.World = Load(name);
        }

        var run = Assert.Single(await SkillRunsAsync(kit));
        Assert.Equal(SkillRunStatus.Completed, run.Run.Status);
        Assert.Contains(run.Run.Steps, s => s.StepId == "wait_for_patroni" && s.Status == SkillStepStatus.Passed);
        Assert.Contains(run.Run.Steps, s => s.StepId == "verify_new_leader" && s.Status == SkillStepStatus.Passed);
        Assert.NotEmpty(run.ServedSnapshots);
        Assert.Equal(run.Incident, kit.EventsNamed(AgentEventNames.IncidentOpened)[0].Incident);
        Assert.Empty(kit.Actuator.Executed);
        Assert.Empty(await kit.EntriesAsync(JournalKinds.ActionIntent));
        var resolved = Assert.Single(kit.EventsNamed(AgentEventNames.IncidentResolved));
        Assert.Equal(run.Incident, resolved.Incident);
        Assert.Equal("pg-test-1", resolved.Details["leader_before"]);
        Assert.Equal("pg-test-3", resolved.Details["leader"]);
        Assert.True((await kit.Journal.VerifyAsync(Ct)).Ok);
    }

    [Fact]
    public async Task Tick_DiskFullWhenTheAgentMayActAlone_FencesTheOldPrimaryThenFailsOverAndVerifies()
    {
        await using var kit = await AgentKit.CreateAsync(level: 4);

        await kit.FeedAsync(Load("healthy"));
        await kit.FeedAsync(Load("disk-full-01"));
        await kit.FeedAsync(Load("disk-full-02"));
        await kit.SettleAsync();

        Assert.Equal(["member.fence pg-test-3", "patroni.failover pg-test-1"], kit.Actuator.Executed);
        var run = Assert.Single(await SkillRunsAsync(kit));
        Assert.Equal(SkillRunStatus.Completed, run.Run.Status);
        Assert.Equal("primary-disk-full", run.Run.Trigger!.Value.GetProperty("code").GetString());
        Assert.Contains(run.Run.Steps, s => s.StepId == "verify_new_leader" && s.Status == SkillStepStatus.Passed);
        var outcomes = (await kit.EntriesAsync(JournalKinds.ActionOutcome)).Select(e => e.PayloadAs<OutcomePayload>()!).ToList();
        Assert.All(outcomes, o => Assert.Equal(ActionOutcomeStatus.Succeeded, o.Status));
        Assert.All(outcomes, o => Assert.Equal("skill:primary-failure", o.Action.Initiator));
        Assert.All(outcomes, o => Assert.Equal(ActionTrigger.Reactive, o.Action.Trigger));
        var finished = kit.EventsNamed(AgentEventNames.ActionFinished);
        Assert.Equal(2, finished.Count);
        Assert.Empty(kit.EventsNamed(AgentEventNames.ApprovalRequested));
    }

    [Fact]
    public async Task Tick_DiskFullAtAutonomy2_WaitsForApprovalWithEvidenceThenRunsItAndTheSkillAgain()
    {
        await using var kit = await AgentKit.CreateAsync(level: 2);

        await kit.FeedAsync(Load("healthy"));
        await kit.FeedAsync(Load("disk-full-01"));
        await kit.FeedAsync(Load("disk-full-02"));
        await kit.SettleAsync();
        await kit.FeedAsync(Load("disk-full-03"));
        await kit.FeedAsync(Load("disk-full-04"));
        await kit.SettleAsync();

        var first = Assert.Single(await SkillRunsAsync(kit));
        Assert.Equal(SkillRunStatus.AwaitingApproval, first.Run.Status);
        Assert.Empty(kit.Actuator.Executed);
        var pending = Assert.Single(await kit.Acting.Approvals.ListAsync(false, Ct));
        Assert.Equal("member.fence", pending.Action.Kind);
        Assert.Equal("pg-test-3", pending.Action.Member);
        Assert.NotNull(pending.Evidence);
        Assert.Contains(pending.Reasons, r => r.Code == PolicyCodes.Level);
        var asked = Assert.Single(kit.EventsNamed(AgentEventNames.ApprovalRequested));
        Assert.Contains($"pgra approve {pending.Id}", asked.Message, StringComparison.Ordinal);

        await kit.Acting.Approvals.ApproveAsync(pending.Id, "tester", null, Ct);
        await kit.FeedAsync(Load("disk-full-05"));
        await kit.SettleAsync();
        Assert.Equal(["member.fence pg-test-3"], kit.Actuator.Executed);

        // Two snapshots later the skill runs again on what is true now; the next step waits for its own approval.
        await kit.TickAsync();
        await kit.TickAsync();
        await kit.TickAsync();
        await kit.SettleAsync();
        Assert.Contains(kit.EventsNamed(AgentEventNames.SkillStarted), e => e.Title.Contains("after the approved action ran", StringComparison.Ordinal));
        Assert.Equal(2, (await SkillRunsAsync(kit)).Count);
        Assert.Equal(["member.fence pg-test-3"], kit.Actuator.Executed);
    }

    [Fact]
    public async Task Tick_AtRecommendLevel_RecordsRecommendationExecutesNothingAndRespectsTheCooldown()
    {
        await using var kit = await AgentKit.CreateAsync(level: 1);

        await kit.FeedAsync(Load("healthy"));
        await kit.FeedAsync(Load("disk-full-01"));
        await kit.FeedAsync(Load("disk-full-02"));
        await kit.SettleAsync();
        foreach (var name in new[] { "disk-full-03", "disk-full-04", "disk-full-05", "disk-full-06" })
        {
            await kit.FeedAsync(Load(name));
            await kit.SettleAsync();
        }

        var run = Assert.Single(await SkillRunsAsync(kit));
        Assert.Equal(SkillRunStatus.Failed, run.Run.Status);
        Assert.Contains(run.Run.Steps, s => s.StepId == "fence_old_primary" && s.Status == SkillStepStatus.Refused);
        Assert.Empty(kit.Actuator.Executed);
        var decision = Assert.Single(await kit.EntriesAsync(JournalKinds.Decision)).PayloadAs<DecisionPayload>()!;
        Assert.Equal(PolicyVerdict.Recommend, decision.Decision.Verdict);
        Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted));
    }

    [Fact]
    public async Task Tick_SensingFails_ReportsOneOutageKeepsWatchingAndReportsItBack()
    {
        await using var kit = await AgentKit.CreateAsync();
        await kit.FeedAsync(Load("healthy"));

        kit.FailNext = 5;
        for (var i = 0; i < 5; i++)
        {
            await kit.TickAsync();
        }

        Assert.Single(kit.EventsNamed(AgentEventNames.SensingOutage));
        Assert.Empty(kit.EventsNamed(AgentEventNames.SensingRestored));
        await kit.TickAsync();
        Assert.Single(kit.EventsNamed(AgentEventNames.SensingRestored));
        Assert.Equal(2, kit.EventsNamed(AgentEventNames.Snapshot).Count);
        Assert.Equal(0, kit.Loop.StateOf(AgentKit.Cluster).Failures);
    }

    [Fact]
    public async Task StartUp_OpenIntentOfARunThatDied_IsReconciledBeforeAnythingElse()
    {
        await using var kit = await AgentKit.CreateAsync();
        var action = new PlannedAction { Id = PlannedAction.NewId(), Kind = "member.fence", Cluster = AgentKit.Cluster, Member = "pg-test-3", Summary = "fence pg-test-3 (test)" };
        var dead = new IntentOwner(Environment.MachineName, 999_999, kit.Time.GetUtcNow().AddHours(-1));
        var intent = await kit.Journal.TryAppendIntentAsync(JournalRecord.Create(JournalKinds.ActionIntent, "intent: fence", new IntentPayload(action,
            PrecheckResult.Pass("t", "t"), dead, null), action.Cluster, action.Member, action.Id, action.Kind), Ct);
        Assert.NotNull(intent);

        await kit.Loop.StartUpAsync(Ct);
        await kit.FeedAsync(Load("healthy"));

        Assert.Empty(await kit.Journal.GetOpenIntentsAsync(null, Ct));
        var outcome = Assert.Single(await kit.EntriesAsync(JournalKinds.ActionOutcome));
        Assert.True(outcome.PayloadAs<OutcomePayload>()!.Reconciled);
        Assert.Equal(ActionOutcomeStatus.NotExecuted, outcome.PayloadAs<OutcomePayload>()!.Status);
        var firstSnapshot = (await kit.EntriesAsync(JournalKinds.Snapshot)).First();
        Assert.True(outcome.Seq < firstSnapshot.Seq);
        Assert.Single(kit.EventsNamed(AgentEventNames.Reconciled));
    }

    [Fact]
    public async Task Tick_HealthyCluster_JournalsSnapshotsOnChangeAndEveryNth()
    {
        await using var kit = await AgentKit.CreateAsync(run: new AgentRunSettings { SnapshotEvery = 3 });

        await kit.FeedAsync(Load("healthy"));
        for (var i = 0; i < 6; i++)
        {
            await kit.TickAsync();
        }

        Assert.Equal(3, (await kit.EntriesAsync(JournalKinds.Snapshot)).Count);
        Assert.Empty(kit.EventsNamed(AgentEventNames.IncidentOpened));
        Assert.Equal(7, kit.EventsNamed(AgentEventNames.Snapshot).Count);
    }

    [Fact]
    public async Task Run_Cancelled_StopsCleanlyAfterStartUp()
    {
        await using var kit = await AgentKit.CreateAsync();
        kit.World = Load("healthy");
        using var stop = new CancellationTokenSource();
        var running = kit.Loop.RunAsync(stop.Token);
        for (var i = 0; i < 100 && kit.SenseCalls == 0; i++)
        {
            await Task.Delay(10, Ct);
        }

        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Single(kit.EventsNamed(AgentEventNames.Started));
        Assert.Single(kit.EventsNamed(AgentEventNames.Stopped));
        Assert.True(kit.SenseCalls >= 1);
        Assert.True((await kit.Journal.VerifyAsync(Ct)).Ok);
    }
}
