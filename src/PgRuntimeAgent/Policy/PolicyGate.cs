using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Telemetry;

namespace PgRuntimeAgent.Policy;

/// <summary>
/// The policy gate. Guardrails first (they hold at every level and after an approval): forbidden classes, one action
/// per cluster at a time (an open intent in the journal), cooldown per kind and cluster (from the journal), the lag
/// limit for a failover or switchover candidate, and no high-risk action on a cluster whose leader is unknown or whose
/// sources disagree. Then the autonomy level decides between executing, waiting for an approval, recommending and
/// observing. A reactive, reversible action needs level 3; proactive adds one; irreversible adds one unless its loss is bounded by a precheck (at most 5).
/// </summary>
internal sealed class PolicyGate : IPolicyStage
{
    private readonly PolicySettings _settings;
    private readonly IJournal _journal;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public PolicyGate(PolicySettings settings, IJournal journal, TimeProvider time, ILogger? logger = null)
    {
        _settings = settings;
        _journal = journal;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
    }

    public PolicySettings Settings => _settings;

    /// <summary>
    /// The level for <paramref name="actionClass"/> on <paramref name="cluster"/>: the cluster's own entry, else the
    /// global classes, else <see cref="PolicySettings.DefaultLevel"/>. In each table the longest key that equals the
    /// class or is a dotted prefix of it wins (<c>patroni</c> covers <c>patroni.switchover</c>).
    /// </summary>
    public AutonomyLevel LevelFor(string cluster, string actionClass)
    {
        if (_settings.Clusters.TryGetValue(cluster, out var perCluster) && Match(perCluster, actionClass) is { } clusterLevel)
        {
            return AutonomyLevels.From(clusterLevel);
        }

        return AutonomyLevels.From(Match(_settings.Classes, actionClass) ?? _settings.DefaultLevel);
    }

    private static int? Match(IReadOnlyDictionary<string, int> table, string actionClass)
    {
        var name = actionClass;
        while (true)
        {
            if (table.TryGetValue(name, out var level))
            {
                return level;
            }

            var dot = name.LastIndexOf('.');
            if (dot <= 0)
            {
                return table.TryGetValue("*", out var any) ? any : null;
            }

            name = name[..dot];
        }
    }

    /// <summary>The level an action needs to run without an approval.</summary>
    public static AutonomyLevel RequiredLevel(PlannedAction action)
    {
        ArgumentNullException.ThrowIfNull(action);
        var required = (int)AutonomyLevel.ActWithinGuardrails;
        if (action.Trigger == ActionTrigger.Proactive)
        {
            required++;
        }

        if (!action.Reversible && !action.LossBounded)
        {
            required++;
        }

        return AutonomyLevels.From(required);
    }

    public bool IsForbidden(string actionClass) =>
        _settings.Forbidden.Any(f => string.Equals(f, actionClass, StringComparison.Ordinal) || actionClass.StartsWith(f + ".", StringComparison.Ordinal));

    public async Task<PolicyDecision> EvaluateAsync(PolicyRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var action = request.Action;
        var now = _time.GetUtcNow();
        var reasons = new List<PolicyReason>();

        // Guardrails.
        if (IsForbidden(action.PolicyClass))
        {
            reasons.Add(new(PolicyCodes.Forbidden, $"{action.PolicyClass} is forbidden by policy (policy.forbidden); pgra never runs it.", true));
        }

        var open = (await _journal.GetOpenIntentsAsync(action.Cluster, cancellationToken).ConfigureAwait(false))
            .Where(i => !string.Equals(i.CorrelationId, action.Id, StringComparison.Ordinal))
            .ToList();
        if (open.Count > 0)
        {
            var first = open[0];
            reasons.Add(new(PolicyCodes.ClusterLocked,
                $"{action.Cluster} is busy: {first.CorrelationId} ({first.Topic}) started at {Format(first.Time)} (journal #{first.Seq}) has no outcome yet; one action per cluster at a time.",
                true));
        }

        await CheckCooldownAsync(action, now, reasons, cancellationToken).ConfigureAwait(false);
        CheckCandidateLag(action, request.State, reasons);
        CheckClusterState(action, request.State, now, reasons);

        var configured = LevelFor(action.Cluster, action.PolicyClass);
        var ceiling = request.Ceiling is { } cap && cap < configured ? cap : (AutonomyLevel?)null;
        var level = ceiling ?? configured;
        var required = RequiredLevel(action);
        PolicyVerdict verdict;
        if (reasons.Any(r => r.Blocking))
        {
            verdict = PolicyVerdict.Refuse;
        }
        else if (request.ApprovedBy is not null)
        {
            verdict = PolicyVerdict.Execute;
            reasons.Add(new(PolicyCodes.Approved, $"approved by {request.ApprovedBy}."));
        }
        else if (action.Trigger == ActionTrigger.Operator)
        {
            if (_settings.FourEyes && level < required)
            {
                verdict = PolicyVerdict.AwaitApproval;
                reasons.Add(new(PolicyCodes.Level,
                    $"{action.PolicyClass} is at level {(int)level} on {action.Cluster}; this action needs {(int)required} to run without a second person (policy.four_eyes)."));
            }
            else
            {
                verdict = PolicyVerdict.Execute;
                reasons.Add(new(PolicyCodes.OperatorCommand, $"started by {action.Initiator ?? "an operator"} from the command line; guardrails passed."));
            }
        }
        else
        {
            var at = ceiling is { } c
                ? $"{action.PolicyClass} is at level {(int)configured} on {action.Cluster}, capped at {(int)c} by the skill's autonomy"
                : $"{action.PolicyClass} is at level {(int)level} on {action.Cluster}";
            (verdict, var message) = level switch
            {
                _ when level >= required => (PolicyVerdict.Execute,
                    $"{at}; this {Describe(action)} action needs {(int)required}: the agent acts."),
                >= AutonomyLevel.ActAfterApproval => (PolicyVerdict.AwaitApproval,
                    $"{at}; this {Describe(action)} action needs {(int)required} to run alone: it waits for approval."),
                AutonomyLevel.Recommend => (PolicyVerdict.Recommend, ceiling is null
                    ? $"{action.PolicyClass} is at level 1 (recommend) on {action.Cluster}: recorded as a recommendation for an operator."
                    : $"{at} (recommend): recorded as a recommendation for an operator."),
                _ => (PolicyVerdict.Observe, ceiling is null
                    ? $"{action.PolicyClass} is at level 0 (observe) on {action.Cluster}: nothing is proposed."
                    : $"{at} (observe): nothing is proposed."),
            };
            reasons.Add(new(PolicyCodes.Level, message));
        }

        var dryRun = request.DryRun || _settings.DryRun;
        if (dryRun && verdict is PolicyVerdict.Execute or PolicyVerdict.AwaitApproval)
        {
            reasons.Add(new(PolicyCodes.DryRun, request.DryRun ? "dry run: plan and precheck only." : "policy.dry_run is set: plan and precheck only."));
        }

        AgentTelemetry.Policy.Decisions.Add(1, new TagList { { "cluster", action.Cluster }, { "class", action.PolicyClass }, { "verdict", ActionPipeline.Kebab(verdict) } });
        switch (verdict)
        {
            case PolicyVerdict.Refuse:
                var blocking = reasons.Where(r => r.Blocking).ToList();
                Log.Refused(_logger, action.Id, action.Kind, action.Cluster, string.Join(",", blocking.Select(r => r.Code)), LogRedaction.Text(blocking[0].Message));
                break;
            case PolicyVerdict.AwaitApproval:
                Log.AwaitingApproval(_logger, action.Id, action.Kind, action.Cluster, action.PolicyClass, (int)level, (int)required);
                break;
            default:
                Log.Decided(_logger, action.Id, action.Kind, action.Cluster, verdict, action.PolicyClass, (int)level, (int)required, dryRun);
                break;
        }

        return new PolicyDecision
        {
            ActionId = action.Id,
            Kind = action.Kind,
            Class = action.PolicyClass,
            Cluster = action.Cluster,
            Verdict = verdict,
            Level = level,
            RequiredLevel = required,
            Ceiling = ceiling,
            DryRun = dryRun,
            Reasons = reasons,
            DecidedAt = now,
        };
    }

    private static string Describe(PlannedAction action) =>
        (action.Trigger == ActionTrigger.Proactive ? "proactive" : "reactive") + ", " + (action.Reversible ? "reversible" : action.LossBounded ? "irreversible, loss bounded by a precheck" : "irreversible");

    private async Task CheckCooldownAsync(PlannedAction action, DateTimeOffset now, List<PolicyReason> reasons, CancellationToken cancellationToken)
    {
        // Fencing is never held by the default cooldown: a member to fence is a hazard now (it can take writes or retake
        // the leader key), and fencing a fenced member is a no-op. An explicit policy.cooldowns entry still applies.
        var explicitCooldown = _settings.Cooldowns.TryGetValue(action.Kind, out var s);
        if (!explicitCooldown && string.Equals(action.Kind, "member.fence", StringComparison.Ordinal))
        {
            return;
        }

        var seconds = explicitCooldown ? s : _settings.DefaultCooldownSeconds;
        if (seconds <= 0 || action.UndoOf is not null)
        {
            return;
        }

        var last = await _journal.QueryAsync(new JournalQuery
        {
            Cluster = action.Cluster,
            Kinds = [JournalKinds.ActionIntent],
            Topic = action.Kind,
            Limit = 1,
            Descending = true,
        }, cancellationToken).ConfigureAwait(false);
        if (last.Count == 0)
        {
            return;
        }

        // Fencing a member that was just fenced finds nothing to kill: no flapping to prevent. A skill that fenced
        // (after an approval) and looks again must be able to pass its fence step and go on to the failover.
        if (string.Equals(action.Kind, "member.fence", StringComparison.Ordinal) && action.Member is not null
            && string.Equals(last[0].Member, action.Member, StringComparison.Ordinal))
        {
            return;
        }

        var next = last[0].Time.AddSeconds(seconds);
        if (next <= now)
        {
            return;
        }

        var text = $"cooldown: {last[0].CorrelationId} ({action.Kind}) ran on {action.Cluster} at {Format(last[0].Time)}; the next one is allowed from {Format(next)} ({seconds} s cooldown).";

        // Cooldowns stop the agent from flapping; an operator's explicit command is told, not held.
        reasons.Add(new(PolicyCodes.Cooldown, text, Blocking: action.Trigger != ActionTrigger.Operator));
    }

    private static void CheckCandidateLag(PlannedAction action, ClusterGuardState? state, List<PolicyReason> reasons)
    {
        var candidate = action.Parameter(ActionParameters.Candidate);
        if (candidate is null)
        {
            return;
        }

        if (state is null)
        {
            reasons.Add(new(PolicyCodes.LagUnknown, $"the lag of candidate {candidate} is unknown (no current state of {action.Cluster}).", true));
            return;
        }

        if (!state.MemberLagBytes.TryGetValue(candidate, out var lag) || lag is null)
        {
            reasons.Add(new(PolicyCodes.LagUnknown, $"the lag of candidate {candidate} is unknown; a candidate must be within {state.MaximumLagOnFailoverBytes} bytes.", true));
        }
        else if (lag > state.MaximumLagOnFailoverBytes)
        {
            reasons.Add(new(PolicyCodes.LagLimit,
                $"candidate {candidate} lags {lag.Value.ToString(CultureInfo.InvariantCulture)} bytes, past the limit of {state.MaximumLagOnFailoverBytes.ToString(CultureInfo.InvariantCulture)} bytes (maximum_lag_on_failover).",
                true));
        }
    }

    private void CheckClusterState(PlannedAction action, ClusterGuardState? state, DateTimeOffset now, List<PolicyReason> reasons)
    {
        if (action.Risk != ActionRisk.High)
        {
            return;
        }

        if (state is null)
        {
            reasons.Add(new(PolicyCodes.NoState, $"no current state of {action.Cluster}: a high-risk action is not taken blind.", true));
            return;
        }

        var age = now - state.ObservedAt;
        if (age.TotalSeconds > _settings.MaxStateAgeSeconds)
        {
            reasons.Add(new(PolicyCodes.StaleState,
                $"the state of {action.Cluster} is {age.TotalSeconds:0} s old (limit {_settings.MaxStateAgeSeconds:0} s, policy.max_state_age_seconds).", true));
        }

        // Fencing a member that etcd itself (read by the agent) does not name as leader is the safe direction whatever
        // else is unsettled: no key held yet, views that disagree, a split brain. It is what settles them.
        if (string.Equals(action.Kind, "member.fence", StringComparison.Ordinal) && state.DcsRead && action.Member is not null
            && !string.Equals(action.Member, state.DcsHolder, StringComparison.Ordinal))
        {
            return;
        }

        // So is fencing a key holder that took the key back on an older timeline than a member that answers: left
        // alone, it rewinds that member's newer timeline away with every write acknowledged there.
        if (string.Equals(action.Kind, "member.fence", StringComparison.Ordinal) && state.DcsRead && state.NewerThanDcsHolder is not null
            && string.Equals(action.Member, state.DcsHolder, StringComparison.Ordinal))
        {
            return;
        }

        if (!state.LeaderKnown)
        {
            reasons.Add(new(PolicyCodes.LeaderUnknown, $"the leader of {action.Cluster} is unknown or disputed: no high-risk action on a guess.", true));
        }

        if (state.Drift.Count > 0)
        {
            reasons.Add(new(PolicyCodes.Drift, $"the sources disagree about {action.Cluster}: {string.Join("; ", state.Drift)}.", true));
        }
    }

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
