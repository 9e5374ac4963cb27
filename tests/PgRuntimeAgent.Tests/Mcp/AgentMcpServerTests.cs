using System.IO.Pipelines;
using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Mcp;
using PgRuntimeAgent.Tests.Agent;
using PgRuntimeAgent.Tests.Tools;

namespace PgRuntimeAgent.Tests.Mcp;

/// <summary>
/// The MCP server in process, over a pair of pipes, with a real MCP client: its tools are the catalogue's reads and
/// actions with their annotations; a read answers; an action goes through the policy gate and, below its level,
/// becomes a pending approval journaled with the caller as initiator; bad arguments come back as errors that say
/// what to fix and journal nothing; the catalogue, the standing orders and the skills are resources and prompts.
/// </summary>
public sealed class AgentMcpServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class Connected : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private McpServer _server = null!;
        private Task _serving = Task.CompletedTask;
        private ToolsKit _tools = null!;

        public AgentKit Kit => _tools.Kit;

        public McpClient Client { get; private set; } = null!;

        public static async Task<Connected> StartAsync(int level, bool journaled = false)
        {
            var c = new Connected { _tools = await ToolsKit.CreateAsync(level) };
            var options = journaled
                ? AgentMcpServer.Options(new McpServeOptions
                {
                    Tools = c._tools.Tools("mcp:test"),
                    Skills = c.Kit.Skills,
                    Identify = request => McpIdentity.Of(request, token: null, caller: "mcp:alice"),
                    Journal = new McpCallJournal(c.Kit.Journal, c.Kit.Workspace.Secrets),
                    Time = c.Kit.Time,
                    Workspace = c.Kit.Workspace,
                })
                : AgentMcpServer.Options(c._tools.Tools("mcp:test"), AgentCatalog.Default, c.Kit.Skills, "# standing orders\nnever act on a guess");
            var toServer = new Pipe();
            var toClient = new Pipe();
            c._server = McpServer.Create(new StreamServerTransport(toServer.Reader.AsStream(), toClient.Writer.AsStream(), AgentMcpServer.ServerName), options);
            c._serving = c._server.RunAsync(c._stop.Token);
            c.Client = await McpClient.CreateAsync(new StreamClientTransport(toServer.Writer.AsStream(), toClient.Reader.AsStream()),
                new McpClientOptions { ClientInfo = new Implementation { Name = "test", Version = "1" } }, cancellationToken: Ct);
            return c;
        }

        public async Task<JsonElement> CallAsync(string tool, Dictionary<string, object?> args)
        {
            var result = await Client.CallToolAsync(tool, args, cancellationToken: Ct);
            var text = string.Concat(result.Content.OfType<TextContentBlock>().Select(b => b.Text));
            Assert.True(result.IsError != true, text);
            return JsonDocument.Parse(text).RootElement.Clone();
        }

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await _stop.CancelAsync();
            try
            {
                await _serving;
            }
            catch (OperationCanceledException)
            {
            }

            await _server.DisposeAsync();
            await _tools.DisposeAsync();
            _stop.Dispose();
        }
    }

    [Fact]
    public async Task ListTools_AreTheCatalogueReadsAndActions_WithAnnotationsAndSchemas()
    {
        await using var c = await Connected.StartAsync(level: 2);

        var tools = await c.Client.ListToolsAsync(cancellationToken: Ct);

        Assert.Equal(AgentCatalog.Default.Reads.Count + AgentCatalog.Default.Actions.Count, tools.Count);
        Assert.All(tools, t => Assert.Matches("^[a-z0-9_]{1,64}$", t.Name));
        var snapshot = Assert.Single(tools, t => t.Name == "cluster_snapshot");
        Assert.True(snapshot.ProtocolTool.Annotations?.ReadOnlyHint);
        var failover = Assert.Single(tools, t => t.Name == "act_patroni_failover");
        Assert.False(failover.ProtocolTool.Annotations?.ReadOnlyHint);
        Assert.True(failover.ProtocolTool.Annotations?.DestructiveHint);
        var schema = failover.ProtocolTool.InputSchema;
        Assert.Equal("pg-test", schema.GetProperty("properties").GetProperty("cluster").GetProperty("enum")[0].GetString());
        Assert.Contains(schema.GetProperty("required").EnumerateArray(), r => r.GetString() == "reason");
        Assert.Equal(AgentMcpServer.Instructions, c.Client.ServerInstructions);
    }

    [Fact]
    public async Task CallAction_BelowItsLevel_BecomesAPendingApprovalJournaledForTheCaller()
    {
        await using var c = await Connected.StartAsync(level: 2);

        var result = await c.CallAsync("act_member_fence", new() { ["cluster"] = "pg-test", ["member"] = "pg-test-3", ["reason"] = "pg-test-3's disk is full (test)" });

        Assert.True(result.GetProperty("ok").GetBoolean(), result.ToString());
        Assert.Equal("awaiting-approval", result.GetProperty("status").GetString());
        Assert.Empty(c.Kit.Actuator.Executed);
        var request = Assert.Single(await c.Kit.EntriesAsync(JournalKinds.ApprovalRequested)).PayloadAs<ApprovalRequestPayload>()!;
        Assert.Equal("mcp:test", request.Action.Initiator);
        Assert.Equal(ActionTrigger.Proactive, request.Action.Trigger);
        Assert.Equal(result.GetProperty("action_id").GetString(), request.Action.Id);
    }

    [Fact]
    public async Task CallAction_WithoutAReasonOrOnAnUnknownCluster_IsAnErrorThatSaysWhatToFix_AndJournalsNothing()
    {
        await using var c = await Connected.StartAsync(level: 5);

        var noReason = await c.CallAsync("act_member_fence", new() { ["cluster"] = "pg-test", ["member"] = "pg-test-3" });
        var unknown = await c.CallAsync("act_member_fence", new() { ["cluster"] = "pg-nope", ["member"] = "pg-test-3", ["reason"] = "test" });

        Assert.False(noReason.GetProperty("ok").GetBoolean());
        Assert.Contains("reason", noReason.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.False(unknown.GetProperty("ok").GetBoolean());
        Assert.Contains("pg-nope", unknown.ToString(), StringComparison.Ordinal);
        Assert.Empty(c.Kit.Actuator.Executed);
        Assert.Empty(await c.Kit.EntriesAsync(JournalKinds.ActionIntent, JournalKinds.ApprovalRequested));
    }

    [Fact]
    public async Task CallRead_AnswersInTheReadEnvelope()
    {
        await using var c = await Connected.StartAsync(level: 2);
        await c.CallAsync("act_member_fence", new() { ["cluster"] = "pg-test", ["member"] = "pg-test-3", ["reason"] = "test" });

        var read = await c.CallAsync("journal_search", new() { ["cluster"] = "pg-test", ["kinds"] = "approval.requested" });

        Assert.True(read.GetProperty("ok").GetBoolean(), read.ToString());
        Assert.Equal("journal.search", read.GetProperty("read").GetString());
        Assert.Contains("approval needed", read.GetProperty("result").ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResourcesAndPrompts_AreTheCatalogueTheOrdersAndTheSkills()
    {
        await using var c = await Connected.StartAsync(level: 2);

        var catalog = await c.Client.ReadResourceAsync(AgentMcpServer.CatalogUri, cancellationToken: Ct);
        var orders = await c.Client.ReadResourceAsync(AgentMcpServer.OrdersUri, cancellationToken: Ct);
        var skill = await c.Client.ReadResourceAsync(AgentMcpServer.SkillUriPrefix + "primary-failure", cancellationToken: Ct);
        var prompts = await c.Client.ListPromptsAsync(cancellationToken: Ct);
        var prompt = await c.Client.GetPromptAsync("primary-failure", new Dictionary<string, object?> { ["cluster"] = "pg-test" }, cancellationToken: Ct);

        Assert.Contains("pgra.catalog/v1", catalog.Contents.OfType<TextResourceContents>().Single().Text, StringComparison.Ordinal);
        Assert.Contains("never act on a guess", orders.Contents.OfType<TextResourceContents>().Single().Text, StringComparison.Ordinal);
        Assert.Contains("```yaml steps", skill.Contents.OfType<TextResourceContents>().Single().Text, StringComparison.Ordinal);
        Assert.Equal(c.Kit.Skills.Skills.Select(s => s.Name).Order(StringComparer.Ordinal), prompts.Select(p => p.Name).Order(StringComparer.Ordinal));
        var text = Assert.IsType<TextContentBlock>(Assert.Single(prompt.Messages).Content).Text;
        Assert.Contains("on the cluster pg-test", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IncidentResources_ListTheJournalsIncidentsAndRenderEachPostmortem_AndRefuseAnIdThatIsNotOne()
    {
        await using var c = await Connected.StartAsync(level: 2, journaled: true);
        var (_, id, _) = await PgRuntimeAgent.Tests.Incidents.IncidentScenario.RunAsync(c.Kit.Journal, runSkill: true, Ct);

        var list = await c.Client.ReadResourceAsync(AgentMcpServer.IncidentsUri, cancellationToken: Ct);
        var topology = (await c.Client.ReadResourceAsync(AgentMcpServer.TopologyUri, cancellationToken: Ct)).Contents.OfType<TextResourceContents>().Single().Text;
        Assert.Contains("\"pg-test-3\"", topology, StringComparison.Ordinal);
        Assert.DoesNotContain("DBUser.DBA", topology, StringComparison.Ordinal);
        var postmortem = await c.Client.ReadResourceAsync($"pgra://incidents/{id}/postmortem", cancellationToken: Ct);

        using var incidents = JsonDocument.Parse(list.Contents.OfType<TextResourceContents>().Single().Text);
        var incident = Assert.Single(incidents.RootElement.EnumerateArray());
        Assert.Equal(id, incident.GetProperty("id").GetString());
        Assert.Equal("resolved", incident.GetProperty("state").GetString());
        Assert.Equal($"pgra://incidents/{id}/postmortem", incident.GetProperty("postmortem").GetString());
        var markdown = postmortem.Contents.OfType<TextResourceContents>().Single().Text;
        Assert.Contains("## Root cause", markdown, StringComparison.Ordinal);
        Assert.Contains("pg-test-3", markdown, StringComparison.Ordinal);
        var templates = await c.Client.ListResourceTemplatesAsync(cancellationToken: Ct);
        Assert.Contains(templates, t => t.UriTemplate == AgentMcpServer.PostmortemUriTemplate);
        var bad = await Assert.ThrowsAnyAsync<ModelContextProtocol.McpException>(() => c.Client.ReadResourceAsync("pgra://incidents/..%2F..%2Fetc%2Fpasswd/postmortem", cancellationToken: Ct).AsTask());
        Assert.Contains("is not an incident id", bad.Message, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAnyAsync<ModelContextProtocol.McpException>(() => c.Client.ReadResourceAsync("pgra://incidents/inc-pg-test-20200101-000000/postmortem", cancellationToken: Ct).AsTask());
        Assert.Contains("no incident inc-pg-test-20200101-000000", unknown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CallOnStdio_WithAJournal_IsJournaledAsMcpCall_AndActsForTheIdentifiedCaller()
    {
        await using var c = await Connected.StartAsync(level: 2, journaled: true);

        var read = await c.CallAsync("journal_search", new() { ["cluster"] = "pg-test" });
        var act = await c.CallAsync("act_member_fence", new() { ["cluster"] = "pg-test", ["member"] = "pg-test-3", ["reason"] = "test" });

        var calls = (await c.Kit.EntriesAsync(JournalKinds.McpCall)).OrderBy(e => e.Seq).Select(e => e.PayloadAs<McpCall>()!).ToList();
        Assert.Equal(["journal_search", "act_member_fence"], calls.Select(x => x.Tool));
        Assert.All(calls, x => Assert.Equal(("stdio", "test", null, "mcp:alice"), (x.Transport, x.Client, x.Token, x.Caller)));
        Assert.Equal(act.GetProperty("action_id").GetString(), calls[1].ActionId);
        Assert.True(read.GetProperty("ok").GetBoolean());
        var request = Assert.Single(await c.Kit.EntriesAsync(JournalKinds.ApprovalRequested)).PayloadAs<ApprovalRequestPayload>()!;
        Assert.Equal("mcp:alice", request.Action.Initiator);
    }
}
