using System.Globalization;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Acting.Backup;
using PgRuntimeAgent.Acting.Fencing;
using PgRuntimeAgent.Acting.InventoryPatches;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Acting.Sql;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Acting.Planning;

/// <summary>What somebody asks for: an action kind on a cluster (and member), with text parameters (a CLI's <c>--param</c>, a skill's <c>with:</c>).</summary>
internal sealed record ActionRequest
{
    public required string Kind { get; init; }

    public required string Cluster { get; init; }

    public string? Member { get; init; }

    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    public ActionTrigger Trigger { get; init; } = ActionTrigger.Operator;

    public string? Initiator { get; init; }

    public string? Reason { get; init; }
}

/// <summary>A request turned into an action, or the reason it could not be (no leader, no eligible candidate, configuration unreadable).</summary>
internal sealed record ActionPlan
{
    public PlannedAction? Action { get; init; }

    public string? Problem { get; init; }

    /// <summary>The snapshot the plan was made on, when it needed one.</summary>
    public ClusterSnapshot? Snapshot { get; init; }

    /// <summary>How each possible new leader fared against the rules (switchover, failover).</summary>
    public IReadOnlyList<CandidateEvaluation> Candidates { get; init; } = [];

    /// <summary>What a configuration change changes (patroni.config).</summary>
    public IReadOnlyList<ConfigChange> Changes { get; init; } = [];
}

/// <summary>
/// Turns an <see cref="ActionRequest"/> into a <see cref="PlannedAction"/> for the pipeline. Input is validated here
/// (unknown cluster, member, kind or parameter, malformed values: <see cref="InputException"/>); what depends on the
/// cluster (the current leader, the best candidate, the current configuration) is sensed. The daemon's skill host
/// and the CLI use the same planner, so an action means the same whoever asks.
/// </summary>
internal sealed class ActionPlanner
{
    private static readonly Dictionary<string, string[]> AllowedParameters = new(StringComparer.Ordinal)
    {
        [PatroniActions.Switchover] = [ActionParameters.Candidate, ActionParameters.Leader],
        [PatroniActions.Failover] = [ActionParameters.Candidate, ActionParameters.Leader],
        [PatroniActions.Config] = [PatroniActions.Patch],
        [PatroniActions.Pause] = [],
        [PatroniActions.Resume] = [],
        [PatroniActions.Restart] = [],
        [PatroniActions.Reload] = [],
        [SqlActions.CreateIndex] = [SqlActions.Database, SqlActions.Schema, SqlActions.Table, SqlActions.Columns, SqlActions.Index, SqlActions.Method, SqlActions.Unique, SqlActions.TimeoutSeconds],
        [SqlActions.DropIndex] = [SqlActions.Database, SqlActions.Schema, SqlActions.Index, SqlActions.TimeoutSeconds],
        [SqlActions.Analyze] = [SqlActions.Database, SqlActions.Schema, SqlActions.Table, SqlActions.TimeoutSeconds],
        [SqlActions.Vacuum] = [SqlActions.Database, SqlActions.Schema, SqlActions.Table, SqlActions.WithAnalyze, SqlActions.Freeze, SqlActions.TimeoutSeconds],
        [SqlActions.CancelBackend] = [SqlActions.Pid, SqlActions.BackendStart],
        [SqlActions.TerminateBackend] = [SqlActions.Pid, SqlActions.BackendStart],
        [SqlActions.AlterSystem] = [SqlActions.Name, SqlActions.Value, SqlActions.Reset, SqlActions.Database],
        [CheckpointActuator.Kind] = [SqlActions.TimeoutSeconds],
        [ReinitActuator.Kind] = [SqlActions.TimeoutSeconds],
        [BackupRunActuator.Kind] = [BackupRunActuator.Stanza, BackupRunActuator.Type, BackupRunActuator.TimeoutSeconds],
        [FenceActuator.Kind] = [FenceActuator.SshCommandParameter],
        [InventoryPatchActuator.Kind] = [InventoryPatchActuator.File, InventoryPatchActuator.Changes],
        [SshCommandActuator.Kind] = ["command", "verify_command", "undo_command", SqlActions.TimeoutSeconds],
        [AnsiblePlaybookActuator.Kind] = ["playbook", "limit", "tags", ActionParameters.CheckFirst, "undo_playbook", SqlActions.TimeoutSeconds],
    };

    private readonly Topology _topology;
    private readonly IClusterSensing _sensing;
    private readonly PatroniControl _control;
    private readonly TimeProvider _time;
    private readonly string _defaultDatabase;

    public ActionPlanner(Topology topology, IClusterSensing sensing, PatroniControl control, TimeProvider time, string defaultDatabase)
    {
        _topology = topology;
        _sensing = sensing;
        _control = control;
        _time = time;
        _defaultDatabase = defaultDatabase;
    }

    /// <summary>A planner for a deployment, sharing the deployment's action sensing.</summary>
    public static ActionPlanner For(ActuatorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new ActionPlanner(context.Topology, ActionSensing.For(context), new PatroniControl(context.Secrets, context.Time), context.Time,
            context.Settings.Sensing.Postgres.Database);
    }

    /// <summary>Kinds this planner knows.</summary>
    public static IReadOnlyCollection<string> Kinds => AllowedParameters.Keys;

    /// <summary>Checks the cluster and member names against the inventory (<see cref="InputException"/> with the valid names).</summary>
    public (PgCluster Cluster, PgMember? Member) Resolve(string cluster, string? member)
    {
        var c = _topology.FindCluster(cluster)
            ?? throw new InputException($"no cluster '{cluster}' in {_topology.SourcePath}", [$"clusters: {string.Join(", ", _topology.Clusters.Select(x => x.Name))}"]);
        if (member is null)
        {
            return (c, null);
        }

        var m = c.FindMember(member)
            ?? throw new InputException($"no member '{member}' in cluster {cluster}", [$"members: {string.Join(", ", c.Members.Select(x => x.Name))}"]);
        return (c, m);
    }

    public async Task<ActionPlan> PlanAsync(ActionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!AllowedParameters.TryGetValue(request.Kind, out var allowed))
        {
            throw new InputException($"unknown action '{request.Kind}'", [$"known: {string.Join(", ", Kinds.Order(StringComparer.Ordinal))}"]);
        }

        var unknown = request.Parameters.Keys.Where(k => !allowed.Contains(k, StringComparer.Ordinal)).ToList();
        if (unknown.Count > 0)
        {
            throw new InputException($"{request.Kind} takes no parameter {string.Join(", ", unknown.Select(u => $"'{u}'"))}",
                [allowed.Length == 0 ? "it takes no parameters" : $"parameters: {string.Join(", ", allowed)}"]);
        }

        var (cluster, member) = Resolve(request.Cluster, request.Member);
        string? P(string name) => request.Parameters.TryGetValue(name, out var v) ? v : null;
        string NeedMember() => member?.Name ?? throw new InputException($"{request.Kind} needs a member (--member)", [$"members: {string.Join(", ", cluster.Members.Select(x => x.Name))}"]);
        var database = P(SqlActions.Database) ?? _defaultDatabase;
        var t = request.Trigger;
        var who = request.Initiator;
        var why = request.Reason;

        switch (request.Kind)
        {
            case PatroniActions.Switchover:
                return await PlanSwitchoverAsync(cluster, P(ActionParameters.Candidate) ?? member?.Name, P(ActionParameters.Leader), request, cancellationToken).ConfigureAwait(false);
            case PatroniActions.Failover:
                return await PlanFailoverAsync(cluster, P(ActionParameters.Candidate) ?? member?.Name, P(ActionParameters.Leader), request, cancellationToken).ConfigureAwait(false);
            case PatroniActions.Config:
                return await PlanConfigAsync(cluster, ConfigPatch.Parse(P(PatroniActions.Patch) ?? throw new InputException("patroni.config needs 'patch' (a JSON merge patch)")),
                    request, cancellationToken).ConfigureAwait(false);
            case PatroniActions.Pause:
            case PatroniActions.Resume:
                return new ActionPlan { Action = PatroniActions.PlanPause(cluster.Name, request.Kind == PatroniActions.Pause, t, who, why) };
            case PatroniActions.Restart:
                return new ActionPlan { Action = PatroniActions.PlanRestart(cluster.Name, NeedMember(), _time.GetUtcNow(), t, who, why) };
            case PatroniActions.Reload:
                return new ActionPlan { Action = PatroniActions.PlanReload(cluster.Name, NeedMember(), t, who, why) };
            case SqlActions.CreateIndex:
                var columns = SqlIdentifier.SplitList(P(SqlActions.Columns) ?? throw new InputException("sql.create_index needs 'columns' (comma-separated)"), "column");
                return new ActionPlan
                {
                    Action = WithTimeout(SqlActions.PlanCreateIndex(cluster.Name, database, P(SqlActions.Schema) ?? "public",
                        P(SqlActions.Table) ?? throw new InputException("sql.create_index needs 'table'"), columns, P(SqlActions.Index),
                        P(SqlActions.Method) ?? "btree", Bool(P(SqlActions.Unique), SqlActions.Unique), t, who, why), P(SqlActions.TimeoutSeconds)),
                };
            case SqlActions.DropIndex:
                return new ActionPlan
                {
                    Action = WithTimeout(SqlActions.PlanDropIndex(cluster.Name, database, P(SqlActions.Schema) ?? "public",
                        P(SqlActions.Index) ?? throw new InputException("sql.drop_index needs 'index'"), t, who, why), P(SqlActions.TimeoutSeconds)),
                };
            case SqlActions.Analyze:
                return new ActionPlan
                {
                    Action = WithTimeout(SqlActions.PlanAnalyze(cluster.Name, database, P(SqlActions.Schema), P(SqlActions.Table), _time.GetUtcNow(), t, who, why),
                        P(SqlActions.TimeoutSeconds)),
                };
            case SqlActions.Vacuum:
                return new ActionPlan
                {
                    Action = WithTimeout(SqlActions.PlanVacuum(cluster.Name, database, P(SqlActions.Schema) ?? "public",
                        P(SqlActions.Table) ?? throw new InputException("sql.vacuum needs 'table'"), Bool(P(SqlActions.WithAnalyze), SqlActions.WithAnalyze),
                        Bool(P(SqlActions.Freeze), SqlActions.Freeze), _time.GetUtcNow(), t, who, why), P(SqlActions.TimeoutSeconds)),
                };
            case SqlActions.CancelBackend:
            case SqlActions.TerminateBackend:
                var pidText = P(SqlActions.Pid) ?? throw new InputException($"{request.Kind} needs 'pid'");
                if (!int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 0)
                {
                    throw new InputException($"pid must be a positive integer, got '{pidText}'");
                }

                DateTimeOffset? start = null;
                if (P(SqlActions.BackendStart) is { } s)
                {
                    start = DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var st) ? st
                        : throw new InputException($"backend_start must be a time (ISO 8601), got '{s}'");
                }

                return new ActionPlan { Action = SqlActions.PlanBackend(request.Kind, cluster.Name, member?.Name, pid, start, t, who, why) };
            case SqlActions.AlterSystem:
                var reset = Bool(P(SqlActions.Reset), SqlActions.Reset);
                var value = P(SqlActions.Value);
                if (reset == (value is not null))
                {
                    throw new InputException("sql.alter_system needs exactly one of 'value' or 'reset=true'");
                }

                return new ActionPlan
                {
                    Action = SqlActions.PlanAlterSystem(cluster.Name, member?.Name, P(SqlActions.Name) ?? throw new InputException("sql.alter_system needs 'name'"),
                        value, P(SqlActions.Database), t, who, why),
                };
            case CheckpointActuator.Kind:
                return new ActionPlan { Action = CheckpointActuator.Plan(cluster.Name, member?.Name, _time.GetUtcNow(), P(SqlActions.TimeoutSeconds), t, who, why) };
            case ReinitActuator.Kind:
                var rebuilt = NeedMember();
                var current = await _sensing.SenseAsync(cluster.Name, cancellationToken).ConfigureAwait(false);
                return new ActionPlan { Snapshot = current, Action = ReinitActuator.PlanFor(cluster.Name, rebuilt, current, P(SqlActions.TimeoutSeconds), _time.GetUtcNow(), t, who, why) };
            case BackupRunActuator.Kind:
                return new ActionPlan
                {
                    Action = BackupRunActuator.PlanFor(cluster, member?.Name, P(BackupRunActuator.Stanza), P(BackupRunActuator.Type), P(BackupRunActuator.TimeoutSeconds), _time.GetUtcNow(), t, who, why),
                };
            case FenceActuator.Kind:
                return new ActionPlan { Action = FenceActuator.Plan(cluster.Name, NeedMember(), P(FenceActuator.SshCommandParameter), t, who, why) };
            case InventoryPatchActuator.Kind:
                return new ActionPlan
                {
                    Action = InventoryPatchActuator.PlanRequest(_topology, cluster.Name, P(InventoryPatchActuator.File), P(InventoryPatchActuator.Changes), t, who, why),
                };
            case SshCommandActuator.Kind:
                var ssh = SshCommandActuator.Plan(cluster.Name, NeedMember(), P("command") ?? throw new InputException("ssh.command needs 'command' (a name from policy.ssh_commands)"),
                    P("verify_command"), P("undo_command"), t, who);
                return new ActionPlan { Action = WithTimeout(ssh with { Reason = why }, P(SqlActions.TimeoutSeconds)) };
            case AnsiblePlaybookActuator.Kind:
                var playbook = AnsiblePlaybookActuator.Plan(cluster.Name, P("playbook") ?? throw new InputException("ansible.playbook needs 'playbook' (a path from policy.ansible_playbooks)"),
                    P("limit"), P("tags"), P(ActionParameters.CheckFirst) is not { } checkFirst || Bool(checkFirst, ActionParameters.CheckFirst), P("undo_playbook"), t, who);
                return new ActionPlan { Action = WithTimeout(playbook with { Member = member?.Name, Reason = why }, P(SqlActions.TimeoutSeconds)) };
            default:
                throw new InputException($"unknown action '{request.Kind}'");
        }
    }

    private async Task<ActionPlan> PlanSwitchoverAsync(PgCluster cluster, string? candidate, string? leader, ActionRequest request, CancellationToken cancellationToken)
    {
        if (candidate is not null)
        {
            Resolve(cluster.Name, candidate);
        }

        if (leader is not null)
        {
            Resolve(cluster.Name, leader);
        }

        var s = await _sensing.SenseAsync(cluster.Name, cancellationToken).ConfigureAwait(false);
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
    private async Task<ActionPlan> PlanFailoverAsync(PgCluster cluster, string? candidate, string? failed, ActionRequest request, CancellationToken cancellationToken)
    {
        if (candidate is null)
        {
            throw new InputException("a failover needs the member to promote (--to MEMBER)", [$"members: {string.Join(", ", cluster.Members.Select(x => x.Name))}"]);
        }

        Resolve(cluster.Name, candidate);
        if (failed is not null)
        {
            Resolve(cluster.Name, failed);
        }

        var s = await _sensing.SenseAsync(cluster.Name, cancellationToken).ConfigureAwait(false);
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

    private async Task<ActionPlan> PlanConfigAsync(PgCluster cluster, JsonObject patch, ActionRequest request, CancellationToken cancellationToken)
    {
        var s = await _sensing.SenseAsync(cluster.Name, cancellationToken).ConfigureAwait(false);
        var (current, source) = await PatroniConfigActuator.ReadConfigAsync(_control, TimeSpan.FromSeconds(10), cluster, s, cancellationToken).ConfigureAwait(false);
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

    private static PlannedAction WithTimeout(PlannedAction action, string? seconds)
    {
        if (seconds is null)
        {
            return action;
        }

        if (!double.TryParse(seconds, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) || s <= 0)
        {
            throw new InputException($"timeout_seconds must be a positive number, got '{seconds}'");
        }

        var parameters = new Dictionary<string, string>(action.Parameters, StringComparer.Ordinal) { [SqlActions.TimeoutSeconds] = seconds };
        return action with { Parameters = parameters };
    }

    private static bool Bool(string? text, string name) => text switch
    {
        null or "false" => false,
        "true" => true,
        _ => throw new InputException($"{name} must be true or false, got '{text}'"),
    };
}
