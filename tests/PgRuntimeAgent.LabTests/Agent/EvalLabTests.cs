using System.Text.Json.Nodes;
using PgRuntimeAgent.Brain;
using PgRuntimeAgent.Evals;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Tests.Brain;

namespace PgRuntimeAgent.LabTests.Agent;

/// <summary>
/// The evaluation harness on the real lab (the fast subset CI runs on every change; the full set is
/// <c>pgra eval run</c>): real faults injected, a fresh agent at each case's autonomy, the independent writer, the
/// runner's own symptom probes, the score. The report goes to artifacts/evals/ci/.
/// </summary>
public sealed class EvalLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string ReportDir => Path.Combine(RepoPaths.Root, "artifacts", "evals", "ci");

    private static EvalCase Load(string name)
    {
        var set = EvalCaseLoader.LoadAll(Path.Combine(RepoPaths.Root, "evals", name + ".yml"), RepoPaths.Root);
        Assert.True(set.Errors == 0, string.Join("\n", set.Problems));
        return Assert.Single(set.Cases);
    }

    [Fact]
    public async Task FastSubset_TheDeterministicAgent_DetectsDiagnosesAndFixesSafely_AndLeavesTheQuietCaseAlone()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var runner = new EvalRunner(lab.Manifest, TimeProvider.System);
        var runs = new List<EvalCaseRun>();
        foreach (var name in new[] { "lock-pileup", "primary-crash-fast", "noise-idle" })
        {
            runs.Add(await runner.RunAsync(Load(name), new EvalRunOptions
            {
                SkillsDirectory = RepoPaths.Skills,
                NoFaultSeconds = 30,
                Progress = line => AgentLab.Report("eval: " + line),
            }, Ct));
        }

        var report = EvalReportWriter.Build([.. runs.Select(r => r.Score)], "evals (CI subset)", null, TimeProvider.System.GetUtcNow(), null, [.. runs.Select(r => r.Observation)]);
        var files = await EvalReportWriter.WriteAsync(ReportDir, "subset", report, Ct);
        AgentLab.Report($"eval subset: {File.ReadAllLines(files.Markdown).FirstOrDefault(l => l.StartsWith("| safe-pass rate", StringComparison.Ordinal))} ({files.Markdown})");

        foreach (var run in runs)
        {
            var s = run.Score;
            var why = $"{s.Case}: {string.Join("; ", s.Misses.Concat(s.Notes))}";
            Assert.True(s.Safe, why);
            Assert.True(run.Observation.Writer.Acknowledged > 100, why + $" (the writer was acknowledged {run.Observation.Writer.Acknowledged} times)");
            if (s.NoFault)
            {
                Assert.Empty(s.Actions);
                Assert.Equal(0, s.CriticalFindings);
                Assert.Equal(0, s.IncidentsOpened);
                Assert.NotNull(s.Footprint);
            }
            else
            {
                Assert.True(s.Detected, why);
                Assert.True(s.RootCauseCorrect, why);
                Assert.True(s.Fixed, why);
                Assert.True(s.SafePass, why);
            }
        }

        // The lock pile-up: the one session the fault holds the lock with was ended, by the approval the case grants.
        var kill = Assert.Single(runs[0].Observation.Actions, a => a.Kind == "sql.terminate_backend");
        Assert.Contains(kill.Object, runs[0].Observation.Faults.Single().Objects);
        Assert.True(kill.Approved);
        // A crash of an asynchronous leader may cost its last writes (within the RPO: scored above); never one a member
        // acknowledged after another had taken writes.
        Assert.Equal(0, runs[1].Observation.Writer.LostAfterPromotion);
    }

    /// <summary>
    /// A model run without a network: a scripted model behind a loopback OpenAI-compatible endpoint, reached through the
    /// real OpenAI SDK as any configured provider is. It reads the snapshot through the agent's tool and names the root
    /// cause; the report scores the model's diagnosis and counts its calls and tokens.
    /// </summary>
    [Fact]
    public async Task ScriptedModel_TheModelsDiagnosisIsScored_AndItsCallsAndTokensCounted()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var diagnosed = 0;
        using var model = OpenAiLoopbackModel.Start((turn, request) =>
        {
            var asked = (request["messages"] as JsonArray ?? []).OfType<JsonObject>().Any(m => m["role"]?.GetValue<string>() == "user"
                && (m["content"]?.ToString() ?? "").Contains(AgentBrain.RootCausePrefix, StringComparison.Ordinal));
            if (!asked)
            {
                return OpenAiLoopbackModel.Say("Nothing to add to what the skill found.");
            }

            if (OpenAiLoopbackModel.ToolResults(request).Count == 0)
            {
                return OpenAiLoopbackModel.Call(("call-1", "cluster_snapshot", new JsonObject { ["cluster"] = "pg-test", ["sections"] = "findings" }));
            }

            Interlocked.Increment(ref diagnosed);
            return OpenAiLoopbackModel.Say("One idle-in-transaction session holds a row lock and six writers queue behind it.\n" + AgentBrain.RootCausePrefix + " lock-pileup");
        });
        var llm = new LlmSettings { Provider = "openai", Endpoint = model.BaseUrl, Model = "scripted-dba", TimeoutSeconds = 60 };
        using var client = ChatClients.Create(llm, new SecretStore());

        var run = await new EvalRunner(lab.Manifest, TimeProvider.System).RunAsync(Load("lock-pileup"), new EvalRunOptions
        {
            SkillsDirectory = RepoPaths.Skills,
            ChatClient = client,
            ModelName = "scripted-dba",
            Tweak = s => s with { Llm = llm },
            Progress = line => AgentLab.Report("eval (scripted model): " + line),
        }, Ct);

        var why = string.Join("; ", run.Score.Misses.Concat(run.Score.Notes));
        Assert.Equal(1, diagnosed);
        Assert.Equal("lock-pileup", run.Score.RootCause);
        Assert.True(run.Score.RootCauseCorrect, why);
        Assert.Contains(run.Score.Notes, n => n.StartsWith("root cause: the model named lock-pileup", StringComparison.Ordinal));
        var usage = Assert.IsType<EvalModelUsage>(run.Score.Model);
        Assert.Equal("scripted-dba", usage.Name);
        Assert.True(usage.Calls >= 1, $"{usage.Calls} call(s)");
        Assert.True(usage.InputTokens > 0 && usage.OutputTokens > 0, $"tokens {usage.InputTokens} in, {usage.OutputTokens} out");
        Assert.True(run.Score.Safe, why);

        var report = EvalReportWriter.Build([run.Score], "evals/lock-pileup.yml", "scripted-dba", TimeProvider.System.GetUtcNow(), null, [run.Observation]);
        var files = await EvalReportWriter.WriteAsync(ReportDir, "scripted-model", report, Ct);
        Assert.Contains("scripted-dba", await File.ReadAllTextAsync(files.Markdown, Ct), StringComparison.Ordinal);
    }
}
