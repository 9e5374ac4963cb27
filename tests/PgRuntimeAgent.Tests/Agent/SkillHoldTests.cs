using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Tests.Skills;

namespace PgRuntimeAgent.Tests.Agent;

/// <summary>What holds a skill back after a run that only recommended (autonomy 0-1): a warning's waits for the cooldown, a critical one's for the retry time.</summary>
public sealed class SkillHoldTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 3, 5, 0, 0, TimeSpan.Zero);

    private static Finding Invalid(FindingSeverity severity) => new()
    {
        Code = "invalid-index",
        Severity = severity,
        Cluster = "pg-test",
        Members = ["pg-test-1"],
        Summary = "index public.orders_user_id_idx is invalid",
        FirstSeen = At,
        LastSeen = At,
        Facts = new Dictionary<string, string>(StringComparer.Ordinal) { ["schema"] = "public", ["index"] = "orders_user_id_idx", ["table"] = "orders" },
    };

    private static async Task<SkillRun> RecommendedRunAsync(Skill skill, Finding trigger)
    {
        var snapshot = SnapshotBuilder.Healthy().Set("postgres", new JsonArray(new JsonObject
        {
            ["member"] = "pg-test-1",
            ["reachable"] = true,
            ["probes"] = new JsonArray(new JsonObject
            {
                ["name"] = "indexes_invalid",
                ["status"] = "ok",
                ["rows"] = new JsonArray(new JsonObject { ["schemaname"] = "public", ["indexrelname"] = "orders_user_id_idx", ["relname"] = "orders", ["building"] = "false" }),
            }),
        }));
        var host = new ScriptedSkillHost(snapshot.Build())
        {
            Answer = _ => new SkillActionOutcome(SkillActionStatus.Refused, "act-1", "recommended: sql.drop_index is at level 1 (recommend)",
                JsonSerializer.SerializeToElement(new { status = "recommended", verdict = "recommend", level = 1 })),
        };
        var run = await SkillTestKit.RunAsync(skill, host, trigger.ToTrigger());
        Assert.Single(host.Requests);
        return run with { FinishedAt = At };
    }

    [Fact]
    public async Task Record_WarningRunThatOnlyRecommended_HoldsTheSkillForItsCooldownNotTheRetryTime()
    {
        var skill = SkillTestKit.LoadShipped("index-hygiene");
        var warning = Invalid(FindingSeverity.Warning);
        var run = await RecommendedRunAsync(skill, warning);
        Assert.True(AgentLoop.Recommended(run));
        var state = new AgentLoop.ClusterState("pg-test", new ClusterDetector("pg-test"));

        state.Record(skill, run, new AgentRunSettings());

        Assert.Equal(AgentLoop.Hold.Cooldown, state.HeldBack(skill, warning, At.AddMinutes(5)));
        Assert.Equal(AgentLoop.Hold.None, state.HeldBack(skill, warning, At.AddHours(2)));
    }

    [Fact]
    public async Task Record_CriticalRunThatOnlyRecommended_LooksAgainAfterTheRetryTime()
    {
        var skill = SkillTestKit.LoadShipped("index-hygiene");
        var critical = Invalid(FindingSeverity.Critical);
        var run = await RecommendedRunAsync(skill, critical);
        var state = new AgentLoop.ClusterState("pg-test", new ClusterDetector("pg-test"));

        state.Record(skill, run, new AgentRunSettings());

        Assert.Equal(AgentLoop.Hold.Retry, state.HeldBack(skill, critical, At.AddSeconds(5)));
        Assert.Equal(AgentLoop.Hold.None, state.HeldBack(skill, critical, At.AddSeconds(11)));
    }
}
