using Microsoft.Extensions.AI;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Brain;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Tests.Tools;

namespace PgRuntimeAgent.Tests.Brain;

/// <summary>
/// The investigator with a scripted model (no network): it reads through the catalogue's tools, its answer and every
/// tool call are journaled with tokens; secrets never reach the model; an action it requests goes through policy and
/// becomes an approval below its level; a model that never answers times out and one that never stops calling tools
/// stops at the step limit, both journaled, neither throwing.
/// </summary>
public sealed class InvestigatorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly LlmSettings Settings = new() { Provider = "openai", Model = "scripted", MaxSteps = 4, TimeoutSeconds = 30, InputPricePerMillion = 1, OutputPricePerMillion = 2 };

    [Fact]
    public async Task Ask_ModelReadsThenAnswers_JournalsTheExchangeAndItsToolCall()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        var model = new ScriptedModel((n, sent) => n == 1
            ? ScriptedModel.Call("journal_search", new() { ["cluster"] = "pg-test", ["kinds"] = "finding" })
            : ScriptedModel.Say($"No findings in the journal (journal_search answered {ScriptedModel.ToolResult(sent).Length} characters)."));
        var investigator = new Investigator(model, Settings, tools.Kit.Workspace.Secrets, tools.Kit.Journal, tools.Kit.Time);

        var exchange = await investigator.AskAsync("pg-test", "is anything wrong?", "Findings: none.", tools.Tools("model:scripted"), Ct);

        Assert.Equal("answered", exchange.Status);
        Assert.StartsWith("No findings in the journal", exchange.Answer, StringComparison.Ordinal);
        var call = Assert.Single(exchange.ToolCalls);
        Assert.Equal("journal_search", call.Tool);
        Assert.True(call.Ok, call.Error);
        Assert.Equal(200, exchange.InputTokens);
        Assert.Equal(20, exchange.OutputTokens);
        Assert.Equal(0.00024, exchange.CostEstimate);
        var entry = Assert.Single(await tools.Kit.EntriesAsync(JournalKinds.BrainExchange));
        Assert.Equal(exchange.JournalSeq, entry.Seq);
        var journaled = entry.PayloadAs<BrainExchange>()!;
        Assert.Equal(exchange.PromptDigest, journaled.PromptDigest);
        Assert.Equal("journal_search", Assert.Single(journaled.ToolCalls).Tool);
    }

    [Fact]
    public async Task Ask_SecretsInTheQuestionOrContext_NeverReachTheModelNorTheJournal()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        var secret = "DBUser.DBA";
        Assert.NotEqual(secret, tools.Kit.Workspace.Secrets.Redact(secret)); // the inventory's admin password is a known secret
        var model = new ScriptedModel((_, _) => ScriptedModel.Say("ok"));
        var investigator = new Investigator(model, Settings, tools.Kit.Workspace.Secrets, tools.Kit.Journal, tools.Kit.Time, "orders: the admin password is " + secret);

        var exchange = await investigator.AskAsync("pg-test", $"why does login with {secret} fail?", $"context with {secret}", tools.Tools("model:scripted"), Ct);

        Assert.Equal("answered", exchange.Status);
        var sent = string.Join("\n", model.Seen.SelectMany(m => m).Select(m => m.Text));
        Assert.DoesNotContain(secret, sent, StringComparison.Ordinal);
        Assert.Contains("why does login with", sent, StringComparison.Ordinal);
        var entry = Assert.Single(await tools.Kit.EntriesAsync(JournalKinds.BrainExchange));
        Assert.DoesNotContain(secret, entry.Payload, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ask_ModelRequestsAnActionBelowItsLevel_ItBecomesAnApprovalForTheModel()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        var model = new ScriptedModel((n, sent) => n == 1
            ? ScriptedModel.Call("act_member_fence", new() { ["cluster"] = "pg-test", ["member"] = "pg-test-3", ["reason"] = "pg-test-3's disk is full (disk_free 0 in the snapshot)" })
            : ScriptedModel.Say("I asked to fence pg-test-3; an operator must approve: " + ScriptedModel.ToolResult(sent)));
        var investigator = new Investigator(model, Settings, tools.Kit.Workspace.Secrets, tools.Kit.Journal, tools.Kit.Time);

        var exchange = await investigator.AskAsync("pg-test", "pg-test-3 is full, deal with it", "", tools.Tools("model:scripted"), Ct);

        Assert.Contains("awaiting-approval", exchange.Answer, StringComparison.Ordinal);
        var call = Assert.Single(exchange.ToolCalls);
        Assert.Equal("act_member_fence", call.Tool);
        Assert.Empty(tools.Kit.Actuator.Executed);
        var request = Assert.Single(await tools.Kit.EntriesAsync(JournalKinds.ApprovalRequested)).PayloadAs<ApprovalRequestPayload>()!;
        Assert.Equal("model:scripted", request.Action.Initiator);
        Assert.Equal(call.ActionId, request.Action.Id);
    }

    [Fact]
    public async Task Ask_RedactedNamesAndLiterals_TheModelSeesPseudonymsItsToolCallsRunOnTheRealNamesAndTheOperatorReadsThem()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        var model = new ScriptedModel((n, sent) => n == 1
            ? ScriptedModel.Call("journal_search", new() { ["cluster"] = "pgra_name_1" })
            : ScriptedModel.Say($"pgra_name_1 looks fine; the tool said {ScriptedModel.ToolResult(sent).Length} characters"));
        var settings = Settings with { RedactNames = ["pg-test"], RedactQueryLiterals = true };
        var investigator = new Investigator(model, settings, tools.Kit.Workspace.Secrets, tools.Kit.Journal, tools.Kit.Time);

        var exchange = await investigator.AskAsync("pg-test", "is pg-test slow on WHERE email = 'ann@example.com'?", "Findings on pg-test: none.", tools.Tools("model:scripted"), Ct);

        Assert.Equal("answered", exchange.Status);
        Assert.True(Assert.Single(exchange.ToolCalls).Ok, exchange.ToolCalls[0].Error); // the tool ran on the real cluster name
        Assert.StartsWith("pg-test looks fine", exchange.Answer, StringComparison.Ordinal);
        var seen = string.Join("\n", model.Seen.SelectMany(m => m).SelectMany(m => m.Contents).Select(c => c switch
        {
            TextContent t => t.Text,
            FunctionResultContent r => r.Result?.ToString(),
            _ => "",
        }));
        Assert.Contains("pgra_name_1", seen, StringComparison.Ordinal);
        Assert.Contains("WHERE email = '?'", seen, StringComparison.Ordinal);
        Assert.DoesNotContain("pg-test", seen, StringComparison.Ordinal);
        Assert.DoesNotContain("ann@example.com", seen, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ask_ModelThatNeverAnswers_TimesOutJournaledWithoutThrowing()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        var model = new ScriptedModel((_, _) => null);
        var investigator = new Investigator(model, Settings with { TimeoutSeconds = 1 }, tools.Kit.Workspace.Secrets, tools.Kit.Journal, tools.Kit.Time);

        var exchange = await investigator.AskAsync("pg-test", "anything?", "", tools.Tools("model:scripted"), Ct);

        Assert.Equal("timed-out", exchange.Status);
        Assert.Equal("", exchange.Answer);
        Assert.Equal("timed-out", Assert.Single(await tools.Kit.EntriesAsync(JournalKinds.BrainExchange)).Topic);
    }

    [Fact]
    public async Task Ask_ModelThatNeverStopsCallingTools_StopsAtTheStepLimit()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2);
        var model = new ScriptedModel((n, _) => ScriptedModel.Call("incidents_list", new() { ["cluster"] = "pg-test" }, $"call-{n}"));
        var investigator = new Investigator(model, Settings with { MaxSteps = 3 }, tools.Kit.Workspace.Secrets, tools.Kit.Journal, tools.Kit.Time);

        var exchange = await investigator.AskAsync("pg-test", "loop forever", "", tools.Tools("model:scripted"), Ct);

        Assert.Equal("step-limit", exchange.Status);
        Assert.Equal(3, exchange.ToolCalls.Count);
        Assert.Equal(4, model.Seen.Count);
    }

    [Fact]
    public void SettingsLlmSection_LoadsWithTheApiKeyAsASecret()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-llm-");
        try
        {
            var settingsPath = Path.Combine(dir.FullName, "pgra.yml");
            File.WriteAllText(settingsPath, "llm:\n  provider: openai\n  endpoint: http://127.0.0.1:11434/v1\n  model: qwen3\n  api_key: sk-test-0123456789\n  max_steps: 5\n");
            var secrets = new SecretStore();

            var settings = PgRuntimeAgent.Settings.SettingsLoader.Load(settingsPath, Path.Combine(TestPaths.RepoRoot, "inventory", "lab.yml"), secrets,
                new Dictionary<string, string?>(), Path.Combine(dir.FullName, "etc"));

            Assert.True(settings.Llm.Configured);
            Assert.Equal(new Uri("http://127.0.0.1:11434/v1"), settings.Llm.Endpoint);
            Assert.Equal(5, settings.Llm.MaxSteps);
            Assert.NotNull(settings.Llm.ApiKey);
            Assert.True(secrets.TryReveal(settings.Llm.ApiKey, out var key) && key == "sk-test-0123456789");
            Assert.DoesNotContain("sk-test-0123456789", secrets.Redact("the key is sk-test-0123456789"), StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void StandingOrders_BesideTheSkillsDirectoryFirst_ThenTheCurrentDirectory()
    {
        var root = Directory.CreateTempSubdirectory("pgra-orders-");
        try
        {
            var skills = Directory.CreateDirectory(Path.Combine(root.FullName, "etc", "skills")).FullName;
            var cwd = Directory.CreateDirectory(Path.Combine(root.FullName, "work")).FullName;
            Assert.Null(StandingOrders.Find(skills, cwd));
            File.WriteAllText(Path.Combine(cwd, "AGENT.md"), "cwd");
            Assert.Equal(Path.Combine(cwd, "AGENT.md"), StandingOrders.Find(skills, cwd));
            File.WriteAllText(Path.Combine(root.FullName, "etc", "AGENT.md"), "etc");
            Assert.Equal(Path.Combine(root.FullName, "etc", "AGENT.md"), StandingOrders.Find(skills, cwd));
            Assert.Equal(Path.Combine(cwd, "AGENT.md"), StandingOrders.Find(null, cwd));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public void Similar_PastIncidentsSharingTheMostCodesComeFirst_NewestAmongEquals()
    {
        var incidents = System.Text.Json.Nodes.JsonNode.Parse("""
            [ { "id": "inc-4", "codes": ["replication-lag"] },
              { "id": "inc-3", "codes": ["primary-disk-full", "archive-failing"] },
              { "id": "inc-2", "codes": [] },
              { "id": "inc-1", "codes": ["primary-disk-full"] } ]
            """)!.AsArray();

        var like = Investigator.Similar(incidents, ["primary-disk-full", "archive-failing"], 2);
        var none = Investigator.Similar(incidents, [], 2);

        Assert.Equal(["inc-3", "inc-1"], like.Select(j => System.Text.Json.Nodes.JsonNode.Parse(j)!["id"]!.GetValue<string>()));
        Assert.Equal(["inc-4", "inc-3"], none.Select(j => System.Text.Json.Nodes.JsonNode.Parse(j)!["id"]!.GetValue<string>()));
    }

    [Fact]
    public void Create_WithoutAProviderOrWithAnUnknownOne_SaysWhatToConfigure()
    {
        var none = Assert.Throws<InputException>(() => ChatClients.Create(new LlmSettings(), new SecretStore()));
        var unknown = Assert.Throws<InputException>(() => ChatClients.Create(new LlmSettings { Provider = "acme", Model = "m" }, new SecretStore()));
        using var openai = ChatClients.Create(new LlmSettings { Provider = "openai", Model = "m", Endpoint = new Uri("http://127.0.0.1:9/v1") }, new SecretStore());

        var noKey = Assert.Throws<InputException>(() => ChatClients.Create(new LlmSettings { Provider = "anthropic", Model = "m" }, new SecretStore()));
        var secrets = new SecretStore();
        using var anthropic = ChatClients.Create(new LlmSettings { Provider = "anthropic", Model = "m", Endpoint = new Uri("http://127.0.0.1:9"), ApiKey = secrets.Add("llm.api_key", "sk-ant-test", "test") }, secrets);

        Assert.Contains("docs/brain.md", none.Problems[0], StringComparison.Ordinal);
        Assert.Contains("llm.api_key", noKey.Problems[0], StringComparison.Ordinal);
        Assert.Equal("anthropic", anthropic.GetService<ChatClientMetadata>()?.ProviderName);
        Assert.Contains("llm.provider: openai", unknown.Problems[0], StringComparison.Ordinal);
        Assert.Equal("openai", openai.GetService<ChatClientMetadata>()?.ProviderName);
    }
}
