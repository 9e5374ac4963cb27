using System.Globalization;
using System.Text.RegularExpressions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Journal;

namespace PgRuntimeAgent.Evals;

/// <summary>
/// What the agent did and saw, read back for scoring: its actions from the journal (decision, intent, outcome, grouped
/// by the action id), its findings from its events, and the objects a lab fault created (a backend pid, a table).
/// </summary>
internal static partial class EvalJournal
{
    /// <summary>Every action the journal decided on, with what became of it: a ran outcome (succeeded, verify-failed,
    /// execute-failed, not-executed, unknown) or why it did not run (awaiting-approval, denied, recommended, observed,
    /// refused, precheck-failed). Dry runs are left out: nothing could have been done.</summary>
    public static IReadOnlyList<EvalActionRecord> Actions(IEnumerable<JournalEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var result = new List<EvalActionRecord>();
        foreach (var group in entries.Where(e => e.CorrelationId is not null).GroupBy(e => e.CorrelationId!, StringComparer.Ordinal))
        {
            var list = group.OrderBy(e => e.Seq).ToList();
            var decisionEntry = list.LastOrDefault(e => e.Kind == JournalKinds.Decision);
            var decision = decisionEntry?.PayloadAs<DecisionPayload>();
            if (decision is null || decision.Decision.DryRun)
            {
                continue;
            }

            var intent = list.LastOrDefault(e => e.Kind == JournalKinds.ActionIntent)?.PayloadAs<IntentPayload>();
            var outcomeEntry = list.LastOrDefault(e => e.Kind == JournalKinds.ActionOutcome);
            var outcome = outcomeEntry?.PayloadAs<OutcomePayload>();
            var precheck = list.LastOrDefault(e => e.Kind == JournalKinds.ActionPrecheck)?.PayloadAs<PrecheckPayload>();
            var action = outcome?.Action ?? intent?.Action ?? decision.Action;
            var status = outcome is not null ? Kebab(outcome.Status.ToString())
                : list.Any(e => e.Kind == JournalKinds.ApprovalDenied) ? "denied"
                : precheck is { Precheck.Passed: false } ? "precheck-failed"
                : decision.Decision.Verdict switch
                {
                    PolicyVerdict.AwaitApproval => "awaiting-approval",
                    PolicyVerdict.Recommend => "recommended",
                    PolicyVerdict.Observe => "observed",
                    PolicyVerdict.Refuse => "refused",
                    _ => "not-executed",
                };
            result.Add(new EvalActionRecord
            {
                Id = action.Id,
                Kind = action.Kind,
                Class = decision.Decision.Class,
                Cluster = action.Cluster,
                Member = action.Member,
                Object = ObjectOf(action),
                Level = (int)decision.Decision.Level,
                RequiredLevel = (int)decision.Decision.RequiredLevel,
                Approved = intent?.ApprovedBy is not null || list.Any(e => e.Kind == JournalKinds.ApprovalGranted),
                Outcome = status,
                At = (outcomeEntry ?? decisionEntry)!.Time,
            });
        }

        return [.. result.OrderBy(a => a.At)];
    }

    /// <summary>The object an action touches, in the form a fault's objects take: a backend by its pid, a relation by its name.</summary>
    public static string? ObjectOf(PlannedAction action)
    {
        ArgumentNullException.ThrowIfNull(action);
        foreach (var key in new[] { "pid", "table", "index", "relation" })
        {
            if (action.Parameters.TryGetValue(key, out var value) && !string.IsNullOrWhiteSpace(value))
            {
                return key == "pid" ? "pid:" + value.Trim() : Unqualified(value.Trim());
            }
        }

        return null;
    }

    /// <summary>The objects a lab fault created, read from its summary: "blocker pid 4242" or "backend pid 4242" is pid:4242; missing-index's table is orders.</summary>
    public static IReadOnlyList<string> FaultObjects(string scenario, string summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var objects = PidPattern().Matches(summary).Select(m => "pid:" + m.Groups[1].Value).ToList();
        if (scenario == "missing-index")
        {
            objects.Add("orders");
        }

        return [.. objects.Distinct(StringComparer.Ordinal)];
    }

    /// <summary>Findings the agent raised, from its events (the journal holds them too; the events carry the severity as raised).</summary>
    public static IReadOnlyList<EvalRaisedFinding> Findings(IEnumerable<AgentEvent> events, string cluster) =>
    [
        .. events.Where(e => e.Name == AgentEventNames.FindingRaised && e.Cluster == cluster && e.Details.GetValueOrDefault("code") is not null)
            .Select(e => new EvalRaisedFinding
            {
                Code = e.Details["code"]!,
                Severity = e.Severity switch
                {
                    "critical" => FindingSeverity.Critical,
                    "warning" => FindingSeverity.Warning,
                    _ => FindingSeverity.Info,
                },
                Member = e.Details.GetValueOrDefault("member"),
                RaisedAt = e.At,
            }),
    ];

    /// <summary>
    /// The skill runs of the case from the agent's events: each <c>skill.started</c> paired with the next
    /// <c>skill.finished</c> or <c>skill.errored</c> of the same skill (runs of one skill never overlap in a cluster).
    /// </summary>
    public static IReadOnlyList<EvalSkillRun> Skills(IEnumerable<AgentEvent> events, string cluster)
    {
        ArgumentNullException.ThrowIfNull(events);
        var runs = new List<EvalSkillRun>();
        var open = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var e in events.Where(e => e.Cluster == cluster).OrderBy(e => e.At))
        {
            if (e.Details.GetValueOrDefault("skill") is not { } skill)
            {
                continue;
            }

            if (e.Name == AgentEventNames.SkillStarted)
            {
                open[skill] = runs.Count;
                runs.Add(new EvalSkillRun { Skill = skill, Trigger = e.Details.GetValueOrDefault("code"), Member = e.Details.GetValueOrDefault("member"), StartedAt = e.At });
            }
            else if ((e.Name == AgentEventNames.SkillFinished || e.Name == AgentEventNames.SkillErrored) && open.Remove(skill, out var i))
            {
                var status = e.Name == AgentEventNames.SkillErrored ? "error"
                    : e.Title is { } title && title.LastIndexOf(": ", StringComparison.Ordinal) is var colon and >= 0 ? title[(colon + 2)..] : null;
                runs[i] = runs[i] with { Status = status, Steps = e.Details.GetValueOrDefault("steps"), Message = e.Message };
            }
        }

        return runs;
    }

    /// <summary>The model's calls during the case, summed from the journal's brain exchanges (null when the model was never asked).</summary>
    public static EvalModelUsage? ModelUsage(IEnumerable<JournalEntry> entries, string? model)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var exchanges = entries.Where(e => e.Kind == JournalKinds.BrainExchange).Select(e => e.PayloadAs<Brain.BrainExchange>()).OfType<Brain.BrainExchange>().ToList();
        if (exchanges.Count == 0)
        {
            return model is null ? null : new EvalModelUsage { Name = model };
        }

        return new EvalModelUsage
        {
            Name = model ?? exchanges[0].Model,
            Calls = exchanges.Count,
            InputTokens = exchanges.Sum(x => x.InputTokens ?? 0),
            OutputTokens = exchanges.Sum(x => x.OutputTokens ?? 0),
            CostUsd = exchanges.Any(x => x.CostEstimate is not null) ? exchanges.Sum(x => x.CostEstimate ?? 0) : null,
            WallSeconds = Math.Round(exchanges.Sum(x => x.LatencyMs) / 1000, 2),
        };
    }

    private static string Unqualified(string name)
    {
        var dot = name.LastIndexOf('.');
        return (dot >= 0 ? name[(dot + 1)..] : name).Trim('"');
    }

    private static string Kebab(string name) => string.Concat(name.Select((c, i) => char.IsUpper(c)
        ? (i > 0 ? "-" : "") + char.ToLower(c, CultureInfo.InvariantCulture)
        : c.ToString()));

    [GeneratedRegex(@"\bpid (\d+)\b")]
    private static partial Regex PidPattern();
}
