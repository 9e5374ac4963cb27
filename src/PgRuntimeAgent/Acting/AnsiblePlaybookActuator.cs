using System.Globalization;
using System.Text.RegularExpressions;
using PgRuntimeAgent.Inventory;

namespace PgRuntimeAgent.Acting;

/// <summary>
/// <c>ansible.playbook</c>: runs an allow-listed playbook (<c>policy.ansible_playbooks</c>, paths under
/// <c>policy.ansible_dir</c>) against the inventory with <c>--limit</c> and <c>--tags</c>. With
/// <c>check_first=true</c> it runs <c>--check --diff</c> first and stops there if the check fails. The output goes
/// to the journal. Verification (and reconciliation) re-runs the playbook in check mode and expects nothing left to
/// change; <c>undo_playbook</c> (allow-listed) makes the action reversible.
/// Parameters: <c>playbook</c>, <c>limit</c>, <c>tags</c>, <c>check_first</c>, <c>undo_playbook</c>, <c>timeout_seconds</c>.
/// </summary>
internal sealed partial class AnsiblePlaybookActuator : IActuator
{
    public const string Kind = "ansible.playbook";
    public const string Playbook = "playbook";
    public const string LimitParameter = "limit";
    public const string Tags = "tags";
    public const string UndoPlaybook = "undo_playbook";

    private readonly Topology _topology;
    private readonly IReadOnlyList<string> _playbooks;
    private readonly string _playbookDirectory;
    private readonly string _ansiblePlaybook;

    /// <param name="playbooks">The allow-list (<c>policy.ansible_playbooks</c>), paths under <paramref name="playbookDirectory"/>.</param>
    public AnsiblePlaybookActuator(Topology topology, IReadOnlyList<string> playbooks, string playbookDirectory, string ansiblePlaybookExecutable = "ansible-playbook")
    {
        _topology = topology;
        _playbooks = playbooks;
        _playbookDirectory = playbookDirectory;
        _ansiblePlaybook = ansiblePlaybookExecutable;
    }

    public IReadOnlyCollection<string> Kinds { get; } = [Kind];

    public static PlannedAction Plan(string cluster, string playbook, string? limit = null, string? tags = null, bool checkFirst = true,
        string? undoPlaybook = null, ActionTrigger trigger = ActionTrigger.Operator, string? initiator = null)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["playbook"] = playbook,
            [ActionParameters.CheckFirst] = checkFirst ? "true" : "false",
        };
        if (limit is not null)
        {
            parameters["limit"] = limit;
        }

        if (tags is not null)
        {
            parameters["tags"] = tags;
        }

        if (undoPlaybook is not null)
        {
            parameters["undo_playbook"] = undoPlaybook;
        }

        return AnsiblePlaybookAction.Info.Plan(cluster, null, parameters, $"run playbook {playbook} on {limit ?? cluster}{(tags is null ? "" : $" (tags {tags})")}",
            trigger, initiator, null) with { Reversible = undoPlaybook is not null };
    }

    public Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var checks = new List<CheckResult>();
        foreach (var key in new[] { "playbook", "undo_playbook" })
        {
            if (action.Parameter(key) is not { } playbook)
            {
                if (key == "playbook")
                {
                    checks.Add(new CheckResult("playbook-allowed", false, "the action names no playbook"));
                }

                continue;
            }

            if (!_playbooks.Contains(playbook, StringComparer.Ordinal))
            {
                checks.Add(new CheckResult($"{key}-allowed", false,
                    $"{playbook} is not on policy.ansible_playbooks (allowed: {(_playbooks.Count == 0 ? "none" : string.Join(", ", _playbooks))})"));
                continue;
            }

            var path = PlaybookPath(playbook);
            checks.Add(path is not null && File.Exists(path)
                ? new CheckResult($"{key}-exists", true, path)
                : new CheckResult($"{key}-exists", false, $"{playbook} does not exist under {_playbookDirectory}"));
        }

        var limit = Limit(action);
        checks.Add(SafeToken().IsMatch(limit)
            ? new CheckResult("limit", true, limit)
            : new CheckResult("limit", false, $"'{limit}' is not a plain host pattern"));
        if (action.Parameter("tags") is { } tags)
        {
            checks.Add(SafeToken().IsMatch(tags) ? new CheckResult("tags", true, tags) : new CheckResult("tags", false, $"'{tags}' is not a plain tag list"));
        }

        checks.Add(File.Exists(_topology.SourcePath)
            ? new CheckResult("inventory", true, _topology.SourcePath)
            : new CheckResult("inventory", false, $"{_topology.SourcePath} does not exist"));
        return Task.FromResult(new PrecheckResult(checks));
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var playbook = action.Parameter("playbook")!;
        var output = new System.Text.StringBuilder();
        if (string.Equals(action.Parameter(ActionParameters.CheckFirst), "true", StringComparison.OrdinalIgnoreCase))
        {
            var check = await RunAsync(action, playbook, check: true, cancellationToken).ConfigureAwait(false);
            output.Append("$ ansible-playbook --check --diff\n").Append(check.Combined(32 * 1024));
            if (check.ExitCode != 0)
            {
                return ExecuteResult.Failed($"the check run (--check --diff) of {playbook} failed with exit {check.ExitCode}; nothing was applied", output.ToString());
            }

            output.Append('\n');
        }

        var run = await RunAsync(action, playbook, check: false, cancellationToken).ConfigureAwait(false);
        output.Append("$ ansible-playbook\n").Append(run.Combined(32 * 1024));
        var recap = Recap.Parse(run.StandardOutput);
        return new ExecuteResult
        {
            Succeeded = run.ExitCode == 0,
            Message = $"{playbook} exited {run.ExitCode}: {recap}",
            Output = output.ToString(),
            Details = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["exit_code"] = run.ExitCode.ToString(CultureInfo.InvariantCulture),
                ["changed"] = recap.Changed.ToString(CultureInfo.InvariantCulture),
                ["failed"] = recap.Failed.ToString(CultureInfo.InvariantCulture),
                ["unreachable"] = recap.Unreachable.ToString(CultureInfo.InvariantCulture),
            },
        };
    }

    public async Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var check = await RunAsync(action, action.Parameter("playbook")!, check: true, cancellationToken).ConfigureAwait(false);
        var recap = Recap.Parse(check.StandardOutput);
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal) { ["check_recap"] = recap.ToString() };
        if (check.ExitCode == 0 && recap.Hosts > 0 && recap.Changed == 0)
        {
            return VerifyResult.Verified($"a check run finds nothing left to change ({recap})") with { Evidence = evidence };
        }

        return VerifyResult.Failed(check.ExitCode != 0
            ? $"the check run failed with exit {check.ExitCode} ({recap})"
            : $"a check run still finds changes to make ({recap})") with { Evidence = evidence };
    }

    public async Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var check = await RunAsync(action, action.Parameter("playbook")!, check: true, cancellationToken).ConfigureAwait(false);
        var recap = Recap.Parse(check.StandardOutput);
        if (check.ExitCode != 0 || recap.Hosts == 0)
        {
            return new ReconcileResult(ReconcileStatus.Unknown, $"the check run failed with exit {check.ExitCode} ({recap})");
        }

        return recap.Changed == 0
            ? new ReconcileResult(ReconcileStatus.Happened, $"a check run finds nothing to change ({recap})") { Undo = PlanUndo(action, ExecuteResult.Ok("")) }
            : new ReconcileResult(ReconcileStatus.NotHappened, $"a check run finds changes to make ({recap})");
    }

    public PlannedAction? PlanUndo(PlannedAction action, ExecuteResult execution)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (action.Parameter("undo_playbook") is not { } undo)
        {
            return null;
        }

        var parameters = action.Parameters.Where(p => p.Key is "limit" or "tags" or "timeout_seconds" or ActionParameters.CheckFirst)
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        parameters["playbook"] = undo;
        return action with
        {
            Id = "",
            Parameters = parameters,
            Reversible = false,
            Undo = null,
            Summary = $"run playbook {undo} on {Limit(action)} (undo of {action.Parameter("playbook")})",
        };
    }

    private string? PlaybookPath(string playbook)
    {
        var root = Path.GetFullPath(_playbookDirectory);
        var full = Path.GetFullPath(playbook, root);
        return full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal) ? full : null;
    }

    /// <summary>
    /// The <c>--limit</c> pattern: the <c>limit</c> parameter, else the member's host as the inventory names it (a
    /// Pigsty inventory's hosts are IP addresses, not member names like pg-test-1), else the cluster's group.
    /// </summary>
    private string Limit(PlannedAction action)
    {
        if (action.Parameter("limit") is { } limit)
        {
            return limit;
        }

        if (action.Member is { } name)
        {
            return _topology.FindCluster(action.Cluster)?.FindMember(name)?.Ip ?? name;
        }

        return action.Cluster;
    }

    private async Task<ProcessResult> RunAsync(PlannedAction action, string playbook, bool check, CancellationToken cancellationToken)
    {
        var path = PlaybookPath(playbook) ?? throw new InvalidOperationException($"{playbook} is outside {_playbookDirectory}");
        var args = new List<string> { "-i", _topology.SourcePath, path, "--limit", Limit(action) };
        if (action.Parameter("tags") is { } tags)
        {
            args.Add("--tags");
            args.Add(tags);
        }

        if (check)
        {
            args.Add("--check");
            args.Add("--diff");
        }

        var timeout = double.TryParse(action.Parameter("timeout_seconds"), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0
            ? TimeSpan.FromSeconds(s)
            : TimeSpan.FromMinutes(30);
        return await ProcessRunner.RunAsync(_ansiblePlaybook, args, timeout, cancellationToken, _playbookDirectory).ConfigureAwait(false);
    }

    [GeneratedRegex(@"^[A-Za-z0-9_.,:!&*\-\[\]]+$")]
    private static partial Regex SafeToken();

    /// <summary>The PLAY RECAP totals of an ansible-playbook run.</summary>
    internal sealed partial record Recap(int Hosts, int Ok, int Changed, int Unreachable, int Failed)
    {
        public static Recap Parse(string output)
        {
            int hosts = 0, ok = 0, changed = 0, unreachable = 0, failed = 0;
            foreach (Match m in RecapLine().Matches(output ?? ""))
            {
                hosts++;
                ok += int.Parse(m.Groups["ok"].Value, CultureInfo.InvariantCulture);
                changed += int.Parse(m.Groups["changed"].Value, CultureInfo.InvariantCulture);
                unreachable += int.Parse(m.Groups["unreachable"].Value, CultureInfo.InvariantCulture);
                failed += int.Parse(m.Groups["failed"].Value, CultureInfo.InvariantCulture);
            }

            return new Recap(hosts, ok, changed, unreachable, failed);
        }

        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"{Hosts} host(s): ok={Ok} changed={Changed} unreachable={Unreachable} failed={Failed}");

        [GeneratedRegex(@"^\S+\s*:\s*ok=(?<ok>\d+)\s+changed=(?<changed>\d+)\s+unreachable=(?<unreachable>\d+)\s+failed=(?<failed>\d+)", RegexOptions.Multiline)]
        private static partial Regex RecapLine();
    }
}

/// <summary>Registers the SSH and Ansible actuators for a deployment.</summary>
internal sealed class ShellActuatorFactory : IActuatorFactory
{
    public IEnumerable<IActuator> Create(ActuatorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var policy = context.Policy;
        yield return new SshCommandActuator(context.Topology, policy.SshCommands, connection: context.Sensing.Ssh);
        yield return new AnsiblePlaybookActuator(context.Topology, policy.AnsiblePlaybooks, Path.GetFullPath(policy.AnsibleDir, context.BaseDirectory));
    }
}
