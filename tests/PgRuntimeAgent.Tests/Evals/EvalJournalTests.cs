using System.Text.Json;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Brain;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Evals;
using PgRuntimeAgent.Journal;

namespace PgRuntimeAgent.Tests.Evals;

/// <summary>What the runner reads back from the agent's journal and events to score a case.</summary>
public sealed class EvalJournalTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 4, 1, 0, 0, TimeSpan.Zero);
    private long _seq;

    private JournalEntry Entry(string kind, object payload, string? correlation, double seconds) => new()
    {
        Seq = ++_seq,
        Time = T0.AddSeconds(seconds),
        Kind = kind,
        Cluster = "pg-test",
        CorrelationId = correlation,
        Summary = kind,
        Payload = JsonSerializer.Serialize(payload, payload.GetType(), JournalJson.Options),
        PrevHash = "",
        Hash = "",
    };

    private static PlannedAction Action(string id, string kind, string? member, params (string Key, string Value)[] parameters) => new()
    {
        Id = id,
        Kind = kind,
        Cluster = "pg-test",
        Member = member,
        Summary = kind,
        Parameters = parameters.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal),
    };

    private static DecisionPayload Decision(PlannedAction action, PolicyVerdict verdict, AutonomyLevel level, AutonomyLevel required, bool dryRun = false) => new(new PolicyDecision
    {
        ActionId = action.Id,
        Kind = action.Kind,
        Class = action.Kind,
        Cluster = action.Cluster,
        Verdict = verdict,
        Level = level,
        RequiredLevel = required,
        DryRun = dryRun,
        Reasons = [],
        DecidedAt = T0,
    }, action);

    private static readonly PrecheckResult Passed = PrecheckResult.Pass("ok", "fine");

    [Fact]
    public void Actions_TheOutcomeDecides_AndAnApprovedIntentCounts()
    {
        var kill = Action("a1", "sql.terminate_backend", "pg-test-1", ("pid", "4242"));
        var entries = new[]
        {
            Entry(JournalKinds.Decision, Decision(kill, PolicyVerdict.AwaitApproval, AutonomyLevel.Recommend, AutonomyLevel.ActAfterApproval), "a1", 1),
            Entry(JournalKinds.ActionIntent, new IntentPayload(kill, Passed, IntentOwner.Current, "eval"), "a1", 3),
            Entry(JournalKinds.ActionOutcome, new OutcomePayload { Status = ActionOutcomeStatus.Succeeded, Message = "ended", Action = kill }, "a1", 4),
        };

        var action = Assert.Single(EvalJournal.Actions(entries));

        Assert.Equal("succeeded", action.Outcome);
        Assert.True(action.Ran);
        Assert.True(action.Approved);
        Assert.Equal("pid:4242", action.Object);
        Assert.Equal("pg-test-1", action.Member);
        Assert.Equal(1, action.Level);
        Assert.Equal(2, action.RequiredLevel);
        Assert.Equal(T0.AddSeconds(4), action.At);
    }

    [Fact]
    public void Actions_NotRun_SayWhy_AndDryRunsAreLeftOut()
    {
        var waiting = Action("w", "member.fence", "pg-test-1");
        var refused = Action("r", "patroni.failover", null);
        var denied = Action("d", "sql.terminate_backend", "pg-test-1", ("pid", "7"));
        var failedCheck = Action("p", "patroni.restart", "pg-test-2");
        var dry = Action("x", "patroni.failover", null);
        var verifyFailed = Action("v", "patroni.failover", null);
        var entries = new[]
        {
            Entry(JournalKinds.Decision, Decision(waiting, PolicyVerdict.AwaitApproval, AutonomyLevel.Recommend, AutonomyLevel.ActAfterApproval), "w", 1),
            Entry(JournalKinds.Decision, Decision(refused, PolicyVerdict.Refuse, AutonomyLevel.Recommend, AutonomyLevel.ActAfterApproval), "r", 2),
            Entry(JournalKinds.Decision, Decision(denied, PolicyVerdict.AwaitApproval, AutonomyLevel.Recommend, AutonomyLevel.ActAfterApproval), "d", 3),
            Entry(JournalKinds.ApprovalDenied, new { by = "eval" }, "d", 4),
            Entry(JournalKinds.Decision, Decision(failedCheck, PolicyVerdict.Execute, AutonomyLevel.ActAfterApproval, AutonomyLevel.ActAfterApproval), "p", 5),
            Entry(JournalKinds.ActionPrecheck, new PrecheckPayload(PrecheckResult.Fail("member", "not running"), false), "p", 6),
            Entry(JournalKinds.Decision, Decision(dry, PolicyVerdict.Execute, AutonomyLevel.ActWithinGuardrails, AutonomyLevel.ActWithinGuardrails, dryRun: true), "x", 7),
            Entry(JournalKinds.Decision, Decision(verifyFailed, PolicyVerdict.Execute, AutonomyLevel.ActWithinGuardrails, AutonomyLevel.ActWithinGuardrails), "v", 8),
            Entry(JournalKinds.ActionOutcome, new OutcomePayload { Status = ActionOutcomeStatus.VerifyFailed, Message = "no", Action = verifyFailed }, "v", 9),
            Entry(JournalKinds.Note, new { text = "no correlation" }, null, 10),
        };

        var actions = EvalJournal.Actions(entries).ToDictionary(a => a.Id);

        Assert.Equal(["d", "p", "r", "v", "w"], actions.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("awaiting-approval", actions["w"].Outcome);
        Assert.Equal("refused", actions["r"].Outcome);
        Assert.Equal("denied", actions["d"].Outcome);
        Assert.Equal("precheck-failed", actions["p"].Outcome);
        Assert.Equal("verify-failed", actions["v"].Outcome);
        Assert.True(actions["v"].Ran);
        Assert.All(new[] { "w", "r", "d", "p" }, id => Assert.False(actions[id].Ran));
    }

    [Theory]
    [InlineData("lock-pileup", "lock-pileup on pg-test-1: blocker pid 4242, 6 writers waiting", new[] { "pid:4242" })]
    [InlineData("long-transaction", "long-transaction on pg-test-1: transaction xid 771, backend pid 99, idle in transaction", new[] { "pid:99" })]
    [InlineData("missing-index", "missing-index on pg-test-1: orders has 200000 rows", new[] { "orders" })]
    [InlineData("primary-crash", "killed Patroni (pid 10) and the postmaster", new[] { "pid:10" })]
    [InlineData("disk-full", "filled /var/lib/pgra-lab/wal", new string[0])]
    public void FaultObjects_AreReadFromTheFaultsSummary(string scenario, string summary, string[] expected) =>
        Assert.Equal(expected, EvalJournal.FaultObjects(scenario, summary));

    [Fact]
    public void ObjectOf_NamesABackendByPid_AndARelationUnqualified()
    {
        Assert.Equal("pid:12", EvalJournal.ObjectOf(Action("a", "sql.cancel_backend", "m", ("pid", " 12 "))));
        Assert.Equal("orders", EvalJournal.ObjectOf(Action("a", "sql.create_index", "m", ("table", "public.orders"), ("columns", "user_id"))));
        Assert.Null(EvalJournal.ObjectOf(Action("a", "patroni.failover", null)));
    }

    [Fact]
    public void Findings_AreTheClustersRaisedEvents_WithTheirSeverity()
    {
        AgentEvent Raised(string cluster, string code, string severity, string? member) => new()
        {
            Name = AgentEventNames.FindingRaised,
            At = T0,
            Cluster = cluster,
            Severity = severity,
            Title = code,
            Details = new Dictionary<string, string?> { ["code"] = code, ["member"] = member },
        };

        var events = new[]
        {
            Raised("pg-test", "primary-disk-full", "critical", "pg-test-1"),
            Raised("pg-test", "archive-failing", "warning", null),
            Raised("pg-other", "lock-pileup", "critical", null),
            new AgentEvent { Name = AgentEventNames.FindingCleared, At = T0, Cluster = "pg-test", Title = "x", Details = new Dictionary<string, string?> { ["code"] = "x" } },
        };

        var findings = EvalJournal.Findings(events, "pg-test");

        Assert.Equal(["primary-disk-full", "archive-failing"], findings.Select(f => f.Code));
        Assert.Equal([FindingSeverity.Critical, FindingSeverity.Warning], findings.Select(f => f.Severity));
        Assert.Equal("pg-test-1", findings[0].Member);
    }

    [Fact]
    public void Skills_PairEachStartWithItsEnd_AndARunStillGoingHasNoStatus()
    {
        AgentEvent Ev(string name, double seconds, string skill, string title, string? code = null, string? member = null, string? steps = null, string? message = null, string cluster = "pg-test") => new()
        {
            Name = name,
            At = T0.AddSeconds(seconds),
            Cluster = cluster,
            Title = title,
            Message = message,
            Details = new Dictionary<string, string?> { ["skill"] = skill, ["code"] = code, ["member"] = member, ["steps"] = steps },
        };
        AgentEvent[] events =
        [
            Ev(AgentEventNames.SkillStarted, 1, "primary-failure", "skill primary-failure for x", "primary-down-holding-lock", "pg-test-1"),
            Ev(AgentEventNames.SkillStarted, 2, "config-broken", "skill config-broken for y", "config-broken", "pg-test-1"),
            Ev(AgentEventNames.SkillStarted, 2.5, "lock-pileup", "elsewhere", "lock-pileup", cluster: "pg-other"),
            Ev(AgentEventNames.SkillFinished, 3, "primary-failure", "skill primary-failure: completed", steps: "old_primary:passed > fence_old_primary:succeeded", message: "Writes restored on pg-test-2"),
            Ev(AgentEventNames.SkillErrored, 4, "config-broken", "skill config-broken errored on pg-test", message: "boom"),
            Ev(AgentEventNames.SkillStarted, 5, "replication-lag", "skill replication-lag for z", "replication-broken", "pg-test-1"),
        ];

        var runs = EvalJournal.Skills(events, "pg-test");

        Assert.Equal(["primary-failure", "config-broken", "replication-lag"], runs.Select(r => r.Skill));
        Assert.Equal("primary-failure for primary-down-holding-lock@pg-test-1: completed (old_primary:passed > fence_old_primary:succeeded): Writes restored on pg-test-2", runs[0].Describe());
        Assert.Equal("error", runs[1].Status);
        Assert.Equal("boom", runs[1].Message);
        Assert.Null(runs[2].Status);
        Assert.Equal("replication-lag for replication-broken@pg-test-1: still running", runs[2].Describe());
    }

    [Fact]
    public void ModelUsage_SumsTheBrainExchanges_AndIsNullWithoutAModel()
    {
        BrainExchange Exchange(long input, long output, double ms, double? cost) => new()
        {
            Cluster = "pg-test",
            Question = "q",
            Provider = "scripted",
            Model = "m1",
            Status = "answered",
            Answer = "a",
            PromptDigest = "d",
            InputTokens = input,
            OutputTokens = output,
            LatencyMs = ms,
            CostEstimate = cost,
        };

        var entries = new[]
        {
            Entry(JournalKinds.BrainExchange, Exchange(1000, 200, 1500, 0.01), null, 1),
            Entry(JournalKinds.BrainExchange, Exchange(500, 50, 500, null), null, 2),
        };

        var usage = EvalJournal.ModelUsage(entries, "m1");

        Assert.NotNull(usage);
        Assert.Equal(2, usage.Calls);
        Assert.Equal(1500, usage.InputTokens);
        Assert.Equal(250, usage.OutputTokens);
        Assert.Equal(0.01, usage.CostUsd);
        Assert.Equal(2.0, usage.WallSeconds);
        Assert.Null(EvalJournal.ModelUsage([], null));
        Assert.Equal(0, EvalJournal.ModelUsage([], "m1")!.Calls);
    }
}
