using System.Text.Json;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Agent;

/// <summary>
/// Scheduled skill runs in the loop, on the fake clock: when a schedule fires, when the firing waits (a run in
/// progress, an open incident), missed firings, and the synthetic <c>schedule</c> trigger. The kit starts at 21:06:30
/// UTC (five minutes before the recorded healthy snapshot of 21:11:30).
/// </summary>
public sealed class AgentLoopScheduleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly DateTimeOffset Day = new(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);

    /// <summary>A skill run by <paramref name="cron"/> whose first step holds only for a scheduled run; with
    /// <paramref name="slow"/> it then waits (up to 5 s) for a snapshot that never comes true.</summary>
    private static string Scheduled(string name, string cron, bool slow = false) => $$$"""
        ---
        name: {{{name}}}
        description: A scheduled test skill.
        triggers:
          schedules: ["{{{cron}}}"]
        ---
        # {{{name}}}

        ```yaml steps
        - id: scheduled
          check: "$trigger.code == 'schedule' && $trigger.facts.schedule"
        {{{(slow ? "- id: hold\n  wait: \"leader == 'nobody'\"\n  timeout: 5s\n  on_fail: done\n" : "")}}}- id: done
          record: "scheduled check of {{ $cluster }}: {{ $trigger.summary }}"
        ```

        """;

    /// <summary>A skill the replication-lag finding runs (it records and ends), so a lagging replica opens an incident.</summary>
    private const string LagWatch = """
        ---
        name: lag-watch
        description: Notes a lagging replica.
        triggers:
          findings: [replication-lag]
        ---
        # lag-watch

        ```yaml steps
        - id: note
          record: "{{ $trigger.member }} lags"
        ```

        """;

    /// <summary>A skill with no triggers: run by hand only.</summary>
    internal const string Manual = """
        ---
        name: manual
        description: Run by hand only.
        ---
        # manual

        ```yaml steps
        - id: note
          record: "ran"
        ```

        """;

    internal static SkillCatalog Catalog(params string[] skills)
    {
        var dir = Directory.CreateTempSubdirectory("pgra-schedule-");
        try
        {
            var files = skills.Select(text =>
            {
                var name = text.Split('\n').First(l => l.StartsWith("name: ", StringComparison.Ordinal))["name: ".Length..].Trim();
                var path = Path.Combine(dir.FullName, name + ".md");
                File.WriteAllText(path, text);
                return path;
            }).ToList();
            var catalog = SkillCatalog.FromFiles(dir.FullName, files);
            Assert.True(catalog.Diagnostics.Count == 0, string.Join(Environment.NewLine, catalog.Diagnostics));
            return catalog;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static async Task<IReadOnlyList<SkillRunRecord>> SkillRunsAsync(AgentKit kit) =>
        (await kit.EntriesAsync(IncidentKinds.SkillRun)).Select(e => e.PayloadAs<SkillRunRecord>()!).ToList();

    private static List<AgentEvent> ScheduledStarts(AgentKit kit) =>
        kit.EventsNamed(AgentEventNames.SkillStarted).Where(e => e.Title.EndsWith("(scheduled)", StringComparison.Ordinal)).ToList();

    /// <summary>One tick on the current world at <paramref name="at"/>.</summary>
    private static Task TickAtAsync(AgentKit kit, DateTimeOffset at)
    {
        kit.Time.SetUtcNow(at.AddSeconds(-1));
        return kit.TickAsync();
    }

    private static ClusterSnapshot Lagging(ClusterSnapshot s, string replica) =>
        s with { Members = s.Members.Select(m => m.Name == replica ? m with { LagBytes = 3_000_000 } : m).ToList() };

    [Fact]
    public async Task Tick_ScheduleFires_RunsTheSkillOnceWhenDueAndNotBefore()
    {
        await using var kit = await AgentKit.CreateAsync(skills: Catalog(Scheduled("nightly", "0 22 * * *")));
        await kit.FeedAsync(Healthy());

        await TickAtAsync(kit, Day.AddHours(21).AddMinutes(59).AddSeconds(59));
        Assert.Empty(kit.EventsNamed(AgentEventNames.SkillStarted));

        await TickAtAsync(kit, Day.AddHours(22));
        var started = Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted));
        Assert.Equal("skill nightly for schedule (scheduled)", started.Title);
        Assert.Equal("scheduled run (cron 0 22 * * *) due 2026-11-22T22:00:00Z", started.Message);
        Assert.Equal("info", started.Severity);
        Assert.Null(started.Incident);
        await kit.SettleAsync();
        for (var i = 0; i < 5; i++)
        {
            await kit.TickAsync();
        }

        await kit.SettleAsync();
        Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted));
        var run = Assert.Single(await SkillRunsAsync(kit));
        Assert.Equal(SkillRunStatus.Completed, run.Run.Status);
        Assert.Equal("", run.Incident);
        Assert.Empty(kit.EventsNamed(AgentEventNames.IncidentOpened));
        Assert.Empty(await kit.EntriesAsync(JournalKinds.Finding));
    }

    [Fact]
    public async Task Tick_ScheduledRun_GetsTheSyntheticScheduleTrigger()
    {
        await using var kit = await AgentKit.CreateAsync(skills: Catalog(Scheduled("nightly", "@hourly")));
        await kit.FeedAsync(Healthy());

        await TickAtAsync(kit, Day.AddHours(22).AddSeconds(3));
        await kit.SettleAsync();

        var entry = Assert.Single(await kit.EntriesAsync(IncidentKinds.SkillRun));
        Assert.Contains("(schedule)", entry.Summary, StringComparison.Ordinal);
        var trigger = entry.PayloadAs<SkillRunRecord>()!.Run.Trigger!.Value;
        Assert.Equal(ScheduleTrigger.Code, trigger.GetProperty("code").GetString());
        Assert.Equal("schedule", trigger.GetProperty("code").GetString());
        Assert.Equal("info", trigger.GetProperty("severity").GetString());
        Assert.Equal(AgentKit.Cluster, trigger.GetProperty("cluster").GetString());
        Assert.Equal(JsonValueKind.Null, trigger.GetProperty("member").ValueKind);
        Assert.Equal("scheduled run (cron @hourly) due 2026-11-22T22:00:00Z", trigger.GetProperty("summary").GetString());
        Assert.Equal("@hourly", trigger.GetProperty("facts").GetProperty("schedule").GetString());
        Assert.Equal("2026-11-22T22:00:00Z", trigger.GetProperty("facts").GetProperty("due").GetString());
        var outcome = Assert.Single(kit.Loop.Runs);
        Assert.True(ScheduleTrigger.Is(outcome.Trigger));
        Assert.Equal(SkillRunStatus.Completed, outcome.Run.Status); // its check of $trigger.code passed
    }

    [Fact]
    public async Task Tick_ScheduleThatFiredBeforeTheAgentStarted_IsNotRun()
    {
        // 21:00 is before the kit's start (21:06:30); the next firing is tomorrow.
        await using var kit = await AgentKit.CreateAsync(skills: Catalog(Scheduled("early", "0 21 * * *")));
        await kit.FeedAsync(Healthy());
        for (var minute = 20; minute <= 60; minute += 20)
        {
            await TickAtAsync(kit, Day.AddHours(21).AddMinutes(minute));
        }

        Assert.Empty(kit.EventsNamed(AgentEventNames.SkillStarted));
        Assert.Empty(kit.Loop.StateOf(AgentKit.Cluster).ScheduledDue);
    }

    [Fact]
    public async Task Tick_TwoMissedFirings_RunOnce()
    {
        await using var kit = await AgentKit.CreateAsync(skills: Catalog(Scheduled("every-ten", "20,30,40 21 * * *")));
        await kit.FeedAsync(Healthy());

        // No tick from 21:11:30 to 21:36: the firings of 21:20 and 21:30 were both missed.
        await TickAtAsync(kit, Day.AddHours(21).AddMinutes(36));
        await kit.SettleAsync();
        await kit.TickAsync();
        await kit.TickAsync();
        await kit.SettleAsync();

        var started = Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted));
        Assert.Contains("due 2026-11-22T21:20:00Z", started.Message, StringComparison.Ordinal);
        Assert.Single(await SkillRunsAsync(kit));

        // The next firing (21:40) runs again.
        await TickAtAsync(kit, Day.AddHours(21).AddMinutes(40));
        await kit.SettleAsync();
        Assert.Equal(2, (await SkillRunsAsync(kit)).Count);
    }

    [Fact]
    public async Task Tick_ScheduleFiresWhileARunIsInProgress_WaitsAndRunsAfterIt()
    {
        await using var kit = await AgentKit.CreateAsync(skills: Catalog(Scheduled("a-slow", "0 22 * * *", slow: true), Scheduled("b-nightly", "0 22 * * *")));
        kit.HoldSkillSensing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await kit.FeedAsync(Healthy());

        await TickAtAsync(kit, Day.AddHours(22));
        for (var i = 0; i < 5; i++)
        {
            await kit.TickAsync();
        }

        // a-slow holds the cluster's run slot (waiting for a snapshot): b-nightly's firing waits.
        var started = Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted));
        Assert.StartsWith("skill a-slow ", started.Title, StringComparison.Ordinal);
        Assert.False(kit.Loop.StateOf(AgentKit.Cluster).Run!.IsCompleted);
        Assert.Contains("b-nightly", kit.Loop.StateOf(AgentKit.Cluster).ScheduledDue.Keys);

        kit.HoldSkillSensing.SetResult();
        await kit.SettleAsync();
        await kit.TickAsync();
        await kit.SettleAsync();
        await kit.TickAsync();

        var runs = kit.Loop.Runs;
        Assert.Equal(["a-slow", "b-nightly"], runs.Select(r => r.Skill.Name).ToList());
        Assert.True(runs[1].Run.StartedAt >= runs[0].Run.FinishedAt);
        Assert.Contains("due 2026-11-22T22:00:00Z", runs[1].Trigger.Summary, StringComparison.Ordinal);
        Assert.Equal(2, ScheduledStarts(kit).Count);
    }

    [Fact]
    public async Task Tick_ScheduleFiresDuringAnIncident_WaitsUntilItResolvesThenRunsOnce()
    {
        await using var kit = await AgentKit.CreateAsync(skills: Catalog(LagWatch, Scheduled("nightly", "12 21 * * *")));
        await kit.FeedAsync(Healthy());
        foreach (var at in new[] { 5, 10, 15 })
        {
            await kit.FeedAsync(Lagging(Healthy(at), "pg-test-2"));
        }

        Assert.Single(kit.EventsNamed(AgentEventNames.IncidentOpened));

        // 21:12:00 passes while pg-test-2 still lags; lag-watch's runs end at once, so the run slot is mostly free.
        foreach (var at in new[] { 20, 25, 30, 35, 40, 45 })
        {
            await kit.FeedAsync(Lagging(Healthy(at), "pg-test-2"));
            await kit.SettleAsync();
        }

        Assert.NotNull(kit.Incidents.Current(AgentKit.Cluster));
        Assert.Null(kit.Loop.StateOf(AgentKit.Cluster).Run);
        Assert.Empty(ScheduledStarts(kit));
        Assert.Contains("nightly", kit.Loop.StateOf(AgentKit.Cluster).ScheduledDue.Keys);

        // The lag drains and the incident resolves: the owed firing runs then, once.
        for (var at = 50; at < 150 && kit.EventsNamed(AgentEventNames.IncidentResolved).Count == 0; at += 5)
        {
            await kit.FeedAsync(Healthy(at));
            await kit.SettleAsync();
        }

        var resolved = Assert.Single(kit.EventsNamed(AgentEventNames.IncidentResolved));
        for (var i = 0; i < 3; i++)
        {
            await kit.TickAsync();
            await kit.SettleAsync();
        }

        var scheduled = Assert.Single(ScheduledStarts(kit));
        Assert.True(scheduled.At >= resolved.At);
        Assert.Contains("due 2026-11-22T21:12:00Z", scheduled.Message, StringComparison.Ordinal);
        Assert.Single(kit.EventsNamed(AgentEventNames.IncidentOpened));
        var run = Assert.Single(await SkillRunsAsync(kit), r => r.Run.Skill == "nightly");
        Assert.Equal("", run.Incident);
    }

    [Fact]
    public async Task Tick_IncidentWhileAScheduledRunHoldsTheSlot_RunsTheIncidentsSkillInTheUrgentSlot()
    {
        await using var kit = await AgentKit.CreateAsync(skills: Catalog(LagWatch, Scheduled("slow", "0 22 * * *", slow: true)));
        kit.HoldSkillSensing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await kit.FeedAsync(Healthy());
        await TickAtAsync(kit, Day.AddHours(22));
        Assert.Single(ScheduledStarts(kit));

        kit.World = Lagging(Healthy(), "pg-test-2");
        for (var i = 0; i < 30 && kit.EventsNamed(AgentEventNames.SkillStarted).Count < 2; i++)
        {
            await kit.TickAsync();
        }

        Assert.Single(kit.EventsNamed(AgentEventNames.IncidentOpened));
        var urgent = Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted), e => e.Title.StartsWith("skill lag-watch ", StringComparison.Ordinal));
        Assert.Contains("urgent: while slow runs", urgent.Title, StringComparison.Ordinal);
        Assert.False(kit.Loop.StateOf(AgentKit.Cluster).Run!.IsCompleted); // the scheduled run still waits

        kit.World = Healthy();
        kit.HoldSkillSensing.SetResult();
        await kit.SettleAsync();
    }

    [Fact]
    public async Task Tick_SkillWithoutSchedules_NeverRunsBySchedule()
    {
        await using var kit = await AgentKit.CreateAsync(skills: Catalog(LagWatch, Manual));
        await kit.FeedAsync(Healthy());
        for (var hour = 22; hour <= 48; hour += 2)
        {
            await TickAtAsync(kit, Day.AddHours(hour));
        }

        Assert.Empty(kit.EventsNamed(AgentEventNames.SkillStarted));
        Assert.Empty(kit.Loop.Runs);
        Assert.Empty(kit.Loop.StateOf(AgentKit.Cluster).ScheduledDue);
    }

    [Fact]
    public async Task ExecuteAction_ScheduledTrigger_IsProactiveAndNeedsALevelMoreThanAReaction()
    {
        await using var kit = await AgentKit.CreateAsync(level: 4);
        kit.World = Load("disk-full-02") with { TakenAt = kit.Time.GetUtcNow() };
        var host = new PipelineSkillHost(kit.Acting, kit.Incidents, kit.SenseAsync, _ => { }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        SkillActionRequest Fence(JsonElement trigger) => new(AgentKit.Cluster, "member.fence", JsonDocument.Parse("""{"member":"pg-test-3"}""").RootElement.Clone(),
            "nightly", "fence", "because", false, null, null, trigger, "sha256:0");

        await host.ExecuteActionAsync(Fence(ScheduleTrigger.Create(AgentKit.Cluster, "@daily", Day).ToTrigger()), Ct);
        await host.ExecuteActionAsync(Fence(JsonDocument.Parse("""{"code":"primary-disk-full","member":"pg-test-3"}""").RootElement.Clone()), Ct);

        Assert.Equal(ActionTrigger.Proactive, host.Actions[0].Action.Trigger);
        Assert.Equal(ActionTrigger.Reactive, host.Actions[1].Action.Trigger);
        Assert.Equal((int)host.Actions[1].Decision!.RequiredLevel + 1, (int)host.Actions[0].Decision!.RequiredLevel);
    }

    [Fact]
    public void Record_ScheduledRunThatActed_KeepsNoCooldownNorRetryTime()
    {
        var skill = Catalog(Scheduled("nightly", "@daily")).Find("nightly")!;
        var st = new AgentLoop.ClusterState(AgentKit.Cluster, new ClusterDetector(AgentKit.Cluster));
        var trigger = ScheduleTrigger.Create(AgentKit.Cluster, "@daily", Day);
        var acted = JsonSerializer.SerializeToElement(new { status = "succeeded", output = new { intent_seq = 3 } });
        var run = new SkillRun
        {
            Skill = "nightly",
            SkillDigest = "test",
            Cluster = AgentKit.Cluster,
            DryRun = false,
            Trigger = trigger.ToTrigger(),
            Status = SkillRunStatus.Completed,
            Message = "test",
            StartedAt = Day,
            FinishedAt = Day,
            Steps = [new SkillStepRun(1, "act", SkillStepKind.Action, SkillStepStatus.Succeeded, [], acted, null, Day, 0, "", 0, "member.fence", "act-test", null)],
        };
        Assert.True(AgentLoop.ExecutedAnAction(run));

        st.Record(skill, run, new AgentRunSettings());
        st.StartCooldown(skill, trigger, Day);

        Assert.Empty(st.CooldownFrom);
        Assert.Empty(st.RetryAt);
    }
}
