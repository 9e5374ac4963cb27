using System.Text.Json.Nodes;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Acting.Sql;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Inventory;

namespace PgRuntimeAgent.Acting.Patroni;

/// <summary><c>patroni.switchover</c>: a planned handover of the leader key through Patroni.</summary>
internal sealed class PatroniSwitchoverAction : IActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = PatroniActions.Switchover,
        Summary = "Hand the leader key over to a healthy replica through Patroni's /switchover: the leader stops cleanly, so nothing acknowledged is lost. "
            + "Without a candidate, the eligible replica with the smallest lag is chosen.",
        Parameters =
        [
            new(ActionParameters.Candidate, ParameterType.String, "the member that becomes leader (default: --member, else the eligible replica with the smallest lag)"),
            new(ActionParameters.Leader, ParameterType.String, "the member that leads now (default: the current holder of the leader key)"),
        ],
        Member = MemberUse.Optional,
        Risk = ActionRisk.High,
        Reversible = true,
        VerifyTimeout = TimeSpan.FromSeconds(60),
        Undo = "a switchover back to the previous leader",
    };

    public ActionDescriptor Descriptor => Info;

    public Task<ActionPlan> PlanAsync(PlanContext context, PlanInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return PatroniPlanning.PlanSwitchoverAsync(context, input.Cluster, input.P(ActionParameters.Candidate) ?? input.MemberName, input.P(ActionParameters.Leader),
            input.Request, cancellationToken);
    }
}

/// <summary><c>patroni.failover</c>: promote a named replica when the leader is gone or cannot serve.</summary>
internal sealed class PatroniFailoverAction : IActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = PatroniActions.Failover,
        Summary = "Promote a named replica through Patroni's /failover when the leader is gone or cannot serve writes. "
            + "WAL the old leader did not ship is lost, so the candidate must be within maximum_lag_on_failover.",
        Parameters =
        [
            new(ActionParameters.Candidate, ParameterType.String, "the member to promote (default: --member); required one way or the other"),
            new(ActionParameters.Leader, ParameterType.String,
                "the failed member it replaces: when another member holds the leader key by now, Patroni failed over by itself and nothing is planned"),
        ],
        Member = MemberUse.Optional,
        Risk = ActionRisk.High,
        Reversible = false,
        LossBound = "the precheck refuses a candidate past maximum_lag_on_failover or of unknown lag",
        VerifyTimeout = TimeSpan.FromSeconds(60),
    };

    public ActionDescriptor Descriptor => Info;

    public Task<ActionPlan> PlanAsync(PlanContext context, PlanInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return PatroniPlanning.PlanFailoverAsync(context, input.Cluster, input.P(ActionParameters.Candidate) ?? input.MemberName, input.P(ActionParameters.Leader),
            input.Request, cancellationToken);
    }
}

/// <summary><c>patroni.config</c>: a PATCH of the cluster's dynamic configuration.</summary>
internal sealed class PatroniConfigAction : IActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = PatroniActions.Config,
        Summary = "Change the cluster's dynamic configuration (DCS) with a JSON merge patch through Patroni's /config; "
            + "a changed PostgreSQL parameter that needs a restart is reported as pending.",
        Parameters =
        [
            new(PatroniActions.Patch, ParameterType.Json, "a JSON merge patch, for example {\"postgresql\":{\"parameters\":{\"work_mem\":\"64MB\"}}}") { Required = true },
        ],
        Member = MemberUse.None,
        Risk = ActionRisk.Medium,
        Reversible = true,
        VerifyTimeout = TimeSpan.FromSeconds(30),
        Undo = "a PATCH of the previous values (null for keys that were absent)",
    };

    public ActionDescriptor Descriptor => Info;

    public Task<ActionPlan> PlanAsync(PlanContext context, PlanInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return PatroniPlanning.PlanConfigAsync(context, input.Cluster, ConfigPatch.Parse(input.Required(PatroniActions.Patch)), input.Request, cancellationToken);
    }
}

/// <summary><c>patroni.pause</c> and <c>patroni.resume</c>: maintenance mode on or off; each is the other's undo.</summary>
internal abstract class PatroniMaintenanceModeAction(bool pause) : ImmediateActionKind
{
    protected static ActionDescriptor Describe(string kind, string summary, string undo) => new()
    {
        Kind = kind,
        Summary = summary,
        Member = MemberUse.None,
        Risk = ActionRisk.Medium,
        Reversible = true,
        VerifyTimeout = TimeSpan.FromSeconds(30),
        Undo = undo,
    };

    protected override PlannedAction Plan(PlanContext context, PlanInput input) =>
        PatroniActions.PlanPause(input.Cluster.Name, pause, input.Trigger, input.Initiator, input.Reason);
}

/// <summary><c>patroni.pause</c>: maintenance mode on.</summary>
internal sealed class PatroniPauseAction() : PatroniMaintenanceModeAction(pause: true)
{
    public static ActionDescriptor Info { get; } = Describe(PatroniActions.Pause,
        "Put the cluster in maintenance mode: Patroni keeps running but stops acting on failures (no automatic failover).", PatroniActions.Resume);

    public override ActionDescriptor Descriptor => Info;
}

/// <summary><c>patroni.resume</c>: maintenance mode off.</summary>
internal sealed class PatroniResumeAction() : PatroniMaintenanceModeAction(pause: false)
{
    public static ActionDescriptor Info { get; } = Describe(PatroniActions.Resume,
        "Leave maintenance mode: Patroni acts on failures again (automatic failover resumes).", PatroniActions.Pause);

    public override ActionDescriptor Descriptor => Info;
}

/// <summary><c>patroni.restart</c>: restart one member's PostgreSQL.</summary>
internal sealed class PatroniRestartAction : ImmediateActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = PatroniActions.Restart,
        Summary = "Restart one member's PostgreSQL through its Patroni (/restart); its sessions end, a leader's restart interrupts writes until it is back.",
        Member = MemberUse.Required,
        Risk = ActionRisk.High,
        Reversible = false,
        VerifyTimeout = TimeSpan.FromSeconds(120),
    };

    public override ActionDescriptor Descriptor => Info;

    protected override PlannedAction Plan(PlanContext context, PlanInput input) =>
        PatroniActions.PlanRestart(input.Cluster.Name, input.RequiredMember, context.Time.GetUtcNow(), input.Trigger, input.Initiator, input.Reason);
}

/// <summary><c>patroni.reload</c>: reload one member's configuration.</summary>
internal sealed class PatroniReloadAction : ImmediateActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = PatroniActions.Reload,
        Summary = "Reload one member's Patroni and PostgreSQL configuration (/reload, like pg_reload_conf()); nothing restarts.",
        Member = MemberUse.Required,
        Risk = ActionRisk.Low,
        Reversible = false,
        VerifyTimeout = TimeSpan.FromSeconds(30),
    };

    public override ActionDescriptor Descriptor => Info;

    protected override PlannedAction Plan(PlanContext context, PlanInput input) =>
        PatroniActions.PlanReload(input.Cluster.Name, input.RequiredMember, input.Trigger, input.Initiator, input.Reason);
}

/// <summary><c>patroni.reinit</c>: rebuild a replica from the leader.</summary>
internal sealed class PatroniReinitAction : IActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = ReinitActuator.Kind,
        Summary = "Rebuild a broken or diverged replica from the leader through Patroni (/reinitialize): its data directory is replaced by a fresh copy.",
        Parameters =
        [
            new(SqlActions.TimeoutSeconds, ParameterType.Number, "how long verification waits for the rebuilt member to stream again, in seconds") { Default = "300" },
        ],
        Member = MemberUse.Required,
        Risk = ActionRisk.High,
        Reversible = false,
        LossBound = "the precheck refuses the leader: only a replica's own copy is discarded, the cluster's writes stay on the leader",
        VerifyTimeout = TimeSpan.FromSeconds(300),
    };

    public ActionDescriptor Descriptor => Info;

    public async Task<ActionPlan> PlanAsync(PlanContext context, PlanInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        var rebuilt = input.RequiredMember;
        var current = await context.Sensing.SenseAsync(input.Cluster.Name, cancellationToken).ConfigureAwait(false);
        return new ActionPlan
        {
            Snapshot = current,
            Action = ReinitActuator.PlanFor(input.Cluster.Name, rebuilt, current, input.P(SqlActions.TimeoutSeconds), context.Time.GetUtcNow(), input.Trigger,
                input.Initiator, input.Reason),
        };
    }
}

/// <summary>The Patroni kinds' planning that senses the cluster first (the leader, the candidates, the configuration).</summary>
internal static class PatroniPlanning
{
    internal static async Task<ActionPlan> PlanSwitchoverAsync(PlanContext context, PgCluster cluster, string? candidate, string? leader, ActionRequest request, CancellationToken cancellationToken)
    {
        if (candidate is not null)
        {
            context.Resolve(cluster.Name, candidate);
        }

        if (leader is not null)
        {
            context.Resolve(cluster.Name, leader);
        }

        var s = await context.Sensing.SenseAsync(cluster.Name, cancellationToken).ConfigureAwait(false);
        leader ??= s.Leader;
        if (leader is null)
        {
            return new ActionPlan
            {
                Snapshot = s,
                Problem = $"no member of {cluster.Name} holds the leader key: a switchover needs a leader (use a failover)",
                Candidates = CandidateRules.EvaluateAll(s, CandidatePurpose.Failover),
            };
        }

        if (string.Equals(candidate, leader, StringComparison.Ordinal))
        {
            throw new InputException($"{candidate} is already the leader of {cluster.Name}: nothing to switch over to");
        }

        IReadOnlyList<CandidateEvaluation> evaluations;
        if (candidate is null)
        {
            evaluations = CandidateRules.EvaluateAll(s, CandidatePurpose.AutomaticSwitchover);
            var chosen = CandidateRules.Choose(s, evaluations);
            if (chosen is null)
            {
                return new ActionPlan
                {
                    Snapshot = s,
                    Candidates = evaluations,
                    Problem = $"no member of {cluster.Name} is eligible to take over from {leader}: " + string.Join("; ", evaluations.Select(e => e.Describe())),
                };
            }

            candidate = chosen.Member;
        }
        else
        {
            evaluations = [CandidateRules.Evaluate(s, candidate, CandidatePurpose.NamedSwitchover)];
        }

        var reason = request.Reason ?? (request.Parameters.ContainsKey(ActionParameters.Candidate) || request.Member is not null ? null : "candidate chosen by rule: eligible with the smallest lag");
        return new ActionPlan
        {
            Snapshot = s,
            Candidates = evaluations,
            Action = PatroniActions.PlanSwitchover(cluster.Name, leader, candidate, s.Timeline, request.Trigger, request.Initiator, reason),
        };
    }

    /// <summary>
    /// A failover to <paramref name="candidate"/>. <paramref name="failed"/> names the member it replaces (a skill
    /// failing over from a failed leader): when another member holds the key by now, Patroni has failed over by itself
    /// and nothing is planned (a second leader change would move the key away from the member it just promoted, with
    /// what that member acknowledged since). Without it, the failover is from whoever holds the key now.
    /// </summary>
    internal static async Task<ActionPlan> PlanFailoverAsync(PlanContext context, PgCluster cluster, string? candidate, string? failed, ActionRequest request, CancellationToken cancellationToken)
    {
        if (candidate is null)
        {
            throw new InputException("a failover needs the member to promote (--to MEMBER)", [$"members: {string.Join(", ", cluster.Members.Select(x => x.Name))}"]);
        }

        context.Resolve(cluster.Name, candidate);
        if (failed is not null)
        {
            context.Resolve(cluster.Name, failed);
        }

        var s = await context.Sensing.SenseAsync(cluster.Name, cancellationToken).ConfigureAwait(false);
        if (string.Equals(candidate, s.Leader, StringComparison.Ordinal))
        {
            throw new InputException($"{candidate} is already the leader of {cluster.Name}: nothing to fail over to");
        }

        if (failed is not null && s.Leader is { } now && !string.Equals(now, failed, StringComparison.Ordinal))
        {
            throw new InputException($"{now} holds the leader key of {cluster.Name} in place of {failed}: Patroni failed over by itself; nothing to fail over from");
        }

        return new ActionPlan
        {
            Snapshot = s,
            Candidates = [CandidateRules.Evaluate(s, candidate, CandidatePurpose.Failover)],
            Action = PatroniActions.PlanFailover(cluster.Name, candidate, failed ?? s.Leader, s.Timeline, request.Trigger, request.Initiator, request.Reason),
        };
    }

    internal static async Task<ActionPlan> PlanConfigAsync(PlanContext context, PgCluster cluster, JsonObject patch, ActionRequest request, CancellationToken cancellationToken)
    {
        var s = await context.Sensing.SenseAsync(cluster.Name, cancellationToken).ConfigureAwait(false);
        var (current, source) = await PatroniConfigActuator.ReadConfigAsync(context.Control, TimeSpan.FromSeconds(10), cluster, s, cancellationToken).ConfigureAwait(false);
        if (current is null)
        {
            return new ActionPlan { Snapshot = s, Problem = source };
        }

        var changes = ConfigPatch.Changes(current, patch);
        return new ActionPlan
        {
            Snapshot = s,
            Changes = changes,
            Action = PatroniActions.PlanConfig(cluster.Name, patch, ConfigPatch.Inverse(current, patch), changes, request.Trigger, request.Initiator, request.Reason),
        };
    }
}
