using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Agent;

/// <summary>
/// The skill runner's host in the daemon: fresh snapshots by live sensing, actions through the planner and the action
/// pipeline (policy gate with the skill's autonomy ceiling, approvals, prechecks, write-ahead journal, execute,
/// verify). The daemon wraps it in a <see cref="RecordingSkillHost"/>, which journals every snapshot served (so replay
/// serves the same ones) and the notes. One instance per skill run.
/// </summary>
internal sealed partial class PipelineSkillHost : ISkillHost
{
    private readonly ActingServices _acting;
    private readonly IncidentManager _incidents;
    private readonly Func<string, CancellationToken, Task<ClusterSnapshot>> _sense;
    private readonly Action<AgentEvent> _emit;
    private readonly ILogger _logger;
    private readonly List<ActionRunResult> _actions = [];

    private readonly Func<SkillInvestigationRequest, CancellationToken, Task<SkillInvestigation>>? _investigate;

    public PipelineSkillHost(ActingServices acting, IncidentManager incidents, Func<string, CancellationToken, Task<ClusterSnapshot>> sense,
        Action<AgentEvent> emit, ILogger logger, Func<SkillInvestigationRequest, CancellationToken, Task<SkillInvestigation>>? investigate = null)
    {
        _investigate = investigate;
        _acting = acting;
        _incidents = incidents;
        _sense = sense;
        _emit = emit;
        _logger = logger;
    }

    public TimeProvider Time => _acting.Time;

    /// <summary>What the pipeline did with each action of the run.</summary>
    public IReadOnlyList<ActionRunResult> Actions => _actions;

    public async Task<JsonElement> GetSnapshotAsync(string cluster, CancellationToken cancellationToken) =>
        SnapshotRecorder.ToElement(await _sense(cluster, cancellationToken).ConfigureAwait(false));

    public Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken) => Task.Delay(delay, Time, cancellationToken);

    /// <summary>The configured model (journaled by the brain as a <c>brain.exchange</c>), or no model.</summary>
    public Task<SkillInvestigation> InvestigateAsync(SkillInvestigationRequest request, CancellationToken cancellationToken) =>
        _investigate is null ? Task.FromResult(SkillInvestigation.NoModel) : _investigate(request, cancellationToken);

    /// <summary>Nothing here: the <see cref="RecordingSkillHost"/> around this host journals notes into the incident.</summary>
    public Task RecordAsync(SkillNote note, CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task<SkillActionOutcome> ExecuteActionAsync(SkillActionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (member, parameters) = Parameters(request);
        var planRequest = new ActionRequest
        {
            Kind = request.ActionClass,
            Cluster = request.Cluster,
            Member = member,
            Parameters = parameters,
            // No finding or alert to react to (a manual or scheduled run): proactive, which needs a level more to act alone.
            Trigger = request.Trigger is null || ScheduleTrigger.Is(request.Trigger) ? ActionTrigger.Proactive : ActionTrigger.Reactive,
            Initiator = "skill:" + request.Skill,
            Reason = request.Reason ?? $"skill {request.Skill}, step {request.StepId}",
        };

        ActionPlan plan;
        try
        {
            plan = await _acting.Planner.PlanAsync(planRequest, cancellationToken).ConfigureAwait(false);
        }
        catch (InputException ex)
        {
            return Finished(request, new SkillActionOutcome(SkillActionStatus.Failed, null, "could not plan the action: " + ex.Message), null);
        }

        if (plan.Action is not { } action)
        {
            return Finished(request, new SkillActionOutcome(SkillActionStatus.Failed, null, "could not plan the action: " + (plan.Problem ?? "no plan")), null);
        }

        if (request.Timeout is { } timeout)
        {
            action = action with { VerifyTimeoutSeconds = timeout.TotalSeconds };
        }

        action = action with { Reason = request.Reason ?? action.Reason };
        ActionRunResult result;
        try
        {
            var ceiling = request.AutonomyCeiling is { } cap ? AutonomyLevels.From(cap) : (AutonomyLevel?)null;
            result = await _acting.Pipeline.RunAsync(action, request.DryRun, cancellationToken, ceiling).ConfigureAwait(false);
        }
        catch (InputException ex)
        {
            return Finished(request, new SkillActionOutcome(SkillActionStatus.Failed, action.Id, ex.Message), null);
        }

        _actions.Add(result);
        var status = Map(result.Status);
        return Finished(request, new SkillActionOutcome(status, action.Id, result.Message, Output(result)), result);
    }

    /// <summary>The pipeline's status as the skill runner reads it.</summary>
    public static SkillActionStatus Map(ActionStatus status) => status switch
    {
        ActionStatus.Succeeded => SkillActionStatus.Succeeded,
        ActionStatus.DryRun => SkillActionStatus.Planned,
        ActionStatus.AwaitingApproval => SkillActionStatus.PendingApproval,
        ActionStatus.Recommended or ActionStatus.Observed or ActionStatus.Refused => SkillActionStatus.Refused,
        _ => SkillActionStatus.Failed,
    };

    /// <summary><c>with.member</c> becomes the action's member; every other value becomes a text parameter.</summary>
    internal static (string? Member, IReadOnlyDictionary<string, string> Parameters) Parameters(SkillActionRequest request)
    {
        string? member = null;
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        if (request.Parameters.ValueKind != JsonValueKind.Object)
        {
            return (null, parameters);
        }

        // Parameters a skill passes for the reader's benefit that the planner does not take (it senses them itself),
        // as the kind's descriptor lists them. A failover's leader is not one of them: it names the failed member, and
        // the planner refuses when Patroni has given the key to another member since.
        var skip = AgentCatalog.Default.FindAction(request.ActionClass)?.Informative ?? [];
        foreach (var p in request.Parameters.EnumerateObject())
        {
            var text = p.Value.ValueKind switch
            {
                JsonValueKind.Null or JsonValueKind.Undefined => null,
                JsonValueKind.String => p.Value.GetString(),
                _ => p.Value.GetRawText(),
            };
            if (text is null)
            {
                continue;
            }

            if (p.Name == "member")
            {
                member = text;
            }
            else if (!skip.Contains(p.Name, StringComparer.Ordinal))
            {
                parameters[p.Name] = text;
            }
        }

        return (member, parameters);
    }

    private static JsonElement Output(ActionRunResult r)
    {
        var o = new JsonObject
        {
            ["action_id"] = r.Action.Id,
            ["kind"] = r.Action.Kind,
            ["member"] = r.Action.Member,
            ["status"] = ActionPipeline.Kebab(r.Status),
            ["verdict"] = r.Decision is { } d ? ActionPipeline.Kebab(d.Verdict) : null,
            ["level"] = (int?)r.Decision?.Level,
            ["required_level"] = (int?)r.Decision?.RequiredLevel,
            ["approval"] = r.Approval?.Id,
            ["intent_seq"] = r.IntentSeq,
            ["outcome_seq"] = r.OutcomeSeq,
            ["verification"] = r.Verification?.Message,
        };
        if (r.Execution is { Details.Count: > 0 } e)
        {
            o["execution"] = new JsonObject(e.Details.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value))));

            // A skill also reads what execution produced directly: $steps.propose.output.path (inventory.propose_patch).
            foreach (var (key, value) in e.Details)
            {
                if (!o.ContainsKey(key))
                {
                    o[key] = value;
                }
            }
        }

        return JsonSerializer.SerializeToElement(o);
    }

    private SkillActionOutcome Finished(SkillActionRequest request, SkillActionOutcome outcome, ActionRunResult? result)
    {
        var at = Time.GetUtcNow();
        var details = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["skill"] = request.Skill,
            ["step"] = request.StepId,
            ["action"] = request.ActionClass,
            ["action_id"] = outcome.JournalId,
            ["status"] = JsonNamingPolicy.KebabCaseLower.ConvertName(outcome.Status.ToString()),
        };
        if (result?.Decision is { } d)
        {
            details["level"] = ((int)d.Level).ToString(CultureInfo.InvariantCulture);
            details["required_level"] = ((int)d.RequiredLevel).ToString(CultureInfo.InvariantCulture);
        }

        var target = result?.Action.Summary ?? request.ActionClass;
        if (outcome.Status == SkillActionStatus.PendingApproval)
        {
            // The approval's id (the action's: pgra approve ID); the notifier links to its page.
            details["approval"] = result?.Approval?.Id ?? outcome.JournalId;
            _emit(new AgentEvent
            {
                Name = AgentEventNames.ApprovalRequested,
                At = at,
                Cluster = request.Cluster,
                Incident = _incidents.Current(request.Cluster)?.Id,
                Severity = "warning",
                Title = $"approval needed: {target}",
                Message = $"pgra approve {outcome.JournalId} (or pgra deny {outcome.JournalId}); {request.Reason}",
                Details = details,
            });
        }

        _emit(new AgentEvent
        {
            Name = AgentEventNames.ActionFinished,
            At = at,
            Cluster = request.Cluster,
            Incident = _incidents.Current(request.Cluster)?.Id,
            Severity = outcome.Status is SkillActionStatus.Failed ? "warning" : "info",
            Title = $"{target}: {details["status"]}",
            Message = outcome.Message,
            Details = details,
        });
        Log.ActionFinished(_logger, request.Skill, request.StepId, request.ActionClass, request.Cluster, outcome.Status, LogRedaction.Text(outcome.Message, _acting.Workspace?.Secrets));
        return outcome;
    }
}
