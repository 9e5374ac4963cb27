using PgRuntimeAgent.Brain;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Mcp;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Tests.Agent;
using PgRuntimeAgent.Tests.Brain;
using PgRuntimeAgent.Tests.Detection;
using PgRuntimeAgent.Tests.Tools;

namespace PgRuntimeAgent.Tests.Telemetry;

/// <summary>
/// The instruments added for the agent's own metrics, recorded where the work happens: a finding the loop raises, a
/// question to the model with its tokens, an MCP tool call. Heard as OpenTelemetry hears them; tags are names only.
/// </summary>
public sealed class AgentMetricsTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly TelemetryRecorder _recorder = new();

    public void Dispose() => _recorder.Dispose();

    private static ClusterSnapshot Lagging(ClusterSnapshot s, string replica) =>
        s with { Members = s.Members.Select(m => m.Name == replica ? m with { LagBytes = 3_000_000 } : m).ToList() };

    [Fact]
    public async Task Loop_AFindingRaised_IsCountedOnceByClusterCodeAndSeverity()
    {
        await using var kit = await AgentKit.CreateAsync();

        await kit.FeedAsync(DetectionKit.Healthy());
        foreach (var at in new[] { 5, 10, 15, 20 })
        {
            await kit.FeedAsync(Lagging(DetectionKit.Healthy(at), "pg-test-2"));
        }

        kit.World = DetectionKit.Healthy(25);
        await kit.SettleAsync();

        // Raised once, although four snapshots showed the lag (the persistence window, then one more).
        var tags = new[] { ("cluster", AgentKit.Cluster), ("code", FindingCodes.ReplicationLag), ("severity", "warning") };
        Assert.Single(_recorder.Values("pgra.detection.findings", tags), v => v == 1);
    }

    [Fact]
    public async Task Investigator_AQuestion_CountsTheCallAndItsTokensByProviderAndModel()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        var model = new ScriptedModel((_, _) => ScriptedModel.Say("nothing is wrong"));
        var settings = new LlmSettings { Provider = "openai", Model = "metrics-" + Guid.NewGuid().ToString("N")[..8], MaxSteps = 2, TimeoutSeconds = 30 };
        var investigator = new Investigator(model, settings, tools.Kit.Workspace.Secrets, tools.Kit.Journal, tools.Kit.Time);

        var exchange = await investigator.AskAsync("pg-test", "is anything wrong?", "Findings: none.", tools.Tools("model:scripted"), Ct);

        Assert.Equal("answered", exchange.Status);
        Assert.Equal([1], _recorder.Values("pgra.brain.model.calls", ("provider", "openai"), ("model", settings.Model), ("status", "answered")));
        Assert.Equal([100], _recorder.Values("pgra.brain.model.tokens", ("provider", "openai"), ("model", settings.Model), ("type", "input")));
        Assert.Equal([10], _recorder.Values("pgra.brain.model.tokens", ("provider", "openai"), ("model", settings.Model), ("type", "output")));
    }

    [Fact]
    public async Task McpCallJournal_ACall_IsCountedByToolTransportAndOk_WithItsDurationInSeconds()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        var journal = new McpCallJournal(tools.Kit.Journal, tools.Kit.Workspace.Secrets);
        var tool = "metrics_test_" + Guid.NewGuid().ToString("N")[..8];

        await journal.RecordAsync(new McpCall { Transport = "stdio", Client = "c", Caller = "mcp:test", Tool = tool, Ok = true, Chars = 10, Ms = 250 }, Ct);
        await journal.RecordAsync(new McpCall { Transport = "stdio", Client = "c", Caller = "mcp:test", Tool = tool, Ok = false, Chars = 0, Ms = 5, Error = "no" }, Ct);

        Assert.Equal([1], _recorder.Values("pgra.mcp.calls", ("tool", tool), ("transport", "stdio"), ("ok", "true")));
        Assert.Equal([1], _recorder.Values("pgra.mcp.calls", ("tool", tool), ("ok", "false")));
        Assert.Equal([0.25], _recorder.Values("pgra.mcp.call.duration", ("tool", tool), ("ok", "true")));
    }
}
