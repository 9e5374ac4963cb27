using System.Globalization;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Policy;

namespace PgRuntimeAgent.Acting;

/// <summary>
/// <c>ssh.command</c>: runs one command from the allow-list (<c>policy.ssh_commands</c>, name → command line) on a
/// member's host over the system's <c>ssh</c> (BatchMode, the operator's keys and ~/.ssh/config). The action names
/// the command, never the text, so nothing outside the list can run. Parameters: <c>command</c> (a name),
/// <c>verify_command</c> (a name whose exit 0 means the change is in effect; it also answers reconciliation),
/// <c>undo_command</c> (a name; makes the action reversible), <c>timeout_seconds</c>. In a command line,
/// <c>{cluster}</c> and <c>{member}</c> are replaced by the target's names.
/// </summary>
internal sealed class SshCommandActuator : IActuator
{
    public const string Kind = "ssh.command";

    private readonly Topology _topology;
    private readonly PolicySettings _policy;
    private readonly string _ssh;

    public SshCommandActuator(Topology topology, PolicySettings policy, string sshExecutable = "ssh")
    {
        _topology = topology;
        _policy = policy;
        _ssh = sshExecutable;
    }

    public IReadOnlyCollection<string> Kinds { get; } = [Kind];

    /// <summary>An <c>ssh.command</c> action for an allow-listed command on a member.</summary>
    public static PlannedAction Plan(string cluster, string member, string command, string? verifyCommand = null, string? undoCommand = null,
        ActionTrigger trigger = ActionTrigger.Operator, string? initiator = null)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["command"] = command };
        if (verifyCommand is not null)
        {
            parameters["verify_command"] = verifyCommand;
        }

        if (undoCommand is not null)
        {
            parameters["undo_command"] = undoCommand;
        }

        return new PlannedAction
        {
            Id = PlannedAction.NewId(),
            Kind = Kind,
            Cluster = cluster,
            Member = member,
            Parameters = parameters,
            Risk = ActionRisk.High,
            Reversible = undoCommand is not null,
            Trigger = trigger,
            Initiator = initiator,
            Summary = $"run '{command}' on {member} over SSH",
        };
    }

    public Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var checks = new List<CheckResult>();
        foreach (var key in new[] { "command", "verify_command", "undo_command" })
        {
            if (action.Parameter(key) is { } name)
            {
                checks.Add(_policy.SshCommands.ContainsKey(name)
                    ? new CheckResult($"{key}-allowed", true, $"'{name}' is on policy.ssh_commands")
                    : new CheckResult($"{key}-allowed", false, $"'{name}' is not on policy.ssh_commands (allowed: {Allowed()})"));
            }
        }

        if (action.Parameter("command") is null)
        {
            checks.Add(new CheckResult("command-allowed", false, "the action names no command"));
        }

        var member = FindMember(action);
        checks.Add(member is null
            ? new CheckResult("target-member", false, $"{action.Member ?? "(none)"} is not a member of {action.Cluster} in the inventory")
            : new CheckResult("target-member", true, $"{member.Name} at {member.Ip}"));
        return Task.FromResult(new PrecheckResult(checks));
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var result = await RunAsync(action, action.Parameter("command")!, cancellationToken).ConfigureAwait(false);
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["exit_code"] = result.ExitCode.ToString(CultureInfo.InvariantCulture),
            ["duration_ms"] = ((long)result.Duration.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
        };
        return new ExecuteResult
        {
            Succeeded = result.ExitCode == 0,
            Message = result.ExitCode == 0 ? $"'{action.Parameter("command")}' exited 0" : $"'{action.Parameter("command")}' exited {result.ExitCode}",
            Output = result.Combined(),
            Details = details,
        };
    }

    public async Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(execution);
        if (action.Parameter("verify_command") is not { } verify)
        {
            return execution.Succeeded
                ? VerifyResult.Verified("the command exited 0 (no verify_command declared)")
                : VerifyResult.Failed("the command failed and no verify_command is declared");
        }

        var result = await RunAsync(action, verify, cancellationToken).ConfigureAwait(false);
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal) { ["verify_output"] = result.Combined(4096) };
        return (result.ExitCode == 0
            ? VerifyResult.Verified($"'{verify}' exited 0")
            : VerifyResult.Pending($"'{verify}' exited {result.ExitCode}")) with { Evidence = evidence };
    }

    public async Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (action.Parameter("verify_command") is not { } verify || FindMember(action) is null)
        {
            return new ReconcileResult(ReconcileStatus.Unknown, "no verify_command is declared: cannot tell whether the command ran");
        }

        var result = await RunAsync(action, verify, cancellationToken).ConfigureAwait(false);
        return result.TimedOut || result.ExitCode == 255
            ? new ReconcileResult(ReconcileStatus.Unknown, $"'{verify}' could not run: {result.Combined(512).Trim()}")
            : result.ExitCode == 0
                ? new ReconcileResult(ReconcileStatus.Happened, $"'{verify}' exited 0") { Undo = PlanUndoAction(action) }
                : new ReconcileResult(ReconcileStatus.NotHappened, $"'{verify}' exited {result.ExitCode}");
    }

    public PlannedAction? PlanUndo(PlannedAction action, ExecuteResult execution) => PlanUndoAction(action);

    private static PlannedAction? PlanUndoAction(PlannedAction action)
    {
        if (action.Parameter("undo_command") is not { } undo)
        {
            return null;
        }

        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["command"] = undo };
        if (action.Parameter("timeout_seconds") is { } timeout)
        {
            parameters["timeout_seconds"] = timeout;
        }

        return action with
        {
            Id = "",
            Parameters = parameters,
            Reversible = false,
            Undo = null,
            Summary = $"run '{undo}' on {action.Member} over SSH (undo of '{action.Parameter("command")}')",
        };
    }

    private PgMember? FindMember(PlannedAction action) =>
        action.Member is null ? null : _topology.FindCluster(action.Cluster)?.FindMember(action.Member);

    private string Allowed() => _policy.SshCommands.Count == 0 ? "none" : string.Join(", ", _policy.SshCommands.Keys.Order(StringComparer.Ordinal));

    private async Task<ProcessResult> RunAsync(PlannedAction action, string name, CancellationToken cancellationToken)
    {
        if (!_policy.SshCommands.TryGetValue(name, out var line))
        {
            return new ProcessResult(-1, "", $"'{name}' is not on policy.ssh_commands", TimeSpan.Zero, false);
        }

        var member = FindMember(action) ?? throw new InvalidOperationException($"{action.Member} is not a member of {action.Cluster}");
        var text = line.Replace("{cluster}", action.Cluster, StringComparison.Ordinal).Replace("{member}", member.Name, StringComparison.Ordinal);
        var timeout = double.TryParse(action.Parameter("timeout_seconds"), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0
            ? TimeSpan.FromSeconds(s)
            : TimeSpan.FromSeconds(60);
        string[] args = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", member.Ip, "--", text];
        return await ProcessRunner.RunAsync(_ssh, args, timeout, cancellationToken).ConfigureAwait(false);
    }
}
