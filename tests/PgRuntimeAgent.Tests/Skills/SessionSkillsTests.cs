using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Tests.Skills;

/// <summary>The lock-pileup, long-transaction and connection-saturation skills on snapshots shaped like the lab's faults.</summary>
public sealed class SessionSkillsTests
{
    private const string Start = "2026-11-22T09:58:00.1234560Z";

    private static JsonObject Head(string state = "idle in transaction", double xactAge = 90, int pid = 4242, string type = "client backend") => new()
    {
        ["pid"] = pid,
        ["backend_start"] = Start,
        ["user"] = "dbuser_meta",
        ["application"] = "pgra-lab-lock-pileup",
        ["state"] = state,
        ["backend_type"] = type,
        ["transaction_age_seconds"] = xactAge,
        ["state_age_seconds"] = 88.0,
        ["waiters"] = 6,
        ["direct_waiters"] = 1,
        ["longest_wait_seconds"] = 80.0,
        ["query"] = "UPDATE pgra_lab_lock SET v = v + ? WHERE id = ?",
    };

    private static JsonObject Holder(string state = "idle in transaction", double stateAge = 400) => new()
    {
        ["kind"] = "backend",
        ["pid"] = 5151,
        ["backend_start"] = Start,
        ["user"] = "dbuser_meta",
        ["application"] = "pgra-lab-long-transaction",
        ["state"] = state,
        ["xmin_age"] = 12,
        ["age_seconds"] = 420.0,
        ["state_age_seconds"] = stateAge,
        ["query"] = "SELECT txid_current(), count(*) FROM pg_class",
    };

    /// <summary>The leader pg-test-1's Postgres observation with the given session views and every probe ok.</summary>
    private static JsonElement Snapshot(JsonArray? heads = null, JsonArray? holders = null, JsonObject? use = null) =>
        SnapshotBuilder.Healthy().Set("postgres", new JsonArray(new JsonObject
        {
            ["member"] = "pg-test-1",
            ["reachable"] = true,
            ["archiver_failed_count"] = 0,
            ["lock_heads"] = heads ?? [],
            ["xmin_holders"] = holders ?? [],
            ["connection_use"] = use,
            ["probes"] = new JsonArray(
                new JsonObject { ["name"] = "lock_heads", ["status"] = "ok" },
                new JsonObject { ["name"] = "xmin_horizon", ["status"] = "ok" },
                new JsonObject { ["name"] = "connection_clients", ["status"] = "ok" }),
        })).Build();

    private static JsonElement Trigger(string code, JsonObject facts, string summary = "") =>
        JsonSerializer.SerializeToElement(new JsonObject { ["code"] = code, ["cluster"] = "pg-test", ["member"] = "pg-test-1", ["summary"] = summary, ["facts"] = facts });

    private static JsonObject PileupFacts() => new()
    {
        ["pid"] = "4242", ["backend_start"] = Start, ["user"] = "dbuser_meta", ["application"] = "pgra-lab-lock-pileup",
        ["state"] = "idle in transaction", ["waiters"] = "6", ["longest_wait_seconds"] = "80", ["query"] = "UPDATE pgra_lab_lock SET v = v + ? WHERE id = ?",
    };

    private static JsonObject LongFacts() => new()
    {
        ["kind"] = "backend", ["pid"] = "5151", ["backend_start"] = Start, ["user"] = "dbuser_meta", ["application"] = "pgra-lab-long-transaction",
        ["state"] = "idle in transaction",
    };

    // ------------------------------------------------------------------ lock-pileup

    [Fact]
    public async Task LockPileup_IdleInTransactionHead_TerminatesItByPidAndBackendStartThenVerifiesTheQueueDrained()
    {
        var host = new ScriptedSkillHost(Snapshot(heads: [Head()])).AfterAction(Snapshot());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("lock-pileup"), host, Trigger("lock-pileup", PileupFacts()));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        var request = Assert.Single(host.Requests);
        Assert.Equal("sql.terminate_backend", request.ActionClass);
        Assert.Equal($$"""{"member":"pg-test-1","pid":"4242","backend_start":"{{Start}}"}""", request.Parameters.GetRawText());
        Assert.Equal("lock-pileup on pg-test-1: pid 4242 (user dbuser_meta, application 'pgra-lab-lock-pileup', idle in transaction for 88 s, transaction open 90 s) "
            + "blocks 6 session(s) (1 directly, longest wait 80 s); its last query: UPDATE pgra_lab_lock SET v = v + ? WHERE id = ?", request.Reason);
        Assert.Equal("head:Passed session:Passed culprit:Passed terminate:Succeeded verify_drained:Passed ended:Recorded follow_up:Recorded", SkillTestKit.Steps(run));
        Assert.Equal(SkillRecordKinds.FollowUp, host.Notes[1].Kind);
    }

    [Fact]
    public async Task LockPileup_TerminateAwaitsApproval_StopsThere()
    {
        var host = new ScriptedSkillHost(Snapshot(heads: [Head()]))
        {
            Answer = r => new SkillActionOutcome(SkillActionStatus.PendingApproval, "j-approval", "autonomy 2: waiting for an operator"),
        };

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("lock-pileup"), host, Trigger("lock-pileup", PileupFacts()));

        Assert.Equal(SkillRunStatus.AwaitingApproval, run.Status);
        Assert.Single(host.Requests);
        Assert.DoesNotContain(run.Steps, s => s.StepId == "verify_drained");
    }

    [Fact]
    public async Task LockPileup_YoungRunningQueryAtTheHead_RecordsAndDoesNotAct()
    {
        var host = new ScriptedSkillHost(Snapshot(heads: [Head(state: "active", xactAge: 30)]));

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("lock-pileup"), host, Trigger("lock-pileup", PileupFacts()));

        Assert.Empty(host.Requests);
        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Contains("is running a query", host.Notes.Single().Text, StringComparison.Ordinal);
        // No model configured: the investigate step asked the host, was skipped, and the run went on as before.
        Assert.Equal(SkillStepStatus.Skipped, run.Steps.Single(s => s.StepId == "ask_about_query").Status);
    }

    [Fact]
    public async Task LockPileup_YoungRunningQuery_WithAModel_AsksItWithTheRunbookAndEvidenceAndRecordsItsAnswerAsTheModels()
    {
        var host = new ScriptedSkillHost(Snapshot(heads: [Head(state: "active", xactAge: 30)]))
        {
            Model = q => new SkillInvestigation(SkillInvestigation.Answered, "pid 4242 runs a batch UPDATE; cancel it if the batch can be retried.", "model-x", "77", Actions: ["act-1"]),
        };

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("lock-pileup"), host, Trigger("lock-pileup", PileupFacts()));

        var question = Assert.Single(host.Questions);
        Assert.Equal("ask_about_query", question.StepId);
        Assert.Contains("pid 4242 on pg-test-1", question.Question, StringComparison.Ordinal);
        Assert.Contains("UPDATE pgra_lab_lock SET v = v + ? WHERE id = ?", question.Question, StringComparison.Ordinal);
        Assert.StartsWith("# Lock pile-up", question.Runbook, StringComparison.Ordinal);
        Assert.Contains("Never terminate the waiters", question.Runbook, StringComparison.Ordinal);
        Assert.Contains("\"transaction_age_seconds\":30", question.Evidence, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromMinutes(1), question.Timeout);
        var step = run.Steps.Single(s => s.StepId == "ask_about_query");
        Assert.Equal(SkillStepStatus.Answered, step.Status);
        Assert.Equal("77", step.JournalId);
        Assert.Equal("running_query", step.Next);
        Assert.Equal(["investigation", "follow-up"], host.Notes.Select(n => n.Kind));
        var answer = host.Notes[0];
        Assert.Equal("pid 4242 runs a batch UPDATE; cancel it if the batch can be retried.", answer.Text);
        Assert.Equal("model-x", answer.Data!.Value.GetProperty("model").GetString());
        Assert.Equal("act-1", answer.Data!.Value.GetProperty("actions")[0].GetString());
        // The model's answer never decides the run: the same outcome as without a model.
        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Empty(host.Requests);
    }

    [Theory]
    [InlineData("timed-out")]
    [InlineData("failed")]
    public async Task LockPileup_ModelWithoutAnAnswer_StepFailsAndTheRunGoesOnUnchanged(string status)
    {
        var host = new ScriptedSkillHost(Snapshot(heads: [Head(state: "active", xactAge: 30)]))
        {
            Model = q => new SkillInvestigation(status, "", "model-x", "78", "no answer within 60 s"),
        };

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("lock-pileup"), host, Trigger("lock-pileup", PileupFacts()));

        var step = run.Steps.Single(s => s.StepId == "ask_about_query");
        Assert.Equal(SkillStepStatus.Failed, step.Status);
        Assert.Equal($"{status}: no answer within 60 s", step.Message);
        Assert.Equal("running_query", step.Next);
        Assert.Equal("follow-up", host.Notes.Single().Kind);
        Assert.Equal(SkillRunStatus.Failed, run.Status);
    }

    [Fact]
    public async Task LockPileup_DryRun_DoesNotAskTheModel()
    {
        var host = new ScriptedSkillHost(Snapshot(heads: [Head(state: "active", xactAge: 30)]))
        {
            Model = q => throw new InvalidOperationException("a dry run must not ask the model"),
        };

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("lock-pileup"), host, Trigger("lock-pileup", PileupFacts()), dryRun: true);

        Assert.Empty(host.Questions);
        Assert.Equal(SkillStepStatus.Skipped, run.Steps.Single(s => s.StepId == "ask_about_query").Status);
    }

    [Fact]
    public async Task LockPileup_RunningQueryPastMaxHoldSeconds_IsEnded()
    {
        var host = new ScriptedSkillHost(Snapshot(heads: [Head(state: "active", xactAge: 300)])).AfterAction(Snapshot());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("lock-pileup"), host, Trigger("lock-pileup", PileupFacts()));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal("sql.terminate_backend", Assert.Single(host.Requests).ActionClass);
    }

    [Fact]
    public async Task LockPileup_PreparedTransactionHead_IsReportedNotTerminated()
    {
        var facts = PileupFacts();
        facts["pid"] = "0";
        var host = new ScriptedSkillHost(Snapshot(heads: [Head(pid: 0)]));

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("lock-pileup"), host, Trigger("lock-pileup", facts));

        Assert.Empty(host.Requests);
        Assert.Contains("a prepared transaction", host.Notes.Single().Text, StringComparison.Ordinal);
        Assert.Equal(SkillRunStatus.Failed, run.Status);
    }

    [Fact]
    public async Task LockPileup_QueueAlreadyDrained_DoesNothing()
    {
        var host = new ScriptedSkillHost(Snapshot());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("lock-pileup"), host, Trigger("lock-pileup", PileupFacts()));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
        Assert.StartsWith("The queue behind pid 4242 on pg-test-1 drained by itself", host.Notes.Single().Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LockPileup_HeadStillThereAfterTheTerminate_FailsWithAFollowUp()
    {
        var host = new ScriptedSkillHost(Snapshot(heads: [Head()]));

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("lock-pileup"), host, Trigger("lock-pileup", PileupFacts()));

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Equal(SkillStepStatus.Failed, run.Steps.Single(s => s.StepId == "verify_drained").Status);
        Assert.StartsWith("Sessions still queue behind pid 4242", host.Notes.Single().Text, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ long-transaction

    [Fact]
    public async Task LongTransaction_IdlePastTheLimit_ProposesTheTerminateAndVerifiesTheHorizonReleased()
    {
        var host = new ScriptedSkillHost(Snapshot(holders: [Holder()])).AfterAction(Snapshot());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("long-transaction"), host, Trigger("long-transaction", LongFacts()));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        var request = Assert.Single(host.Requests);
        Assert.Equal($$"""{"member":"pg-test-1","pid":"5151","backend_start":"{{Start}}"}""", request.Parameters.GetRawText());
        Assert.Contains("holding the xmin horizon 12 transactions back", request.Reason, StringComparison.Ordinal);
        Assert.Equal("holder:Passed session:Passed idle:Passed terminate:Succeeded verify_released:Passed ended:Recorded", SkillTestKit.Steps(run));
    }

    [Fact]
    public async Task LongTransaction_ActiveQuery_IsReportedNotTerminated()
    {
        var host = new ScriptedSkillHost(Snapshot(holders: [Holder(state: "active")]));

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("long-transaction"), host, Trigger("long-transaction", LongFacts()));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Contains("it is active, not idle past the limit", host.Notes.Single().Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LongTransaction_IdleUnderMaxIdleSeconds_IsReportedNotTerminated()
    {
        var host = new ScriptedSkillHost(Snapshot(holders: [Holder(stateAge: 100)]));

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("long-transaction"), host, Trigger("long-transaction", LongFacts()));

        Assert.Empty(host.Requests);
        Assert.Equal(SkillStepStatus.Failed, run.Steps.Single(s => s.StepId == "idle").Status);

        var lower = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("long-transaction"), new ScriptedSkillHost(Snapshot(holders: [Holder(stateAge: 100)])),
            Trigger("long-transaction", LongFacts()), dryRun: true, parameters: SkillTestKit.Json("""{"max_idle_seconds": "60"}"""));
        Assert.Equal(SkillStepStatus.Passed, lower.Steps.Single(s => s.StepId == "idle").Status);
    }

    [Fact]
    public async Task LongTransaction_Slot_IsAFollowUpForTheOperator()
    {
        var slot = new JsonObject { ["kind"] = "slot", ["slot"] = "orphan_cdc", ["state"] = "inactive", ["xmin_age"] = 20_000_000 };
        var facts = new JsonObject { ["kind"] = "slot", ["slot"] = "orphan_cdc" };
        var host = new ScriptedSkillHost(Snapshot(holders: [slot]));

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("long-transaction"), host,
            Trigger("long-transaction", facts, "replication slot orphan_cdc (inactive) holds the xmin horizon of pg-test-1"));

        Assert.Empty(host.Requests);
        var note = host.Notes.Single();
        Assert.Equal(SkillRecordKinds.FollowUp, note.Kind);
        Assert.Contains("A replication slot: if its consumer is gone for good, drop it", note.Text, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ connection-saturation

    [Fact]
    public async Task ConnectionSaturation_ReportsTheBreakdownAndNeverActs()
    {
        var use = new JsonObject
        {
            ["used"] = 46,
            ["max_connections"] = 50,
            ["reserved"] = 3,
            ["idle_in_transaction"] = 2,
            ["by_state"] = new JsonArray(new JsonObject { ["name"] = "idle", ["count"] = 44 }, new JsonObject { ["name"] = "idle in transaction", ["count"] = 2 }),
            ["by_user"] = new JsonArray(new JsonObject { ["name"] = "dbuser_meta", ["count"] = 46 }),
            ["by_application"] = new JsonArray(new JsonObject { ["name"] = "pgra-lab-connection-storm", ["count"] = 44 }, new JsonObject { ["name"] = "app", ["count"] = 2 }),
        };
        var facts = new JsonObject { ["top_application"] = "pgra-lab-connection-storm", ["top_user"] = "dbuser_meta" };
        var host = new ScriptedSkillHost(Snapshot(use: use));

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("connection-saturation"), host, Trigger("connection-saturation", facts));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Equal("46 client sessions on pg-test-1 against max_connections 50, of which 3 are reserved for superusers. "
            + "By application: [[\"pgra-lab-connection-storm\",44],[\"app\",2]]; by user: [[\"dbuser_meta\",46]]; by state: [[\"idle\",44],[\"idle in transaction\",2]]; idle in transaction: 2.",
            host.Notes[0].Text);
        Assert.Equal(SkillRecordKinds.FollowUp, host.Notes[1].Kind);
        Assert.Contains("mostly by application 'pgra-lab-connection-storm' (user dbuser_meta)", host.Notes[1].Text, StringComparison.Ordinal);
        Assert.Contains("Sessions idle in transaction hold slots", host.Notes[1].Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectionSaturation_MonitorRefused_SaysSoAndNeverActs()
    {
        var host = new ScriptedSkillHost(Snapshot());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("connection-saturation"), host,
            Trigger("connection-saturation", new JsonObject { ["refused"] = "true" }, "pg-test-1 refuses new sessions"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
        Assert.StartsWith("pg-test-1 refuses new sessions for want of a connection slot", host.Notes.Single().Text, StringComparison.Ordinal);
    }
}
