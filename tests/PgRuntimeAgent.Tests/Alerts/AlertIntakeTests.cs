using System.Text.Json;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Alerts;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Tests.Agent;
using static PgRuntimeAgent.Tests.Alerts.AlertmanagerParserTests;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Alerts;

/// <summary>
/// Alertmanager notifications through the intake into the loop (on the kit's fake clock and journal): the skills an
/// alert names run through the cluster's skill slot with the alert as <c>$trigger</c>; repeats, resolved alerts,
/// unknown clusters and alerts no skill names start nothing; everything is journaled as <c>alert.received</c>.
/// </summary>
public sealed class AlertIntakeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A skill <c>TestAlert</c> triggers; it checks the trigger is an alert and records what it carries; with
    /// <paramref name="slow"/> it first waits (up to 5 s) for a fresh snapshot that never comes true.</summary>
    private static string EchoSkill(bool slow = false) => $$$"""
        ---
        name: alert-echo
        description: Records what an alert trigger carries.
        triggers:
          alerts: [TestAlert]
        ---
        # alert-echo

        ```yaml steps
        - id: kind
          check: "$trigger.kind == 'alert' && $trigger.code == $trigger.alertname && $trigger.alertname"
        {{{(slow ? "- id: hold\n  wait: \"leader == 'nobody'\"\n  timeout: 5s\n  on_fail: done\n" : "")}}}- id: done
          record: "{{ $trigger.alertname }} on {{ $trigger.member }} of {{ $trigger.cluster }}: cls {{ $trigger.labels.cls }}, facts.cls {{ $trigger.facts.cls }}, {{ $trigger.annotations.summary }}, {{ $trigger.severity }}, {{ $trigger.fingerprint }}, {{ $trigger.starts_at }}"
        ```

        """;

    private static readonly string Echo = EchoSkill();

    private static async Task<(AgentKit Kit, AlertIntake Intake)> StartAsync(SkillCatalog? skills = null)
    {
        var kit = await AgentKit.CreateAsync(skills: skills);
        await kit.FeedAsync(Healthy());
        return (kit, new AlertIntake(kit.Loop, kit.Journal, kit.Time));
    }

    private static async Task<IReadOnlyList<AlertReceivedEntry>> ReceivedAsync(AgentKit kit) =>
        (await kit.EntriesAsync(JournalKinds.AlertReceived)).Select(e => e.PayloadAs<AlertReceivedEntry>()!).ToList();

    private static async Task<IReadOnlyList<SkillRunRecord>> SkillRunsAsync(AgentKit kit) =>
        (await kit.EntriesAsync(IncidentKinds.SkillRun)).Select(e => e.PayloadAs<SkillRunRecord>()!).ToList();

    /// <summary>Two ticks and whatever they started run to the end.</summary>
    private static async Task TicksAsync(AgentKit kit, int ticks = 2)
    {
        for (var i = 0; i < ticks; i++)
        {
            await kit.TickAsync();
            await kit.SettleAsync();
        }
    }

    private static string Test(string labels = "\"alertname\":\"TestAlert\",\"cls\":\"pg-test\",\"ins\":\"pg-test-2\",\"severity\":\"warning\"",
        string status = "firing", string startsAt = "2026-11-22T21:10:00Z", string fingerprint = "0123456789abcdef") =>
        Notification(Alert(labels, status, startsAt, fingerprint));

    [Fact]
    public async Task Receive_FiringReplicationLag_RunsReplicationLagThroughTheLoopWithTheAlertAsTrigger()
    {
        var (kit, intake) = await StartAsync();
        await using var _ = kit;

        var result = await intake.ReceiveAsync(Fixture, Ct);

        Assert.Equal("accepted", result.Status);
        Assert.Equal(200, result.HttpStatus);
        Assert.Equal((2, 1, 1, 0, 0), (result.Alerts, result.Accepted, result.Resolved, result.Duplicates, result.Ignored));
        var queued = Assert.Single(result.Runs);
        Assert.Equal(new QueuedAlertRun("pg-test", "replication-lag", "PostgresReplicationLag", "pg-test-2", "5c1e7f3a9b2d4e60"), queued);
        Assert.Empty(kit.EventsNamed(AgentEventNames.SkillStarted)); // queued: the cluster's tick starts it

        await TicksAsync(kit);

        var started = Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted));
        Assert.Equal("skill replication-lag for PostgresReplicationLag on pg-test-2 (alert)", started.Title);
        Assert.Equal("warning", started.Severity);
        var entries = await kit.Journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.AlertReceived, IncidentKinds.SkillRun] }, Ct);
        Assert.Equal([JournalKinds.AlertReceived, JournalKinds.AlertReceived, IncidentKinds.SkillRun], entries.Select(e => e.Kind));
        Assert.Equal("alert PostgresReplicationLag firing on pg-test/pg-test-2: queued replication-lag", entries[0].Summary);
        Assert.Equal("alert PostgresReplicationLag resolved on pg-test/pg-test-3: nothing started", entries[1].Summary);
        Assert.Equal(("pg-test", "pg-test-2", "5c1e7f3a9b2d4e60", "PostgresReplicationLag"), (entries[0].Cluster, entries[0].Member, entries[0].CorrelationId, entries[0].Topic));

        var received = entries[0].PayloadAs<AlertReceivedEntry>()!;
        Assert.Equal(AlertDisposition.Queued, received.Outcome);
        Assert.Equal(AlertStatus.Firing, received.Status);
        Assert.Equal("warning", received.Severity);
        Assert.Equal("pg-test-2", received.Labels["ins"]);
        Assert.Equal("WARN PostgresReplicationLag: pg-test-2@127.0.0.11:9630", received.Annotations["summary"]);
        Assert.Equal(["replication-lag"], received.Skills);
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 21, 10, 45, TimeSpan.Zero), received.StartsAt.AddTicks(-1_234_568));

        var run = entries[2].PayloadAs<SkillRunRecord>()!.Run;
        Assert.Equal("replication-lag", run.Skill);
        Assert.Equal(SkillRunStatus.Completed, run.Status); // a healthy world: caught up
        Assert.Equal("skill replication-lag (PostgresReplicationLag) on pg-test: completed: " + run.Message, entries[2].Summary);
        var trigger = run.Trigger!.Value;
        Assert.Equal("alert", trigger.GetProperty("kind").GetString());
        Assert.Equal("PostgresReplicationLag", trigger.GetProperty("code").GetString());
        Assert.Equal("PostgresReplicationLag", trigger.GetProperty("alertname").GetString());
        Assert.Equal("pg-test", trigger.GetProperty("cluster").GetString());
        Assert.Equal("pg-test-2", trigger.GetProperty("member").GetString());
        Assert.Equal(["pg-test-2"], trigger.GetProperty("members").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal("warning", trigger.GetProperty("severity").GetString());
        Assert.Equal("firing", trigger.GetProperty("status").GetString());
        Assert.Equal("pg-test", trigger.GetProperty("labels").GetProperty("cls").GetString());
        Assert.Equal("1", trigger.GetProperty("labels").GetProperty("level").GetString());
        Assert.Equal("WARN PostgresReplicationLag: pg-test-2@127.0.0.11:9630", trigger.GetProperty("annotations").GetProperty("summary").GetString());
        Assert.Equal("WARN PostgresReplicationLag: pg-test-2@127.0.0.11:9630", trigger.GetProperty("summary").GetString());
        Assert.Equal("5c1e7f3a9b2d4e60", trigger.GetProperty("fingerprint").GetString());
        Assert.Equal("2026-11-22T21:10:45.123Z", trigger.GetProperty("starts_at").GetString());
        Assert.Equal("2026-11-22T21:10:45.123Z", trigger.GetProperty("first_seen").GetString());
        var outcome = Assert.Single(kit.Loop.Runs);
        Assert.True(AlertTrigger.Is(outcome.Trigger));
    }

    [Fact]
    public async Task Receive_TheSameNotificationAgain_StartsNothingMore()
    {
        var (kit, intake) = await StartAsync();
        await using var _ = kit;
        await intake.ReceiveAsync(Fixture, Ct);
        await TicksAsync(kit);

        var again = await intake.ReceiveAsync(Fixture, Ct);
        var firingOnly = await intake.ReceiveAsync(Test().Replace("TestAlert", "PostgresReplicationLag", StringComparison.Ordinal)
            .Replace("0123456789abcdef", "5c1e7f3a9b2d4e60", StringComparison.Ordinal).Replace("21:10:00Z", "21:10:45.123456789Z", StringComparison.Ordinal), Ct);
        await TicksAsync(kit, 3);

        Assert.Equal((0, 1, 1), (again.Accepted, again.Duplicates, again.Resolved));
        Assert.Empty(again.Runs);
        var duplicate = again.Items[0];
        Assert.Equal(AlertDisposition.Duplicate, duplicate.Outcome);
        Assert.Equal("this occurrence (fingerprint and startsAt) already queued its skills", duplicate.Reason);
        Assert.Equal(["replication-lag"], duplicate.Skills);
        Assert.Equal(1, firingOnly.Duplicates);
        Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted));
        Assert.Single(await SkillRunsAsync(kit));
        Assert.Equal(5, (await ReceivedAsync(kit)).Count); // every alert of every notification is journaled
        Assert.Equal("alert PostgresReplicationLag firing on pg-test/pg-test-2: duplicate, nothing started",
            (await kit.EntriesAsync(JournalKinds.AlertReceived))[2].Summary);
    }

    [Fact]
    public async Task Receive_TheAlertFiringAgainAfterItResolved_IsANewOccurrence()
    {
        var (kit, intake) = await StartAsync(AgentLoopScheduleTests.Catalog(Echo));
        await using var _ = kit;

        await intake.ReceiveAsync(Test(), Ct);
        await TicksAsync(kit);
        var resolved = await intake.ReceiveAsync(Test(status: "resolved"), Ct);
        var refired = await intake.ReceiveAsync(Test(startsAt: "2026-11-22T21:30:00Z"), Ct);
        await TicksAsync(kit);

        Assert.Equal(AlertDisposition.Resolved, Assert.Single(resolved.Items).Outcome);
        Assert.Equal(1, refired.Accepted);
        Assert.Equal(2, (await SkillRunsAsync(kit)).Count);
    }

    [Fact]
    public async Task Receive_Resolved_StartsNothing_AndDropsARunNotYetStarted()
    {
        var (kit, intake) = await StartAsync(AgentLoopScheduleTests.Catalog(Echo));
        await using var _ = kit;

        var onlyResolved = await intake.ReceiveAsync(Test(fingerprint: "1111111111111111", status: "resolved"), Ct);
        await intake.ReceiveAsync(Test(), Ct);
        await intake.ReceiveAsync(Test(status: "resolved"), Ct); // before the cluster's tick took the firing one
        await TicksAsync(kit, 3);

        Assert.Equal((0, 1, 0), (onlyResolved.Accepted, onlyResolved.Resolved, onlyResolved.Ignored));
        Assert.Empty(onlyResolved.Runs);
        Assert.Empty(kit.EventsNamed(AgentEventNames.SkillStarted));
        Assert.Empty(await SkillRunsAsync(kit));
        Assert.Equal([AlertDisposition.Resolved, AlertDisposition.Queued, AlertDisposition.Resolved], (await ReceivedAsync(kit)).Select(r => r.Outcome));
    }

    [Fact]
    public async Task Receive_AlertSkillsAction_IsReactive_RunsAtTheReactiveLevel()
    {
        // member.fence at autonomy 3: a reactive request runs within guardrails; a proactive one would only be recommended.
        const string fence = """
            ---
            name: alert-fence
            description: Fences the member an alert names.
            triggers:
              alerts: [FenceMe]
            actions: [member.fence]
            ---
            # alert-fence

            ```yaml steps
            - id: fence
              action: member.fence
              with:
                member: "{{ $trigger.member }}"
              reason: "{{ $trigger.alertname }} on {{ $trigger.member }}"
            ```

            """;
        var kit = await AgentKit.CreateAsync(level: 3, skills: AgentLoopScheduleTests.Catalog(fence));
        await using var _ = kit;
        await kit.FeedAsync(Healthy());
        var intake = new AlertIntake(kit.Loop, kit.Journal, kit.Time);

        await intake.ReceiveAsync(Test("\"alertname\":\"FenceMe\",\"cls\":\"pg-test\",\"ins\":\"pg-test-3\",\"severity\":\"critical\""), Ct);
        await TicksAsync(kit);

        Assert.Equal(["member.fence pg-test-3"], kit.Actuator.Executed);
        var action = Assert.Single(Assert.Single(kit.Loop.Runs).Actions);
        Assert.Equal(PgRuntimeAgent.Acting.ActionTrigger.Reactive, action.Action.Trigger);
    }

    [Fact]
    public async Task Receive_AlertSkill_ReadsTheAlertFromTrigger()
    {
        var (kit, intake) = await StartAsync(AgentLoopScheduleTests.Catalog(Echo));
        await using var _ = kit;

        await intake.ReceiveAsync(Test(), Ct);
        await TicksAsync(kit);

        var run = Assert.Single(await SkillRunsAsync(kit)).Run;
        Assert.Equal(SkillRunStatus.Completed, run.Status); // its check of $trigger.kind passed
        var note = Assert.Single(await kit.EntriesAsync(IncidentKinds.SkillNote));
        Assert.Contains("TestAlert on pg-test-2 of pg-test: cls pg-test, facts.cls pg-test, test, warning, 0123456789abcdef, 2026-11-22T21:10:00.000Z", note.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Receive_UnknownCluster_IsJournaledAndIgnoredWithTheReason()
    {
        var (kit, intake) = await StartAsync(AgentLoopScheduleTests.Catalog(Echo));
        await using var _ = kit;

        var result = await intake.ReceiveAsync(Test("\"alertname\":\"TestAlert\",\"cls\":\"pg-meta\",\"ins\":\"pg-meta-1\""), Ct);
        var none = await intake.ReceiveAsync(Test("\"alertname\":\"TestAlert\",\"job\":\"node\"", fingerprint: "2222222222222222"), Ct);
        await TicksAsync(kit);

        var item = Assert.Single(result.Items);
        Assert.Equal((0, 1), (result.Accepted, result.Ignored));
        Assert.Equal(AlertDisposition.Ignored, item.Outcome);
        Assert.Null(item.Cluster);
        Assert.Equal("cluster pg-meta is not one this agent watches (pg-test)", item.Reason);
        Assert.StartsWith("the alert names no cluster", Assert.Single(none.Items).Reason, StringComparison.Ordinal);
        var journaled = await kit.EntriesAsync(JournalKinds.AlertReceived);
        Assert.Equal("alert TestAlert firing: ignored: cluster pg-meta is not one this agent watches (pg-test)", journaled[0].Summary);
        Assert.Equal("pg-meta", journaled[0].PayloadAs<AlertReceivedEntry>()!.Labels["cls"]);
        Assert.Null(journaled[0].Cluster);
        Assert.Empty(kit.EventsNamed(AgentEventNames.SkillStarted));
    }

    [Fact]
    public async Task Receive_AlertNoSkillNames_IsJournaledAndIgnoredWithTheReason()
    {
        var (kit, intake) = await StartAsync(AgentLoopScheduleTests.Catalog(Echo));
        await using var _ = kit;

        var result = await intake.ReceiveAsync(Test("\"alertname\":\"PostgresRestart\",\"cls\":\"pg-test\",\"ins\":\"pg-test-1\""), Ct);
        var nameless = await intake.ReceiveAsync(Test("\"cls\":\"pg-test\"", fingerprint: "3333333333333333"), Ct);
        await TicksAsync(kit);

        var item = Assert.Single(result.Items);
        Assert.Equal(AlertDisposition.Ignored, item.Outcome);
        Assert.Equal("pg-test", item.Cluster);
        Assert.Equal("no skill names alert PostgresRestart in its triggers.alerts", item.Reason);
        Assert.Equal("the alert has no alertname label", Assert.Single(nameless.Items).Reason);
        var entry = (await kit.EntriesAsync(JournalKinds.AlertReceived))[0];
        Assert.Equal(("pg-test", "pg-test-1"), (entry.Cluster, entry.Member));
        Assert.Empty(kit.EventsNamed(AgentEventNames.SkillStarted));
    }

    [Fact]
    public async Task Receive_BadBody_IsRefusedWithTheReason_NothingJournaledOrQueued()
    {
        var (kit, intake) = await StartAsync(AgentLoopScheduleTests.Catalog(Echo));
        await using var _ = kit;

        var json = await intake.ReceiveAsync("{\"version\": \"4\", \"alerts\": [", Ct);
        var version = await intake.ReceiveAsync(Test().Replace("\"version\":\"4\"", "\"version\":\"3\"", StringComparison.Ordinal), Ct);
        var many = await intake.ReceiveAsync(Notification(Enumerable.Range(0, 1001).Select(i => Alert("\"alertname\":\"TestAlert\",\"cls\":\"pg-test\"", fingerprint: $"{i:x16}")).ToArray()), Ct);
        await TicksAsync(kit);

        Assert.Equal(("refused", AlertPayloadErrorCode.BadJson, 400), (json.Status, json.Error!.Code, json.HttpStatus));
        Assert.Equal(("refused", AlertPayloadErrorCode.WrongVersion, 400), (version.Status, version.Error!.Code, version.HttpStatus));
        Assert.Equal(("refused", AlertPayloadErrorCode.TooManyAlerts, 413), (many.Status, many.Error!.Code, many.HttpStatus));
        using var answer = JsonDocument.Parse(version.ToJson());
        Assert.Equal("refused", answer.RootElement.GetProperty("status").GetString());
        Assert.Equal("wrong-version", answer.RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("$.version", answer.RootElement.GetProperty("error").GetProperty("path").GetString());
        Assert.Empty(await kit.EntriesAsync(JournalKinds.AlertReceived));
        Assert.Empty(kit.EventsNamed(AgentEventNames.SkillStarted));
    }

    [Fact]
    public async Task Receive_Result_IsTheJsonTheRouteAnswers()
    {
        var (kit, intake) = await StartAsync();
        await using var _ = kit;

        using var answer = JsonDocument.Parse((await intake.ReceiveAsync(Fixture, Ct)).ToJson());

        var root = answer.RootElement;
        Assert.Equal("accepted", root.GetProperty("status").GetString());
        Assert.Equal((2, 1, 0, 1, 0), (root.GetProperty("alerts").GetInt32(), root.GetProperty("accepted").GetInt32(), root.GetProperty("duplicates").GetInt32(),
            root.GetProperty("resolved").GetInt32(), root.GetProperty("ignored").GetInt32()));
        var run = Assert.Single(root.GetProperty("runs").EnumerateArray());
        Assert.Equal("replication-lag", run.GetProperty("skill").GetString());
        Assert.Equal("pg-test-2", run.GetProperty("member").GetString());
        var items = root.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(["queued", "resolved"], items.Select(i => i.GetProperty("outcome").GetString()));
        Assert.Equal("firing", items[0].GetProperty("status").GetString());
        Assert.True(items[0].GetProperty("journal_seq").GetInt64() > 0);
    }

    [Fact]
    public async Task Receive_AfterARestart_RemembersOccurrencesFromTheJournal()
    {
        var (kit, intake) = await StartAsync(AgentLoopScheduleTests.Catalog(Echo));
        await using var _ = kit;
        await intake.ReceiveAsync(Test(), Ct);
        await TicksAsync(kit);

        var restarted = new AlertIntake(kit.Loop, kit.Journal, kit.Time);
        var again = await restarted.ReceiveAsync(Test(), Ct);
        await TicksAsync(kit);

        Assert.Equal(1, again.Duplicates);
        Assert.Single(await SkillRunsAsync(kit));
    }

    [Fact]
    public async Task Receive_WhileTheSkillCoolsDownOnTheMember_StartsNothing()
    {
        var (kit, intake) = await StartAsync(AgentLoopScheduleTests.Catalog(Echo));
        await using var _ = kit;
        // A run of alert-echo on pg-test-2 for a warning acted a minute ago (its cooldown is the default).
        kit.Loop.StateOf(AgentKit.Cluster).CooldownFrom[AgentLoop.HoldKey("alert-echo", "pg-test-2", FindingSeverity.Warning)] = kit.Time.GetUtcNow().AddMinutes(-1);

        var held = await intake.ReceiveAsync(Test(), Ct);
        var otherMember = await intake.ReceiveAsync(Test("\"alertname\":\"TestAlert\",\"cls\":\"pg-test\",\"ins\":\"pg-test-3\",\"severity\":\"warning\"", fingerprint: "4444444444444444"), Ct);
        await TicksAsync(kit);

        Assert.Equal(1, held.Accepted); // queued; the loop honours the cooldown when it takes it
        Assert.Equal(1, otherMember.Accepted);
        var started = Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted));
        Assert.Equal("skill alert-echo for TestAlert on pg-test-3 (alert)", started.Title);
    }

    [Fact]
    public async Task Receive_WhileTheSlotIsBusy_RunsWhenItIsFree()
    {
        var (kit, intake) = await StartAsync(AgentLoopScheduleTests.Catalog(EchoSkill(slow: true)));
        await using var _ = kit;
        kit.HoldSkillSensing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await intake.ReceiveAsync(Test(), Ct);
        await kit.TickAsync(); // starts the run for pg-test-2, which stalls on its sensing
        await intake.ReceiveAsync(Test("\"alertname\":\"TestAlert\",\"cls\":\"pg-test\",\"ins\":\"pg-test-3\",\"severity\":\"warning\"", fingerprint: "5555555555555555"), Ct);

        await kit.TickAsync();
        Assert.Single(kit.EventsNamed(AgentEventNames.SkillStarted));

        kit.HoldSkillSensing.SetResult();
        await kit.SettleAsync();
        await TicksAsync(kit);

        Assert.Equal(["skill alert-echo for TestAlert on pg-test-2 (alert)", "skill alert-echo for TestAlert on pg-test-3 (alert)"],
            kit.EventsNamed(AgentEventNames.SkillStarted).Select(e => e.Title));
        Assert.Equal(2, (await SkillRunsAsync(kit)).Count);
    }

    [Fact]
    public async Task Locate_PigstyAndGenericLabels_FindTheClusterAndMember()
    {
        var (kit, intake) = await StartAsync(AgentLoopScheduleTests.Catalog(Echo));
        await using var _ = kit;

        Assert.Equal("pg-test/pg-test-2", Where(intake, ("cls", "pg-test"), ("ins", "pg-test-2"), ("instance", "127.0.0.11:9630"))); // Pigsty: ins, not the scraped primary
        Assert.Equal("pg-test/pg-test-3", Where(intake, ("cluster", "pg-test"), ("instance", "pg-test-3")));
        Assert.Equal("pg-test/pg-test-2", Where(intake, ("cluster", "pg-test"), ("instance", "127.0.0.12:9630")));
        Assert.Equal("pg-test/pg-test-1", Where(intake, ("ins", "pg-test-1")));
        Assert.Equal("pg-test/-", Where(intake, ("cls", "pg-test"), ("ins", "pg-test-9")));
        Assert.Equal("pg-test/-", Where(intake, ("cls", "pg-test")));
        Assert.Equal("-/-", Where(intake, ("cls", "pg-meta"), ("ins", "pg-meta-1")));
    }

    private static string Where(AlertIntake intake, params (string Name, string Value)[] labels)
    {
        var (cluster, member, _) = intake.Locate(labels.ToDictionary(l => l.Name, l => l.Value, StringComparer.Ordinal));
        return $"{cluster ?? "-"}/{member ?? "-"}";
    }

    [Fact]
    public void JournalKinds_AlertReceived_IsAKnownKind()
    {
        Assert.Equal("alert.received", JournalKinds.AlertReceived);
        Assert.Contains(JournalKinds.AlertReceived, JournalKinds.All);
    }
}
