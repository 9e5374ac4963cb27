using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Telemetry;

namespace PgRuntimeAgent.Acting;

/// <summary>Timing of the pipeline.</summary>
internal sealed record PipelineOptions
{
    /// <summary>How long verification may keep answering "pending" (an action may set its own).</summary>
    public TimeSpan VerifyTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan VerifyInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Execution is cancelled after this; the outcome is then established by reconciliation.</summary>
    public TimeSpan ExecuteTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>An open intent from another host counts as abandoned after this long.</summary>
    public TimeSpan OrphanAfter { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>Whether an intent's writer still runs (tests replace it); null: cannot tell.</summary>
    public Func<IntentOwner, bool?> OwnerAlive { get; init; } = owner => owner.IsAlive();
}

/// <summary>
/// The one way anything changes: plan → policy gate → precheck → journal intent (write-ahead, under the cluster
/// lock) → execute → verify by sensing → journal outcome with the undo. Before acting on a cluster it reconciles
/// intents left open by a crashed run. Every step is journaled under the action id as correlation id.
/// </summary>
internal sealed partial class ActionPipeline
{
    private readonly IJournal _journal;
    private readonly IPolicyStage _gate;
    private readonly ApprovalBook _approvals;
    private readonly ActuatorRegistry _actuators;
    private readonly IClusterStateProvider _state;
    private readonly TimeProvider _time;
    private readonly PipelineOptions _options;
    private readonly ILogger _logger;

    public ActionPipeline(IJournal journal, IPolicyStage gate, ApprovalBook approvals, ActuatorRegistry actuators, IClusterStateProvider state,
        TimeProvider time, PipelineOptions? options = null, ILogger<ActionPipeline>? logger = null)
    {
        _journal = journal;
        _gate = gate;
        _approvals = approvals;
        _actuators = actuators;
        _state = state;
        _time = time;
        _options = options ?? new PipelineOptions();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    public IJournal Journal => _journal;

    /// <summary>
    /// When several agents share the clusters: asked as the last precheck of every action, right before its intent, so
    /// an agent that lost the cluster (its lease ran out while it was frozen or cut off) never acts there. Null: alone.
    /// </summary>
    public IOwnershipFence? Ownership { get; set; }

    public ApprovalBook Approvals => _approvals;

    public ActuatorRegistry Actuators => _actuators;

    /// <summary>
    /// Runs a new action through the whole pipeline. <paramref name="ceiling"/> (a skill's <c>autonomy:</c>) lowers
    /// the level the policy stage judges it at; it never raises it.
    /// </summary>
    public Task<ActionRunResult> RunAsync(PlannedAction action, bool dryRun, CancellationToken cancellationToken, AutonomyLevel? ceiling = null) =>
        RunCoreAsync(action, dryRun, approvedBy: null, ceiling, cancellationToken);

    /// <summary>
    /// Runs an action an operator approved (<c>pgra approve</c>). Guardrails are checked again: the cluster may have
    /// changed since the request.
    /// </summary>
    public async Task<ActionRunResult> RunApprovedAsync(string approvalId, CancellationToken cancellationToken)
    {
        var approval = await _approvals.GetAsync(approvalId, cancellationToken).ConfigureAwait(false)
            ?? throw new InputException($"no approval {approvalId}; 'pgra approvals' lists them.");
        if (approval.Status != ApprovalStatus.Approved)
        {
            throw new InputException($"approval {approvalId} is {approval.Status.ToString().ToLowerInvariant()}, not approved; nothing to run.");
        }

        var result = await RunCoreAsync(approval.Action, dryRun: false, approval.DecidedBy ?? "an operator", ceiling: null, cancellationToken).ConfigureAwait(false);
        return result with { Approval = approval };
    }

    /// <summary>
    /// Takes back a completed action with the undo recorded in its outcome. Irreversible, unfinished or already
    /// undone actions: <see cref="InputException"/>. <paramref name="proactive"/>: requested by a caller that is not an
    /// operator at the keyboard (the API): the policy judges the undo as an action the agent would take unprompted.
    /// </summary>
    public async Task<ActionRunResult> UndoAsync(string actionId, string initiator, bool dryRun, CancellationToken cancellationToken, bool proactive = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actionId);
        var entries = await _journal.QueryAsync(new JournalQuery { CorrelationId = actionId }, cancellationToken).ConfigureAwait(false);
        if (entries.Count == 0)
        {
            throw new InputException($"no action {actionId} in the journal; 'pgra journal list' shows action ids.");
        }

        var outcome = entries.LastOrDefault(e => e.Kind == JournalKinds.ActionOutcome && e.CorrelationId == actionId);
        var payload = outcome?.PayloadAs<OutcomePayload>();
        var intent = entries.FirstOrDefault(e => e.Kind == JournalKinds.ActionIntent && e.CorrelationId == actionId)?.PayloadAs<IntentPayload>();
        var original = payload?.Action ?? intent?.Action
            ?? throw new InputException($"{actionId} never ran (no intent in the journal): there is nothing to undo.");
        if (!original.Reversible)
        {
            throw new InputException($"{actionId} ({original.Kind}: {original.Summary}) is irreversible: it has no undo.");
        }

        if (payload is null)
        {
            throw new InputException($"{actionId} has no outcome yet (still running, or waiting for reconciliation): undo it once it has finished.");
        }

        if (payload.Status is not (ActionOutcomeStatus.Succeeded or ActionOutcomeStatus.VerifyFailed) || payload.Undo is null)
        {
            throw new InputException($"{actionId} ended {Kebab(payload.Status)}: no change to undo.");
        }

        var undone = entries.Where(e => e.Kind == JournalKinds.ActionOutcome && e.CorrelationId != actionId)
            .Select(e => (Entry: e, Outcome: e.PayloadAs<OutcomePayload>()))
            .FirstOrDefault(o => o.Outcome?.Action.UndoOf == actionId && o.Outcome.Status == ActionOutcomeStatus.Succeeded);
        if (undone.Outcome is not null)
        {
            throw new InputException($"{actionId} was already undone by {undone.Outcome.Action.Id} (journal #{undone.Entry.Seq}).");
        }

        var undo = payload.Undo with
        {
            Id = PlannedAction.NewUndoId(actionId),
            UndoOf = actionId,
            Trigger = proactive ? ActionTrigger.Proactive : ActionTrigger.Operator,
            Initiator = initiator,
            Reason = $"undo of {actionId}",
        };
        return await RunCoreAsync(undo, dryRun, approvedBy: null, ceiling: null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Why an open intent's writer no longer owns its cluster (several agents: this agent holds it now with a larger
    /// token), so its intent is settled now instead of after <see cref="PipelineOptions.OrphanAfter"/>; null otherwise.
    /// </summary>
    private async Task<string?> SupersededAsync(IntentPayload intent, CancellationToken cancellationToken)
    {
        if (Ownership is not { } fence || intent.FencingToken is not { } theirs || intent.Owner == IntentOwner.Current)
        {
            return null;
        }

        var mine = await fence.ConfirmAsync(intent.Action.Cluster, cancellationToken).ConfigureAwait(false);
        return mine.Held && mine.Token > theirs
            ? $"its writer held token {theirs}; this agent owns {intent.Action.Cluster} with token {mine.Token}"
            : null;
    }

    /// <summary>
    /// Finds intents without an outcome whose writer is gone (crashed, killed) and records their outcome, asking the
    /// actuator whether the action happened. Intents of a live writer are left alone (they hold the lock), unless the
    /// writer lost the cluster to this agent (several agents, docs/fleet.md).
    /// </summary>
    public async Task<IReadOnlyList<ReconcileReport>> ReconcileAsync(string? cluster, CancellationToken cancellationToken)
    {
        var reports = new List<ReconcileReport>();
        foreach (var entry in await _journal.GetOpenIntentsAsync(cluster, cancellationToken).ConfigureAwait(false))
        {
            var intent = SafePayload<IntentPayload>(entry);
            var id = entry.CorrelationId ?? "?";
            if (intent is null)
            {
                reports.Add(new ReconcileReport(id, entry.Topic ?? "?", entry.Cluster ?? "?", "unreadable",
                    $"intent #{entry.Seq} cannot be read; record its outcome by hand.", null));
                continue;
            }

            var alive = _options.OwnerAlive(intent.Owner);
            var age = _time.GetUtcNow() - entry.Time;
            var superseded = await SupersededAsync(intent, cancellationToken).ConfigureAwait(false);
            if (superseded is null && (alive == true || (alive is null && age < _options.OrphanAfter)))
            {
                reports.Add(new ReconcileReport(id, intent.Action.Kind, intent.Action.Cluster, "in-progress",
                    $"{id} is still running (pid {intent.Owner.Pid} on {intent.Owner.Host}, started {entry.Time.UtcDateTime:HH:mm:ss}Z).", null));
                continue;
            }

            var actuator = _actuators.Find(intent.Action.Kind);
            if (actuator is null)
            {
                reports.Add(new ReconcileReport(id, intent.Action.Kind, intent.Action.Cluster, "no-actuator",
                    $"no actuator for {intent.Action.Kind} here: {id} stays open and holds the lock on {intent.Action.Cluster}.", null));
                continue;
            }

            ReconcileResult result;
            try
            {
                result = await actuator.ReconcileAsync(intent.Action, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                result = new ReconcileResult(ReconcileStatus.Unknown, $"reconciliation failed: {ex.Message}");
            }

            var status = result.Status switch
            {
                ReconcileStatus.Happened => ActionOutcomeStatus.Succeeded,
                ReconcileStatus.NotHappened => ActionOutcomeStatus.NotExecuted,
                _ => ActionOutcomeStatus.Unknown,
            };
            var outcome = await _journal.AppendAsync(JournalRecord.Create(JournalKinds.ActionOutcome,
                $"{Kebab(status)} (reconciled after {(superseded is null ? "the run was interrupted" : "its agent lost the cluster: " + superseded)}): {intent.Action.Summary} — {result.Message}",
                new OutcomePayload
                {
                    Status = status,
                    Message = result.Message,
                    Action = intent.Action,
                    Undo = status == ActionOutcomeStatus.Succeeded && intent.Action.Reversible ? result.Undo ?? intent.Action.Undo : null,
                    Reconciled = true,
                    DurationSeconds = age.TotalSeconds,
                    Agent = Ownership?.AgentId,
                },
                intent.Action.Cluster, intent.Action.Member, id, intent.Action.Kind), cancellationToken).ConfigureAwait(false);
            LogReconciled(_logger, id, intent.Action.Kind, status);
            reports.Add(new ReconcileReport(id, intent.Action.Kind, intent.Action.Cluster, Kebab(status), result.Message, outcome.Seq));
        }

        return reports;
    }

    private async Task<ActionRunResult> RunCoreAsync(PlannedAction action, bool dryRun, string? approvedBy, AutonomyLevel? ceiling, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        using var activity = AgentTelemetry.Acting.Source.StartActivity("pgra.action");
        activity?.SetTag("pgra.cluster", action.Cluster);
        activity?.SetTag("pgra.action.kind", action.Kind);
        activity?.SetTag("pgra.action.id", action.Id);
        var started = _time.GetTimestamp();
        var status = "failed";
        try
        {
            var result = await RunStagesAsync(action, dryRun, approvedBy, ceiling, cancellationToken).ConfigureAwait(false);
            status = Kebab(result.Status);
            return result;
        }
        catch (OperationCanceledException)
        {
            status = "cancelled";
            throw;
        }
        finally
        {
            activity?.SetTag("pgra.action.status", status);
            var tags = new TagList { { "kind", action.Kind }, { "status", status } };
            AgentTelemetry.Acting.ActionDuration.Record(_time.GetElapsedTime(started).TotalSeconds, tags);
            tags.Add("cluster", action.Cluster);
            AgentTelemetry.Acting.Actions.Add(1, tags);
        }
    }

    private async Task<ActionRunResult> RunStagesAsync(PlannedAction action, bool dryRun, string? approvedBy, AutonomyLevel? ceiling, CancellationToken cancellationToken)
    {
        var actuator = _actuators.Find(action.Kind)
            ?? throw new InputException($"no actuator handles '{action.Kind}'; known kinds: {string.Join(", ", _actuators.Kinds.Order(StringComparer.Ordinal))}.");
        var seqs = new List<long>();

        // Intents left open by a crashed run are settled before anything new happens on the cluster.
        await ReconcileAsync(action.Cluster, cancellationToken).ConfigureAwait(false);

        // A skill's irreversible step that a crashed (or taken-over) run already did is not done twice: the intent it
        // left was reconciled as succeeded a moment ago, so the step is done (a second fence of a member with nothing
        // left to kill would only blur the record of who did what).
        if (!dryRun && action.Initiator?.StartsWith("skill:", StringComparison.Ordinal) == true
            && await ReconciledRecentlyAsync(action, cancellationToken).ConfigureAwait(false) is { } done)
        {
            var note = await AppendAsync(JournalKinds.Note,
                $"not repeated: {action.Summary} — {done.CorrelationId} did it (reconciled as succeeded at {done.Time.UtcDateTime:HH:mm:ss}Z)",
                new Dictionary<string, object?> { ["action"] = action.Id, ["done_by"] = done.CorrelationId, ["done_seq"] = done.Seq, ["agent"] = Ownership?.AgentId },
                action, cancellationToken).ConfigureAwait(false);
            return new ActionRunResult
            {
                Action = action,
                Status = ActionStatus.Succeeded,
                Message = $"already done: {done.CorrelationId} (reconciled as succeeded at {done.Time.UtcDateTime:HH:mm:ss}Z): {done.Summary}",
                JournalSeqs = [note.Seq],
            };
        }

        var state = await _state.GetStateAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
        var decision = await _gate.EvaluateAsync(new PolicyRequest { Action = action, State = state, DryRun = dryRun, ApprovedBy = approvedBy, Ceiling = ceiling },
            cancellationToken).ConfigureAwait(false);
        seqs.Add((await AppendAsync(JournalKinds.Decision, $"{Kebab(decision.Verdict)}{(decision.DryRun ? " (dry run)" : "")}: {action.Summary} — {decision.Explain()}",
            new DecisionPayload(decision, action), action, cancellationToken).ConfigureAwait(false)).Seq);
        LogDecision(_logger, action.Id, action.Kind, action.Cluster, decision.Verdict);

        ActionRunResult Result(ActionStatus status, string message) => new()
        {
            Action = action,
            Status = status,
            Message = message,
            Decision = decision,
            JournalSeqs = seqs,
        };

        switch (decision.Verdict)
        {
            case PolicyVerdict.Refuse:
                return Result(ActionStatus.Refused, "refused: " + decision.Explain());
            case PolicyVerdict.Observe:
                return Result(ActionStatus.Observed, decision.Explain());
            case PolicyVerdict.Recommend:
                return Result(ActionStatus.Recommended, "recommended: " + decision.Explain());
            case PolicyVerdict.AwaitApproval when !decision.DryRun:
                var evidence = state is null ? null : JsonSerializer.SerializeToNode(state, JournalJson.Options);
                var approval = await _approvals.RequestAsync(action, decision, evidence, cancellationToken).ConfigureAwait(false);
                seqs.Add(approval.RequestSeq);
                return Result(ActionStatus.AwaitingApproval,
                    $"waiting for approval until {approval.ExpiresAt.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z: pgra approve {action.Id} (or pgra deny {action.Id})") with { Approval = approval };
        }

        var (precheck, token) = await PrecheckAsync(actuator, action, cancellationToken).ConfigureAwait(false);
        var failed = precheck.Checks.Where(c => !c.Passed).ToList();
        seqs.Add((await AppendAsync(JournalKinds.ActionPrecheck,
            (precheck.Passed ? "prechecks passed" : "precheck failed: " + string.Join("; ", failed.Select(c => $"{c.Name}: {c.Detail}"))) + $": {action.Summary}",
            new PrecheckPayload(precheck, decision.DryRun), action, cancellationToken).ConfigureAwait(false)).Seq);
        if (!precheck.Passed)
        {
            return Result(ActionStatus.PrecheckFailed, "precheck failed: " + string.Join("; ", failed.Select(c => $"{c.Name}: {c.Detail}"))) with { Precheck = precheck };
        }

        if (decision.DryRun)
        {
            var would = decision.Verdict == PolicyVerdict.AwaitApproval ? "would wait for approval" : "would run";
            return Result(ActionStatus.DryRun, $"dry run: prechecks passed; {would}. {decision.Explain()}") with { Precheck = precheck };
        }

        // Write-ahead: the intent is durable before anything changes, and taking it is the cluster lock.
        JournalEntry? intent;
        try
        {
            intent = await _journal.TryAppendIntentAsync(JournalRecord.Create(JournalKinds.ActionIntent, $"intent: {action.Summary}",
                new IntentPayload(action, precheck, IntentOwner.Current, approvedBy) { FencingToken = token, Agent = Ownership?.AgentId }, action.Cluster, action.Member, action.Id, action.Kind) with { FencingToken = token },
                cancellationToken).ConfigureAwait(false);
        }
        catch (FencedException fenced)
        {
            // Another agent took the cluster after this one confirmed its lease (it froze in between): the shared journal refuses.
            return Result(ActionStatus.Refused, "refused: " + fenced.Message) with { Precheck = precheck };
        }

        if (intent is null)
        {
            var open = await _journal.GetOpenIntentsAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
            var holder = open.FirstOrDefault();
            var why = holder is null
                ? $"{action.Id} has already run (an intent exists); an action runs once."
                : $"{action.Cluster} is busy: {holder.CorrelationId} ({holder.Topic}) took the lock first (journal #{holder.Seq}).";
            return Result(ActionStatus.Refused, "refused: " + why) with { Precheck = precheck };
        }

        seqs.Add(intent.Seq);
        var started = _time.GetTimestamp();
        var (execution, verification, attempts, status) = await ExecuteAndVerifyAsync(actuator, action, cancellationToken).ConfigureAwait(false);
        var undo = status is ActionOutcomeStatus.Succeeded or ActionOutcomeStatus.VerifyFailed ? SafePlanUndo(actuator, action, execution) : null;
        var message = status switch
        {
            ActionOutcomeStatus.Succeeded => "verified: " + verification?.Message,
            ActionOutcomeStatus.VerifyFailed => "verification failed: " + verification?.Message,
            ActionOutcomeStatus.NotExecuted => "not executed: " + execution.Message,
            ActionOutcomeStatus.Unknown => "unknown: " + execution.Message,
            _ => "execution failed: " + execution.Message,
        };
        var outcome = await _journal.AppendAsync(JournalRecord.Create(JournalKinds.ActionOutcome, $"{Kebab(status)}: {action.Summary} — {message}",
            new OutcomePayload
            {
                Status = status,
                Message = message,
                Action = action,
                Execution = execution,
                Verification = verification,
                VerifyAttempts = attempts,
                Undo = undo,
                DurationSeconds = _time.GetElapsedTime(started).TotalSeconds,
                Agent = Ownership?.AgentId,
            },
            action.Cluster, action.Member, action.Id, action.Kind), cancellationToken).ConfigureAwait(false);
        seqs.Add(outcome.Seq);
        LogOutcome(_logger, action.Id, action.Kind, action.Cluster, status);
        var runStatus = status switch
        {
            ActionOutcomeStatus.Succeeded => ActionStatus.Succeeded,
            ActionOutcomeStatus.VerifyFailed => ActionStatus.VerifyFailed,
            ActionOutcomeStatus.NotExecuted => ActionStatus.NotExecuted,
            ActionOutcomeStatus.Unknown => ActionStatus.Unknown,
            _ => ActionStatus.ExecuteFailed,
        };
        return Result(runStatus, message) with
        {
            Precheck = precheck,
            Execution = execution,
            Verification = verification,
            Undo = undo,
            IntentSeq = intent.Seq,
            OutcomeSeq = outcome.Seq,
        };
    }

    /// <summary>The actuator's prechecks, then (several agents) the ownership check; with the fencing token it confirmed.</summary>
    private async Task<(PrecheckResult Result, long? Token)> PrecheckAsync(IActuator actuator, PlannedAction action, CancellationToken cancellationToken)
    {
        PrecheckResult result;
        try
        {
            result = await actuator.PrecheckAsync(action, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            result = PrecheckResult.Fail("precheck", $"precheck could not run: {ex.Message}");
        }

        if (Ownership is not { } fence)
        {
            return (result, null);
        }

        OwnershipFenceResult owner;
        try
        {
            owner = await fence.ConfirmAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            owner = new OwnershipFenceResult(false, $"ownership could not be confirmed: {ex.Message}", null);
        }

        return (new PrecheckResult([.. result.Checks, new CheckResult("owner", owner.Held, owner.Detail)]), owner.Held ? owner.Token : null);
    }

    private async Task<(ExecuteResult Execution, VerifyResult? Verification, int Attempts, ActionOutcomeStatus Status)> ExecuteAndVerifyAsync(
        IActuator actuator, PlannedAction action, CancellationToken cancellationToken)
    {
        ExecuteResult execution;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(_options.ExecuteTimeout);
            try
            {
                execution = await actuator.ExecuteAsync(action, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                execution = ExecuteResult.Failed($"execution timed out after {_options.ExecuteTimeout.TotalSeconds:0} s");
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                execution = ExecuteResult.Failed($"execution failed: {ex.GetType().Name}: {ex.Message}");
            }
        }

        if (!execution.Succeeded)
        {
            // The call's answer is not the truth: ask whether the change happened anyway.
            ReconcileResult check;
            try
            {
                check = await actuator.ReconcileAsync(action, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                check = new ReconcileResult(ReconcileStatus.Unknown, $"could not tell whether it happened: {ex.Message}");
            }

            switch (check.Status)
            {
                case ReconcileStatus.NotHappened:
                    return (execution, null, 0, ActionOutcomeStatus.ExecuteFailed);
                case ReconcileStatus.Unknown:
                    return (execution with { Message = $"{execution.Message}; {check.Message}" }, null, 0, ActionOutcomeStatus.Unknown);
                default:
                    execution = execution with { Undo = execution.Undo ?? check.Undo, Message = $"{execution.Message}; but it happened: {check.Message}" };
                    break;
            }
        }

        var deadline = _time.GetUtcNow() + (action.VerifyTimeoutSeconds is { } s ? TimeSpan.FromSeconds(s) : _options.VerifyTimeout);
        var attempts = 0;
        while (true)
        {
            attempts++;
            VerifyResult verification;
            try
            {
                verification = await actuator.VerifyAsync(action, execution, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                verification = VerifyResult.Pending($"verification could not observe: {ex.Message}");
            }

            switch (verification.Status)
            {
                case VerifyStatus.Verified:
                    return (execution, verification, attempts, ActionOutcomeStatus.Succeeded);
                case VerifyStatus.Failed:
                    return (execution, verification, attempts, ActionOutcomeStatus.VerifyFailed);
            }

            if (_time.GetUtcNow() >= deadline)
            {
                var waited = (action.VerifyTimeoutSeconds ?? _options.VerifyTimeout.TotalSeconds).ToString("0.#", CultureInfo.InvariantCulture);
                return (execution, verification with { Status = VerifyStatus.Failed, Message = $"not verified within {waited} s: {verification.Message}" },
                    attempts, ActionOutcomeStatus.VerifyFailed);
            }

            await Task.Delay(_options.VerifyInterval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private static PlannedAction? SafePlanUndo(IActuator actuator, PlannedAction action, ExecuteResult execution)
    {
        if (!action.Reversible)
        {
            return null;
        }

        try
        {
            return actuator.PlanUndo(action, execution);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or KeyNotFoundException or FormatException)
        {
            return null;
        }
    }

    /// <summary>How recent a reconciled outcome must be to count as the step already done (an incident's own pace).</summary>
    internal static TimeSpan ReconciledWindow { get; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// The newest outcome, within <see cref="ReconciledWindow"/>, that reconciliation recorded as succeeded for an
    /// irreversible action of the same kind on the same cluster and member with the same parameters; null when none.
    /// </summary>
    private async Task<JournalEntry?> ReconciledRecentlyAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        if (action.Reversible)
        {
            return null;
        }

        var since = _time.GetUtcNow() - ReconciledWindow;
        var outcomes = await _journal.QueryAsync(new JournalQuery
        {
            Cluster = action.Cluster, Kinds = [JournalKinds.ActionOutcome], Topic = action.Kind, Since = since, Descending = true, Limit = 20,
        }, cancellationToken).ConfigureAwait(false);
        foreach (var entry in outcomes)
        {
            if (SafePayload<OutcomePayload>(entry) is { Reconciled: true, Status: ActionOutcomeStatus.Succeeded } o
                && string.Equals(o.Action.Member, action.Member, StringComparison.Ordinal)
                && o.Action.Parameters.Count == action.Parameters.Count
                && o.Action.Parameters.All(p => action.Parameters.TryGetValue(p.Key, out var v) && string.Equals(v, p.Value, StringComparison.Ordinal)))
            {
                return entry;
            }
        }

        return null;
    }

    private Task<JournalEntry> AppendAsync<T>(string kind, string summary, T payload, PlannedAction action, CancellationToken cancellationToken) =>
        _journal.AppendAsync(JournalRecord.Create(kind, summary, payload, action.Cluster, action.Member, action.Id, action.Kind), cancellationToken);

    private static T? SafePayload<T>(JournalEntry entry)
        where T : class
    {
        try
        {
            return entry.PayloadAs<T>();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>An enum value as written in JSON and messages (kebab-case).</summary>
    public static string Kebab<T>(T value)
        where T : struct, Enum => JsonNamingPolicy.KebabCaseLower.ConvertName(value.ToString());

    [LoggerMessage(EventId = 5000, Level = LogLevel.Information, Message = "Action {ActionId} ({Kind}) on {Cluster}: policy says {Verdict}")]
    private static partial void LogDecision(ILogger logger, string actionId, string kind, string cluster, PolicyVerdict verdict);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Action {ActionId} ({Kind}) on {Cluster}: {Status}")]
    private static partial void LogOutcome(ILogger logger, string actionId, string kind, string cluster, ActionOutcomeStatus status);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "Reconciled open intent {ActionId} ({Kind}): {Status}")]
    private static partial void LogReconciled(ILogger logger, string actionId, string kind, ActionOutcomeStatus status);
}
