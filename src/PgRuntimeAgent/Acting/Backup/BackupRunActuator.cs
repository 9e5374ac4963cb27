using System.Globalization;
using PgRuntimeAgent.Acting.Fencing;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Acting.Sql;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Backup;
using PgRuntimeAgent.Transport;

namespace PgRuntimeAgent.Acting.Backup;

/// <summary>Where pgBackRest runs for a backup: this machine, or the leader's host over SSH.</summary>
internal sealed record BackupHost(string Address, bool Local)
{
    public string Describe() => Local ? $"locally ({Address} is this machine)" : $"over SSH on {Address}";
}

/// <summary>Runs a pgBackRest command line (argv) on a host with a timeout; a non-zero exit is data.</summary>
internal interface IBackupCommandRunner
{
    Task<ProcessResult> RunAsync(BackupHost host, IReadOnlyList<string> argv, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>Local: the argv itself (CliWrap, no shell). Remote: the agent's one SSH transport (<see cref="SshRunner"/>: <c>sensing.ssh</c>, key only, host keys pinned) with the argv quoted as one shell line.</summary>
internal sealed class BackupCommandRunner(SshSettings ssh, string sshExecutable = "ssh") : IBackupCommandRunner
{
    /// <summary>A backup runs for hours, so keep-alives tolerate a minute of silence.</summary>
    private const int AliveIntervalSeconds = 15;
    private const int AliveCountMax = 4;

    private readonly SshRunner _ssh = new(ssh, sshExecutable);

    public Task<ProcessResult> RunAsync(BackupHost host, IReadOnlyList<string> argv, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(argv);
        return host.Local
            ? ProcessRunner.RunAsync(argv[0], argv.Skip(1).ToList(), timeout, cancellationToken)
            : _ssh.RunAsync(host.Address, ShellLine(argv), timeout, cancellationToken, AliveIntervalSeconds, AliveCountMax);
    }

    /// <summary>The ssh command line for one pgbackrest argv (<see cref="SshRunner.Arguments"/>).</summary>
    public static IReadOnlyList<string> SshArguments(SshSettings ssh, string address, IReadOnlyList<string> argv) =>
        new SshRunner(ssh).Arguments(address, ShellLine(argv), AliveIntervalSeconds, AliveCountMax);

    private static string ShellLine(IReadOnlyList<string> argv)
    {
        ArgumentNullException.ThrowIfNull(argv);
        return string.Join(' ', argv.Select(SshRunner.Quote));
    }
}

/// <summary>
/// <c>backup.run</c>: <c>pgbackrest --stanza=S --type=T backup</c> on the leader's host, as Pigsty's
/// <c>pg-backup</c> does (backups run from the primary; the command runs as <c>sensing.pgbackrest.run_as</c> with
/// <c>sensing.pgbackrest.config</c>): locally when the leader's address is this machine's (the loopback lab, an
/// agent on the database host), else over SSH (<c>sensing.ssh</c>). pg1 is pointed at the leader's running
/// PostgreSQL (its data_directory, first unix socket directory and port, read over SQL), so the backup follows the
/// leader after a failover. Prechecks: the member is the leader and out of recovery, the stanza exists
/// (<c>pgbackrest info</c>), no backup or expire holds the stanza lock. Verified by sensing <c>pgbackrest info</c>:
/// a backup of the asked type with a label that was not there before and that started after the action was planned.
/// The output is captured (redacted) into the journal. Nothing to undo; it discards nothing (a full backup may expire
/// older ones by the repository's retention, which is the operator's setting).
/// </summary>
internal sealed class BackupRunActuator : IActuator
{
    public const string Kind = "backup.run";
    public const string Stanza = "stanza";
    public const string Type = "type";
    public const string TimeoutSeconds = "timeout_seconds";
    public const string PlannedAt = "planned_at";

    /// <summary>pgBackRest's backup types.</summary>
    public static IReadOnlyList<string> Types { get; } = ["full", "diff", "incr"];

    private static readonly TimeSpan InfoTimeout = TimeSpan.FromSeconds(60);

    private readonly IClusterSensing _sensing;
    private readonly SqlConnector _sql;
    private readonly PgBackRestSettings _settings;
    private readonly IBackupCommandRunner _runner;
    private readonly SecretStore _secrets;
    private readonly TimeProvider _time;

    public BackupRunActuator(IClusterSensing sensing, SqlConnector sql, PgBackRestSettings settings, IBackupCommandRunner runner, SecretStore secrets, TimeProvider time)
    {
        _sensing = sensing;
        _sql = sql;
        _settings = settings;
        _runner = runner;
        _secrets = secrets;
        _time = time;
    }

    public IReadOnlyCollection<string> Kinds { get; } = [Kind];

    /// <summary>Decides whether an address is this machine's (tests replace it).</summary>
    public Func<string, bool> IsLocal { get; init; } = ProcessTable.IsLocalAddress;

    /// <summary>Whether this process runs as root (then a local run switches to run_as with runuser); tests replace it.</summary>
    public bool RunningAsRoot { get; init; } = OperatingSystem.IsLinux() && Environment.UserName == "root";

    /// <summary>
    /// A backup of <paramref name="cluster"/>'s stanza (default: the inventory's, else the cluster name) of
    /// <paramref name="type"/> on <paramref name="member"/> (null: whoever leads when it runs).
    /// </summary>
    public static PlannedAction Plan(string cluster, string? member, string stanza, string type, DateTimeOffset plannedAt, string? timeoutSeconds = null,
        ActionTrigger trigger = ActionTrigger.Operator, string? initiator = null, string? reason = null)
    {
        if (!Types.Contains(type, StringComparer.Ordinal))
        {
            throw new InputException($"backup type must be one of {string.Join(", ", Types)}, got '{type}'");
        }

        if (stanza.Length == 0 || !stanza.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw new InputException($"stanza must be a plain name (letters, digits, '-', '_', '.'), got '{stanza}'");
        }

        var parameters = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [Stanza] = stanza,
            [Type] = type,
            [PlannedAt] = plannedAt.ToString("O", CultureInfo.InvariantCulture),
        };
        if (timeoutSeconds is not null)
        {
            if (!double.TryParse(timeoutSeconds, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) || s <= 0)
            {
                throw new InputException($"timeout_seconds must be a positive number, got '{timeoutSeconds}'");
            }

            parameters[TimeoutSeconds] = timeoutSeconds;
        }

        return BackupRunAction.Info.Plan(cluster, member, parameters, $"pgBackRest {type} backup of stanza {stanza} on {member ?? "the leader"} of {cluster}", trigger,
            initiator, reason);
    }

    /// <summary>
    /// The planner's entry: <paramref name="stanza"/> defaults to the inventory's stanza (else the cluster name),
    /// <paramref name="type"/> to pgBackRest's own default (incr; a full when there is none).
    /// </summary>
    public static PlannedAction PlanFor(PgCluster cluster, string? member, string? stanza, string? type, string? timeoutSeconds, DateTimeOffset plannedAt,
        ActionTrigger trigger = ActionTrigger.Operator, string? initiator = null, string? reason = null)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        if (!cluster.Backup.Enabled)
        {
            throw new InputException($"{cluster.Name} has no pgBackRest (pgbackrest_enabled: false in the inventory)");
        }

        var name = stanza ?? (string.IsNullOrEmpty(cluster.Backup.Stanza) ? cluster.Name : cluster.Backup.Stanza);
        return Plan(cluster.Name, member, name, type ?? "incr", plannedAt, timeoutSeconds, trigger, initiator, reason);
    }

    public async Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var (target, problem) = await LeaderAsync(action, cancellationToken).ConfigureAwait(false);
        if (target is null)
        {
            return PrecheckResult.Fail("leader", problem!);
        }

        var checks = new List<CheckResult> { new("leader", true, $"{target.Required.Name} is the leader and out of recovery: backups run there") };
        var host = HostOf(target.Required);
        checks.Add(new CheckResult("where", true, $"pgbackrest runs {host.Describe()} as {_settings.RunAs ?? "the agent's user"}"));

        var (info, infoProblem) = await InfoAsync(host, Param(action, Stanza), cancellationToken).ConfigureAwait(false);
        if (info is null)
        {
            checks.Add(new CheckResult("stanza-exists", false, infoProblem!));
            return new PrecheckResult(checks);
        }

        checks.Add(info.StatusCode is 0 or 2 or 6
            ? new CheckResult("stanza-exists", true, $"stanza {info.Name}: {info.StatusMessage ?? "?"} ({info.Backups.Count.ToString(CultureInfo.InvariantCulture)} backups, newest {info.Last?.Label ?? "none"})")
            : new CheckResult("stanza-exists", false, $"stanza {info.Name}: status {info.StatusCode?.ToString(CultureInfo.InvariantCulture) ?? "?"} {info.StatusMessage} (create it with pgbackrest stanza-create)"));
        checks.Add(info.BackupLockHeld || info.StatusCode == 6
            ? new CheckResult("no-backup-running", false, $"a backup or expire of {info.Name} holds the stanza lock: not starting a second one")
            : new CheckResult("no-backup-running", true, "no backup holds the stanza lock"));
        if (Param(action, Type) is "diff" or "incr" && info.LastOf("full") is null)
        {
            checks.Add(new CheckResult("type", true, $"no full backup in {info.Name}: pgBackRest takes a full one instead of the {Param(action, Type)}"));
        }

        var pg1 = await Pg1Async(target, cancellationToken).ConfigureAwait(false);
        checks.Add(new CheckResult("pg1", true, pg1.Count == 0
            ? "pg1 as the pgBackRest configuration says (the leader's data directory could not be read over SQL)"
            : $"pg1 = the leader's running PostgreSQL: {string.Join(" ", pg1)}"));
        return new PrecheckResult(checks);
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var (target, problem) = await LeaderAsync(action, cancellationToken).ConfigureAwait(false);
        if (target is null)
        {
            return ExecuteResult.Failed("not run: " + problem);
        }

        var host = HostOf(target.Required);
        var stanza = Param(action, Stanza);
        var (before, _) = await InfoAsync(host, stanza, cancellationToken).ConfigureAwait(false);
        var pg1 = await Pg1Async(target, cancellationToken).ConfigureAwait(false);
        var argv = Command(stanza, [.. pg1, $"--type={Param(action, Type)}", "backup"], host);
        var timeout = double.TryParse(action.Parameter(TimeoutSeconds), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0
            ? TimeSpan.FromSeconds(s)
            : TimeSpan.FromHours(4);
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["member"] = target.Required.Name,
            ["host"] = host.Describe(),
            ["command"] = _secrets.Redact(string.Join(' ', argv.Select(SshRunner.Quote))),
            ["labels_before"] = string.Join(",", before?.Backups.Select(b => b.Label) ?? []),
            ["started_at"] = _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture),
        };
        var result = await _runner.RunAsync(host, argv, timeout, cancellationToken).ConfigureAwait(false);
        details["exit_code"] = result.ExitCode.ToString(CultureInfo.InvariantCulture);
        details["duration_seconds"] = result.Duration.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        var output = _secrets.Redact(result.Combined());
        var message = result switch
        {
            { TimedOut: true } => $"pgbackrest backup did not finish within {timeout.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s and was stopped",
            { ExitCode: 0 } => string.Create(CultureInfo.InvariantCulture, $"pgbackrest {Param(action, Type)} backup of {stanza} finished on {target.Required.Name} in {result.Duration.TotalSeconds:0.0} s"),
            _ => $"pgbackrest backup exited {result.ExitCode.ToString(CultureInfo.InvariantCulture)}: {LastLine(output)}",
        };
        return new ExecuteResult { Succeeded = result.ExitCode == 0 && !result.TimedOut, Message = message, Output = output, Details = details };
    }

    public async Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(execution);
        var host = await CurrentHostAsync(action, execution.Details.GetValueOrDefault("member"), cancellationToken).ConfigureAwait(false);
        var (info, problem) = await InfoAsync(host, Param(action, Stanza), cancellationToken).ConfigureAwait(false);
        if (info is null)
        {
            return VerifyResult.Pending(problem!);
        }

        var before = (execution.Details.GetValueOrDefault("labels_before") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        var found = NewBackup(info, Param(action, Type), Planned(action), before);
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["stanza"] = info.Name,
            ["newest_label"] = info.Last?.Label ?? "",
            ["backup_count"] = info.Backups.Count.ToString(CultureInfo.InvariantCulture),
        };
        if (found is null)
        {
            return VerifyResult.Pending($"no new {Param(action, Type)} backup in pgbackrest info of {info.Name} yet (newest: {info.Last?.Label ?? "none"})") with { Evidence = evidence };
        }

        evidence["label"] = found.Label;
        evidence["type"] = found.Type;
        evidence["stopped_at"] = found.StoppedAt?.ToString("O", CultureInfo.InvariantCulture) ?? "";
        evidence["size_bytes"] = found.SizeBytes?.ToString(CultureInfo.InvariantCulture) ?? "";
        evidence["repo_size_bytes"] = found.RepoSizeBytes?.ToString(CultureInfo.InvariantCulture) ?? "";
        return VerifyResult.Verified($"pgbackrest info shows {found.Type} backup {found.Label} of {info.Name} (stopped {found.StoppedAt:O}, {found.RepoSizeBytes?.ToString(CultureInfo.InvariantCulture) ?? "?"} bytes in the repository)")
            with { Evidence = evidence };
    }

    public async Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (Planned(action) is null)
        {
            return new ReconcileResult(ReconcileStatus.Unknown, "the action does not say when it was planned");
        }

        var host = await CurrentHostAsync(action, action.Member, cancellationToken).ConfigureAwait(false);
        var (info, problem) = await InfoAsync(host, Param(action, Stanza), cancellationToken).ConfigureAwait(false);
        if (info is null)
        {
            return new ReconcileResult(ReconcileStatus.Unknown, problem!);
        }

        if (NewBackup(info, Param(action, Type), Planned(action), new HashSet<string>(StringComparer.Ordinal)) is { } found)
        {
            return new ReconcileResult(ReconcileStatus.Happened, $"pgbackrest info shows {found.Type} backup {found.Label}, started after the action was planned");
        }

        return info.BackupLockHeld || info.StatusCode == 6
            ? new ReconcileResult(ReconcileStatus.Unknown, $"a backup of {info.Name} is running now (it may be this one)")
            : new ReconcileResult(ReconcileStatus.NotHappened, $"no {Param(action, Type)} backup of {info.Name} started after the action was planned (newest: {info.Last?.Label ?? "none"})");
    }

    /// <summary>
    /// The backup this action made: of <paramref name="type"/> (pgBackRest turns a diff or incr into a full when
    /// there is no full, so a full counts too), not in <paramref name="before"/>, started at or after
    /// <paramref name="plannedAt"/> (whole seconds), without error.
    /// </summary>
    public static BackupSet? NewBackup(PgBackRestStanza info, string type, DateTimeOffset? plannedAt, IReadOnlySet<string> before)
    {
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(before);
        var since = plannedAt is { } p ? DateTimeOffset.FromUnixTimeSeconds(p.ToUnixTimeSeconds()) : (DateTimeOffset?)null;
        return info.Backups
            .Where(b => !b.Error && !before.Contains(b.Label) && (b.Type == type || b.Type == "full"))
            .Where(b => since is null || b.StartedAt is { } start && start >= since)
            .MaxBy(b => b.StoppedAt ?? b.StartedAt);
    }

    /// <summary>The pgbackrest argv (with runuser when running locally as root for another user).</summary>
    public IReadOnlyList<string> Command(string stanza, IReadOnlyList<string> arguments, BackupHost? host = null)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var argv = new List<string>();
        var runAs = _settings.RunAs;
        if (!string.IsNullOrEmpty(runAs) && !string.Equals(runAs, "root", StringComparison.Ordinal))
        {
            if (host is null or { Local: true } && RunningAsRoot)
            {
                argv.AddRange(["runuser", "-u", runAs, "--"]);
            }
            else if (host is { Local: false })
            {
                argv.AddRange(["sudo", "-n", "-u", runAs, "--"]);
            }
        }

        argv.Add(_settings.Command);
        if (!string.IsNullOrEmpty(_settings.Config))
        {
            argv.Add($"--config={_settings.Config}");
        }

        argv.Add($"--stanza={stanza}");
        argv.AddRange(arguments);
        return argv;
    }

    private async Task<(PgBackRestStanza? Info, string? Problem)> InfoAsync(BackupHost host, string stanza, CancellationToken cancellationToken)
    {
        var argv = Command(stanza, ["info", "--output=json"], host);
        var result = await _runner.RunAsync(host, argv, InfoTimeout, cancellationToken).ConfigureAwait(false);
        var where = $"{string.Join(' ', argv)} ({host.Describe()})";
        if (result.ExitCode != 0 && string.IsNullOrWhiteSpace(result.StandardOutput))
        {
            return (null, _secrets.Redact($"{where}: exit {result.ExitCode.ToString(CultureInfo.InvariantCulture)}: {LastLine(result.StandardError)}"));
        }

        try
        {
            var stanzas = PgBackRestInfoParser.Parse(result.StandardOutput, where);
            var found = stanzas.FirstOrDefault(x => string.Equals(x.Name, stanza, StringComparison.Ordinal));
            return found is null
                ? (null, $"{where}: no stanza {stanza} (stanzas: {(stanzas.Count == 0 ? "none" : string.Join(", ", stanzas.Select(x => x.Name)))}); create it with pgbackrest stanza-create")
                : (found, null);
        }
        catch (SensorResponseException ex)
        {
            return (null, _secrets.Redact(ex.Message));
        }
    }

    /// <summary>--pg1-path/--pg1-socket-path/--pg1-port of the leader's running PostgreSQL; empty when they cannot be read.</summary>
    private async Task<IReadOnlyList<string>> Pg1Async(SqlTarget target, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await _sql.OpenAsync(target.Cluster, target.Required, null, cancellationToken).ConfigureAwait(false);
            var rows = await SqlConnector.RowsAsync(connection,
                "select current_setting('data_directory') as dir, trim(split_part(current_setting('unix_socket_directories'), ',', 1)) as socket, current_setting('port') as port",
                [], TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            var r = rows[0];
            var list = new List<string> { $"--pg1-path={r["dir"]}" };
            if (r["socket"] is string socket && socket.Length > 0)
            {
                list.Add($"--pg1-socket-path={socket}");
            }

            list.Add($"--pg1-port={r["port"]}");
            return list;
        }
        catch (Exception ex) when (SqlTargets.IsExpected(ex))
        {
            return [];
        }
    }

    private async Task<(SqlTarget? Target, string? Problem)> LeaderAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        var cluster = _sensing.Topology.FindCluster(action.Cluster) ?? throw new InputException($"no cluster '{action.Cluster}' in the inventory");
        var s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
        if (s.Leader is null)
        {
            return (null, $"no member of {cluster.Name} holds the leader key: backups run on the leader (wait for one)");
        }

        if (action.Member is { } named && !string.Equals(named, s.Leader, StringComparison.Ordinal))
        {
            return (null, $"{named} is not the leader ({s.Leader} is): backups run on the leader, as Pigsty's pg-backup does (it is a no-op on a replica)");
        }

        var state = s.FindMember(s.Leader);
        if (state?.InRecovery == true || state?.PostgresRunning == false)
        {
            return (null, $"the leader {s.Leader} does not serve (in recovery: {state.InRecovery?.ToString() ?? "?"}, running: {state.PostgresRunning?.ToString() ?? "?"})");
        }

        var member = cluster.FindMember(s.Leader);
        return member is null
            ? (null, $"the leader {s.Leader} is not in the inventory")
            : (new SqlTarget(cluster, member, null, true), null);
    }

    /// <summary>Where to read pgbackrest info after the backup: the member it ran on, else the leader now, else the first member.</summary>
    private async Task<BackupHost> CurrentHostAsync(PlannedAction action, string? member, CancellationToken cancellationToken)
    {
        var cluster = _sensing.Topology.FindCluster(action.Cluster) ?? throw new InputException($"no cluster '{action.Cluster}' in the inventory");
        var name = member;
        if (name is null)
        {
            var s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
            name = s.Leader;
        }

        var m = (name is null ? null : cluster.FindMember(name)) ?? cluster.Members[0];
        return HostOf(m);
    }

    private BackupHost HostOf(PgMember member) => new(member.Ip, IsLocal(member.Ip));

    private static string Param(PlannedAction action, string name) =>
        action.Parameter(name) ?? throw new InputException($"{action.Kind} needs the parameter '{name}'");

    private static DateTimeOffset? Planned(PlannedAction action) =>
        DateTimeOffset.TryParse(action.Parameter(PlannedAt), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var p) ? p : null;

    private static string LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
}

/// <summary>Registers <c>backup.run</c>.</summary>
internal sealed class BackupActuatorFactory : IActuatorFactory
{
    public IEnumerable<IActuator> Create(ActuatorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        yield return new BackupRunActuator(ActionSensing.For(context), new SqlConnector(context.Secrets, context.Sensing.Postgres.Database),
            context.Sensing.Pgbackrest, new BackupCommandRunner(context.Sensing.Ssh), context.Secrets, context.Time);
    }
}
