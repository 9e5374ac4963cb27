using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using PgRuntimeAgent.Brain;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Tests.Tools;
using PgRuntimeAgent.Tools;

namespace PgRuntimeAgent.Tests.Brain;

/// <summary>
/// The provider path end to end, over HTTP: <see cref="ChatClients.Create"/> with the real OpenAI and Anthropic SDKs,
/// pointed at a loopback server speaking each protocol, driven by <see cref="Investigator.AskAsync"/> with the catalogue's
/// tools. What the server received is the evidence: the tools offered, the tool results sent back under the call's id,
/// the API key in its header only, no secret in any body. A server that fails, throttles or never answers ends the
/// question with that status, journaled, never thrown. Recorded conversations replay turn by turn, each request checked.
/// </summary>
public sealed class ProviderProtocolTests(ITestOutputHelper output)
{
    private const string ApiKey = "sk-loopback-Zq7x-4711-provider-key";

    /// <summary>The inventory's admin password: a secret the kit's store knows.</summary>
    private const string InventorySecret = "DBUser.DBA";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Recording(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "PgRuntimeAgent.Tests", "Brain", "Recorded", name);

    private static LlmSettings Settings(ToolsKit tools, string provider, Uri endpoint, string model) => new()
    {
        Provider = provider,
        Endpoint = endpoint,
        Model = model,
        ApiKey = tools.Kit.Workspace.Secrets.Add("llm.api_key", ApiKey, "test"),
        MaxSteps = 4,
        MaxOutputTokens = 1024,
        TimeoutSeconds = 20,
        InputPricePerMillion = 1,
        OutputPricePerMillion = 2,
    };

    private static async Task<BrainExchange> AskAsync(ToolsKit tools, LlmSettings settings, string question, string context)
    {
        using var client = ChatClients.Create(settings, tools.Kit.Workspace.Secrets);
        var investigator = new Investigator(client, settings, tools.Kit.Workspace.Secrets, tools.Kit.Journal, tools.Kit.Time);
        return await investigator.AskAsync("pg-test", question, context, tools.Tools("model:" + settings.Model), Ct);
    }

    /// <summary>Asks a question the endpoint does not answer well and checks it ended with <paramref name="status"/>, journaled
    /// under that status, not thrown; the exchange for the rest of the test.</summary>
    private async Task<BrainExchange> AskUnansweredAsync(ToolsKit tools, LlmSettings settings, LoopbackChatServer? server, string status)
    {
        var watch = Stopwatch.StartNew();

        var exchange = await AskAsync(tools, settings, "anything?", "");

        output.WriteLine($"{settings.Provider}: {server?.Requests.Count ?? 0} request(s) in {watch.ElapsedMilliseconds} ms: {exchange.Error}");
        Assert.Equal(status, exchange.Status);
        Assert.Equal(status, Assert.Single(await tools.Kit.EntriesAsync(JournalKinds.BrainExchange)).Topic);
        return exchange;
    }

    private static JsonObject Args(string json) => JsonNode.Parse(json)!.AsObject();

    private static void AssertKeyOnlyIn(string header, string expected, IEnumerable<(IReadOnlyDictionary<string, string> Headers, string Body)> received)
    {
        var all = received.ToList();
        Assert.NotEmpty(all);
        foreach (var (headers, body) in all)
        {
            Assert.Equal(expected, headers.GetValueOrDefault(header));
            Assert.DoesNotContain(ApiKey, body, StringComparison.Ordinal);
            Assert.DoesNotContain(headers, h => !string.Equals(h.Key, header, StringComparison.OrdinalIgnoreCase) && h.Value.Contains(ApiKey, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task AskAsync_OpenAiEndpoint_CallsToolsOverTwoStepsThenAnswers_ResultsAndUsageTravelTheWire()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        await using var server = OpenAiLoopbackModel.Start((turn, request) => turn switch
        {
            1 => OpenAiLoopbackModel.Completion(OpenAiLoopbackModel.Call(("call_j1", "journal_search", Args("""{"cluster":"pg-test","kinds":"finding"}"""))), 1200, 40),
            2 => OpenAiLoopbackModel.Completion(OpenAiLoopbackModel.Call(("call_i2", "incidents_list", Args("""{"cluster":"pg-test","limit":5}"""))), 1500, 30),
            _ => OpenAiLoopbackModel.Completion(OpenAiLoopbackModel.Say(
                $"Nothing is wrong: the journal holds no finding and incidents_list answered {OpenAiLoopbackModel.ToolResults(request).Count} results."), 1800, 60),
        });
        var settings = Settings(tools, "openai", server.BaseUrl, "gpt-4o-mini");

        var exchange = await AskAsync(tools, settings, $"why does login with {InventorySecret} fail?", $"Findings: none. Admin password {InventorySecret}.");

        Assert.Empty(server.Divergences);
        Assert.Equal("answered", exchange.Status);
        Assert.Equal("Nothing is wrong: the journal holds no finding and incidents_list answered 2 results.", exchange.Answer);
        Assert.Equal(["journal_search", "incidents_list"], exchange.ToolCalls.Select(c => c.Tool));
        Assert.All(exchange.ToolCalls, c => Assert.True(c.Ok, c.Error));
        Assert.Equal(4500, exchange.InputTokens);
        Assert.Equal(130, exchange.OutputTokens);
        Assert.Equal(Math.Round((4500 * 1 + 130 * 2) / 1_000_000.0, 6), exchange.CostEstimate);
        var entry = Assert.Single(await tools.Kit.EntriesAsync(JournalKinds.BrainExchange));
        Assert.DoesNotContain(ApiKey, entry.Payload, StringComparison.Ordinal);
        Assert.DoesNotContain(InventorySecret, entry.Payload, StringComparison.Ordinal);
        var journaled = entry.PayloadAs<BrainExchange>()!;
        Assert.Equal(4500, journaled.InputTokens);
        Assert.Equal("openai", journaled.Provider);

        var requests = server.Requests;
        Assert.Equal(3, requests.Count);
        Assert.All(requests, r => Assert.Equal("gpt-4o-mini", r["model"]?.GetValue<string>()));
        Assert.All(requests, r => Assert.Equal(1024, r["max_completion_tokens"]?.GetValue<int>()));
        Assert.Contains("journal_search", OpenAiLoopbackModel.OfferedTools(requests[0]));
        Assert.Contains("incidents_list", OpenAiLoopbackModel.OfferedTools(requests[0]));
        Assert.Equal(["system", "user"], requests[0]["messages"]!.AsArray().Select(m => m!["role"]!.GetValue<string>()));
        // The second request carries the call and its result under the call's id, the third both calls and both results.
        var second = requests[1]["messages"]!.AsArray();
        Assert.Equal(["system", "user", "assistant", "tool"], second.Select(m => m!["role"]!.GetValue<string>()));
        Assert.Equal("call_j1", second[2]!["tool_calls"]![0]!["id"]!.GetValue<string>());
        Assert.Equal("journal_search", second[2]!["tool_calls"]![0]!["function"]!["name"]!.GetValue<string>());
        var result = Assert.Single(OpenAiLoopbackModel.ToolResults(requests[1]));
        Assert.Equal("call_j1", result["tool_call_id"]!.GetValue<string>());
        Assert.True(JsonNode.Parse(result["content"]!.GetValue<string>())!["ok"]!.GetValue<bool>());
        Assert.Equal(["call_j1", "call_i2"], OpenAiLoopbackModel.ToolResults(requests[2]).Select(r => r["tool_call_id"]!.GetValue<string>()));

        AssertKeyOnlyIn("Authorization", "Bearer " + ApiKey, server.Received.Select(r => (r.Headers, r.Body)));
        Assert.All(server.Received, r => Assert.DoesNotContain(InventorySecret, r.Body, StringComparison.Ordinal));
        Assert.Contains("why does login with", requests[0]["messages"]![1]!["content"]!.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AskAsync_AnthropicEndpoint_UsesToolsOverTwoStepsThenAnswers_ResultsAndUsageTravelTheWire()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        await using var server = AnthropicLoopbackModel.Start((turn, request) => turn switch
        {
            1 => AnthropicLoopbackModel.Message(AnthropicLoopbackModel.Use("I'll read the journal first.", ("toolu_j1", "journal_search", Args("""{"cluster":"pg-test","kinds":"finding"}"""))), 1300, 45),
            2 => AnthropicLoopbackModel.Message(AnthropicLoopbackModel.Use(null, ("toolu_i2", "incidents_list", Args("""{"cluster":"pg-test","limit":5}"""))), 1600, 25),
            _ => AnthropicLoopbackModel.Message(AnthropicLoopbackModel.Say(
                $"Nothing is wrong: {AnthropicLoopbackModel.ToolResults(request).Count} tool results, no finding."), 1900, 70),
        });
        var settings = Settings(tools, "anthropic", server.BaseUrl, "claude-sonnet-4-5");

        var exchange = await AskAsync(tools, settings, $"why does login with {InventorySecret} fail?", $"Findings: none. Admin password {InventorySecret}.");

        Assert.Empty(server.Divergences);
        Assert.Equal("answered", exchange.Status);
        Assert.EndsWith("Nothing is wrong: 2 tool results, no finding.", exchange.Answer, StringComparison.Ordinal);
        Assert.Equal(["journal_search", "incidents_list"], exchange.ToolCalls.Select(c => c.Tool));
        Assert.All(exchange.ToolCalls, c => Assert.True(c.Ok, c.Error));
        Assert.Equal(4800, exchange.InputTokens);
        Assert.Equal(140, exchange.OutputTokens);
        Assert.Equal("anthropic", Assert.Single(await tools.Kit.EntriesAsync(JournalKinds.BrainExchange)).PayloadAs<BrainExchange>()!.Provider);

        var requests = server.Requests;
        Assert.Equal(3, requests.Count);
        Assert.All(requests, r => Assert.Equal("claude-sonnet-4-5", r["model"]?.GetValue<string>()));
        Assert.All(requests, r => Assert.Equal(1024, r["max_tokens"]?.GetValue<int>()));
        Assert.Contains("journal_search", AnthropicLoopbackModel.OfferedTools(requests[0]));
        Assert.NotNull(requests[0]["system"]);
        Assert.Equal(["user"], requests[0]["messages"]!.AsArray().Select(m => m!["role"]!.GetValue<string>()));
        var second = requests[1]["messages"]!.AsArray();
        Assert.Equal(["user", "assistant", "user"], second.Select(m => m!["role"]!.GetValue<string>()));
        var use = second[1]!["content"]!.AsArray().Single(b => b!["type"]!.GetValue<string>() == "tool_use")!;
        Assert.Equal("toolu_j1", use["id"]!.GetValue<string>());
        Assert.Equal("journal_search", use["name"]!.GetValue<string>());
        var result = Assert.Single(AnthropicLoopbackModel.ToolResults(requests[1]));
        Assert.Equal("toolu_j1", result["tool_use_id"]!.GetValue<string>());
        Assert.True(JsonNode.Parse(AnthropicLoopbackModel.ResultText(result))!["ok"]!.GetValue<bool>());
        Assert.Equal(["toolu_j1", "toolu_i2"], AnthropicLoopbackModel.ToolResults(requests[2]).Select(r => r["tool_use_id"]!.GetValue<string>()));

        // Anthropic's SDK 13.x sends an API key as a bearer token (its ClientOptions.ApiKey: "sent as Authorization: Bearer"), not x-api-key.
        AssertKeyOnlyIn("Authorization", "Bearer " + ApiKey, server.Received.Select(r => (r.Headers, r.Body)));
        Assert.All(server.Received, r => Assert.False(r.Headers.ContainsKey("x-api-key")));
        Assert.All(server.Received, r => Assert.False(string.IsNullOrEmpty(r.Headers.GetValueOrDefault("anthropic-version"))));
        Assert.All(server.Received, r => Assert.DoesNotContain(InventorySecret, r.Body, StringComparison.Ordinal));
        Assert.Contains("why does login with", requests[0]["messages"]![0]!.ToJsonString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(429)]
    public async Task AskAsync_OpenAiEndpointFailsOrThrottles_FailedJournaledNotThrown(int status)
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        await using var server = OpenAiLoopbackModel.Answering((_, _) => status == 429
            ? OpenAiLoopbackModel.Reply.Error(429, "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1.", "requests", "rate_limit_exceeded")
            : OpenAiLoopbackModel.Reply.Error(500, "The server had an error while processing your request. Sorry about that!", "server_error"));

        var exchange = await AskUnansweredAsync(tools, Settings(tools, "openai", server.BaseUrl, "gpt-4o-mini"), server, "failed");

        Assert.Equal("", exchange.Answer);
        Assert.Contains(status.ToString(System.Globalization.CultureInfo.InvariantCulture), exchange.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(ApiKey, exchange.Error, StringComparison.Ordinal);
        Assert.Equal(4, server.Requests.Count); // the OpenAI SDK's own retry policy (three retries), which ChatClients leaves as it is
    }

    [Theory]
    [InlineData(500, "api_error")]
    [InlineData(429, "rate_limit_error")]
    public async Task AskAsync_AnthropicEndpointFailsOrThrottles_FailedJournaledNotThrown(int status, string type)
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        await using var server = AnthropicLoopbackModel.Answering((_, _) => status == 429
            ? AnthropicLoopbackModel.Reply.Error(429, type, "Number of request tokens has exceeded your per-minute rate limit")
            : AnthropicLoopbackModel.Reply.Error(500, type, "Internal server error"));

        var exchange = await AskUnansweredAsync(tools, Settings(tools, "anthropic", server.BaseUrl, "claude-sonnet-4-5"), server, "failed");

        Assert.Equal("", exchange.Answer);
        Assert.Contains(type, exchange.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(ApiKey, exchange.Error, StringComparison.Ordinal);
        Assert.Equal(2, server.Requests.Count); // ChatClients sets the Anthropic client's MaxRetries to 1
    }

    [Theory]
    [InlineData("openai", "v1/")]
    [InlineData("anthropic", "")]
    public async Task AskAsync_NothingListensAtTheEndpoint_FailedJournaledNotThrown(string provider, string path)
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        var port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();

        await AskUnansweredAsync(tools, Settings(tools, provider, new Uri($"http://127.0.0.1:{port}/{path}"), "m"), null, "failed");
    }

    [Fact]
    public async Task AskAsync_OpenAiEndpointNeverAnswers_TimedOutJournaledNotThrown()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        await using var server = OpenAiLoopbackModel.Answering((_, _) => OpenAiLoopbackModel.Reply.Silence);

        await AskUnansweredAsync(tools, Settings(tools, "openai", server.BaseUrl, "gpt-4o-mini") with { TimeoutSeconds = 1 }, server, "timed-out");

        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task AskAsync_AnthropicEndpointNeverAnswers_TimedOutJournaledNotThrown()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        await using var server = AnthropicLoopbackModel.Answering((_, _) => AnthropicLoopbackModel.Reply.Silence);

        await AskUnansweredAsync(tools, Settings(tools, "anthropic", server.BaseUrl, "claude-sonnet-4-5") with { TimeoutSeconds = 1 }, server, "timed-out");

        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task Replay_RecordedOpenAiConversation_PlaysTurnByTurn()
    {
        var recording = JsonNode.Parse(await File.ReadAllTextAsync(Recording("openai-journal-then-answer.json"), Ct))!.AsObject();
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        await using var server = OpenAiLoopbackModel.Replay(recording);
        var settings = Settings(tools, "openai", server.BaseUrl, "gpt-4o-mini");

        var exchange = await AskAsync(tools, settings, recording["question"]!.GetValue<string>(), recording["context"]!.GetValue<string>());

        server.EnsureReplayed();
        var responses = recording["turns"]!.AsArray().Select(t => t!["response"]!).ToList();
        Assert.Equal("answered", exchange.Status);
        Assert.Equal(responses[^1]["choices"]![0]!["message"]!["content"]!.GetValue<string>(), exchange.Answer);
        Assert.Equal(responses.SelectMany(r => r["choices"]![0]!["message"]!["tool_calls"]?.AsArray() ?? []).Select(c => c!["function"]!["name"]!.GetValue<string>()),
            exchange.ToolCalls.Select(c => c.Tool));
        Assert.Equal(responses.Sum(r => r["usage"]!["prompt_tokens"]!.GetValue<long>()), exchange.InputTokens);
        Assert.Equal(responses.Sum(r => r["usage"]!["completion_tokens"]!.GetValue<long>()), exchange.OutputTokens);
    }

    [Fact]
    public async Task Replay_RecordedAnthropicConversation_PlaysTurnByTurn()
    {
        var recording = JsonNode.Parse(await File.ReadAllTextAsync(Recording("anthropic-journal-incidents-answer.json"), Ct))!.AsObject();
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        await using var server = AnthropicLoopbackModel.Replay(recording);
        var settings = Settings(tools, "anthropic", server.BaseUrl, "claude-sonnet-4-5");

        var exchange = await AskAsync(tools, settings, recording["question"]!.GetValue<string>(), recording["context"]!.GetValue<string>());

        server.EnsureReplayed();
        var responses = recording["turns"]!.AsArray().Select(t => t!["response"]!).ToList();
        Assert.Equal("answered", exchange.Status);
        Assert.EndsWith(responses[^1]["content"]!.AsArray().Last()!["text"]!.GetValue<string>(), exchange.Answer, StringComparison.Ordinal);
        Assert.Equal(responses.SelectMany(r => r["content"]!.AsArray()).Where(b => b!["type"]!.GetValue<string>() == "tool_use").Select(b => b!["name"]!.GetValue<string>()),
            exchange.ToolCalls.Select(c => c.Tool));
        Assert.Equal(responses.Sum(r => r["usage"]!["input_tokens"]!.GetValue<long>()), exchange.InputTokens);
        Assert.Equal(responses.Sum(r => r["usage"]!["output_tokens"]!.GetValue<long>()), exchange.OutputTokens);
    }

    [Fact]
    public async Task Replay_ClientThatDoesNotOfferTheRecordedTool_IsToldWhereItDeparted()
    {
        var recording = JsonNode.Parse(await File.ReadAllTextAsync(Recording("openai-journal-then-answer.json"), Ct))!.AsObject();
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        await using var server = OpenAiLoopbackModel.Replay(recording);
        var settings = Settings(tools, "openai", server.BaseUrl, "gpt-4o-mini");
        using var client = ChatClients.Create(settings, tools.Kit.Workspace.Secrets);
        var investigator = new Investigator(client, settings, tools.Kit.Workspace.Secrets, tools.Kit.Journal, tools.Kit.Time);

        var exchange = await investigator.AskAsync("pg-test", "anything?", "", [], Ct);

        Assert.Equal("failed", exchange.Status);
        var departed = Assert.Throws<InvalidOperationException>(server.EnsureReplayed);
        Assert.Contains("turn 1: the recorded answer calls 'journal_search', the request does not offer it", departed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_SecondRequestAnswersAnotherToolThanRecorded_IsToldWhereItDeparted()
    {
        await using var server = AnthropicLoopbackModel.Replay(Recording("anthropic-journal-incidents-answer.json"));
        using var http = new HttpClient { BaseAddress = server.BaseUrl };
        var tools = """[{"name":"journal_search","input_schema":{"type":"object"}},{"name":"incidents_list","input_schema":{"type":"object"}}]""";
        var first = $$$"""{"model":"m","max_tokens":64,"tools":{{{tools}}},"messages":[{"role":"user","content":"q"}]}""";
        // The recorded turn 1 used journal_search as toolu_01AbX4nQ8rT2mW6yK9vL3pZs; this client says it called incidents_list and answers another id.
        var second = $$$"""
            {"model":"m","max_tokens":64,"tools":{{{tools}}},"messages":[{"role":"user","content":"q"},
              {"role":"assistant","content":[{"type":"tool_use","id":"toolu_01AbX4nQ8rT2mW6yK9vL3pZs","name":"incidents_list","input":{}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_elsewhere","content":"{}"}]}]}
            """;

        using var answered = await http.PostAsync("v1/messages", new StringContent(first, System.Text.Encoding.UTF8, "application/json"), Ct);
        using var refused = await http.PostAsync("v1/messages", new StringContent(second, System.Text.Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(System.Net.HttpStatusCode.OK, answered.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, refused.StatusCode);
        var departed = Assert.Throws<InvalidOperationException>(server.EnsureReplayed).Message;
        Assert.Contains("turn 2: tool_use toolu_01AbX4nQ8rT2mW6yK9vL3pZs was recorded as 'journal_search', the request carries it as 'incidents_list'", departed, StringComparison.Ordinal);
        Assert.Contains("turn 2: no tool_result answers turn 1's tool_use toolu_01AbX4nQ8rT2mW6yK9vL3pZs (journal_search)", departed, StringComparison.Ordinal);
        Assert.Contains("the recording has 3 turns, the client sent 2 request(s)", departed, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_OpenAiEndpoint_ChunksCarryTheToolCallAndTheAnswer()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        await using var server = OpenAiLoopbackModel.Start((turn, request) => turn == 1
            ? OpenAiLoopbackModel.Call(("call_s1", "journal_search", Args("""{"cluster":"pg-test"}""")))
            : OpenAiLoopbackModel.Say($"streamed after {OpenAiLoopbackModel.ToolResults(request).Count} result"));
        var settings = Settings(tools, "openai", server.BaseUrl, "gpt-4o-mini");
        using var client = ChatClients.Create(settings, tools.Kit.Workspace.Secrets).AsBuilder().UseFunctionInvocation().Build();

        var response = await client.GetStreamingResponseAsync("anything?", new ChatOptions { Tools = [.. tools.Tools("model:test").Select(t => new CatalogFunction(t))] }, Ct)
            .ToChatResponseAsync(Ct);

        Assert.Empty(server.Divergences);
        Assert.Equal("streamed after 1 result", response.Text);
        Assert.All(server.Requests, r => Assert.True(r["stream"]!.GetValue<bool>()));
        Assert.Equal("call_s1", Assert.Single(OpenAiLoopbackModel.ToolResults(server.Requests[1]))["tool_call_id"]!.GetValue<string>());
        var echoed = JsonNode.Parse(server.Requests[1]["messages"]![1]!["tool_calls"]![0]!["function"]!["arguments"]!.GetValue<string>())!;
        Assert.Equal("pg-test", echoed["cluster"]!.GetValue<string>());
        Assert.Equal(200, response.Usage?.InputTokenCount);
        Assert.Equal(20, response.Usage?.OutputTokenCount);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_AnthropicEndpoint_EventsCarryTheToolUseAndTheAnswer()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        await using var server = AnthropicLoopbackModel.Start((turn, request) => turn == 1
            ? AnthropicLoopbackModel.Use("Reading the journal.", ("toolu_s1", "journal_search", Args("""{"cluster":"pg-test"}""")))
            : AnthropicLoopbackModel.Say($"streamed after {AnthropicLoopbackModel.ToolResults(request).Count} result"));
        var settings = Settings(tools, "anthropic", server.BaseUrl, "claude-sonnet-4-5");
        using var client = ChatClients.Create(settings, tools.Kit.Workspace.Secrets).AsBuilder().UseFunctionInvocation().Build();

        var response = await client.GetStreamingResponseAsync("anything?", new ChatOptions { Tools = [.. tools.Tools("model:test").Select(t => new CatalogFunction(t))] }, Ct)
            .ToChatResponseAsync(Ct);

        Assert.Empty(server.Divergences);
        Assert.EndsWith("streamed after 1 result", response.Text, StringComparison.Ordinal);
        Assert.All(server.Requests, r => Assert.True(r["stream"]!.GetValue<bool>()));
        Assert.Equal("toolu_s1", Assert.Single(AnthropicLoopbackModel.ToolResults(server.Requests[1]))["tool_use_id"]!.GetValue<string>());
        var use = server.Requests[1]["messages"]![1]!["content"]!.AsArray().Single(b => b!["type"]!.GetValue<string>() == "tool_use")!;
        Assert.Equal("pg-test", use["input"]!["cluster"]!.GetValue<string>());
        Assert.Equal(200, response.Usage?.InputTokenCount);
        Assert.Equal(20, response.Usage?.OutputTokenCount);
    }
}
