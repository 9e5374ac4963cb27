using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Brain;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.LabTests.Acting;
using PgRuntimeAgent.Tests.Brain;

namespace PgRuntimeAgent.LabTests.Brain;

/// <summary>
/// <c>pgra ask pg-test "why are writes slow?"</c> during the lab's lock pile-up, with a scripted model behind a loopback
/// OpenAI-compatible endpoint and the real OpenAI SDK: the model reads the head blockers through the agent's own tool,
/// takes the pid from what the tool really returned, proposes to terminate that session, and answers citing it. The
/// proposal is above the level: it waits in <c>pgra approvals</c> and the session lives on. Nothing secret is sent.
/// </summary>
public sealed class AskLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Ask_WhyAreWritesSlow_DuringLockPileup_CitesTheHeadBlockerFromTheToolAndItsTerminateWaitsForApproval()
    {
        var key = "lab-ask-key-" + Guid.NewGuid().ToString("N");
        string? pid = null, member = null, waiters = null;
        using var model = OpenAiLoopbackModel.Start((turn, request) =>
        {
            switch (turn)
            {
                case 1:
                    return OpenAiLoopbackModel.Call(("call-1", "postgres_probe", new JsonObject { ["cluster"] = "pg-test", ["probe"] = "lock_heads" }));
                case 2:
                {
                    // The head blocker with the most sessions behind it, as the tool returned it.
                    var content = OpenAiLoopbackModel.ToolResults(request)[^1]["content"]?.GetValue<string>() ?? "";
                    var members = JsonNode.Parse(content)?["result"]?["members"]?.AsArray() ?? [];
                    var head = members.SelectMany(m => (m?["rows"]?.AsArray() ?? []).Select(r => (Member: m!["member"]?.GetValue<string>(), Row: r!)))
                        .OrderByDescending(x => double.Parse(x.Row["waiters"]?.ToString() ?? "0", CultureInfo.InvariantCulture))
                        .FirstOrDefault();
                    if (head.Row is null)
                    {
                        return OpenAiLoopbackModel.Say("I found no head blocker in postgres_probe lock_heads: " + content);
                    }

                    (pid, member, waiters) = (head.Row["pid"]?.ToString(), head.Member, head.Row["waiters"]?.ToString());
                    return OpenAiLoopbackModel.Call(("call-2", "act_sql_terminate_backend", new JsonObject
                    {
                        ["cluster"] = "pg-test",
                        ["member"] = member,
                        ["pid"] = pid,
                        ["backend_start"] = head.Row["backend_start"]?.ToString(),
                        ["reason"] = $"postgres_probe lock_heads: pid {pid} on {member} blocks {waiters} session(s)",
                    }));
                }

                default:
                {
                    var result = JsonNode.Parse(OpenAiLoopbackModel.ToolResults(request)[^1]["content"]?.GetValue<string>() ?? "{}");
                    return OpenAiLoopbackModel.Say($"Writes are slow because pid {pid} on {member} holds a lock that {waiters} session(s) queue behind "
                        + $"(postgres_probe lock_heads). I asked to terminate it: {result?["status"]} ({result?["action_id"]}).");
                }
            }
        });
        var llm = $"""
            llm:
              provider: openai
              endpoint: {model.BaseUrl}
              model: scripted-dba
              api_key: {key}
              timeout_seconds: 60
            """;
        await using var lab = await ActingLab.StartAsync("classes: { sql.terminate_backend: 2 }", llm);
        var leader = lab.Lab.Member(await lab.LeaderAsync());
        var inject = await lab.PgraAsync("lab", "inject", "lock-pileup");
        Assert.True(inject.ExitCode == 0, inject.ToString());
        try
        {
            var truth = await HeadBlockerAsync(lab, leader);
            var ask = await lab.PgraAsync("ask", "pg-test", "why are writes slow?", "--json");

            Assert.True(ask.ExitCode == 0, ask.ToString());
            var exchange = ask.Json();
            Assert.Equal("answered", exchange.GetProperty("status").GetString());
            var answer = exchange.GetProperty("answer").GetString()!;
            Assert.Contains($"pid {truth} on {leader.Name}", answer, StringComparison.Ordinal);
            Assert.Contains("awaiting-approval", answer, StringComparison.Ordinal);
            var calls = exchange.GetProperty("toolCalls").EnumerateArray().ToList();
            Assert.Equal(["postgres_probe", "act_sql_terminate_backend"], calls.Select(c => c.GetProperty("tool").GetString()));
            var actionId = calls[1].GetProperty("actionId").GetString()!;

            // The proposal waits for an operator; the session it names lives on and the writers still queue.
            var approvals = (await lab.PgraAsync("approvals", "--json")).Json();
            var pending = Assert.Single(approvals.EnumerateArray(), a => a.GetProperty("id").GetString() == actionId);
            Assert.Equal("pending", pending.GetProperty("status").GetString());
            Assert.Contains($"\"pid\": \"{truth}\"", pending.GetRawText().Replace("\":\"", "\": \"", StringComparison.Ordinal), StringComparison.Ordinal);
            Assert.Contains("model:scripted-dba", pending.GetRawText(), StringComparison.Ordinal);
            await Task.Delay(TimeSpan.FromSeconds(3), Ct);
            Assert.Equal(truth, await HeadBlockerAsync(lab, leader));
            Assert.DoesNotContain(await lab.JournalAsync(actionId), e => e.Kind == JournalKinds.ActionIntent);
            var journaled = Assert.Single(await lab.JournalAsync(), e => e.Kind == JournalKinds.BrainExchange).PayloadAs<BrainExchange>()!;
            Assert.Equal(2, journaled.ToolCalls.Count);

            // What left the process: the key only as the bearer header, no secret of the inventory or settings anywhere.
            Assert.Equal(3, model.Received.Count);
            Assert.All(model.Received, r => Assert.Equal("Bearer " + key, r.Headers["Authorization"]));
            var sent = string.Join("\n", model.Received.Select(r => r.Body));
            Assert.DoesNotContain(key, sent, StringComparison.Ordinal);
            foreach (var secret in new[] { "DBUser.DBA", "DBUser.Monitor", "Patroni.API" })
            {
                Assert.DoesNotContain(secret, sent, StringComparison.Ordinal);
            }

            ActingLab.Report($"pgra ask during lock-pileup: pid {truth} cited, terminate {actionId} awaiting approval, {exchange.GetProperty("latencyMs").GetDouble():0} ms, "
                + $"{model.Received.Sum(r => r.Body.Length)} request bytes");
            Assert.Equal(0, (await lab.PgraAsync("deny", actionId, "--note", "lab test")).ExitCode);
        }
        finally
        {
            await lab.PgraAsync("lab", "heal", "lock-pileup");
        }

        await lab.AssertNoSecretsInJournalAsync();
    }

    /// <summary>The session at the head of the lock queue on the leader (blocks others, waits on nobody), read independently of pgra.</summary>
    private static async Task<string> HeadBlockerAsync(ActingLab lab, PgRuntimeAgent.Lab.LabMember leader)
    {
        const string Sql = """
            SELECT string_agg(h.pid::text, ',')
            FROM pg_stat_activity h
            WHERE cardinality(pg_blocking_pids(h.pid)) = 0
              AND EXISTS (SELECT 1 FROM pg_stat_activity w WHERE h.pid = ANY (pg_blocking_pids(w.pid)))
            """;
        for (var i = 0; i < 60; i++)
        {
            if (await lab.SqlAsync(leader, Sql, "postgres") is string heads && heads.Length > 0 && !heads.Contains(',', StringComparison.Ordinal))
            {
                return heads;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), Ct);
        }

        Assert.Fail("no single head blocker on the leader within 30 s of the lock-pileup injection");
        return "";
    }
}
