using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Agent;

/// <summary>
/// What the loop tells people beyond incidents, on the kit's fake clock, and what reaches a webhook on the loopback:
/// a skill that errored, a sensor blind for long (and back), and approvals naming the approval their link opens.
/// </summary>
public sealed class AgentLoopNotificationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly Uri Console = new("http://127.0.0.1:8765/console/");

    private static readonly DateTimeOffset Day = new(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);

    private const string Secret = "Zebra-Notify-Secret-4711";

    /// <summary>A scheduled skill (22:00) whose only step asks the model.</summary>
    private const string Asking = """
        ---
        name: asks-the-model
        description: Asks the model what is going on.
        triggers:
          schedules: ["0 22 * * *"]
        ---
        # asks-the-model

        ```yaml steps
        - id: ask
          investigate: "what is going on on {{ $cluster }}?"
        ```

        """;

    /// <summary>A scheduled skill (22:00) whose verify does not hold: the run fails (the fix did not work), the skill did not break.</summary>
    private const string Failing = """
        ---
        name: never-holds
        description: Verifies something that is not true.
        triggers:
          schedules: ["0 22 * * *"]
        ---
        # never-holds

        ```yaml steps
        - id: never
          verify: "leader == 'nobody'"
        ```

        """;

    private static AgentNotifier Notifier(AgentKit kit, WebhookReceiver receiver, params string[] events)
    {
        var url = kit.Workspace.Secrets.Add("test/notify/hook", receiver.Url("hook/T0K3N"), "test");
        var notifier = new AgentNotifier(new NotifySettings { Stdout = false, Events = events, WebhookUrl = url }, kit.Workspace.Secrets, null, console: Console);
        kit.Loop.AddObserver(notifier);
        return notifier;
    }

    private static async Task TickAtAsync(AgentKit kit, DateTimeOffset at)
    {
        kit.Time.SetUtcNow(at.AddSeconds(-1));
        await kit.TickAsync();
    }

    private static ClusterSnapshot SensorDown(ClusterSnapshot s, string sensor, string reason) => s with
    {
        Sensors = s.Sensors.Select(x => x.Sensor == sensor ? x with { Health = SensorHealth.Unknown, Reason = reason } : x).ToList(),
    };

    [Fact]
    public async Task Tick_SkillStepThrows_RaisesSkillErroredRedactedAndTheWebhookGetsItWithTheClusterLink()
    {
        await using var kit = await AgentKit.CreateAsync(skills: AgentLoopScheduleTests.Catalog(Asking));
        kit.Workspace.Secrets.Add("test/model-key", Secret, "test");
        kit.Investigate = (_, _) => throw new InvalidOperationException($"the model's client blew up (key {Secret})");
        using var receiver = new WebhookReceiver();
        await using (Notifier(kit, receiver, AgentEventNames.SkillErrored))
        {
            await kit.FeedAsync(Healthy());
            await TickAtAsync(kit, Day.AddHours(22));
            await kit.SettleAsync();
        }

        var finished = Assert.Single(kit.EventsNamed(AgentEventNames.SkillFinished));
        Assert.Equal("skill asks-the-model: error", finished.Title);
        var errored = Assert.Single(kit.EventsNamed(AgentEventNames.SkillErrored));
        Assert.Equal("skill asks-the-model errored on pg-test", errored.Title);
        Assert.Equal((AgentKit.Cluster, "warning"), (errored.Cluster, errored.Severity));
        Assert.Equal(("asks-the-model", "ask"), (errored.Details["skill"], errored.Details["step"]));
        Assert.Contains("step 'ask': the host failed: InvalidOperationException: the model's client blew up", errored.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, errored.Message, StringComparison.Ordinal);

        var body = Assert.Single(receiver.At("/hook/T0K3N"));
        Assert.Equal(AgentEventNames.SkillErrored, body.GetProperty("event").GetString());
        Assert.Equal("http://127.0.0.1:8765/console/#/clusters/pg-test", body.GetProperty("link").GetString());
        Assert.DoesNotContain(Secret, receiver.All[0].Body, StringComparison.Ordinal);
        Assert.DoesNotContain("T0K3N", receiver.All[0].Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tick_SkillRunFails_IsNotSkillErrored()
    {
        await using var kit = await AgentKit.CreateAsync(skills: AgentLoopScheduleTests.Catalog(Failing));
        await kit.FeedAsync(Healthy());

        await TickAtAsync(kit, Day.AddHours(22));
        await kit.SettleAsync();

        Assert.Equal("skill never-holds: failed", Assert.Single(kit.EventsNamed(AgentEventNames.SkillFinished)).Title);
        Assert.Empty(kit.EventsNamed(AgentEventNames.SkillErrored));
    }

    [Fact]
    public async Task Tick_SensorNotOkPastTheThreshold_RaisesSensorBlindOnceNotBeforeThenSensorRestored()
    {
        await using var kit = await AgentKit.CreateAsync(skills: AgentLoopScheduleTests.Catalog(AgentLoopScheduleTests.Manual));
        using var receiver = new WebhookReceiver();
        await using (Notifier(kit, receiver, AgentEventNames.SensorBlind, AgentEventNames.SensorRestored))
        {
            await kit.FeedAsync(Healthy());

            // Metrics goes blind; the host sensor is disabled by choice, which is never "blind".
            kit.World = SensorDown(SensorDown(Healthy(), SensorNames.Metrics, $"connection refused (api key {Secret})"),
                SensorNames.Host, "disabled in settings (sensing.disabled: [host])");
            kit.Workspace.Secrets.Add("test/metrics-key", Secret, "test");
            await kit.TickAsync();
            var since = kit.Time.GetUtcNow();
            kit.Time.SetUtcNow(since.AddSeconds(299));
            await kit.TickAsync(); // 300 s: not longer than the threshold yet
            Assert.Empty(kit.EventsNamed(AgentEventNames.SensorBlind));

            await kit.TickAsync(); // 301 s
            await kit.TickAsync();
            kit.Time.Advance(TimeSpan.FromMinutes(10));
            await kit.TickAsync();

            var blind = Assert.Single(kit.EventsNamed(AgentEventNames.SensorBlind));
            Assert.Equal(("metrics", "unknown", "301"), (blind.Details["sensor"], blind.Details["health"], blind.Details["seconds"]));
            Assert.Equal("warning", blind.Severity);
            Assert.Contains("the metrics sensor of pg-test has not been ok for 5 min", blind.Title, StringComparison.Ordinal);
            Assert.DoesNotContain(Secret, blind.Message, StringComparison.Ordinal);
            Assert.Empty(kit.EventsNamed(AgentEventNames.SensorRestored));

            kit.World = Healthy();
            await kit.TickAsync();
            await kit.TickAsync();
        }

        var restored = Assert.Single(kit.EventsNamed(AgentEventNames.SensorRestored));
        Assert.Equal("metrics", restored.Details["sensor"]);
        Assert.Contains("is ok again after 15 min", restored.Title, StringComparison.Ordinal);
        Assert.Equal([AgentEventNames.SensorBlind, AgentEventNames.SensorRestored], receiver.At("/hook/T0K3N").Select(b => b.GetProperty("event").GetString()));
        Assert.All(receiver.At("/hook/T0K3N"), b => Assert.Equal("http://127.0.0.1:8765/console/#/clusters/pg-test", b.GetProperty("link").GetString()));
        Assert.All(receiver.All, r => Assert.DoesNotContain(Secret, r.Body, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tick_SensorOkAgainBeforeTheThreshold_RaisesNothing()
    {
        await using var kit = await AgentKit.CreateAsync(skills: AgentLoopScheduleTests.Catalog(AgentLoopScheduleTests.Manual));
        await kit.FeedAsync(Healthy());

        kit.World = SensorDown(Healthy(), SensorNames.Logs, "timed out");
        await kit.TickAsync();
        kit.Time.Advance(TimeSpan.FromSeconds(200));
        await kit.TickAsync();
        kit.World = Healthy();
        await kit.TickAsync();
        kit.World = SensorDown(Healthy(), SensorNames.Logs, "timed out");
        await kit.TickAsync();
        kit.Time.Advance(TimeSpan.FromSeconds(200));
        await kit.TickAsync();

        Assert.Empty(kit.EventsNamed(AgentEventNames.SensorBlind));
        Assert.Empty(kit.EventsNamed(AgentEventNames.SensorRestored));
    }

    [Fact]
    public async Task Tick_ApprovalAskedAndDecided_EventsNameTheApprovalAndTheWebhookLinksToItsPage()
    {
        await using var kit = await AgentKit.CreateAsync(level: 2);
        using var receiver = new WebhookReceiver();
        string approvalId;
        await using (Notifier(kit, receiver, AgentEventNames.ApprovalRequested, AgentEventNames.ApprovalDecided))
        {
            await kit.FeedAsync(Load("healthy"));
            await kit.FeedAsync(Load("disk-full-01"));
            await kit.FeedAsync(Load("disk-full-02"));
            await kit.SettleAsync();
            await kit.FeedAsync(Load("disk-full-03"));
            await kit.SettleAsync();
            var pending = Assert.Single(await kit.Acting.Approvals.ListAsync(false, Ct));
            approvalId = pending.Id;
            Assert.Equal(approvalId, Assert.Single(kit.EventsNamed(AgentEventNames.ApprovalRequested)).Details["approval"]);

            await kit.Acting.Approvals.ApproveAsync(approvalId, "tester", null, Ct);
            await kit.FeedAsync(Load("disk-full-04"));
            await kit.SettleAsync();
        }

        var decided = Assert.Single(kit.EventsNamed(AgentEventNames.ApprovalDecided));
        Assert.Equal(approvalId, decided.Details["approval"]);
        var bodies = receiver.At("/hook/T0K3N");
        Assert.Equal([AgentEventNames.ApprovalRequested, AgentEventNames.ApprovalDecided], bodies.Select(b => b.GetProperty("event").GetString()));
        Assert.All(bodies, b => Assert.Equal($"http://127.0.0.1:8765/console/#/approvals/{Uri.EscapeDataString(approvalId)}", b.GetProperty("link").GetString()));
        Assert.All(bodies, b => Assert.False(string.IsNullOrEmpty(b.GetProperty("incident").GetString())));
    }
}
