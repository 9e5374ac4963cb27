using System.Net;
using System.Text;
using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Mcp;

namespace PgRuntimeAgent.Tests.Web;

/// <summary>
/// The web host on a real Kestrel on 127.0.0.1: every route needs a known bearer token; MCP over streamable HTTP with
/// the SDK's own client (tools by role and <c>mcp.allow_actions</c>, calls journaled with the client's name, actions
/// requested as <c>mcp:TOKEN/CLIENT</c>); the read API; the body limit; and no response ever carries a token.
/// </summary>
[Collection(WebHostCollection.Name)]
public sealed class AgentWebHostTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<McpClient> McpAsync(WebKit web, string token, string client = "test-client") =>
        await McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = new Uri(web.Host.Address, "mcp"),
                TransportMode = HttpTransportMode.StreamableHttp,
                EnableStandaloneGetStream = false,
            }, web.Client(token), ownsHttpClient: true),
            new McpClientOptions { ClientInfo = new Implementation { Name = client, Version = "1.2.3" } }, cancellationToken: Ct);

    private static async Task<JsonElement> CallAsync(McpClient client, string tool, Dictionary<string, object?> args)
    {
        var result = await client.CallToolAsync(tool, args, cancellationToken: Ct);
        var text = string.Concat(result.Content.OfType<TextContentBlock>().Select(b => b.Text));
        Assert.True(result.IsError != true, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    [Fact]
    public async Task EveryRoute_WithoutAKnownToken_Is401AndSaysBearer()
    {
        await using var web = await WebKit.StartAsync();
        using var anonymous = web.Client(null);
        using var wrong = web.Client("not-a-token-of-this-agent-0000");
        using var viewer = web.Client(WebKit.ViewerToken);

        foreach (var path in new[] { "api/v1/catalog", "api/v1/health", "api/v1/approvals", "api/v1/nothing-here", "mcp", "console/session" })
        {
            using var none = await anonymous.GetAsync(path, Ct);
            using var bad = await wrong.GetAsync(path, Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
            Assert.Equal("Bearer", Assert.Single(none.Headers.WwwAuthenticate).Scheme);
        }

        using var post = await anonymous.PostAsync("mcp", new StringContent("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", Encoding.UTF8, "application/json"), Ct);
        using var basic = new HttpRequestMessage(HttpMethod.Get, "api/v1/health") { Headers = { { "Authorization", "Basic " + WebKit.ViewerToken } } };
        using var notBearer = await anonymous.SendAsync(basic, Ct);
        using var unknownPath = await viewer.GetAsync("api/v1/nothing-here", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, post.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, notBearer.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknownPath.StatusCode);
        Assert.Empty(await web.Kit.EntriesAsync(JournalKinds.McpCall));
        web.AssertNoTokenInAnyResponse();
    }

    [Fact]
    public async Task ReadApi_ServesTheCatalogueHealthAndPendingApprovals()
    {
        await using var web = await WebKit.StartAsync(allowActions: true, level: 2);
        using var viewer = web.Client(WebKit.ViewerToken);
        await using (var ops = await McpAsync(web, WebKit.OperatorToken))
        {
            await CallAsync(ops, "act_member_fence", new() { ["cluster"] = "pg-test", ["member"] = "pg-test-3", ["reason"] = "pg-test-3's disk is full (test)" });
        }

        using var catalog = await viewer.GetAsync("api/v1/catalog", Ct);
        using var health = await viewer.GetAsync("api/v1/health", Ct);
        using var approvals = await viewer.GetAsync("api/v1/approvals", Ct);

        Assert.Equal(HttpStatusCode.OK, catalog.StatusCode);
        Assert.Equal("application/json", catalog.Content.Headers.ContentType?.MediaType);
        var c = JsonDocument.Parse(await catalog.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(AgentCatalog.Default.ToJson().ToJsonString(), JsonSerializer.Serialize(c));
        Assert.Contains("pgra.catalog/v1", c.ToString(), StringComparison.Ordinal);
        var h = JsonDocument.Parse(await health.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal("ok", h.GetProperty("status").GetString());
        Assert.Equal(["pg-test"], h.GetProperty("clusters").EnumerateArray().Select(e => e.GetString()));
        Assert.True(h.GetProperty("agent_loop").GetBoolean());
        Assert.False(string.IsNullOrEmpty(h.GetProperty("version").GetString()));
        var pending = JsonDocument.Parse(await approvals.Content.ReadAsStringAsync(Ct)).RootElement;
        var approval = Assert.Single(pending.EnumerateArray());
        Assert.Equal("pending", approval.GetProperty("status").GetString());
        Assert.Equal("mcp:ops/test-client", approval.GetProperty("action").GetProperty("initiator").GetString());
        web.AssertNoTokenInAnyResponse();
    }

    [Fact]
    public async Task Mcp_AViewer_ListsTheReadsOnly_AndCannotCallAnAction()
    {
        await using var web = await WebKit.StartAsync(allowActions: true);
        await using var viewer = await McpAsync(web, WebKit.ViewerToken);

        var tools = await viewer.ListToolsAsync(cancellationToken: Ct);
        var refused = await Assert.ThrowsAnyAsync<McpException>(() =>
            viewer.CallToolAsync("act_member_fence", new Dictionary<string, object?> { ["cluster"] = "pg-test", ["member"] = "pg-test-3", ["reason"] = "test" }, cancellationToken: Ct).AsTask());

        Assert.Equal(AgentCatalog.Default.Reads.Count, tools.Count);
        Assert.DoesNotContain(tools, t => t.Name.StartsWith("act_", StringComparison.Ordinal));
        Assert.Contains("act_member_fence", refused.Message, StringComparison.Ordinal);
        Assert.Empty(web.Kit.Actuator.Executed);
        Assert.Empty(await web.Kit.EntriesAsync(JournalKinds.ActionIntent, JournalKinds.ApprovalRequested, JournalKinds.Decision));
        web.AssertNoTokenInAnyResponse();
    }

    [Fact]
    public async Task Mcp_WithoutAllowActions_AnOperatorGetsTheReadsOnly()
    {
        await using var web = await WebKit.StartAsync(allowActions: false);
        await using var ops = await McpAsync(web, WebKit.OperatorToken);

        var tools = await ops.ListToolsAsync(cancellationToken: Ct);

        Assert.Equal(AgentCatalog.Default.Reads.Count, tools.Count);
        Assert.DoesNotContain(tools, t => t.Name.StartsWith("act_", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mcp_AnOperatorWithAllowActions_RequestsAnActionAsTokenSlashClient_ThroughThePolicy()
    {
        await using var web = await WebKit.StartAsync(allowActions: true, level: 2);
        await using var ops = await McpAsync(web, WebKit.OperatorToken, client: "claude-code");

        var tools = await ops.ListToolsAsync(cancellationToken: Ct);
        var result = await CallAsync(ops, "act_member_fence", new() { ["cluster"] = "pg-test", ["member"] = "pg-test-3", ["reason"] = "pg-test-3's disk is full (test)" });

        Assert.Equal(AgentCatalog.Default.Reads.Count + AgentCatalog.Default.Actions.Count, tools.Count);
        Assert.Equal("awaiting-approval", result.GetProperty("status").GetString());
        Assert.Empty(web.Kit.Actuator.Executed);
        var request = Assert.Single(await web.Kit.EntriesAsync(JournalKinds.ApprovalRequested)).PayloadAs<ApprovalRequestPayload>()!;
        Assert.Equal("mcp:ops/claude-code", request.Action.Initiator);
        Assert.Equal(ActionTrigger.Proactive, request.Action.Trigger);
        var call = Assert.Single(await web.Kit.EntriesAsync(JournalKinds.McpCall));
        var journaled = call.PayloadAs<McpCall>()!;
        Assert.Equal(("claude-code", "ops", "mcp:ops/claude-code", "act_member_fence"), (journaled.Client, journaled.Token, journaled.Caller, journaled.Tool));
        Assert.Equal(result.GetProperty("action_id").GetString(), journaled.ActionId);
        Assert.Equal(journaled.ActionId, call.CorrelationId);
        Assert.True(journaled.Ok);
        web.AssertNoTokenInAnyResponse();
    }

    [Fact]
    public async Task Mcp_AClientOverHttp_CallsJournalSearch_AndTheCallIsJournaledWithItsName()
    {
        await using var web = await WebKit.StartAsync();
        await using var viewer = await McpAsync(web, WebKit.ViewerToken, client: "codex");

        var tools = await viewer.ListToolsAsync(cancellationToken: Ct);
        var read = await CallAsync(viewer, "journal_search", new() { ["cluster"] = "pg-test", ["kinds"] = "mcp.call", ["limit"] = 5 });
        var catalog = await viewer.ReadResourceAsync(AgentMcpServer.CatalogUri, cancellationToken: Ct);

        Assert.Contains(tools, t => t.Name == "journal_search");
        Assert.True(read.GetProperty("ok").GetBoolean(), read.ToString());
        Assert.Equal("journal.search", read.GetProperty("read").GetString());
        Assert.Equal(AgentMcpServer.Instructions, viewer.ServerInstructions);
        Assert.Contains("pgra.catalog/v1", catalog.Contents.OfType<TextResourceContents>().Single().Text, StringComparison.Ordinal);
        var entry = Assert.Single(await web.Kit.EntriesAsync(JournalKinds.McpCall));
        var call = entry.PayloadAs<McpCall>()!;
        Assert.Equal(("http", "codex", "1.2.3", "viewer", "journal_search", "pg-test"), (call.Transport, call.Client, call.ClientVersion, call.Token, call.Tool, call.Cluster));
        Assert.True(call.Ok);
        Assert.True(call.Chars > 0);
        Assert.Null(call.ActionId);
        Assert.Equal("mcp.call", call.Arguments!["kinds"]!.GetValue<string>());
        Assert.Equal(("journal_search", "pg-test"), (entry.Topic, entry.Cluster));
        Assert.Contains("codex (token viewer) called journal_search on pg-test over http: ok", entry.Summary, StringComparison.Ordinal);
        web.AssertNoTokenInAnyResponse();
    }

    [Fact]
    public async Task Mcp_ASecretInTheArguments_IsMaskedInTheJournal()
    {
        await using var web = await WebKit.StartAsync();
        await using var viewer = await McpAsync(web, WebKit.ViewerToken);

        await CallAsync(viewer, "journal_search", new() { ["cluster"] = "pg-test", ["topic"] = "login " + WebKit.OperatorToken });

        var entry = Assert.Single(await web.Kit.EntriesAsync(JournalKinds.McpCall));
        Assert.DoesNotContain(WebKit.OperatorToken, entry.Payload, StringComparison.Ordinal);
        Assert.Contains("login ", entry.PayloadAs<McpCall>()!.Arguments!["topic"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARequestBody_OverMaxRequestBytes_Is413()
    {
        await using var web = await WebKit.StartAsync(maxRequestBytes: 4096);
        using var viewer = web.Client(WebKit.ViewerToken);
        var big = """{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"pad":""" + "\"" + new string('x', 8192) + "\"}}";

        using var tooBig = await viewer.PostAsync("mcp", new StringContent(big, Encoding.UTF8, "application/json"), Ct);
        using var anonymous = web.Client(null);
        using var tooBigAnonymous = await anonymous.PostAsync("mcp", new StringContent(big, Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBig.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, tooBigAnonymous.StatusCode);
        Assert.Empty(await web.Kit.EntriesAsync(JournalKinds.McpCall));
    }

    [Fact]
    public async Task Decisions_NeedAnApproverToken_ARoleTooLowIs403_AndAnApprovalRunsTheAction()
    {
        await using var web = await WebKit.StartAsync(allowActions: true, level: 2);
        await using (var ops = await McpAsync(web, WebKit.OperatorToken))
        {
            await CallAsync(ops, "act_member_fence", new() { ["cluster"] = "pg-test", ["member"] = "pg-test-3", ["reason"] = "pg-test-3's disk is full (test)" });
        }

        var id = Assert.Single(await web.Kit.Acting.Approvals.ListAsync(includeClosed: false, Ct)).Id;
        using var viewer = web.Client(WebKit.ViewerToken);
        using var operatorClient = web.Client(WebKit.OperatorToken);
        using var approver = web.Client(WebKit.ApproverToken);
        using var anonymous = web.Client(null);
        StringContent Note() => new("""{"note":"checked the disk"}""", Encoding.UTF8, "application/json");

        using var byViewer = await viewer.PostAsync($"api/v1/approvals/{id}/approve", Note(), Ct);
        using var byOperator = await operatorClient.PostAsync($"api/v1/approvals/{id}/approve", Note(), Ct);
        using var byNobody = await anonymous.PostAsync($"api/v1/approvals/{id}/deny", Note(), Ct);
        Assert.Equal(HttpStatusCode.Forbidden, byViewer.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, byOperator.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, byNobody.StatusCode);
        Assert.Empty(await web.Kit.EntriesAsync(JournalKinds.ApprovalGranted, JournalKinds.ApprovalDenied));

        using var approved = await approver.PostAsync($"api/v1/approvals/{id}/approve", Note(), Ct);
        using var again = await approver.PostAsync($"api/v1/approvals/{id}/deny", null, Ct);

        var result = JsonDocument.Parse(await approved.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        Assert.Equal(id, result.GetProperty("action_id").GetString());
        Assert.Equal("succeeded", result.GetProperty("status").GetString());
        Assert.Single(web.Kit.Actuator.Executed);
        var granted = Assert.Single(await web.Kit.EntriesAsync(JournalKinds.ApprovalGranted));
        Assert.Equal(("api:boss", "checked the disk"), (granted.PayloadAs<ApprovalDecisionPayload>()!.By, granted.PayloadAs<ApprovalDecisionPayload>()!.Note));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains("not pending", await again.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        web.AssertNoTokenInAnyResponse();
    }

    [Fact]
    public async Task Decisions_SeveralAgents_ApprovedOnAnAgentThatDoesNotOwnTheCluster_IsForwardedToTheOwnerNotRunHere()
    {
        var ownership = new PgRuntimeAgent.Tests.Fleet.FleetTests.Ownership();
        await using var web = await WebKit.StartAsync(allowActions: true, level: 2, leases: ownership);
        await using (var ops = await McpAsync(web, WebKit.OperatorToken))
        {
            await CallAsync(ops, "act_member_fence", new() { ["cluster"] = "pg-test", ["member"] = "pg-test-3", ["reason"] = "pg-test-3's disk is full (test)" });
        }

        var id = Assert.Single(await web.Kit.Acting.Approvals.ListAsync(includeClosed: false, Ct)).Id;
        using var approver = web.Client(WebKit.ApproverToken);

        // agent-b owns pg-test: approved here, journaled for the owner to run, nothing executed on this agent.
        using var forwarded = await approver.PostAsync($"api/v1/approvals/{id}/approve", new StringContent("""{"note":"go"}""", Encoding.UTF8, "application/json"), Ct);
        var body = JsonDocument.Parse(await forwarded.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(HttpStatusCode.Accepted, forwarded.StatusCode);
        Assert.Equal(("forwarded", "agent-b", "test-agent"), (body.GetProperty("status").GetString(), body.GetProperty("owner").GetString(), body.GetProperty("agent_id").GetString()));
        Assert.Contains("its owner agent-b runs it", body.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Empty(web.Kit.Actuator.Executed);
        Assert.Empty(await web.Kit.EntriesAsync(JournalKinds.ActionIntent));
        Assert.Equal(ApprovalStatus.Approved, (await web.Kit.Acting.Approvals.GetAsync(id, Ct))!.Status);

        // This agent owns it now: the approved action runs here.
        ownership.Owned = true;
        using var run = await approver.PostAsync($"api/v1/approvals/{id}/approve", null, Ct);
        Assert.Equal(HttpStatusCode.OK, run.StatusCode);
        Assert.Equal("succeeded", JsonDocument.Parse(await run.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("status").GetString());
        Assert.Single(web.Kit.Actuator.Executed);
        Assert.Single(await web.Kit.EntriesAsync(JournalKinds.ApprovalGranted));
    }

    [Fact]
    public async Task Mcp_ASessionIsBoundToItsToken_AnotherTokenIs403()
    {
        await using var web = await WebKit.StartAsync();
        using var viewer = web.Client(WebKit.ViewerToken);
        using var approver = web.Client(WebKit.ApproverToken);
        HttpRequestMessage Post(string body, string? session = null)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "mcp") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Accept.ParseAdd("application/json");
            request.Headers.Accept.ParseAdd("text/event-stream");
            if (session is not null)
            {
                request.Headers.Add("Mcp-Session-Id", session);
                request.Headers.Add("MCP-Protocol-Version", "2025-06-18");
            }

            return request;
        }

        using var init = Post("""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}""");
        using var initialized = await viewer.SendAsync(init, Ct);
        var session = Assert.Single(initialized.Headers.GetValues("Mcp-Session-Id"));
        using var list = Post("""{"jsonrpc":"2.0","id":2,"method":"tools/list"}""", session);
        using var hijack = await approver.SendAsync(list, Ct);

        Assert.Equal(HttpStatusCode.OK, initialized.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, hijack.StatusCode);
        web.AssertNoTokenInAnyResponse();
    }
}
