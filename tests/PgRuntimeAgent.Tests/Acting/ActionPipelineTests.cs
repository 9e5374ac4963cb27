using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;

namespace PgRuntimeAgent.Tests.Acting;

public sealed class ActionPipelineTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<List<string>> KindsAsync(ActingHarness h, string actionId) =>
        (await h.EntriesAsync(actionId)).Where(e => e.CorrelationId == actionId).Select(e => e.Kind).ToList();

    [Fact]
    public async Task Run_AllowedAction_JournalsEveryStepAndTheUndo()
    {
        await using var h = await ActingHarness.CreateAsync();
        h.Actuator.World["leader"] = "pg-test-1";
        var action = ScriptedActuator.SetAction("leader", "pg-test-2");

        var result = await h.Pipeline().RunAsync(action, dryRun: false, Ct);

        Assert.Equal(ActionStatus.Succeeded, result.Status);
        Assert.Equal("pg-test-2", h.Actuator.World["leader"]);
        Assert.Equal([JournalKinds.Decision, JournalKinds.ActionPrecheck, JournalKinds.ActionIntent, JournalKinds.ActionOutcome], await KindsAsync(h, action.Id));
        var outcome = (await h.Journal.GetAsync(result.OutcomeSeq!.Value, Ct))!.PayloadAs<OutcomePayload>()!;
        Assert.Equal(ActionOutcomeStatus.Succeeded, outcome.Status);
        Assert.Equal("pg-test-1", outcome.Undo!.Parameters["value"]);
        Assert.Equal("pg-test-2", outcome.Verification!.Evidence["leader"]);
        Assert.Equal(result.JournalSeqs, (await h.EntriesAsync(action.Id)).Select(e => e.Seq));
        Assert.Empty(await h.Journal.GetOpenIntentsAsync("pg-test", Ct));
    }

    [Fact]
    public async Task Run_ChangeNotSeenByVerification_RecordsVerifyFailed()
    {
        await using var h = await ActingHarness.CreateAsync();
        h.Options = new PipelineOptions { VerifyInterval = TimeSpan.FromMilliseconds(10), OwnerAlive = o => o.IsAlive() };
        h.Actuator.ChangeDoesNotTake = true;
        var action = ScriptedActuator.SetAction("leader", "pg-test-2") with { VerifyTimeoutSeconds = 0.2 };

        var result = await h.Pipeline(time: TimeProvider.System).RunAsync(action, dryRun: false, Ct);

        Assert.Equal(ActionStatus.VerifyFailed, result.Status);
        Assert.Contains("not verified within 0.2 s", result.Message, StringComparison.Ordinal);
        var outcome = (await h.Journal.GetAsync(result.OutcomeSeq!.Value, Ct))!.PayloadAs<OutcomePayload>()!;
        Assert.Equal(ActionOutcomeStatus.VerifyFailed, outcome.Status);
        Assert.True(outcome.VerifyAttempts > 1);
    }

    [Fact]
    public async Task Run_VerificationPendingThenSeen_Succeeds()
    {
        await using var h = await ActingHarness.CreateAsync();
        h.Options = new PipelineOptions { VerifyInterval = TimeSpan.FromMilliseconds(5), OwnerAlive = o => o.IsAlive() };
        h.Actuator.PendingVerifications = 3;

        var result = await h.Pipeline(time: TimeProvider.System).RunAsync(ScriptedActuator.SetAction("k", "v"), dryRun: false, Ct);

        Assert.Equal(ActionStatus.Succeeded, result.Status);
        var outcome = (await h.Journal.GetAsync(result.OutcomeSeq!.Value, Ct))!.PayloadAs<OutcomePayload>()!;
        Assert.Equal(4, outcome.VerifyAttempts);
    }

    [Fact]
    public async Task Run_PrecheckFails_NoIntentAndNoChange()
    {
        await using var h = await ActingHarness.CreateAsync();
        h.Actuator.PrecheckFails = true;
        var action = ScriptedActuator.SetAction("k", "v");

        var result = await h.Pipeline().RunAsync(action, dryRun: false, Ct);

        Assert.Equal(ActionStatus.PrecheckFailed, result.Status);
        Assert.Contains("candidate-healthy: candidate is not streaming", result.Message, StringComparison.Ordinal);
        Assert.Equal(0, h.Actuator.Executions);
        Assert.Equal([JournalKinds.Decision, JournalKinds.ActionPrecheck], await KindsAsync(h, action.Id));
    }

    [Fact]
    public async Task Run_DryRun_StopsAfterPrecheck()
    {
        await using var h = await ActingHarness.CreateAsync();
        var action = ScriptedActuator.SetAction("k", "v");

        var result = await h.Pipeline().RunAsync(action, dryRun: true, Ct);

        Assert.Equal(ActionStatus.DryRun, result.Status);
        Assert.Equal(0, h.Actuator.Executions);
        Assert.False(h.Actuator.World.ContainsKey("k"));
        Assert.Equal([JournalKinds.Decision, JournalKinds.ActionPrecheck], await KindsAsync(h, action.Id));
        Assert.True(result.Decision!.DryRun);
    }

    [Fact]
    public async Task Run_ExecuteThrowsAndNothingHappened_RecordsExecuteFailedAndReleasesLock()
    {
        await using var h = await ActingHarness.CreateAsync();
        h.Actuator.ExecuteThrows = true;

        var result = await h.Pipeline().RunAsync(ScriptedActuator.SetAction("k", "v"), dryRun: false, Ct);

        Assert.Equal(ActionStatus.ExecuteFailed, result.Status);
        Assert.Contains("connection refused", result.Message, StringComparison.Ordinal);
        Assert.Null(result.Undo);
        Assert.Empty(await h.Journal.GetOpenIntentsAsync(null, Ct));
    }

    [Fact]
    public async Task Run_ExecuteReportsFailureButChangeHappened_VerifiesAndSucceeds()
    {
        await using var h = await ActingHarness.CreateAsync();
        h.Actuator.ExecuteLiesAboutFailure = true;

        var result = await h.Pipeline().RunAsync(ScriptedActuator.SetAction("k", "v"), dryRun: false, Ct);

        Assert.Equal(ActionStatus.Succeeded, result.Status);
        Assert.Contains("but it happened", result.Execution!.Message, StringComparison.Ordinal);
        Assert.NotNull(result.Undo);
    }

    [Fact]
    public async Task Run_AboveAutonomyLevel_WaitsThenRunsOnlyAfterApproval()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { DefaultLevel = 2 });
        var action = ScriptedActuator.SetAction("k", "v", trigger: ActionTrigger.Reactive);
        var pipeline = h.Pipeline();

        var waiting = await pipeline.RunAsync(action, dryRun: false, Ct);
        var beforeApproval = h.Actuator.Executions;
        var notYet = await Assert.ThrowsAsync<InputException>(() => pipeline.RunApprovedAsync(action.Id, Ct));
        await pipeline.Approvals.ApproveAsync(action.Id, "alice", "go", Ct);
        var ran = await pipeline.RunApprovedAsync(action.Id, Ct);
        var again = await pipeline.RunApprovedAsync(action.Id, Ct).ContinueWith(t => t.Exception?.InnerException, Ct, TaskContinuationOptions.None, TaskScheduler.Default);
        var approval = await pipeline.Approvals.GetAsync(action.Id, Ct);

        Assert.Equal(ActionStatus.AwaitingApproval, waiting.Status);
        Assert.Contains($"pgra approve {action.Id}", waiting.Message, StringComparison.Ordinal);
        Assert.Equal(0, beforeApproval);
        Assert.Contains("pending", notYet.Message, StringComparison.Ordinal);
        Assert.Equal(ActionStatus.Succeeded, ran.Status);
        Assert.Equal("v", h.Actuator.World["k"]);
        Assert.Equal(1, h.Actuator.Executions);
        Assert.IsType<InputException>(again);
        Assert.Equal(ApprovalStatus.Executed, approval!.Status);
        var intent = (await h.Journal.GetAsync(ran.IntentSeq!.Value, Ct))!.PayloadAs<IntentPayload>()!;
        Assert.Equal("alice", intent.ApprovedBy);
    }

    [Fact]
    public async Task RunApproved_HeldBackByLock_RetriedUntilTheApprovalExpires()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { DefaultLevel = 2, ApprovalTtlMinutes = 10 });
        var pipeline = h.Pipeline();
        var action = ScriptedActuator.SetAction("k", "v", trigger: ActionTrigger.Reactive);
        var other = ScriptedActuator.KillAction("x"); // another kind, so no cooldown applies
        await pipeline.RunAsync(action, dryRun: false, Ct);
        await pipeline.Approvals.ApproveAsync(action.Id, "alice", null, Ct);
        await h.Journal.TryAppendIntentAsync(JournalRecord.Create(JournalKinds.ActionIntent, "intent", new IntentPayload(other,
            PrecheckResult.Pass("x", "ok"), IntentOwner.Current, null), "pg-test", null, other.Id, other.Kind), Ct);

        var held = await pipeline.RunApprovedAsync(action.Id, Ct);
        await h.Journal.AppendAsync(JournalRecord.Create(JournalKinds.ActionOutcome, "done", new { }, "pg-test", null, other.Id, other.Kind), Ct);
        var retried = await pipeline.RunApprovedAsync(action.Id, Ct);

        Assert.Equal(ActionStatus.Refused, held.Status);
        Assert.Contains("busy", held.Message, StringComparison.Ordinal);
        Assert.Equal(ActionStatus.Succeeded, retried.Status);
        Assert.Equal(1, h.Actuator.Executions);
    }

    [Fact]
    public async Task RunApproved_AfterExpiry_IsInputError()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { DefaultLevel = 2, ApprovalTtlMinutes = 10 });
        var pipeline = h.Pipeline();
        var action = ScriptedActuator.SetAction("k", "v", trigger: ActionTrigger.Reactive);
        await pipeline.RunAsync(action, dryRun: false, Ct);
        await pipeline.Approvals.ApproveAsync(action.Id, "alice", null, Ct);

        h.Time.Advance(TimeSpan.FromMinutes(11));
        var ex = await Assert.ThrowsAsync<InputException>(() => pipeline.RunApprovedAsync(action.Id, Ct));

        Assert.Contains("expired", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, h.Actuator.Executions);
    }

    [Fact]
    public async Task Run_GuardrailRefuses_JournalsDecisionOnly()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { DefaultLevel = 5 });
        h.State.State = h.HealthyState() with { LeaderKnown = false };
        var action = ScriptedActuator.KillAction("k", trigger: ActionTrigger.Reactive);

        var result = await h.Pipeline().RunAsync(action, dryRun: false, Ct);

        Assert.Equal(ActionStatus.Refused, result.Status);
        Assert.Contains("leader of pg-test is unknown", result.Message, StringComparison.Ordinal);
        Assert.Equal([JournalKinds.Decision], await KindsAsync(h, action.Id));
        Assert.Equal(0, h.Actuator.Executions);
    }

    [Fact]
    public async Task Run_OpenIntentOfCrashedRun_ReconciledBeforeTheNewAction()
    {
        await using var h = await ActingHarness.CreateAsync();
        h.Options = new PipelineOptions { OwnerAlive = o => o.Pid == 999_999 ? false : o.IsAlive() };
        var crashed = ScriptedActuator.SetAction("leader", "pg-test-2");
        await h.Journal.TryAppendIntentAsync(JournalRecord.Create(JournalKinds.ActionIntent, "intent", new IntentPayload(crashed,
            PrecheckResult.Pass("x", "ok"), IntentOwner.Current with { Pid = 999_999 }, null), "pg-test", null, crashed.Id, crashed.Kind), Ct);
        h.Actuator.World["leader"] = "pg-test-2"; // the crashed run's switchover did happen

        var next = await h.Pipeline().RunAsync(ScriptedActuator.SetAction("other", "x"), dryRun: false, Ct);

        Assert.Equal(ActionStatus.Succeeded, next.Status);
        var entries = await h.EntriesAsync();
        var reconciled = entries.Single(e => e.Kind == JournalKinds.ActionOutcome && e.CorrelationId == crashed.Id);
        var payload = reconciled.PayloadAs<OutcomePayload>()!;
        Assert.True(payload.Reconciled);
        Assert.Equal(ActionOutcomeStatus.Succeeded, payload.Status);
        Assert.True(reconciled.Seq < next.JournalSeqs[0], "the outcome is recorded before the new action's first entry");
    }

    [Fact]
    public async Task Reconcile_CrashedRunThatDidNotHappen_RecordsNotExecuted()
    {
        await using var h = await ActingHarness.CreateAsync();
        h.Options = new PipelineOptions { OwnerAlive = _ => false };
        var crashed = ScriptedActuator.SetAction("leader", "pg-test-2");
        h.Actuator.World["leader"] = "pg-test-1";
        await h.Journal.TryAppendIntentAsync(JournalRecord.Create(JournalKinds.ActionIntent, "intent", new IntentPayload(crashed,
            PrecheckResult.Pass("x", "ok"), IntentOwner.Current, null), "pg-test", null, crashed.Id, crashed.Kind), Ct);

        var reports = await h.Pipeline().ReconcileAsync(null, Ct);

        var report = Assert.Single(reports);
        Assert.Equal("not-executed", report.Result);
        Assert.Empty(await h.Journal.GetOpenIntentsAsync(null, Ct));
    }

    [Fact]
    public async Task Run_OpenIntentOfLiveRun_RefusedAsBusy()
    {
        await using var h = await ActingHarness.CreateAsync();
        var running = ScriptedActuator.SetAction("leader", "pg-test-2");
        await h.Journal.TryAppendIntentAsync(JournalRecord.Create(JournalKinds.ActionIntent, "intent", new IntentPayload(running,
            PrecheckResult.Pass("x", "ok"), IntentOwner.Current, null), "pg-test", null, running.Id, running.Kind), Ct);

        var result = await h.Pipeline().RunAsync(ScriptedActuator.SetAction("k", "v"), dryRun: false, Ct);

        Assert.Equal(ActionStatus.Refused, result.Status);
        Assert.Contains(running.Id, result.Message, StringComparison.Ordinal);
        Assert.Equal(0, h.Actuator.Executions);
    }

    [Fact]
    public async Task Run_TwoProcessesOnOneCluster_OnlyOneExecutes()
    {
        await using var h = await ActingHarness.CreateAsync();
        await using var secondJournal = await h.OpenSecondJournalAsync();
        h.Actuator.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = h.Pipeline().RunAsync(ScriptedActuator.SetAction("k", "1"), dryRun: false, Ct);
        await h.Actuator.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        var second = await h.Pipeline(secondJournal).RunAsync(ScriptedActuator.SetAction("k", "2"), dryRun: false, Ct);
        h.Actuator.Gate.SetResult();
        var firstResult = await first;

        Assert.Equal(ActionStatus.Refused, second.Status);
        Assert.Equal(ActionStatus.Succeeded, firstResult.Status);
        Assert.Equal(1, h.Actuator.Executions);
        Assert.Equal("1", h.Actuator.World["k"]);
    }

    [Fact]
    public async Task Undo_SucceededAction_RestoresAndLinksToTheOriginal()
    {
        await using var h = await ActingHarness.CreateAsync();
        h.Actuator.World["leader"] = "pg-test-1";
        var pipeline = h.Pipeline();
        var action = ScriptedActuator.SetAction("leader", "pg-test-2");
        await pipeline.RunAsync(action, dryRun: false, Ct);

        var undo = await pipeline.UndoAsync(action.Id, "alice", dryRun: false, Ct);
        var twice = await Assert.ThrowsAsync<InputException>(() => pipeline.UndoAsync(action.Id, "alice", dryRun: false, Ct));
        var linked = await h.EntriesAsync(action.Id);

        Assert.Equal(ActionStatus.Succeeded, undo.Status);
        Assert.Equal("pg-test-1", h.Actuator.World["leader"]);
        Assert.StartsWith(action.Id + ".undo-", undo.Action.Id, StringComparison.Ordinal);
        Assert.Equal(action.Id, undo.Action.UndoOf);
        Assert.Contains("already undone", twice.Message, StringComparison.Ordinal);
        Assert.Equal(8, linked.Count);
    }

    [Fact]
    public async Task Undo_IrreversibleOrUnknownAction_IsInputError()
    {
        await using var h = await ActingHarness.CreateAsync();
        h.Actuator.World["k"] = "v";
        var pipeline = h.Pipeline();
        h.State.State = h.HealthyState();
        var kill = ScriptedActuator.KillAction("k");
        var killed = await pipeline.RunAsync(kill, dryRun: false, Ct);

        var irreversible = await Assert.ThrowsAsync<InputException>(() => pipeline.UndoAsync(kill.Id, "alice", dryRun: false, Ct));
        var unknown = await Assert.ThrowsAsync<InputException>(() => pipeline.UndoAsync("act-000000000000", "alice", dryRun: false, Ct));

        Assert.Equal(ActionStatus.Succeeded, killed.Status);
        Assert.Contains("irreversible", irreversible.Message, StringComparison.Ordinal);
        Assert.Contains("no action act-000000000000", unknown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_UnknownKind_IsInputError()
    {
        await using var h = await ActingHarness.CreateAsync();

        var ex = await Assert.ThrowsAsync<InputException>(() => h.Pipeline().RunAsync(ScriptedActuator.SetAction("k", "v") with { Kind = "nope.nothing" }, false, Ct));

        Assert.Contains("no actuator handles 'nope.nothing'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_SecretInOutput_NotInJournal()
    {
        await using var h = await ActingHarness.CreateAsync();
        h.Secrets.Add("pg-test/admin_password", "Sup3r-Secret!", "test");
        h.Actuator.World["conn"] = "password=Sup3r-Secret!";

        await h.Pipeline().RunAsync(ScriptedActuator.SetAction("conn", "password=Sup3r-Secret! changed"), dryRun: false, Ct);
        var text = string.Join("\n", (await h.EntriesAsync()).Select(e => e.Summary + e.Payload));

        Assert.Contains("changed", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Sup3r-Secret!", text, StringComparison.Ordinal);
    }
}
