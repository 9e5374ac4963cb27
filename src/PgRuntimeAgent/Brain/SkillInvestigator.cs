using System.Globalization;
using Microsoft.Extensions.AI;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Reads;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Tools;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Brain;

/// <summary>
/// The daemon's answer to a skill's <c>investigate</c> step: the configured model, given the runbook the operators
/// wrote, the run's evidence so far and the step's question, investigates with the catalogue's reads and may request
/// actions (through policy, as proactive requests of <c>model:NAME</c>, so above the level they become approvals). The
/// step's <c>timeout:</c> caps the model's wall time below <c>llm.timeout_seconds</c>; the exchange is journaled by the
/// <see cref="Investigator"/> whatever its outcome, so "the model timed out" is in the journal beside the incident.
/// </summary>
internal sealed class SkillInvestigator(IChatClient client, LlmSettings settings, SecretStore secrets, IJournal journal, TimeProvider time,
    ReadContext reads, ActingServices? acting, string? standingOrders)
{
    /// <summary>The longest evidence text handed to the model (the run's step results), in characters.</summary>
    public const int MaxEvidenceChars = 24_000;

    public async Task<SkillInvestigation> InvestigateAsync(SkillInvestigationRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var bounded = request.Timeout is { } t && t.TotalSeconds < settings.TimeoutSeconds ? settings with { TimeoutSeconds = Math.Max(1, t.TotalSeconds) } : settings;
        var tools = AgentToolbox.Build(AgentCatalog.Default, new ToolboxOptions
        {
            Caller = "model:" + settings.Model,
            Reads = reads,
            Acting = acting,
            MaxResultChars = settings.MaxToolResultChars,
        });
        var evidence = request.Evidence.Length <= MaxEvidenceChars ? request.Evidence : request.Evidence[..MaxEvidenceChars] + " ... (cut)";
        var context = $"""
            The skill "{request.Skill}" is running on this cluster and asks you at its step "{request.StepId}". Its runbook:

            {request.Runbook}

            What the run knows so far (the trigger, its parameters, each step's result, as JSON):
            {evidence}
            """;
        var exchange = await new Investigator(client, bounded, secrets, journal, time, standingOrders)
            .AskAsync(request.Cluster, request.Question, context, tools, cancellationToken).ConfigureAwait(false);
        return new SkillInvestigation(exchange.Status, exchange.Answer, exchange.Model,
            exchange.JournalSeq?.ToString(CultureInfo.InvariantCulture), exchange.Error,
            [.. exchange.ToolCalls.Select(c => c.ActionId).OfType<string>()]);
    }
}
