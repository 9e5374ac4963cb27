using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Web;

namespace PgRuntimeAgent.Tests.Agent;

public sealed class AgentNotifierTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static AgentEvent Opened(string message = "primary-disk-full") => new()
    {
        Name = AgentEventNames.IncidentOpened,
        At = new DateTimeOffset(2026, 11, 22, 21, 30, 1, 250, TimeSpan.Zero),
        Cluster = "pg-test",
        Incident = "inc-pg-test-20261122-213001",
        Severity = "critical",
        Title = "incident inc-pg-test-20261122-213001 opened: pg-test-3 is out of WAL space",
        Message = message,
        Details = new Dictionary<string, string?> { ["codes"] = "primary-disk-full", ["leader_before"] = "pg-test-3" },
    };

    [Fact]
    public void Body_Generic_IsOneJsonObjectWithEventClusterIncidentAndDetails()
    {
        using var doc = JsonDocument.Parse(AgentNotifier.Body(Opened(), NotifyFormat.Generic));
        var root = doc.RootElement;

        Assert.Equal("pgra", root.GetProperty("source").GetString());
        Assert.Equal("incident.opened", root.GetProperty("event").GetString());
        Assert.Equal("2026-11-22T21:30:01.250Z", root.GetProperty("at").GetString());
        Assert.Equal("pg-test", root.GetProperty("cluster").GetString());
        Assert.Equal("inc-pg-test-20261122-213001", root.GetProperty("incident").GetString());
        Assert.Equal("critical", root.GetProperty("severity").GetString());
        Assert.Equal("pg-test-3", root.GetProperty("details").GetProperty("leader_before").GetString());
    }

    [Fact]
    public void Body_Slack_IsATextMessageNamingClusterEventAndIncident()
    {
        using var doc = JsonDocument.Parse(AgentNotifier.Body(Opened(), NotifyFormat.Slack));
        var text = doc.RootElement.GetProperty("text").GetString()!;

        Assert.Single(doc.RootElement.EnumerateObject());
        Assert.StartsWith(":rotating_light: *[pg-test] incident.opened* (critical) `inc-pg-test-20261122-213001`", text, StringComparison.Ordinal);
        Assert.Contains("pg-test-3 is out of WAL space", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OnEvent_WebhookAndStdout_PostsWantedEventsOnlyAndRedactsSecrets()
    {
        var port = WebhookReceiver.FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/hook/");
        listener.Start();
        var secrets = new SecretStore();
        secrets.Add("db", "S3cretPassw0rd", "test");
        var url = secrets.Add("notify/webhook_url", $"http://127.0.0.1:{port}/hook/T0K3N", "test");
        using var stdout = new StringWriter();
        var received = ReceiveAsync(listener);

        await using (var notifier = new AgentNotifier(new NotifySettings { WebhookUrl = url }, secrets, stdout))
        {
            notifier.OnEvent(new AgentEvent { Name = AgentEventNames.Snapshot, At = Opened().At, Title = "not wanted" });
            notifier.OnEvent(Opened("password S3cretPassw0rd leaked"));
        }

        var (path, body, contentType) = await received.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal("/hook/T0K3N", path);
        Assert.StartsWith("application/json", contentType, StringComparison.Ordinal);
        Assert.Contains("incident.opened", body, StringComparison.Ordinal);
        Assert.DoesNotContain("S3cretPassw0rd", body, StringComparison.Ordinal);
        var line = Assert.Single(stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("incident.opened", line, StringComparison.Ordinal);
        Assert.DoesNotContain("S3cretPassw0rd", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OnEvent_WebhookDown_CountsTheFailureAndNeverThrows()
    {
        var secrets = new SecretStore();
        var url = secrets.Add("notify/webhook_url", $"http://127.0.0.1:{WebhookReceiver.FreePort()}/nobody", "test");
        var notifier = new AgentNotifier(new NotifySettings { WebhookUrl = url, Stdout = false, TimeoutSeconds = 1 }, secrets, null);

        notifier.OnEvent(Opened());
        await notifier.DisposeAsync();

        Assert.Equal(1, notifier.Failed);
        Assert.Equal(0, notifier.Sent);
    }

    private static readonly Uri Console = new("https://pg-admin.example.com:8765/console/");

    private const string IncidentLink = "https://pg-admin.example.com:8765/console/#/incidents/inc-pg-test-20261122-213001";

    private const string ApprovalLink = "https://pg-admin.example.com:8765/console/#/approvals/act-20261122-213005-fence";

    private const string ClusterLink = "https://pg-admin.example.com:8765/console/#/clusters/pg-test";

    /// <summary>An approval asked for during the incident: its page, not the incident's, is the link.</summary>
    private static AgentEvent Approval() => Opened() with
    {
        Name = AgentEventNames.ApprovalRequested,
        Severity = "warning",
        Title = "approval needed: fence pg-test-3",
        Message = "pgra approve act-20261122-213005-fence (or pgra deny act-20261122-213005-fence)",
        Details = new Dictionary<string, string?> { ["approval"] = "act-20261122-213005-fence", ["action_id"] = "act-20261122-213005-fence" },
    };

    /// <summary>A sensor blind on the cluster, with no incident: the cluster's page.</summary>
    private static AgentEvent Blind() => new()
    {
        Name = AgentEventNames.SensorBlind,
        At = Opened().At,
        Cluster = "pg-test",
        Severity = "warning",
        Title = "the metrics sensor of pg-test has not been ok for 6 min (unknown)",
        Message = "connection refused",
    };

    [Fact]
    public async Task OnEvent_GenericAndSlackWebhooks_EachBodyLinksToTheApprovalIncidentOrClusterPage()
    {
        using var receiver = new WebhookReceiver();
        var secrets = new SecretStore();
        var settings = new NotifySettings
        {
            Stdout = false,
            Webhooks =
            [
                new NotifyWebhook { Url = secrets.Add("notify/generic", receiver.Url("generic/T0K3N-A"), "test") },
                new NotifyWebhook { Url = secrets.Add("notify/slack", receiver.Url("slack/T0K3N-B"), "test"), Format = NotifyFormat.Slack },
            ],
        };

        await using (var notifier = new AgentNotifier(settings, secrets, null, console: Console))
        {
            notifier.OnEvent(Opened());
            notifier.OnEvent(Approval());
            notifier.OnEvent(Blind());
        }

        var generic = receiver.At("/generic/T0K3N-A").ToDictionary(b => b.GetProperty("event").GetString()!, b => b.GetProperty("link").GetString());
        Assert.Equal(new Dictionary<string, string?>
        {
            [AgentEventNames.IncidentOpened] = IncidentLink,
            [AgentEventNames.ApprovalRequested] = ApprovalLink,
            [AgentEventNames.SensorBlind] = ClusterLink,
        }, generic);
        var slack = receiver.At("/slack/T0K3N-B").Select(b => b.GetProperty("text").GetString()!).ToList();
        Assert.Equal(3, slack.Count);
        Assert.EndsWith($"\n<{IncidentLink}|Open in the console>", Assert.Single(slack, t => t.Contains("incident.opened", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.EndsWith($"\n<{ApprovalLink}|Open in the console>", Assert.Single(slack, t => t.Contains("approval.requested", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.EndsWith($"\n<{ClusterLink}|Open in the console>", Assert.Single(slack, t => t.Contains("sensor.blind", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    [Fact]
    public void Body_NoConsole_LinkIsNullAndTheSlackTextHasNone()
    {
        using var generic = JsonDocument.Parse(AgentNotifier.Body(Opened(), NotifyFormat.Generic));
        using var slack = JsonDocument.Parse(AgentNotifier.Body(Opened(), NotifyFormat.Slack));

        Assert.Equal(JsonValueKind.Null, generic.RootElement.GetProperty("link").ValueKind);
        Assert.DoesNotContain("Open in the console", slack.RootElement.GetProperty("text").GetString()!, StringComparison.Ordinal);
    }

    [Fact]
    public void Body_AgentEventWithoutClusterOrIncident_HasNoLink()
    {
        var started = new AgentEvent { Name = AgentEventNames.Started, At = Opened().At, Title = "watching pg-test" };

        using var doc = JsonDocument.Parse(AgentNotifier.Body(started, NotifyFormat.Generic, Console));

        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("link").ValueKind);
    }

    [Fact]
    public void Body_IdsInTheLink_AreUrlEncoded()
    {
        var odd = Blind() with { Cluster = "pg test/1|x>y" };

        using var doc = JsonDocument.Parse(AgentNotifier.Body(odd, NotifyFormat.Generic, new Uri("http://127.0.0.1:8765/console/")));

        Assert.Equal("http://127.0.0.1:8765/console/#/clusters/pg%20test%2F1%7Cx%3Ey", doc.RootElement.GetProperty("link").GetString());
    }

    [Fact]
    public async Task OnEvent_SeveralWebhooksWithTheirOwnEvents_EachGetsOnlyItsEvents()
    {
        using var receiver = new WebhookReceiver();
        var secrets = new SecretStore();
        var settings = new NotifySettings
        {
            Stdout = false,
            Events = [AgentEventNames.IncidentOpened],
            WebhookUrl = secrets.Add("notify/webhook_url", receiver.Url("single"), "test"),
            Webhooks =
            [
                new NotifyWebhook { Url = secrets.Add("notify/slack", receiver.Url("slack"), "test"), Format = NotifyFormat.Slack, Events = [AgentEventNames.SkillErrored] },
                new NotifyWebhook { Url = secrets.Add("notify/pager", receiver.Url("pager"), "test") },
            ],
        };
        var errored = Blind() with { Name = AgentEventNames.SkillErrored, Title = "skill lock-pileup errored on pg-test" };

        AgentNotifier notifier;
        await using (notifier = new AgentNotifier(settings, secrets, null))
        {
            notifier.OnEvent(Opened());
            notifier.OnEvent(errored);
            notifier.OnEvent(Blind());
        }

        Assert.Equal(3, notifier.Sent);
        Assert.Equal([AgentEventNames.IncidentOpened], receiver.At("/single").Select(b => b.GetProperty("event").GetString()));
        Assert.Equal([AgentEventNames.IncidentOpened], receiver.At("/pager").Select(b => b.GetProperty("event").GetString()));
        var slack = Assert.Single(receiver.At("/slack"));
        Assert.Contains("skill.errored", slack.GetProperty("text").GetString()!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OnEvent_OneWebhookDoesNotAnswer_TheOthersGetTheEventMeanwhile()
    {
        using var receiver = new WebhookReceiver();
        var secrets = new SecretStore();
        var settings = new NotifySettings
        {
            Stdout = false,
            TimeoutSeconds = 120,
            Webhooks =
            [
                new NotifyWebhook { Url = secrets.Add("notify/dead", receiver.Url("hang"), "test") },
                new NotifyWebhook { Url = secrets.Add("notify/live", receiver.Url("live"), "test"), Format = NotifyFormat.Slack },
            ],
        };

        var notifier = new AgentNotifier(settings, secrets, null);
        notifier.OnEvent(Opened());

        // The live webhook (listed after the dead one) is posted while the dead one's request is held: it is never
        // answered before Release, and its timeout is far longer than this wait.
        var live = await receiver.WaitForAsync(r => r.Path == "/live").WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Contains("incident.opened", live.Body, StringComparison.Ordinal);
        await receiver.WaitForAsync(r => r.Path == "/hang").WaitAsync(TimeSpan.FromSeconds(30), Ct);
        receiver.Release();
        await notifier.DisposeAsync();
        Assert.Equal(2, notifier.Sent);
    }

    [Fact]
    public async Task OnEvent_ConsoleFromTheWebHostAndLeakyMessages_NoBodyCarriesAWebhookUrlOrAToken()
    {
        using var receiver = new WebhookReceiver();
        var secrets = new SecretStore();
        const string Token = "tok-0123456789abcdef-Sekrit";
        var http = new HttpSettings { Tokens = [new HttpToken { Name = "ops", Role = WebRole.Approver, Token = secrets.Add("settings:http.tokens[0].token", Token, "test") }] };
        var slackUrl = receiver.Url("services/T000/B000/XoXbSlackSecret");
        var pagerUrl = receiver.Url("pager/integration-key-5529");
        var settings = new NotifySettings
        {
            Stdout = false,
            Events = [AgentEventNames.IncidentOpened, AgentEventNames.ApprovalRequested, AgentEventNames.SensorBlind],
            Webhooks =
            [
                new NotifyWebhook { Url = secrets.Add("settings:notify.webhooks[0].url", slackUrl, "test"), Format = NotifyFormat.Slack },
                new NotifyWebhook { Url = secrets.Add("settings:notify.webhooks[1].url", pagerUrl, "test") },
            ],
        };
        var console = settings.ConsoleBase(http);
        Assert.Equal(new Uri("http://127.0.0.1:8765/console/"), console);

        await using (var notifier = new AgentNotifier(settings, secrets, null, console: console))
        {
            notifier.OnEvent(Opened($"bearer {Token} seen in a log"));
            notifier.OnEvent(Approval() with { Message = $"posted to {slackUrl}" });
            notifier.OnEvent(Blind() with { Message = $"{pagerUrl} answered 500" });
        }

        Assert.Equal(6, receiver.All.Count);
        foreach (var r in receiver.All)
        {
            Assert.DoesNotContain(Token, r.Body, StringComparison.Ordinal);
            Assert.DoesNotContain(slackUrl, r.Body, StringComparison.Ordinal);
            Assert.DoesNotContain(pagerUrl, r.Body, StringComparison.Ordinal);
            Assert.Contains("http://127.0.0.1:8765/console/#/", r.Body, StringComparison.Ordinal);
        }
    }

    private static async Task<(string Path, string Body, string ContentType)> ReceiveAsync(HttpListener listener)
    {
        var context = await listener.GetContextAsync();
        using var reader = new StreamReader(context.Request.InputStream);
        var body = await reader.ReadToEndAsync();
        var result = (context.Request.Url!.AbsolutePath, body, context.Request.ContentType ?? "");
        context.Response.StatusCode = 200;
        context.Response.Close();
        return result;
    }
}
