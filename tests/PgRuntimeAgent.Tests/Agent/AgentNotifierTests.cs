using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Secrets;

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
        var port = FreePort();
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
        var url = secrets.Add("notify/webhook_url", $"http://127.0.0.1:{FreePort()}/nobody", "test");
        var notifier = new AgentNotifier(new NotifySettings { WebhookUrl = url, Stdout = false, TimeoutSeconds = 1 }, secrets, null);

        notifier.OnEvent(Opened());
        await notifier.DisposeAsync();

        Assert.Equal(1, notifier.Failed);
        Assert.Equal(0, notifier.Sent);
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
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
