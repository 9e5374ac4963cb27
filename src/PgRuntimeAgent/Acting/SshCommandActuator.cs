using System.Globalization;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Transport;

namespace PgRuntimeAgent.Acting;

/// <summary>
/// <c>ssh.command</c>: runs one command from the allow-list (<c>policy.ssh_commands</c>, name → command line) on a
/// member's host through the agent's one SSH transport (<see cref="SshRunner"/>: the connection of
/// <c>sensing.ssh</c>, key only, host keys pinned), so a host without a pinned key is refused before ssh starts and
/// a changed host key refuses the connection. The action names the command, never the text, so nothing
/// outside the list can run. Parameters: <c>command</c> (a name), <c>verify_command</c> (a name whose exit 0 means
/// the change is in effect; it also answers reconciliation), <c>undo_command</c> (a name; makes the action
/// reversible), <c>timeout_seconds</c>. In a command line, <c>{cluster}</c> and <c>{member}</c> are replaced by the
/// target's names (which must be plain names: letters, digits, '.', '_', '-').
/// </summary>
internal sealed class SshCommandActuator : IActuator
{
    public const string Kind = "ssh.command";
    public const string Command = "command";
    public const string VerifyCommand = "verify_command";
    public const string UndoCommand = "undo_command";

    /// <summary>ssh's exit status when it could not connect or authenticate (the remote command never ran).</summary>
    public const int SshConnectionFailed = SshRunner.ConnectionFailed;

    private readonly Topology _topology;
    private readonly IReadOnlyDictionary<string, string> _commands;
    private readonly SshSettings _connection;
    private readonly SshRunner _ssh;

    /// <param name="commands">The allow-list (<c>policy.ssh_commands</c>): name → command line.</param>
    public SshCommandActuator(Topology topology, IReadOnlyDictionary<string, string> commands, string sshExecutable = "ssh", SshSettings? connection = null)
    {
        _topology = topology;
        _commands = commands;
        _connection = connection ?? new SshSettings();
        _ssh = new SshRunner(_connection, sshExecutable);
    }

    public IReadOnlyCollection<string> Kinds { get; } = [Kind];

    /// <summary>An <c>ssh.command</c> action for an allow-listed command on a member.</summary>
    public static PlannedAction Plan(string cluster, string member, string command, string? verifyCommand = null, string? undoCommand = null,
        ActionTrigger trigger = ActionTrigger.Operator, string? initiator = null)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { [Command] = command };
        if (verifyCommand is not null)
        {
            parameters[VerifyCommand] = verifyCommand;
        }

        if (undoCommand is not null)
        {
            parameters[UndoCommand] = undoCommand;
        }

        return SshCommandAction.Info.Plan(cluster, member, parameters, $"run '{command}' on {member} over SSH", trigger, initiator, null)
            with { Reversible = undoCommand is not null };
    }

    public Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var checks = new List<CheckResult>();
        foreach (var key in new[] { Command, VerifyCommand, UndoCommand })
        {
            if (action.Parameter(key) is { } name)
            {
                checks.Add(_commands.ContainsKey(name)
                    ? new CheckResult($"{key}-allowed", true, $"'{name}' is on policy.ssh_commands")
                    : new CheckResult($"{key}-allowed", false, $"'{name}' is not on policy.ssh_commands (allowed: {Allowed()})"));
            }
        }

        if (action.Parameter(Command) is null)
        {
            checks.Add(new CheckResult("command-allowed", false, "the action names no command"));
        }

        var member = FindMember(action);
        checks.Add(member is null
            ? new CheckResult("target-member", false, $"{action.Member ?? "(none)"} is not a member of {action.Cluster} in the inventory")
            : new CheckResult("target-member", true, $"{member.Name} at {Destination(member)}"));
        if (member is not null && !(PlainName(action.Cluster) && PlainName(member.Name)))
        {
            checks.Add(new CheckResult("target-names", false,
                $"'{action.Cluster}' / '{member.Name}' would be pasted into a shell command line: only letters, digits, '.', '_' and '-' are allowed"));
        }

        if (_connection.PrivateKeyPath is { } keyPath && !File.Exists(keyPath))
        {
            checks.Add(new CheckResult("ssh-key", false, $"sensing.ssh.private_key_path {keyPath} does not exist"));
        }
        else if (member is not null && _ssh.Refusal(member.Ip) is { } refused)
        {
            checks.Add(new CheckResult("ssh-host-key", false, refused));
        }

        return Task.FromResult(new PrecheckResult(checks));
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var result = await RunAsync(action, action.Parameter(Command)!, cancellationToken).ConfigureAwait(false);
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["exit_code"] = result.ExitCode.ToString(CultureInfo.InvariantCulture),
            ["duration_ms"] = ((long)result.Duration.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
        };
        return new ExecuteResult
        {
            Succeeded = result.ExitCode == 0,
            Message = Describe(action.Parameter(Command)!, FindMember(action), result),
            Output = result.Combined(),
            Details = details,
        };
    }

    public async Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(execution);
        if (action.Parameter(VerifyCommand) is not { } verify)
        {
            return execution.Succeeded
                ? VerifyResult.Verified("the command exited 0 (no verify_command declared)")
                : VerifyResult.Failed("the command failed and no verify_command is declared");
        }

        var result = await RunAsync(action, verify, cancellationToken).ConfigureAwait(false);
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal) { ["verify_output"] = result.Combined(4096) };
        return (result.ExitCode == 0
            ? VerifyResult.Verified($"'{verify}' exited 0")
            : VerifyResult.Pending(Describe(verify, FindMember(action), result))) with { Evidence = evidence };
    }

    public async Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (action.Parameter(VerifyCommand) is not { } verify || FindMember(action) is null)
        {
            return new ReconcileResult(ReconcileStatus.Unknown, "no verify_command is declared: cannot tell whether the command ran");
        }

        var result = await RunAsync(action, verify, cancellationToken).ConfigureAwait(false);
        return result.TimedOut || result.ExitCode == SshConnectionFailed || result.ExitCode == -1
            ? new ReconcileResult(ReconcileStatus.Unknown, $"'{verify}' could not run: {result.Combined(512).Trim()}")
            : result.ExitCode == 0
                ? new ReconcileResult(ReconcileStatus.Happened, $"'{verify}' exited 0") { Undo = PlanUndoAction(action) }
                : new ReconcileResult(ReconcileStatus.NotHappened, $"'{verify}' exited {result.ExitCode}");
    }

    public PlannedAction? PlanUndo(PlannedAction action, ExecuteResult execution) => PlanUndoAction(action);

    private static PlannedAction? PlanUndoAction(PlannedAction action)
    {
        if (action.Parameter(UndoCommand) is not { } undo)
        {
            return null;
        }

        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { [Command] = undo };
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
            Summary = $"run '{undo}' on {action.Member} over SSH (undo of '{action.Parameter(Command)}')",
        };
    }

    private PgMember? FindMember(PlannedAction action) =>
        action.Member is null ? null : _topology.FindCluster(action.Cluster)?.FindMember(action.Member);

    private static bool PlainName(string name) => name.Length > 0 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    private string Destination(PgMember member) => _ssh.Destination(member.Ip);

    private string Describe(string name, PgMember? member, ProcessResult result) => result switch
    {
        { TimedOut: true } => $"'{name}' did not finish within the timeout and was stopped",
        { ExitCode: 0 } => $"'{name}' exited 0",
        { ExitCode: SshConnectionFailed } => $"'{name}' did not run: ssh could not connect to {(member is null ? "the member" : Destination(member))} "
            + $"or was refused (exit 255): {LastLine(result.StandardError)}",
        { ExitCode: -1 } => $"'{name}' did not run: {LastLine(result.StandardError)}",
        _ => $"'{name}' exited {result.ExitCode}",
    };

    private static string LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";

    private string Allowed() => _commands.Count == 0 ? "none" : string.Join(", ", _commands.Keys.Order(StringComparer.Ordinal));

    private async Task<ProcessResult> RunAsync(PlannedAction action, string name, CancellationToken cancellationToken)
    {
        if (!_commands.TryGetValue(name, out var line))
        {
            return new ProcessResult(-1, "", $"'{name}' is not on policy.ssh_commands", TimeSpan.Zero, false);
        }

        var member = FindMember(action) ?? throw new InvalidOperationException($"{action.Member} is not a member of {action.Cluster}");
        var text = line.Replace("{cluster}", action.Cluster, StringComparison.Ordinal).Replace("{member}", member.Name, StringComparison.Ordinal);
        var timeout = double.TryParse(action.Parameter("timeout_seconds"), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0
            ? TimeSpan.FromSeconds(s)
            : TimeSpan.FromSeconds(60);
        return await _ssh.RunAsync(member.Ip, text, timeout, cancellationToken).ConfigureAwait(false);
    }
}
