using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Tests.Acting;

namespace PgRuntimeAgent.Tests.Policy;

public sealed class PolicyGateTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, int> Levels(params (string Class, int Level)[] entries) =>
        entries.ToDictionary(e => e.Class, e => e.Level, StringComparer.Ordinal);

    [Fact]
    public async Task LevelFor_ClusterClassFamilyDefault_MostSpecificWins()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings
        {
            DefaultLevel = 1,
            Classes = Levels(("patroni", 2), ("patroni.failover", 3)),
            Clusters = new Dictionary<string, IReadOnlyDictionary<string, int>>(StringComparer.Ordinal)
            {
                ["pg-meta"] = Levels(("patroni.failover", 0)),
            },
        });
        var gate = h.Gate();

        Assert.Equal(3, (int)gate.LevelFor("pg-test", "patroni.failover"));
        Assert.Equal(2, (int)gate.LevelFor("pg-test", "patroni.switchover"));
        Assert.Equal(1, (int)gate.LevelFor("pg-test", "sql.analyze"));
        Assert.Equal(0, (int)gate.LevelFor("pg-meta", "patroni.failover"));
        Assert.Equal(2, (int)gate.LevelFor("pg-meta", "patroni.restart"));
    }

    [Theory]
    [InlineData("Reactive", true, false, 3)]
    [InlineData("Proactive", true, false, 4)]
    [InlineData("Reactive", false, false, 4)]
    [InlineData("Proactive", false, false, 5)]
    [InlineData("Reactive", false, true, 3)]
    [InlineData("Proactive", false, true, 4)]
    public void RequiredLevel_ByTriggerAndReversibility_AddsOneForEachRisk(string trigger, bool reversible, bool lossBounded, int expected)
    {
        var action = ScriptedActuator.SetAction("k", "v", trigger: Enum.Parse<ActionTrigger>(trigger)) with { Reversible = reversible, LossBounded = lossBounded };

        Assert.Equal(expected, (int)PolicyGate.RequiredLevel(action));
    }

    [Fact]
    public void RequiredLevel_AnalyzeAndPlainVacuum_DiscardNothing_SoAReactiveOneRunsAloneAtLevel3()
    {
        var at = DateTimeOffset.Parse("2026-12-03T08:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        var analyze = PgRuntimeAgent.Acting.Sql.SqlActions.PlanAnalyze("pg-test", "meta", "public", "orders", at, ActionTrigger.Reactive);
        var vacuum = PgRuntimeAgent.Acting.Sql.SqlActions.PlanVacuum("pg-test", "meta", "public", "orders", analyze: true, freeze: false, at, ActionTrigger.Reactive);

        Assert.All([analyze, vacuum], a => Assert.False(a.Reversible));
        Assert.All([analyze, vacuum], a => Assert.True(a.LossBounded));
        Assert.Equal(3, (int)PolicyGate.RequiredLevel(analyze));
        Assert.Equal(3, (int)PolicyGate.RequiredLevel(vacuum));
        // A DROP INDEX is undone by its journaled definition; ANALYZE has nothing to undo and costs nothing to redo.
        Assert.Equal(4, (int)PolicyGate.RequiredLevel(analyze with { Trigger = ActionTrigger.Proactive }));
    }

    [Fact]
    public async Task Evaluate_ReactiveFailoverAtLevel3_RunsAloneAndSaysItsLossIsBounded()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { DefaultLevel = 3 });
        var action = PatroniActions.PlanFailover("pg-test", "pg-test-2", "pg-test-1", timeline: 1, trigger: ActionTrigger.Reactive);

        var decision = await h.Gate().EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState() }, Ct);

        Assert.False(action.Reversible);
        Assert.Equal(3, (int)decision.RequiredLevel);
        Assert.Contains("loss bounded", decision.Explain(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(5, "Execute")]
    [InlineData(3, "Execute")]
    [InlineData(2, "AwaitApproval")]
    [InlineData(1, "Recommend")]
    [InlineData(0, "Observe")]
    public async Task Evaluate_AgentActionAtLevel_FollowsTheLevel(int level, string verdict)
    {
        var expected = Enum.Parse<PolicyVerdict>(verdict);
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { Classes = Levels((ScriptedActuator.Set, level)) });
        var action = ScriptedActuator.SetAction("k", "v", trigger: ActionTrigger.Reactive);

        var decision = await h.Gate().EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState() }, Ct);

        Assert.Equal(expected, decision.Verdict);
        Assert.Equal(level, (int)decision.Level);
        Assert.Equal(3, (int)decision.RequiredLevel);
        Assert.Contains(decision.Reasons, r => r.Code == PolicyCodes.Level);
    }

    [Theory]
    [InlineData(2, "AwaitApproval", 2)]
    [InlineData(1, "Recommend", 1)]
    [InlineData(5, "Execute", null)]
    [InlineData(4, "Execute", null)]
    public async Task Evaluate_CallersCeiling_LowersTheLevelButNeverRaisesIt(int ceiling, string verdict, int? capped)
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { Classes = Levels((ScriptedActuator.Set, 4)) });
        var action = ScriptedActuator.SetAction("k", "v", trigger: ActionTrigger.Reactive);

        var decision = await h.Gate().EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState(), Ceiling = (AutonomyLevel)ceiling }, Ct);

        Assert.Equal(Enum.Parse<PolicyVerdict>(verdict), decision.Verdict);
        Assert.Equal(capped ?? 4, (int)decision.Level);
        Assert.Equal(capped, (int?)decision.Ceiling);
        var json = System.Text.Json.JsonSerializer.SerializeToNode(decision, JournalJson.Options)!;
        Assert.Equal(capped ?? 4, (int)json["level"]!);
        Assert.Equal(3, (int)json["requiredLevel"]!);
        Assert.Equal(capped, (int?)json["ceiling"]);
        var back = System.Text.Json.JsonSerializer.Deserialize<PolicyDecision>(json, JournalJson.Options)!;
        Assert.Equal(decision.Level, back.Level);
        Assert.Equal(decision.Ceiling, back.Ceiling);
    }

    [Fact]
    public async Task Evaluate_IrreversibleReactiveAtLevel3_WaitsForApproval()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { DefaultLevel = 3 });
        var action = ScriptedActuator.KillAction("k", trigger: ActionTrigger.Reactive);

        var decision = await h.Gate().EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState() }, Ct);

        Assert.Equal(PolicyVerdict.AwaitApproval, decision.Verdict);
        Assert.Equal(4, (int)decision.RequiredLevel);
        Assert.Contains("irreversible", decision.Explain(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Evaluate_OperatorCommandAtLevel1_Executes()
    {
        await using var h = await ActingHarness.CreateAsync();
        var action = ScriptedActuator.SetAction("k", "v");

        var decision = await h.Gate().EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState() }, Ct);

        Assert.Equal(PolicyVerdict.Execute, decision.Verdict);
        Assert.Contains(decision.Reasons, r => r.Code == PolicyCodes.OperatorCommand);
    }

    [Fact]
    public async Task Evaluate_OperatorCommandWithFourEyes_WaitsForApproval()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { FourEyes = true, DefaultLevel = 2 });
        var action = ScriptedActuator.SetAction("k", "v");

        var decision = await h.Gate().EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState() }, Ct);

        Assert.Equal(PolicyVerdict.AwaitApproval, decision.Verdict);
    }

    [Fact]
    public async Task Evaluate_ApprovedActionAtLevel2_Executes()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { DefaultLevel = 2 });
        var action = ScriptedActuator.SetAction("k", "v", trigger: ActionTrigger.Reactive);

        var decision = await h.Gate().EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState(), ApprovedBy = "alice" }, Ct);

        Assert.Equal(PolicyVerdict.Execute, decision.Verdict);
        Assert.Contains(decision.Reasons, r => r.Code == PolicyCodes.Approved && r.Message.Contains("alice", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Evaluate_OpenIntentOnCluster_RefusesWithTheHolder()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { DefaultLevel = 5 });
        await h.Journal.TryAppendIntentAsync(new JournalRecord
        {
            Kind = JournalKinds.ActionIntent,
            Summary = "intent",
            Cluster = "pg-test",
            CorrelationId = "act-000000000001",
            Topic = "patroni.switchover",
        }, Ct);
        var action = ScriptedActuator.SetAction("k", "v", trigger: ActionTrigger.Reactive);

        var decision = await h.Gate().EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState(), ApprovedBy = "alice" }, Ct);
        var other = await h.Gate().EvaluateAsync(new PolicyRequest { Action = action with { Cluster = "pg-meta" }, State = h.HealthyState() with { Cluster = "pg-meta" } }, Ct);

        Assert.Equal(PolicyVerdict.Refuse, decision.Verdict);
        var reason = Assert.Single(decision.Reasons, r => r.Blocking);
        Assert.Equal(PolicyCodes.ClusterLocked, reason.Code);
        Assert.Contains("act-000000000001", reason.Message, StringComparison.Ordinal);
        Assert.Equal(PolicyVerdict.Execute, other.Verdict);
    }

    [Fact]
    public async Task Evaluate_WithinCooldown_RefusesAgentButOnlyWarnsOperator()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { DefaultLevel = 5, Cooldowns = Levels((ScriptedActuator.Set, 300)) });
        await h.Journal.AppendAsync(new JournalRecord
        {
            Kind = JournalKinds.ActionIntent,
            Summary = "intent",
            Cluster = "pg-test",
            CorrelationId = "act-1",
            Topic = ScriptedActuator.Set,
        }, Ct);
        await h.Journal.AppendAsync(new JournalRecord { Kind = JournalKinds.ActionOutcome, Summary = "done", Cluster = "pg-test", CorrelationId = "act-1", Topic = ScriptedActuator.Set }, Ct);
        h.Time.Advance(TimeSpan.FromSeconds(100));

        var agent = await h.Gate().EvaluateAsync(new PolicyRequest { Action = ScriptedActuator.SetAction("k", "v", trigger: ActionTrigger.Reactive), State = h.HealthyState() }, Ct);
        var human = await h.Gate().EvaluateAsync(new PolicyRequest { Action = ScriptedActuator.SetAction("k", "v"), State = h.HealthyState() }, Ct);
        h.Time.Advance(TimeSpan.FromSeconds(201));
        var later = await h.Gate().EvaluateAsync(new PolicyRequest { Action = ScriptedActuator.SetAction("k", "v", trigger: ActionTrigger.Reactive), State = h.HealthyState() }, Ct);

        Assert.Equal(PolicyVerdict.Refuse, agent.Verdict);
        Assert.Contains(agent.Reasons, r => r.Code == PolicyCodes.Cooldown && r.Blocking && r.Message.Contains("300 s", StringComparison.Ordinal));
        Assert.Equal(PolicyVerdict.Execute, human.Verdict);
        Assert.Contains(human.Reasons, r => r.Code == PolicyCodes.Cooldown && !r.Blocking);
        Assert.Equal(PolicyVerdict.Execute, later.Verdict);
    }

    [Fact]
    public async Task Evaluate_CandidatePastLagLimit_RefusesWithTheNumbers()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { DefaultLevel = 5 });
        var action = ScriptedActuator.SetAction("leader", "pg-test-3", risk: ActionRisk.High,
            extra: new Dictionary<string, string> { [ActionParameters.Candidate] = "pg-test-3" });

        var decision = await h.Gate().EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState(), ApprovedBy = "alice" }, Ct);

        Assert.Equal(PolicyVerdict.Refuse, decision.Verdict);
        var reason = Assert.Single(decision.Reasons, r => r.Blocking);
        Assert.Equal(PolicyCodes.LagLimit, reason.Code);
        Assert.Contains("4000000 bytes", reason.Message, StringComparison.Ordinal);
        Assert.Contains("1048576", reason.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Evaluate_CandidateWithUnknownLag_Refuses()
    {
        await using var h = await ActingHarness.CreateAsync();
        var state = h.HealthyState() with { MemberLagBytes = new Dictionary<string, long?> { ["pg-test-2"] = null } };
        var action = ScriptedActuator.SetAction("leader", "pg-test-2", extra: new Dictionary<string, string> { [ActionParameters.Candidate] = "pg-test-2" });

        var decision = await h.Gate().EvaluateAsync(new PolicyRequest { Action = action, State = state }, Ct);

        Assert.Equal(PolicyVerdict.Refuse, decision.Verdict);
        Assert.Contains(decision.Reasons, r => r.Code == PolicyCodes.LagUnknown);
    }

    [Fact]
    public async Task Evaluate_FenceOfAMemberEtcdDoesNotNameWhileTheLeaderIsDisputed_ActsButNotOfTheKeyHolderOrWithoutEtcd()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { Classes = new Dictionary<string, int> { ["member.fence"] = 3 } });
        var gate = h.Gate();
        var fence = PgRuntimeAgent.Acting.Fencing.FenceActuator.Plan("pg-test", "pg-test-1", trigger: ActionTrigger.Reactive);
        var disputed = h.HealthyState() with { LeaderKnown = false, Leader = null, Drift = ["no-leader: no member holds the key"], DcsRead = true, DcsHolder = null };

        var deposed = await gate.EvaluateAsync(new PolicyRequest { Action = fence, State = disputed }, Ct);
        var holder = await gate.EvaluateAsync(new PolicyRequest { Action = fence, State = disputed with { DcsHolder = "pg-test-1" } }, Ct);
        var blind = await gate.EvaluateAsync(new PolicyRequest { Action = fence, State = disputed with { DcsRead = false } }, Ct);
        var stale = await gate.EvaluateAsync(new PolicyRequest { Action = fence, State = disputed with { ObservedAt = h.Time.GetUtcNow().AddMinutes(-5) } }, Ct);

        var takenBack = await gate.EvaluateAsync(new PolicyRequest { Action = fence, State = disputed with { DcsHolder = "pg-test-1", NewerThanDcsHolder = "pg-test-2" } }, Ct);

        Assert.Equal(PolicyVerdict.Execute, deposed.Verdict);
        Assert.Equal(PolicyVerdict.Refuse, holder.Verdict);
        Assert.Equal(PolicyVerdict.Execute, takenBack.Verdict);
        Assert.Equal(PolicyVerdict.Refuse, blind.Verdict);
        Assert.Contains(stale.Reasons, r => r.Code == PolicyCodes.StaleState && r.Blocking);
    }

    [Fact]
    public async Task Evaluate_HighRiskWithDriftOrUnknownLeaderOrStaleOrNoState_Refuses()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { DefaultLevel = 5 });
        var action = ScriptedActuator.SetAction("k", "v", risk: ActionRisk.High);
        var gate = h.Gate();

        var drift = await gate.EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState() with { Drift = ["inventory says pg-test-1 is primary, Patroni says pg-test-2"] } }, Ct);
        var unknown = await gate.EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState() with { LeaderKnown = false, Leader = null } }, Ct);
        var stale = await gate.EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState() with { ObservedAt = h.Time.GetUtcNow().AddMinutes(-5) } }, Ct);
        var none = await gate.EvaluateAsync(new PolicyRequest { Action = action, State = null }, Ct);
        var lowRisk = await gate.EvaluateAsync(new PolicyRequest { Action = action with { Risk = ActionRisk.Medium }, State = null }, Ct);

        Assert.Equal(PolicyCodes.Drift, Assert.Single(drift.Reasons, r => r.Blocking).Code);
        Assert.Contains("Patroni says pg-test-2", drift.Explain(), StringComparison.Ordinal);
        Assert.Equal(PolicyCodes.LeaderUnknown, Assert.Single(unknown.Reasons, r => r.Blocking).Code);
        Assert.Equal(PolicyCodes.StaleState, Assert.Single(stale.Reasons, r => r.Blocking).Code);
        Assert.Equal(PolicyCodes.NoState, Assert.Single(none.Reasons, r => r.Blocking).Code);
        Assert.Equal(PolicyVerdict.Execute, lowRisk.Verdict);
    }

    [Fact]
    public async Task Evaluate_ForbiddenClass_RefusedEvenWhenApproved()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { DefaultLevel = 5, Forbidden = ["test"] });

        var decision = await h.Gate().EvaluateAsync(new PolicyRequest { Action = ScriptedActuator.SetAction("k", "v"), State = h.HealthyState(), ApprovedBy = "root" }, Ct);

        Assert.Equal(PolicyVerdict.Refuse, decision.Verdict);
        Assert.Equal(PolicyCodes.Forbidden, Assert.Single(decision.Reasons, r => r.Blocking).Code);
    }

    [Fact]
    public async Task Evaluate_DryRunSetting_MarksTheDecision()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { DryRun = true });

        var decision = await h.Gate().EvaluateAsync(new PolicyRequest { Action = ScriptedActuator.SetAction("k", "v"), State = h.HealthyState() }, Ct);

        Assert.True(decision.DryRun);
        Assert.Contains(decision.Reasons, r => r.Code == PolicyCodes.DryRun);
    }
}
