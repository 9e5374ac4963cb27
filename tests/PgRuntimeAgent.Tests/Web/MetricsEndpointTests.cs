using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using PgRuntimeAgent.Telemetry;

namespace PgRuntimeAgent.Tests.Web;

/// <summary>
/// <c>/metrics</c> on a real Kestrel on 127.0.0.1: a bearer token is needed (a viewer's is enough), the answer is
/// Prometheus's text format from the OpenTelemetry exporter, and what the agent recorded shows there with its labels
/// and values: an action requested over MCP (the pipeline's counter, the MCP call's), a snapshot's duration and a
/// finding (recorded on their instruments with a cluster of the test's own, so that parallel tests cannot change the
/// values), the approvals pending gauge read from the approval book at most once per refresh interval, and no secret.
/// </summary>
[Collection(WebHostCollection.Name)]
public sealed partial class MetricsEndpointTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<string> ScrapeAsync(WebKit web, string token = WebKit.ViewerToken)
    {
        using var client = web.Client(token);
        using var response = await client.GetAsync("metrics", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync(Ct);
    }

    private static async Task RequestFenceAsync(WebKit web)
    {
        await using var ops = await McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = new Uri(web.Host.Address, "mcp"),
                TransportMode = HttpTransportMode.StreamableHttp,
                EnableStandaloneGetStream = false,
            }, web.Client(WebKit.OperatorToken), ownsHttpClient: true),
            new McpClientOptions { ClientInfo = new Implementation { Name = "metrics-test", Version = "1" } }, cancellationToken: Ct);
        var result = await ops.CallToolAsync("act_member_fence",
            new Dictionary<string, object?> { ["cluster"] = "pg-test", ["member"] = "pg-test-3", ["reason"] = "pg-test-3's disk is full (test)" }, cancellationToken: Ct);
        Assert.True(result.IsError != true, string.Concat(result.Content.OfType<TextContentBlock>().Select(b => b.Text)));
    }

    [Fact]
    public async Task Metrics_WithoutAViewerToken_Is401_WithOne_IsPrometheusText()
    {
        await using var web = await WebKit.StartAsync();
        using var anonymous = web.Client(null);
        using var wrong = web.Client("not-a-token-of-this-agent-0000");

        using var none = await anonymous.GetAsync("metrics", Ct);
        using var bad = await wrong.GetAsync("metrics", Ct);
        using var viewer = web.Client(WebKit.ViewerToken);
        using var ok = await viewer.GetAsync("metrics", Ct);
        var text = await ok.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal("Bearer", Assert.Single(none.Headers.WwwAuthenticate).Scheme);
        Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("text/plain", ok.Content.Headers.ContentType?.MediaType);
        Assert.Contains(ok.Content.Headers.ContentType!.Parameters, p => p.Name == "version" && p.Value == "0.0.4");
        Assert.Contains("# TYPE target_info gauge", text, StringComparison.Ordinal);
        // The runtime's own meter: process basics without another package.
        Assert.Contains(Samples(text), s => s.Name.StartsWith("dotnet_", StringComparison.Ordinal));
        Assert.Contains(Samples(text), s => s.Name == "target_info" && s.Labels.GetValueOrDefault("service_name") == "pgra");
        web.AssertNoTokenInAnyResponse();
    }

    [Fact]
    public async Task Metrics_AfterAnActionASnapshotAndAFinding_TheScrapeHasTheirSeriesWithLabelsAndValues()
    {
        await using var web = await WebKit.StartAsync(allowActions: true, level: 2);
        var cluster = "metrics-" + Guid.NewGuid().ToString("N")[..8];

        await RequestFenceAsync(web);
        AgentTelemetry.Sensing.SnapshotDuration.Record(0.4, new KeyValuePair<string, object?>("cluster", cluster));
        AgentTelemetry.Sensing.SnapshotDuration.Record(1.5, new KeyValuePair<string, object?>("cluster", cluster));
        AgentTelemetry.Detection.FindingsRaised.Add(1, new("cluster", cluster), new("code", "primary-disk-full"), new("severity", "critical"));
        var samples = Samples(await ScrapeAsync(web));

        // The action went through the pipeline: waiting for approval at level 2 (other tests may add to pg-test's count).
        Assert.True(Value(samples, "pgra_acting_actions_total", ("cluster", "pg-test"), ("kind", "member.fence"), ("status", "awaiting-approval")) >= 1);
        Assert.True(Value(samples, "pgra_acting_action_duration_seconds_count", ("kind", "member.fence"), ("status", "awaiting-approval")) >= 1);
        Assert.True(Value(samples, "pgra_policy_decisions_total", ("cluster", "pg-test"), ("verdict", "await-approval")) >= 1);
        Assert.True(Value(samples, "pgra_mcp_calls_total", ("tool", "act_member_fence"), ("transport", "http"), ("ok", "true")) >= 1);
        Assert.True(Value(samples, "pgra_journal_append_duration_seconds_count", ("kind", "mcp.call")) >= 1);
        // The test's own cluster: exact values, the histogram in seconds with the advised buckets.
        Assert.Equal(2, Value(samples, "pgra_sensing_snapshot_duration_seconds_count", ("cluster", cluster)));
        Assert.Equal(1.9, Value(samples, "pgra_sensing_snapshot_duration_seconds_sum", ("cluster", cluster)), 6);
        Assert.Equal(1, Value(samples, "pgra_sensing_snapshot_duration_seconds_bucket", ("cluster", cluster), ("le", "0.5")));
        Assert.Equal(2, Value(samples, "pgra_sensing_snapshot_duration_seconds_bucket", ("cluster", cluster), ("le", "2")));
        Assert.Equal(1, Value(samples, "pgra_detection_findings_total", ("cluster", cluster), ("code", "primary-disk-full"), ("severity", "critical")));
        web.AssertNoTokenInAnyResponse();
    }

    [Fact]
    public async Task Metrics_ApprovalsPending_ReflectsAPendingApproval_ReadAtMostOncePerRefreshInterval()
    {
        await using var web = await WebKit.StartAsync(allowActions: true, level: 2);

        var before = Samples(await ScrapeAsync(web));
        await RequestFenceAsync(web);
        var cached = Samples(await ScrapeAsync(web));
        web.Kit.Time.Advance(TimeSpan.FromSeconds(new TelemetrySettings().StateRefreshSeconds));
        var after = Samples(await ScrapeAsync(web));

        Assert.DoesNotContain(before, s => s.Name == "pgra_acting_approvals_pending");
        Assert.DoesNotContain(cached, s => s.Name == "pgra_acting_approvals_pending");
        Assert.Equal(1, Value(after, "pgra_acting_approvals_pending", ("cluster", "pg-test")));
        var entries = await web.Kit.Journal.QueryAsync(new PgRuntimeAgent.Journal.JournalQuery { Limit = 1, Descending = true }, Ct);
        Assert.True(Value(after, "pgra_journal_entries") >= 1);
        Assert.True(Value(after, "pgra_journal_entries") <= entries[0].Seq);
        Assert.True(Value(before, "pgra_journal_entries") < Value(after, "pgra_journal_entries"));
    }

    [Fact]
    public async Task Metrics_TheScrape_CarriesNoSecret()
    {
        await using var web = await WebKit.StartAsync(allowActions: true, level: 2);
        await RequestFenceAsync(web);
        web.Kit.Time.Advance(TimeSpan.FromMinutes(1));

        var text = await ScrapeAsync(web, WebKit.ApproverToken);

        Assert.Contains("pgra_acting_approvals_pending", text, StringComparison.Ordinal);
        // Nothing the secret store knows (the inventory's passwords, the tokens) is in it: redacting changes nothing.
        Assert.Equal(text, web.Kit.Workspace.Secrets.Redact(text));
        Assert.DoesNotContain("DBUser.DBA", text, StringComparison.Ordinal);
        web.AssertNoTokenInAnyResponse();
    }

    internal sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    /// <summary>Every sample of a text-format scrape: <c>name{label="value",...} value</c>.</summary>
    internal static IReadOnlyList<Sample> Samples(string text) =>
        [.. text.Split('\n').Where(l => l.Length > 0 && l[0] != '#').Select(l => SampleLine().Match(l)).Where(m => m.Success).Select(m => new Sample(
            m.Groups["name"].Value,
            LabelPair().Matches(m.Groups["labels"].Value).ToDictionary(p => p.Groups["k"].Value, p => Regex.Unescape(p.Groups["v"].Value), StringComparer.Ordinal),
            double.Parse(m.Groups["value"].Value, NumberStyles.Float, CultureInfo.InvariantCulture)))];

    /// <summary>The sum of the samples named <paramref name="name"/> carrying every label given (0: none).</summary>
    internal static double Value(IReadOnlyList<Sample> samples, string name, params (string Key, string Value)[] labels) =>
        samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).Sum(s => s.Value);

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)""")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(?<k>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<v>(?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelPair();
}
