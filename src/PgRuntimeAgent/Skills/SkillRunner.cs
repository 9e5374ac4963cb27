using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using DevLab.JmesPath;
using DevLab.JmesPath.Expressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Newtonsoft.Json.Linq;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Skills;

/// <summary>What to run a skill on.</summary>
/// <param name="Cluster">The cluster (pg_cluster) the run is for; <c>$cluster</c> in expressions.</param>
public sealed record SkillRunRequest(string Cluster)
{
    /// <summary>The snapshot the trigger was detected on; null: the runner asks the host for a fresh one. Passing the
    /// detector's snapshot makes the first decisions exactly the ones replay will make.</summary>
    public JsonElement? Snapshot { get; init; }

    /// <summary>The finding or alert that started the run (<c>$trigger</c>), the daemon's synthetic <c>schedule</c> trigger for a scheduled run, or null for a manual run.</summary>
    public JsonElement? Trigger { get; init; }

    /// <summary>Run parameters as a JSON object (<c>$params</c>).</summary>
    public JsonElement? Parameters { get; init; }

    /// <summary>The cluster's active findings when the run started, as an array of triggers (<c>$findings</c>; empty
    /// when not given): what a scheduled report lists.</summary>
    public JsonElement? Findings { get; init; }

    /// <summary>Checks and plans only: actions are sent to the pipeline as dry runs, nothing is recorded, no waiting.</summary>
    public bool DryRun { get; init; }
}

public sealed record SkillRunnerOptions
{
    /// <summary>Step executions allowed in one run before it stops as an error (guards against jump loops).</summary>
    public int MaxStepExecutions { get; init; } = 200;

    /// <summary>Known secrets masked in the run's messages before they are logged (null: secret-shaped text only).</summary>
    public SecretStore? Secrets { get; init; }
}

/// <summary>
/// Executes a skill's steps against an <see cref="ISkillHost"/>. Deterministic: the decisions depend only on the
/// skill, the request and the sequence of snapshots and action outcomes the host returns; time only decides how
/// many polls a wait makes. One runner can run many skills concurrently (all run state is per call).
/// </summary>
public sealed partial class SkillRunner(ILogger<SkillRunner>? logger = null, SkillRunnerOptions? options = null)
{
    private readonly ILogger logger = (ILogger?)logger ?? NullLogger.Instance;
    private readonly SkillRunnerOptions options = options ?? new SkillRunnerOptions();

    public async Task<SkillRun> RunAsync(Skill skill, SkillRunRequest request, ISkillHost host, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(skill);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(host);
        var startedAt = host.Time.GetUtcNow();
        LogRunStarted(logger, skill.Name, request.Cluster, request.DryRun);
        var run = new RunState(skill, request, host);
        var records = new List<SkillStepRun>();
        SkillRunStatus status;
        string message;
        try
        {
            run.SetSnapshot(request.Snapshot ?? await host.GetSnapshotAsync(request.Cluster, cancellationToken).ConfigureAwait(false));
            (status, message) = await ExecuteStepsAsync(run, records, cancellationToken).ConfigureAwait(false);
        }
        catch (SkillRunException ex)
        {
            (status, message) = (SkillRunStatus.Error, ex.Message);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            (status, message) = (SkillRunStatus.Error, $"no snapshot of {request.Cluster}: {ex.GetType().Name}: {ex.Message}");
        }

        LogRunFinished(logger, skill.Name, request.Cluster, status, LogRedaction.Text(message, options.Secrets));
        return new SkillRun
        {
            Skill = skill.Name,
            SkillDigest = skill.Digest,
            Cluster = request.Cluster,
            DryRun = request.DryRun,
            Trigger = request.Trigger,
            Parameters = request.Parameters,
            Findings = request.Findings,
            Status = status,
            Message = message,
            StartedAt = startedAt,
            FinishedAt = host.Time.GetUtcNow(),
            Steps = records,
        };
    }

    private async Task<(SkillRunStatus, string)> ExecuteStepsAsync(RunState run, List<SkillStepRun> records, CancellationToken cancellationToken)
    {
        var steps = run.Skill.Steps;
        if (steps.Count == 0)
        {
            return (SkillRunStatus.Completed, "the skill has no steps");
        }

        var index = 0;
        while (true)
        {
            if (records.Count >= options.MaxStepExecutions)
            {
                return (SkillRunStatus.Error, $"stopped after {options.MaxStepExecutions} step executions: the steps jump in a loop");
            }

            var step = steps[index];
            var outcome = await ExecuteStepAsync(run, step, index, records.Count + 1, cancellationToken).ConfigureAwait(false);
            records.Add(outcome.Record);
            run.SetStepResult(step.Id, outcome.Result);
            LogStep(logger, run.Skill.Name, step.Id, outcome.Record.Status, outcome.Record.Next ?? "(stop)");
            if (outcome.Stop is { } stop)
            {
                return stop;
            }

            switch (outcome.Record.Next)
            {
                case SkillTargets.End:
                    return (SkillRunStatus.Completed, index + 1 >= steps.Count ? "all steps ran" : $"step '{step.Id}' ended the run");
                case SkillTargets.Fail:
                    return (SkillRunStatus.Failed, $"step '{step.Id}' failed the run ({outcome.Record.Message ?? "fail target"})");
                case { } next:
                    index = IndexOf(steps, next);
                    break;
                default:
                    return (SkillRunStatus.Error, $"step '{step.Id}' has nowhere to go");
            }
        }
    }

    private static int IndexOf(IReadOnlyList<SkillStep> steps, string id)
    {
        for (var i = 0; i < steps.Count; i++)
        {
            if (string.Equals(steps[i].Id, id, StringComparison.Ordinal))
            {
                return i;
            }
        }

        throw new SkillRunException($"no step '{id}' (the skill was not validated)");
    }

    private sealed record StepOutcome(SkillStepRun Record, JToken Result, (SkillRunStatus, string)? Stop);

    private async Task<StepOutcome> ExecuteStepAsync(RunState run, SkillStep step, int index, int sequence, CancellationToken cancellationToken)
    {
        var time = run.Host.Time;
        var startedAt = time.GetUtcNow();
        var started = time.GetTimestamp();
        var inputs = new List<SkillEvaluation>();
        var polls = 0;
        string? journalId = null;
        string? message = null;
        var steps = run.Skill.Steps;
        string InOrder() => index + 1 < steps.Count ? steps[index + 1].Id : SkillTargets.End;

        StepOutcome Done(SkillStepStatus status, JToken result, string? next, (SkillRunStatus, string)? stop = null) =>
            new(
                new SkillStepRun(
                    sequence,
                    step.Id,
                    step.Kind,
                    status,
                    inputs,
                    SkillJmesPath.ToElement(result),
                    stop is null ? next : null,
                    startedAt,
                    time.GetElapsedTime(started).TotalMilliseconds,
                    run.Digest,
                    polls,
                    step.ActionClass,
                    journalId,
                    message ?? stop?.Item2),
                result,
                stop);

        try
        {
            if (step.When is { } when)
            {
                var guard = run.Evaluate(when);
                inputs.Add(new SkillEvaluation("when", when.Text, SkillJmesPath.ToElement(guard)));
                if (!SkillJmesPath.IsTruthy(guard))
                {
                    return Done(SkillStepStatus.Skipped, new JObject { ["skipped"] = true, ["passed"] = false }, InOrder());
                }
            }

            switch (step.Kind)
            {
                case SkillStepKind.Check:
                {
                    var value = run.Evaluate(step.Condition!);
                    inputs.Add(new SkillEvaluation("check", step.Condition!.Text, SkillJmesPath.ToElement(value)));
                    var passed = SkillJmesPath.IsTruthy(value);
                    var result = new JObject { ["passed"] = passed, ["value"] = value.DeepClone() };
                    if (passed)
                    {
                        return Done(SkillStepStatus.Passed, result, step.Then ?? step.Next ?? InOrder());
                    }

                    if ((step.Else ?? step.OnFail) is { } otherwise)
                    {
                        return Done(SkillStepStatus.Failed, result, otherwise);
                    }

                    return Done(SkillStepStatus.Failed, result, null, (SkillRunStatus.Stopped, $"check '{step.Id}' does not hold: {step.Condition!.Text}"));
                }

                case SkillStepKind.Wait:
                case SkillStepKind.Verify:
                {
                    var kind = step.Kind == SkillStepKind.Wait ? "wait" : "verify";
                    if (run.Request.DryRun && run.ActionTaken)
                    {
                        message = "dry run: assumed to hold after the planned action";
                        inputs.Add(new SkillEvaluation(kind, step.Condition!.Text, SkillJmesPath.ToElement(null)));
                        return Done(SkillStepStatus.Assumed, new JObject { ["passed"] = true, ["assumed"] = true, ["value"] = null, ["polls"] = 0 },
                            step.Next ?? InOrder());
                    }

                    var timeout = step.Timeout ?? TimeSpan.Zero;
                    var interval = step.Interval ?? SkillDefaults.PollInterval;
                    JToken value;
                    bool passed;
                    while (true)
                    {
                        value = run.Evaluate(step.Condition!);
                        polls++;
                        passed = SkillJmesPath.IsTruthy(value);
                        var elapsed = time.GetElapsedTime(started);
                        if (passed || run.Request.DryRun || elapsed >= timeout)
                        {
                            break;
                        }

                        var delay = interval < timeout - elapsed ? interval : timeout - elapsed;
                        await run.Host.DelayAsync(delay, cancellationToken).ConfigureAwait(false);
                        run.SetSnapshot(await run.Host.GetSnapshotAsync(run.Request.Cluster, cancellationToken).ConfigureAwait(false));
                    }

                    inputs.Add(new SkillEvaluation(kind, step.Condition!.Text, SkillJmesPath.ToElement(value)));
                    var seconds = Math.Round(time.GetElapsedTime(started).TotalSeconds, 3);
                    JToken secondsToken = seconds == Math.Floor(seconds) ? new JValue((long)seconds) : new JValue(seconds);
                    var result = new JObject { ["passed"] = passed, ["value"] = value.DeepClone(), ["polls"] = polls, ["seconds"] = secondsToken };
                    if (passed)
                    {
                        return Done(SkillStepStatus.Passed, result, step.Next ?? InOrder());
                    }

                    message = run.Request.DryRun
                        ? "dry run: evaluated once on the given snapshot, not waited for"
                        : $"did not hold within {SkillDuration.Format(timeout)} ({polls} polls)";
                    if (step.OnFail is { } onFail)
                    {
                        return Done(SkillStepStatus.Failed, result, onFail);
                    }

                    return Done(SkillStepStatus.Failed, result, null, (SkillRunStatus.Failed, $"{kind} '{step.Id}' {message}: {step.Condition!.Text}"));
                }

                case SkillStepKind.Action:
                    return await ExecuteActionAsync(run, step, inputs, Done, InOrder, id => journalId = id, m => message = m, cancellationToken).ConfigureAwait(false);

                case SkillStepKind.Record:
                {
                    var text = run.RenderText(step.Text!);
                    inputs.Add(new SkillEvaluation("record", step.Text!.Text, SkillJmesPath.ToElement(text)));
                    JToken? data = null;
                    if (step.Data is { } dataValue)
                    {
                        data = run.Render(dataValue);
                        inputs.Add(new SkillEvaluation("data", null, SkillJmesPath.ToElement(data)));
                    }

                    if (!run.Request.DryRun)
                    {
                        var note = new SkillNote(run.Request.Cluster, run.Skill.Name, step.Id, step.RecordKind, text,
                            data is null ? null : SkillJmesPath.ToElement(data));
                        await run.Host.RecordAsync(note, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        message = run.ActionTaken
                            ? "dry run: not recorded; rendered on the snapshot as it was before the planned actions"
                            : "dry run: not recorded";
                    }

                    return Done(SkillStepStatus.Recorded, new JObject { ["kind"] = step.RecordKind, ["text"] = text, ["data"] = data?.DeepClone() },
                        step.Next ?? InOrder());
                }

                case SkillStepKind.Investigate:
                    return await InvestigateAsync(run, step, inputs, Done, InOrder, id => journalId = id, m => message = m, cancellationToken).ConfigureAwait(false);

                default:
                    throw new SkillRunException($"step '{step.Id}': unsupported kind {step.Kind}");
            }
        }
        catch (SkillRunException ex)
        {
            message = ex.Message;
            return Done(SkillStepStatus.Error, JValue.CreateNull(), null, (SkillRunStatus.Error, $"step '{step.Id}': {ex.Message}"));
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            message = $"{ex.GetType().Name}: {ex.Message}";
            return Done(SkillStepStatus.Error, JValue.CreateNull(), null, (SkillRunStatus.Error, $"step '{step.Id}': the host failed: {message}"));
        }
    }

    private static async Task<StepOutcome> ExecuteActionAsync(
        RunState run,
        SkillStep step,
        List<SkillEvaluation> inputs,
        Func<SkillStepStatus, JToken, string?, (SkillRunStatus, string)?, StepOutcome> done,
        Func<string> inOrder,
        Action<string?> setJournalId,
        Action<string?> setMessage,
        CancellationToken cancellationToken)
    {
        var actionClass = step.ActionClass!;
        if (!run.Skill.AllowsAction(actionClass))
        {
            throw new SkillRunException($"action '{actionClass}' is not among the skill's actions");
        }

        var parameters = step.With is null ? new JObject() : run.Render(step.With);
        if (parameters is not JObject)
        {
            throw new SkillRunException("'with' must evaluate to an object");
        }

        var reason = step.Reason is null ? null : run.RenderText(step.Reason);
        inputs.Add(new SkillEvaluation("with", null, SkillJmesPath.ToElement(parameters)));
        if (reason is not null)
        {
            inputs.Add(new SkillEvaluation("reason", step.Reason!.Text, SkillJmesPath.ToElement(reason)));
        }

        var request = new SkillActionRequest(
            run.Request.Cluster,
            actionClass,
            SkillJmesPath.ToElement(parameters),
            run.Skill.Name,
            step.Id,
            reason,
            run.Request.DryRun,
            run.Skill.Autonomy?.CeilingFor(actionClass),
            step.Timeout,
            run.Request.Trigger,
            run.Digest);
        var outcome = await run.Host.ExecuteActionAsync(request, cancellationToken).ConfigureAwait(false);
        run.ActionTaken = true;
        setJournalId(outcome.JournalId);
        setMessage(outcome.Message);
        if (!run.Request.DryRun && outcome.Status is SkillActionStatus.Succeeded or SkillActionStatus.Failed)
        {
            // The world may have changed: later steps decide on what is true after the action.
            run.SetSnapshot(await run.Host.GetSnapshotAsync(run.Request.Cluster, cancellationToken).ConfigureAwait(false));
        }

        var result = new JObject
        {
            ["status"] = JsonNamingPolicy.KebabCaseLower.ConvertName(outcome.Status.ToString()),
            ["journal"] = outcome.JournalId,
            ["message"] = outcome.Message,
            ["output"] = outcome.Output is { } output ? SkillJmesPath.ToToken(output) : null,
            ["parameters"] = parameters.DeepClone(),
        };
        var label = $"action '{step.Id}' ({actionClass})";
        return outcome.Status switch
        {
            SkillActionStatus.Succeeded => done(SkillStepStatus.Succeeded, result, step.Next ?? inOrder(), null),
            SkillActionStatus.Planned => done(SkillStepStatus.Planned, result, step.Next ?? inOrder(), null),
            SkillActionStatus.PendingApproval => done(SkillStepStatus.PendingApproval, result, null,
                (SkillRunStatus.AwaitingApproval, $"{label} awaits an operator's approval{Suffix(outcome)}")),
            SkillActionStatus.Refused when step.OnFail is { } onFail => done(SkillStepStatus.Refused, result, onFail, null),
            SkillActionStatus.Refused => done(SkillStepStatus.Refused, result, null, (SkillRunStatus.Refused, $"{label} was refused{Suffix(outcome)}")),
            _ when step.OnFail is { } onFail => done(SkillStepStatus.Failed, result, onFail, null),
            _ => done(SkillStepStatus.Failed, result, null, (SkillRunStatus.Failed, $"{label} failed{Suffix(outcome)}")),
        };
    }

    /// <summary>
    /// Asks the model the step's question with the run's evidence. The answer never decides the run: answered or not,
    /// the run goes on to <c>next</c> (a step that did not get an answer takes <c>on_fail</c> when it has one), so a model
    /// that is down or slow never blocks the deterministic path. An answer is recorded for the incident as the model's.
    /// </summary>
    private static async Task<StepOutcome> InvestigateAsync(
        RunState run,
        SkillStep step,
        List<SkillEvaluation> inputs,
        Func<SkillStepStatus, JToken, string?, (SkillRunStatus, string)?, StepOutcome> done,
        Func<string> inOrder,
        Action<string?> setJournalId,
        Action<string?> setMessage,
        CancellationToken cancellationToken)
    {
        var question = run.RenderText(step.Text!);
        inputs.Add(new SkillEvaluation("investigate", step.Text!.Text, SkillJmesPath.ToElement(question)));
        if (run.Request.DryRun)
        {
            setMessage("dry run: the model is not asked");
            return done(SkillStepStatus.Skipped, new JObject { ["status"] = "dry-run", ["answer"] = "", ["question"] = question }, step.Next ?? inOrder(), null);
        }

        var request = new SkillInvestigationRequest(run.Request.Cluster, run.Skill.Name, step.Id, question, run.Skill.Body, run.Evidence(), step.Timeout,
            run.Request.Trigger);
        var answer = await run.Host.InvestigateAsync(request, cancellationToken).ConfigureAwait(false);
        setJournalId(answer.JournalId);
        setMessage(answer.IsAnswered ? $"answered by {answer.Model}" : $"{answer.Status}{(answer.Error is { Length: > 0 } e ? ": " + e : "")}");
        var result = new JObject
        {
            ["status"] = answer.Status,
            ["answer"] = answer.Answer,
            ["model"] = answer.Model,
            ["journal"] = answer.JournalId,
            ["actions"] = new JArray((answer.Actions ?? []).Cast<object>().ToArray()),
            ["question"] = question,
        };
        if (answer.IsAnswered)
        {
            var data = new JObject { ["model"] = answer.Model, ["journal"] = answer.JournalId, ["question"] = question, ["actions"] = result["actions"]!.DeepClone() };
            await run.Host.RecordAsync(new SkillNote(run.Request.Cluster, run.Skill.Name, step.Id, SkillRecordKinds.Investigation, answer.Answer,
                SkillJmesPath.ToElement(data)), cancellationToken).ConfigureAwait(false);
            return done(SkillStepStatus.Answered, result, step.Next ?? inOrder(), null);
        }

        var status = answer.Status == SkillInvestigation.NoModel.Status ? SkillStepStatus.Skipped : SkillStepStatus.Failed;
        return done(status, result, status == SkillStepStatus.Failed ? step.OnFail ?? step.Next ?? inOrder() : step.Next ?? inOrder(), null);
    }

    private static string Suffix(SkillActionOutcome outcome) =>
        (outcome.Message is { Length: > 0 } m ? $": {m}" : "") + (outcome.JournalId is { } j ? $" (journal {j})" : "");

    /// <summary>Per-run evaluation state: the snapshot copy expressions run over, the step results, compiled expressions.</summary>
    private sealed class RunState
    {
        private readonly JmesPath engine = SkillJmesPath.NewEngine();
        private readonly Dictionary<string, JmesPathExpression> compiled = new(StringComparer.Ordinal);
        private JObject root = new();

        public RunState(Skill skill, SkillRunRequest request, ISkillHost host)
        {
            Skill = skill;
            Request = request;
            Host = host;
            root[SkillJmesPath.ContextMember] = new JObject
            {
                ["steps"] = new JObject(),
                ["trigger"] = request.Trigger is { } trigger ? SkillJmesPath.ToToken(trigger) : JValue.CreateNull(),
                ["cluster"] = request.Cluster,
                ["params"] = request.Parameters is { } parameters ? SkillJmesPath.ToToken(parameters) : new JObject(),
                ["findings"] = request.Findings is { ValueKind: JsonValueKind.Array } findings ? SkillJmesPath.ToToken(findings) : new JArray(),
            };
        }

        public Skill Skill { get; }

        public SkillRunRequest Request { get; }

        public ISkillHost Host { get; }

        public string Digest { get; private set; } = "";

        public bool ActionTaken { get; set; }

        private JObject Context => (JObject)root[SkillJmesPath.ContextMember]!;

        public void SetSnapshot(JsonElement snapshot)
        {
            var raw = snapshot.GetRawText();
            if (SkillJmesPath.Parse(raw) is not JObject next)
            {
                throw new SkillRunException($"the snapshot is a JSON {snapshot.ValueKind}, not an object");
            }

            next[SkillJmesPath.ContextMember] = Context;
            root = next;
            Digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(raw)))[..16];
        }

        public void SetStepResult(string id, JToken result) => ((JObject)Context["steps"]!)[id] = result.DeepClone();

        /// <summary>What the run knows so far, for a model: the trigger, the parameters and every step's result.</summary>
        public string Evidence() => new JObject
        {
            ["trigger"] = Context["trigger"]?.DeepClone(),
            ["parameters"] = Context["params"]?.DeepClone(),
            ["steps"] = Context["steps"]?.DeepClone(),
        }.ToString(Newtonsoft.Json.Formatting.None);

        public JToken Evaluate(SkillExpression expression)
        {
            try
            {
                if (!compiled.TryGetValue(expression.Text, out var ast))
                {
                    ast = SkillJmesPath.Compile(engine, expression.Text);
                    compiled[expression.Text] = ast;
                }

                return ast.Transform(root).AsJToken() ?? JValue.CreateNull();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new SkillRunException($"cannot evaluate '{expression.Text}' (line {expression.Location.Line}): {ex.Message}");
            }
        }

        public JToken Render(SkillValue value) => value switch
        {
            SkillLiteralValue literal => SkillJmesPath.Parse(literal.Json),
            SkillTemplateValue { Template: var template } when template.IsSingleExpression => Evaluate(template.Parts[0].Expression!).DeepClone(),
            SkillTemplateValue { Template: var template } => RenderText(template),
            SkillObjectValue obj => new JObject(obj.Members.Select(m => new JProperty(m.Key, Render(m.Value)))),
            SkillArrayValue array => new JArray(array.Items.Select(Render)),
            _ => throw new SkillRunException("unsupported value"),
        };

        public string RenderText(SkillTemplate template)
        {
            var builder = new StringBuilder();
            foreach (var part in template.Parts)
            {
                builder.Append(part.Expression is { } expression ? SkillJmesPath.ToText(Evaluate(expression)) : part.Literal);
            }

            return builder.ToString();
        }
    }

    [LoggerMessage(EventId = 6100, Level = LogLevel.Information, Message = "Skill {Skill} started on {Cluster} (dry run: {DryRun})")]
    private static partial void LogRunStarted(ILogger logger, string skill, string cluster, bool dryRun);

    [LoggerMessage(EventId = 6101, Level = LogLevel.Debug, Message = "Skill {Skill} step {Step}: {Status}, next {Next}")]
    private static partial void LogStep(ILogger logger, string skill, string step, SkillStepStatus status, string next);

    [LoggerMessage(EventId = 6102, Level = LogLevel.Information, Message = "Skill {Skill} on {Cluster} finished: {Status}: {Message}")]
    private static partial void LogRunFinished(ILogger logger, string skill, string cluster, SkillRunStatus status, string message);
}

/// <summary>A run cannot go on (an expression cannot be evaluated, a bad snapshot). Becomes an Error run, never escapes.</summary>
public sealed class SkillRunException : Exception
{
    public SkillRunException(string message)
        : base(message)
    {
    }

    public SkillRunException()
    {
    }

    public SkillRunException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
