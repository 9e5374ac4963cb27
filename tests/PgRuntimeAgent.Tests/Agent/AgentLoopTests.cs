using System.Text.Json;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Sensing.Snapshot;
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
    public async Task NextInterval_CalmClusterWaitsTheCalmInterval_AFindingOrAQueuedAlertBringsItBackAndAnAlertWakesItAtOnce()
    {
        await using var kit = await AgentKit.CreateAsync(level: 2, calmInterval: TimeSpan.FromSeconds(30));
        var st = kit.Loop.StateOf(AgentKit.Cluster);
        Assert.Equal(TimeSpan.FromSeconds(1), kit.Loop.NextInterval(st)); // nothing seen yet

        await kit.FeedAsync(Load("healthy"));
        Assert.Empty(st.Latest!.Active);
        Assert.Equal(TimeSpan.FromSeconds(30), kit.Loop.NextInterval(st));

        // An alert for the calm cluster: queued, the wait is cut short, and the cluster is sensed at the interval.
        using var waiting = new CancellationTokenSource();
        st.Wake = waiting;
        var skill = kit.Skills.Find("primary-failure")!;
        var trigger = new Finding { Code = "alert", Cluster = AgentKit.Cluster, Severity = FindingSeverity.Critical, Summary = "an alert (test)", FirstSeen = kit.Time.GetUtcNow(), LastSeen = kit.Time.GetUtcNow() };
        Assert.True(kit.Loop.QueueAlert(new PgRuntimeAgent.Alerts.AlertFiring("occ-1", skill, trigger)));
        Assert.True(waiting.IsCancellationRequested);
        Assert.Equal(TimeSpan.FromSeconds(1), kit.Loop.NextInterval(st));

        // A finding keeps it at the interval.
        await using var other = await AgentKit.CreateAsync(level: 2, calmInterval: TimeSpan.FromSeconds(30));
        await other.FeedAsync(Load("healthy"));
        await other.FeedAsync(Load("disk-full-01"));
        await other.FeedAsync(Load("disk-full-02"));
        Assert.NotEmpty(other.Loop.StateOf(AgentKit.Cluster).Latest!.Active);
        Assert.Equal(TimeSpan.FromSeconds(1), other.Loop.NextInterval(other.Loop.StateOf(AgentKit.Cluster)));

        // Without calm_interval_seconds every cluster is sensed at the interval.
        await using var plain = await AgentKit.CreateAsync(level: 2);
        await plain.FeedAsync(Load("healthy"));
        Assert.Equal(TimeSpan.FromSeconds(1), plain.Loop.NextInterval(plain.Loop.StateOf(AgentKit.Cluster)));
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
    public async Task Tick_AtRecommendLevel_RecordsRecommendationsExecutesNothingAndLooksAgainAfterTheRetryTime()
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

        // Nothing was executed, so the 10-minute cooldown never started: the skill looked again once the 10 s retry time
        // had passed (about disk-full-05, 15 s after the first run), not on every snapshot.
        var runs = await SkillRunsAsync(kit);
        Assert.True(runs.Count >= 2, $"{runs.Count} run(s): " + string.Join(" | ", kit.EventsNamed(AgentEventNames.SkillStarted).Concat(kit.EventsNamed(AgentEventNames.SkillFinished)).Select(e => e.At.ToString("ss") + " " + e.Title + " " + e.Details.GetValueOrDefault("steps"))));
        Assert.All(runs, r => Assert.Equal(SkillRunStatus.Failed, r.Run.Status));
        Assert.All(runs, r => Assert.Contains(r.Run.Steps, s => s.StepId == "fence_old_primary" && s.Status == SkillStepStatus.Refused));
        Assert.All(runs.Zip(runs.Skip(1)), p => Assert.True(p.Second.Run.StartedAt - p.First.Run.FinishedAt >= TimeSpan.FromSeconds(10)));
        Assert.Empty(kit.Actuator.Executed);
        var decisions = (await kit.EntriesAsync(JournalKinds.Decision)).Select(e => e.PayloadAs<DecisionPayload>()!).ToList();
        Assert.Equal(runs.Count, decisions.Count);
        Assert.All(decisions, d => Assert.Equal(PolicyVerdict.Recommend, d.Decision.Verdict));
    }

    [Fact]
    public async Task Tick_CooldownAfterActingOnOneMember_DoesNotHoldBackTheSameFindingOnAnotherMember()
    {
        await using var kit = await AgentKit.CreateAsync(level: 4);
        await kit.FeedAsync(Load("healthy"));
        await kit.FeedAsync(Load("disk-full-01"));
        await kit.FeedAsync(Load("disk-full-02"));
        await kit.SettleAsync();
        Assert.Equal(["member.fence pg-test-3", "patroni.failover pg-test-1"], kit.Actuator.Executed);

        // Minutes later, well inside primary-failure's 10-minute cooldown, the new leader pg-test-1's disk fills up.
        kit.Time.Advance(TimeSpan.FromMinutes(2));
        foreach (var name in new[] { "disk-full-01", "disk-full-02", "disk-full-02" })
        {
            await kit.FeedAsync(AgentKit.Swapped(Load(name), "pg-test-1", "pg-test-3"));
            await kit.SettleAsync();
        }

        Assert.Contains(kit.EventsNamed(AgentEventNames.SkillStarted), e => e.Title.Contains("primary-failure for primary-disk-full on pg-test-1", StringComparison.Ordinal));
        Assert.Equal(["member.fence pg-test-3", "patroni.failover pg-test-1", "member.fence pg-test-1", "patroni.failover pg-test-3"], kit.Actuator.Executed);
        Assert.Equal(2, kit.Loop.Runs.Count(r => AgentLoop.ExecutedAnAction(r.Run)));
    }

    [Fact]
    public async Task StartUp_JournaledRunsThatExecutedNothingOrActedOnAnotherMember_DoNotHoldTheSkillBack()
    {
        await using var kit = await AgentKit.CreateAsync();
        var at = kit.Time.GetUtcNow();
        await kit.Incidents.RecordSkillRunAsync(PrimaryFailureRun(DiskFull("pg-test-3", at), at, SkillStepStatus.Refused), [], Ct);
        await kit.Incidents.RecordSkillRunAsync(PrimaryFailureRun(DiskFull("pg-test-3", at), at, SkillStepStatus.Failed, intentSeq: null), [], Ct);
        await kit.Incidents.RecordSkillRunAsync(PrimaryFailureRun(DiskFull("pg-test-1", at), at, SkillStepStatus.Succeeded, intentSeq: 1), [], Ct);

        await kit.Loop.StartUpAsync(Ct);
        await kit.FeedAsync(Load("healthy"));
        await kit.FeedAsync(Load("disk-full-01"));
        await kit.FeedAsync(Load("disk-full-02"));
        await kit.SettleAsync();

        var started = Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted));
        Assert.Contains("primary-failure for primary-disk-full on pg-test-3", started.Title, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartUp_JournaledRunThatExecutedForTheSameTrigger_HoldsTheSkillBackForItsCooldown()
    {
        await using var kit = await AgentKit.CreateAsync();
        var at = kit.Time.GetUtcNow();
        await kit.Incidents.RecordSkillRunAsync(PrimaryFailureRun(DiskFull("pg-test-3", at), at, SkillStepStatus.Failed, intentSeq: 7), [], Ct);

        await kit.Loop.StartUpAsync(Ct);
        await kit.FeedAsync(Load("healthy"));
        await kit.FeedAsync(Load("disk-full-01"));
        await kit.FeedAsync(Load("disk-full-02"));

        Assert.Single(kit.EventsNamed(AgentEventNames.IncidentOpened));
        Assert.Empty(kit.EventsNamed(AgentEventNames.SkillStarted));
    }

    [Theory]
    [InlineData(SkillStepStatus.Succeeded, 12L, true)]
    [InlineData(SkillStepStatus.Failed, 12L, true)]
    [InlineData(SkillStepStatus.Failed, null, false)]
    [InlineData(SkillStepStatus.Refused, null, false)]
    [InlineData(SkillStepStatus.Planned, null, false)]
    [InlineData(SkillStepStatus.PendingApproval, null, false)]
    public void ExecutedAnAction_ActionStep_TrueOnlyWhenItSucceededOrFailedAfterItsIntent(SkillStepStatus status, long? intentSeq, bool executed)
    {
        var at = DateTimeOffset.UnixEpoch;
        Assert.Equal(executed, AgentLoop.ExecutedAnAction(PrimaryFailureRun(DiskFull("pg-test-3", at), at, status, intentSeq)));
    }

    [Fact]
    public void HeldBack_CooldownOfAMilderFindingOnTheSameMember_DoesNotHoldBackAMoreSevereOneNorAnotherMember()
    {
        var skill = SkillCatalog.Load(Path.Combine(TestPaths.RepoRoot, "skills")).Find("primary-failure")!;
        var at = DateTimeOffset.UnixEpoch;
        var st = new AgentLoop.ClusterState(AgentKit.Cluster, new PgRuntimeAgent.Detection.ClusterDetector(AgentKit.Cluster));
        var mild = DiskFull("pg-test-3", at) with { Severity = FindingSeverity.Warning };
        st.Record(skill, PrimaryFailureRun(mild, at, SkillStepStatus.Succeeded, 1), new AgentRunSettings());

        Assert.Equal(AgentLoop.Hold.Cooldown, st.HeldBack(skill, mild, at.AddMinutes(1)));
        Assert.Equal(AgentLoop.Hold.Cooldown, st.HeldBack(skill, mild with { Code = FindingCodes.PrimaryDownHoldingLock }, at.AddMinutes(1)));
        Assert.Equal(AgentLoop.Hold.None, st.HeldBack(skill, DiskFull("pg-test-3", at), at.AddMinutes(1)));
        Assert.Equal(AgentLoop.Hold.None, st.HeldBack(skill, mild with { Members = ["pg-test-1"] }, at.AddMinutes(1)));
        Assert.Equal(AgentLoop.Hold.None, st.HeldBack(skill, mild, at.AddMinutes(11)));
    }

    [Fact]
    public async Task Tick_ReplicationLagWarning_OpensAWarningIncidentJournalsTheFindingAndRunsItsSkill()
    {
        await using var kit = await AgentKit.CreateAsync();

        await kit.FeedAsync(Healthy());
        foreach (var at in new[] { 5, 10, 15 })
        {
            await kit.FeedAsync(Lagging(Healthy(at), "pg-test-2"));
        }

        var opened = Assert.Single(kit.EventsNamed(AgentEventNames.IncidentOpened));
        Assert.Equal("warning", opened.Severity);
        var finding = Assert.Single(await kit.EntriesAsync(JournalKinds.Finding));
        Assert.Equal(FindingCodes.ReplicationLag, finding.Topic);
        Assert.Equal(opened.Incident, finding.CorrelationId);
        var started = Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted));
        Assert.Contains("replication-lag for replication-lag on pg-test-2", started.Title, StringComparison.Ordinal);

        // The lag drains while the skill waits: the run completes and the incident resolves with every finding cleared.
        kit.World = Healthy(20);
        await kit.SettleAsync();
        await kit.TickAsync();
        await kit.TickAsync();
        var run = Assert.Single(await SkillRunsAsync(kit));
        Assert.Equal(SkillRunStatus.Completed, run.Run.Status);
        Assert.Equal(opened.Incident, run.Incident);
        Assert.Equal(opened.Incident, Assert.Single(kit.EventsNamed(AgentEventNames.IncidentResolved)).Incident);
        Assert.Empty(kit.Actuator.Executed);
    }

    [Fact]
    public async Task Tick_CriticalFindingWhoseSkillWaitsToRetry_KeepsTheClusterFromAWarningsSkill()
    {
        await using var kit = await AgentKit.CreateAsync(level: 1);

        // pg-test-2 lags throughout while pg-test-3's disk fills: both are raised on disk-full-02, both in the incident.
        await kit.FeedAsync(Lagging(Load("healthy"), "pg-test-2"));
        await kit.FeedAsync(Lagging(Load("disk-full-01"), "pg-test-2"));
        await kit.FeedAsync(Lagging(Load("disk-full-02"), "pg-test-2"));
        await kit.SettleAsync();
        foreach (var name in new[] { "disk-full-03", "disk-full-04", "disk-full-05", "disk-full-06" })
        {
            await kit.FeedAsync(Lagging(Load(name), "pg-test-2"));
            await kit.SettleAsync();
        }

        // primary-failure executed nothing (recommend level) and may look again after 10 s: until then nothing else runs.
        // How far the fake clock moved while the first run settled depends on the host's load, so the retry time is
        // reached explicitly here: past it, primary-failure starts again, and replication-lag's skill never started.
        Assert.Contains(kit.Loop.StateOf(AgentKit.Cluster).Latest!.Active, f => f.Code == FindingCodes.ReplicationLag);
        for (var i = 0; i < 3 && kit.EventsNamed(AgentEventNames.SkillStarted).Count < 2; i++)
        {
            kit.Time.Advance(TimeSpan.FromSeconds(11));
            await kit.TickAsync();
            await kit.SettleAsync();
        }

        var starts = kit.EventsNamed(AgentEventNames.SkillStarted);
        Assert.True(starts.Count >= 2, $"{starts.Count} start(s)");
        Assert.All(starts, e => Assert.Contains("primary-failure for primary-disk-full", e.Title, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tick_SkillRunEndsAfterItsIncidentResolved_IsJournaledForThatIncidentAndInItsPostMortem()
    {
        await using var kit = await AgentKit.CreateAsync();
        kit.HoldSkillSensing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await kit.FeedAsync(Load("leader-gone-00"));
        await kit.FeedAsync(Load("leader-gone-01"));
        var id = Assert.Single(kit.EventsNamed(AgentEventNames.IncidentOpened)).Incident!;
        Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted));

        // Patroni elects pg-test-3 and the incident resolves while the skill run is still waiting for its next snapshot.
        foreach (var name in new[] { "leader-gone-02", "leader-gone-03", "leader-gone-04", "leader-gone-04", "leader-gone-04" })
        {
            await kit.FeedAsync(Load(name));
        }

        Assert.Equal(id, Assert.Single(kit.EventsNamed(AgentEventNames.IncidentResolved)).Incident);
        Assert.NotNull(kit.Loop.StateOf(AgentKit.Cluster).Run);
        kit.HoldSkillSensing.SetResult();
        await kit.SettleAsync();

        var entry = Assert.Single(await kit.EntriesAsync(IncidentKinds.SkillRun));
        Assert.Equal(id, entry.CorrelationId);
        var run = entry.PayloadAs<SkillRunRecord>()!;
        Assert.Equal(id, run.Incident);
        Assert.Equal(SkillRunStatus.Completed, run.Run.Status);
        Assert.Equal(id, Assert.Single(kit.EventsNamed(AgentEventNames.SkillFinished)).Incident);
        var markdown = await File.ReadAllTextAsync(Path.Combine(kit.PostmortemDirectory, id + ".md"), Ct);
        Assert.DoesNotContain("Nothing: no skill ran", markdown, StringComparison.Ordinal);
        Assert.Contains("skill primary-failure: completed", markdown, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tick_WarningRaisedWhileAnotherSkillRanAndItsIncidentResolved_StillGetsItsSkill()
    {
        // Only the lag follows the failover here: the dead old leader's own findings would open an incident of their own.
        await using var kit = await AgentKit.CreateAsync(silenced: [FindingCodes.ReplicationBroken, FindingCodes.SensorBlind]);
        kit.HoldSkillSensing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await kit.FeedAsync(Lagging(Load("leader-gone-00"), "pg-test-2"));
        await kit.FeedAsync(Lagging(Load("leader-gone-01"), "pg-test-2"));
        var id = Assert.Single(kit.EventsNamed(AgentEventNames.IncidentOpened)).Incident!;
        Assert.Contains("primary-failure for leader-missing on pg-test-1", Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted)).Title, StringComparison.Ordinal);

        // While primary-failure waits, pg-test-2's lag is raised and joins the incident; Patroni elects pg-test-3, and the
        // incident resolves (no critical finding, a writable leader) carrying the lag as a follow-up.
        foreach (var name in new[] { "leader-gone-02", "leader-gone-03", "leader-gone-04", "leader-gone-04", "leader-gone-04", "leader-gone-04" })
        {
            await kit.FeedAsync(Lagging(Load(name), "pg-test-2"));
        }

        var lag = Assert.Single(await kit.EntriesAsync(JournalKinds.Finding), e => e.Topic == FindingCodes.ReplicationLag);
        Assert.Equal(id, lag.CorrelationId);
        Assert.Equal(id, Assert.Single(kit.EventsNamed(AgentEventNames.IncidentResolved)).Incident);
        Assert.NotNull(kit.Loop.StateOf(AgentKit.Cluster).Run);
        kit.HoldSkillSensing.SetResult();
        await kit.SettleAsync();

        // The next look: the lag is still there and no incident is open (a carried finding opens none), yet its skill starts.
        await kit.TickAsync();
        var starts = kit.EventsNamed(AgentEventNames.SkillStarted);
        Assert.Equal(2, starts.Count);
        Assert.Contains("skill replication-lag for replication-lag on pg-test-2 (raised)", starts[1].Title, StringComparison.Ordinal);
        Assert.Single(kit.EventsNamed(AgentEventNames.IncidentOpened));
    }

    /// <summary>The snapshot with <paramref name="replica"/> 3 MB behind (past the 1 MiB limit).</summary>
    private static ClusterSnapshot Lagging(ClusterSnapshot s, string replica) =>
        s with { Members = s.Members.Select(m => m.Name == replica ? m with { LagBytes = 3_000_000 } : m).ToList() };

    private static Finding DiskFull(string member, DateTimeOffset at) => new()
    {
        Code = FindingCodes.PrimaryDiskFull,
        Severity = FindingSeverity.Critical,
        Cluster = AgentKit.Cluster,
        Members = [member],
        Summary = $"leader {member} is out of disk space (test)",
        FirstSeen = at,
        LastSeen = at,
    };

    /// <summary>A primary-failure run for <paramref name="trigger"/> whose fence step ended <paramref name="status"/>; an
    /// intent seq in its output is what the skill host puts there once the pipeline wrote the intent and executed.</summary>
    private static SkillRun PrimaryFailureRun(Finding trigger, DateTimeOffset at, SkillStepStatus status, long? intentSeq = null)
    {
        var result = JsonSerializer.SerializeToElement(new Dictionary<string, object?>
        {
            ["status"] = status.ToString().ToLowerInvariant(),
            ["output"] = new Dictionary<string, object?> { ["action_id"] = "act-test", ["intent_seq"] = intentSeq },
        });
        return new SkillRun
        {
            Skill = "primary-failure",
            SkillDigest = "test",
            Cluster = AgentKit.Cluster,
            DryRun = false,
            Trigger = trigger.ToTrigger(),
            Status = status == SkillStepStatus.Succeeded ? SkillRunStatus.Completed : SkillRunStatus.Failed,
            Message = "test",
            StartedAt = at,
            FinishedAt = at,
            Steps = [new SkillStepRun(1, "fence_old_primary", SkillStepKind.Action, status, [], result, null, at, 0, "", 0, "member.fence", "act-test", null)],
        };
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

    [Fact]
    public async Task Tick_DeposedPrimaryWhileAnotherSkillWaits_FencesAtOnceInTheUrgentSlot()
    {
        await using var kit = await AgentKit.CreateAsync(level: 3);
        await kit.FeedAsync(Load("healthy"));
        kit.HoldSkillSensing = new TaskCompletionSource();
        await kit.FeedAsync(Load("leader-gone-00"));
        await kit.FeedAsync(Load("leader-gone-01"));
        Assert.Contains(kit.EventsNamed(AgentEventNames.SkillStarted), e => e.Title.Contains("primary-failure", StringComparison.Ordinal));

        // etcd gives the key to pg-test-2 while pg-test-3 still takes writes: a deposed primary, while primary-failure waits.
        var gone = Load("leader-gone-01");
        var deposed = gone with
        {
            Patroni = PgRuntimeAgent.Sensing.Snapshot.SnapshotFusion.WithDcs(gone.Patroni!,
                new PgRuntimeAgent.Sensing.Dcs.DcsLeaderObservation(true, "pg-test-2", "/pg/pg-test/leader", "127.0.0.10:2379", 10, 9, null)),
            Leader = "pg-test-2",
            LeaderSource = "dcs",
            Members = gone.Members.Select(m => m.Name == "pg-test-3" ? m with { InRecovery = false, PostgresReachable = true } : m).ToList(),
        };
        await kit.FeedAsync(deposed);
        for (var i = 0; i < 200 && kit.Actuator.Executed.Count == 0; i++)
        {
            await Task.Delay(25, Ct);
        }

        var urgent = Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted), e => e.Title.Contains("deposed-primary", StringComparison.Ordinal));
        Assert.Contains("urgent", urgent.Title, StringComparison.Ordinal);
        Assert.Equal(["member.fence pg-test-3"], kit.Actuator.Executed);
        Assert.False(kit.Loop.StateOf(AgentKit.Cluster).Run!.IsCompleted); // primary-failure still waits
        kit.HoldSkillSensing.SetResult();
        await kit.SettleAsync();
    }

    [Fact]
    public async Task Tick_UrgentRunAwaitingApprovalWhileAWarningsSkillWaits_AsksOnceAndRunsTheApprovedFence()
    {
        await using var kit = await AgentKit.CreateAsync(level: 2);
        kit.HoldSkillSensing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await kit.FeedAsync(Healthy());
        foreach (var at in new[] { 5, 10, 15 })
        {
            await kit.FeedAsync(Lagging(Healthy(at), "pg-test-2"));
        }

        // The leader's WAL disk fills while replication-lag waits; primary-failure runs in the urgent slot and asks.
        foreach (var name in new[] { "disk-full-01", "disk-full-02", "disk-full-03", "disk-full-04", "disk-full-05", "disk-full-06" })
        {
            await kit.FeedAsync(Lagging(Load(name), "pg-test-2"));
            for (var i = 0; i < 50 && kit.Loop.StateOf(AgentKit.Cluster).Urgent is { IsCompleted: false }; i++)
            {
                kit.Time.Advance(TimeSpan.FromSeconds(1));
                await Task.Delay(10, Ct);
            }
        }

        var pending = Assert.Single(await kit.Acting.Approvals.ListAsync(false, Ct));
        Assert.Single(kit.EventsNamed(AgentEventNames.ApprovalRequested));
        Assert.False(kit.Loop.StateOf(AgentKit.Cluster).Run!.IsCompleted); // replication-lag still waits

        // Approved (not run by the approver): the loop runs the fence now, without waiting for replication-lag.
        await kit.Acting.Approvals.ApproveAsync(pending.Id, "tester", null, Ct);
        for (var i = 0; i < 5; i++)
        {
            await kit.FeedAsync(Lagging(Load("disk-full-06"), "pg-test-2"));
            for (var j = 0; j < 50 && kit.Loop.StateOf(AgentKit.Cluster).Urgent is { IsCompleted: false }; j++)
            {
                kit.Time.Advance(TimeSpan.FromSeconds(1));
                await Task.Delay(10, Ct);
            }
        }

        Assert.Contains("member.fence pg-test-3", kit.Actuator.Executed);
        Assert.False(kit.Loop.StateOf(AgentKit.Cluster).Run!.IsCompleted);

        kit.World = Healthy(120);
        kit.HoldSkillSensing.SetResult();
        await kit.SettleAsync();
    }

    [Fact]
    public async Task Tick_CriticalFindingWhileAWarningsSkillWaits_StartsItsSkillWithoutWaitingForThatRun()
    {
        await using var kit = await AgentKit.CreateAsync(level: 4);
        kit.HoldSkillSensing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await kit.FeedAsync(Healthy());
        foreach (var at in new[] { 5, 10, 15 })
        {
            await kit.FeedAsync(Lagging(Healthy(at), "pg-test-2"));
        }

        Assert.Contains(kit.EventsNamed(AgentEventNames.SkillStarted), e => e.Title.Contains("replication-lag for replication-lag", StringComparison.Ordinal));

        // The leader's WAL disk fills while replication-lag waits for the lag to drain.
        await kit.FeedAsync(Lagging(Load("disk-full-01"), "pg-test-2"));
        await kit.FeedAsync(Lagging(Load("disk-full-02"), "pg-test-2"));

        var started = kit.EventsNamed(AgentEventNames.SkillStarted);
        Assert.Contains(started, e => e.Title.Contains("primary-failure for primary-disk-full", StringComparison.Ordinal) && e.Title.Contains("urgent", StringComparison.Ordinal));
        Assert.False(kit.Loop.StateOf(AgentKit.Cluster).Run!.IsCompleted); // replication-lag still waits

        // The lag drains and writes are back: both runs end (replication-lag would otherwise wait its 5 minutes).
        kit.World = Healthy(60);
        kit.HoldSkillSensing.SetResult();
        await kit.SettleAsync();
    }
}
