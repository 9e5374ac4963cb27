using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Dcs;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Transport;

namespace PgRuntimeAgent.Acting.Fencing;

/// <summary>
/// <c>member.fence</c>: stops a frozen or broken old primary for good, so it cannot come back as leader. Its
/// Patroni and its postmaster, with all their children, are frozen (SIGSTOP) and then killed (SIGKILL): locally
/// when the member's address is an address of this machine (the loopback lab, an agent on the database host),
/// else over SSH with the allow-listed command <c>policy.ssh_commands.fence-member</c> (or the one the action
/// names), through the agent's one SSH transport (<see cref="SshRunner"/>: <c>sensing.ssh</c>'s user, port and key,
/// host keys pinned; a host without a pinned key is refused and the fence fails). Verified by sensing: nothing
/// accepts connections on the member's Patroni and PostgreSQL ports, and the snapshot shows its Patroni unreachable
/// and its PostgreSQL not answering.
/// <para>
/// Why it is safe, and why it is needed: Patroni 3.0.2 (Debian 12) can, when a frozen leader thaws, rewrite the
/// leader key from its stale cache and demote the new leader, so writes acknowledged by the new leader are lost
/// (measured in the lab; fixed upstream after 3.0.2). A SIGKILLed process cannot thaw. The member is only fenced when
/// it is not a healthy leader and another member runs, so fencing never takes the last working copy of the
/// cluster away. Irreversible: bringing the member back (start Patroni; it rejoins as a replica, rewinding or
/// re-cloning) is an operator's decision.
/// </para>
/// </summary>
internal sealed partial class FenceActuator : IActuator
{
    public const string Kind = "member.fence";
    public const string SshCommandParameter = "ssh_command";
    public const string DefaultSshCommand = "fence-member";

    private readonly IClusterSensing _sensing;
    private readonly IReadOnlyDictionary<string, string> _sshCommands;
    private readonly ProcessTable _processes;
    private readonly ILogger _logger;
    private readonly SshRunner _ssh;

    /// <param name="sshCommands">The SSH allow-list (<c>policy.ssh_commands</c>) a remote member's fence command comes from.</param>
    /// <param name="ssh">The SSH transport for remote members (<c>sensing.ssh</c>); null: the default connection settings.</param>
    public FenceActuator(IClusterSensing sensing, IReadOnlyDictionary<string, string> sshCommands, ProcessTable processes, ILogger logger, SshRunner? ssh = null)
    {
        _sensing = sensing;
        _sshCommands = sshCommands;
        _processes = processes;
        _logger = logger;
        _ssh = ssh ?? new SshRunner(new SshSettings());
    }

    public IReadOnlyCollection<string> Kinds { get; } = [Kind];

    /// <summary>Decides whether a member's address is this machine's (tests replace it).</summary>
    public Func<string, bool> IsLocal { get; init; } = ProcessTable.IsLocalAddress;

    /// <summary>HTTP connections for etcd (tests record the leader-key release); null: the process-wide pool.</summary>
    public SensingHttp? EtcdHttp { get; init; }

    /// <summary>A member fence action. Irreversible and high-risk, but never of a serving leader: the agent needs autonomy 3 (or an approval).</summary>
    public static PlannedAction Plan(string cluster, string member, string? sshCommand = null, ActionTrigger trigger = ActionTrigger.Operator,
        string? initiator = null, string? reason = null)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        if (sshCommand is not null)
        {
            parameters[SshCommandParameter] = sshCommand;
        }

        return FenceAction.Info.Plan(cluster, member, parameters,
            $"fence {member} ({cluster}): kill -9 its Patroni and PostgreSQL so it cannot return as leader, and release its leader key", trigger, initiator, reason);
    }

    public async Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var (cluster, member) = Target(action);
        // The snapshot the policy gate decided on a moment ago will do: a hung member makes every snapshot cost its timeout.
        var s = await _sensing.SenseRecentAsync(action.Cluster, Patroni.SnapshotClusterStateProvider.RecentEnough, cancellationToken).ConfigureAwait(false);
        var checks = new List<CheckResult>();
        var state = s.FindMember(member.Name);
        var healthyLeader = string.Equals(s.Leader, member.Name, StringComparison.Ordinal) && state is { Reachable: true, PostgresReachable: true, InRecovery: false };
        var stale = healthyLeader ? SnapshotFacts.NewerTimelineThanHolder(s) : null;
        var notRenewing = healthyLeader && stale is null ? SnapshotFacts.NotRenewingUnreplicated(s, member.Name) : null;
        checks.Add(stale is { } newer
            ? new CheckResult("not-a-healthy-leader", true, string.Create(CultureInfo.InvariantCulture,
                $"{member.Name} holds the key on timeline {newer.HolderTimeline}, but {newer.Member} is on timeline {newer.Timeline}: a stale leader that took the key back"))
            : notRenewing is { } why
            ? new CheckResult("not-a-healthy-leader", true, why)
            : healthyLeader
            ? new CheckResult("not-a-healthy-leader", false, $"{member.Name} is the leader and serves: fence only a frozen or broken member, or switch over first")
            : new CheckResult("not-a-healthy-leader", true, $"{member.Name} is {CandidateRules.RoleOf(s, member.Name)}, PostgreSQL answers: {Show(state?.PostgresReachable)}"));

        var others = s.Members.Where(m => !string.Equals(m.Name, member.Name, StringComparison.Ordinal) && m.Reachable && m.PostgresRunning == true).Select(m => m.Name).ToList();
        checks.Add(others.Count > 0
            ? new CheckResult("others-run", true, $"still running: {string.Join(", ", others)}")
            : new CheckResult("others-run", false, $"no other member of {cluster.Name} runs: fencing {member.Name} would leave nothing"));

        if (IsLocal(member.Ip))
        {
            var (patroni, postgres) = Find(member);
            checks.Add(new CheckResult("how", true,
                $"{member.Ip} is local: kill here (Patroni pids {List(patroni)}, PostgreSQL pids {List(postgres)})"));
        }
        else
        {
            var name = action.Parameter(SshCommandParameter) ?? DefaultSshCommand;
            checks.Add(_sshCommands.ContainsKey(name)
                ? new CheckResult("how", true, $"over SSH on {_ssh.Destination(member.Ip)}: policy.ssh_commands.{name}")
                : new CheckResult("how", false, $"{member.Ip} is remote and policy.ssh_commands has no '{name}' (for example: sudo systemctl kill -s SIGKILL patroni)"));
            var refused = _ssh.Refusal(member.Ip);
            checks.Add(refused is null
                ? new CheckResult("ssh-host-key", true, $"the host key of {member.Ip}:{_ssh.Settings.Port} is pinned in {_ssh.KnownHostsPath}")
                : new CheckResult("ssh-host-key", false, refused));
        }

        return new PrecheckResult(checks);
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var (cluster, member) = Target(action);
        if (!IsLocal(member.Ip))
        {
            return await ExecuteRemoteAsync(action, cluster, member, cancellationToken).ConfigureAwait(false);
        }

        var (patroni, postgres) = Find(member);
        var descendants = _processes.WithDescendants(patroni.Concat(postgres));
        var orphans = _processes.PostgresWorkingIn(DataDirectories(cluster, member, postgres)).Except(descendants).ToList();
        var pids = descendants.Concat(orphans).Order().ToList();
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["mode"] = "local",
            ["patroni_pids"] = List(patroni),
            ["postgres_pids"] = List(postgres),
            ["orphan_pids"] = List(orphans),
            ["killed_pids"] = List(pids),
        };
        if (pids.Count == 0)
        {
            return ExecuteResult.Ok($"nothing of {member.Name} listens on {member.Ip}:{member.Ports.Patroni} or :{member.Ports.Postgres}: already down") with { Details = details };
        }

        // Freeze everything first, so neither Patroni nor the postmaster can react to the other's death, then kill.
        // The command lines are read in between, while the processes exist but can do nothing.
        var stop = Signals.Send(pids, Signals.Stop);
        var commands = string.Join("\n", pids.Select(p => $"{p.ToString(CultureInfo.InvariantCulture)}: {_processes.CommandLine(p) ?? "?"}"));
        var kill = Signals.Send(pids, Signals.Kill);
        LogFenced(_logger, action.Id, member.Name, pids.Count);
        for (var i = 0; i < 50 && pids.Any(_processes.Exists); i++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
        }

        var left = pids.Where(_processes.Exists).ToList();
        details["left_pids"] = List(left);
        var output = $"{commands}\nSIGSTOP: {Sent(stop)}\nSIGKILL: {Sent(kill)}";
        if (left.Count > 0)
        {
            return ExecuteResult.Failed($"{left.Count} processes of {member.Name} survived SIGKILL: {List(left)}", output) with { Details = details };
        }

        var released = await ReleaseLeaderKeyAsync(cluster, member, details, cancellationToken).ConfigureAwait(false);
        var stray = orphans.Count == 0 ? "" : $", and {orphans.Count} PostgreSQL processes left in its data directory by an earlier postmaster ({List(orphans)})";
        return ExecuteResult.Ok($"killed {pids.Count} processes of {member.Name} (Patroni {List(patroni)}, PostgreSQL {List(postgres)}{stray}) with SIGKILL; {released}", output) with { Details = details };
    }

    public async Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var (fenced, detail, evidence) = await ObserveAsync(action, cancellationToken).ConfigureAwait(false);
        return (fenced ? VerifyResult.Verified(detail) : VerifyResult.Pending(detail)) with { Evidence = evidence };
    }

    public async Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var (fenced, detail, _) = await ObserveAsync(action, cancellationToken).ConfigureAwait(false);
        return new ReconcileResult(fenced ? ReconcileStatus.Happened : ReconcileStatus.NotHappened, detail);
    }

    /// <summary>Fenced = nothing accepts connections on the member's Patroni and PostgreSQL ports (a frozen process still would) and the snapshot agrees.</summary>
    private async Task<(bool Fenced, string Detail, Dictionary<string, string> Evidence)> ObserveAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        var (_, member) = Target(action);
        var patroniOpen = await AcceptsAsync(member.Ip, member.Ports.Patroni, cancellationToken).ConfigureAwait(false);
        var postgresOpen = await AcceptsAsync(member.Ip, member.Ports.Postgres, cancellationToken).ConfigureAwait(false);
        var s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
        var state = s.FindMember(member.Name);
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [$"{member.Ip}:{member.Ports.Patroni}"] = patroniOpen ? "accepts connections" : "closed",
            [$"{member.Ip}:{member.Ports.Postgres}"] = postgresOpen ? "accepts connections" : "closed",
            ["patroni_reachable"] = (state?.Reachable ?? false).ToString().ToLowerInvariant(),
            ["postgres_reachable"] = Show(state?.PostgresReachable),
            ["leader"] = s.Leader ?? "",
        };
        var fenced = !patroniOpen && !postgresOpen && state is not { Reachable: true } && state?.PostgresReachable != true;
        var detail = fenced
            ? $"{member.Name} is fenced: nothing listens on {member.Ip}:{member.Ports.Patroni} (Patroni) or {member.Ip}:{member.Ports.Postgres} (PostgreSQL); leader now {s.Leader ?? "none"}"
            : $"{member.Name} still answers: Patroni port {(patroniOpen ? "open" : "closed")}, PostgreSQL port {(postgresOpen ? "open" : "closed")}";
        return (fenced, detail, evidence);
    }

    private async Task<ExecuteResult> ExecuteRemoteAsync(PlannedAction action, PgCluster cluster, PgMember member, CancellationToken cancellationToken)
    {
        var name = action.Parameter(SshCommandParameter) ?? DefaultSshCommand;
        if (!_sshCommands.TryGetValue(name, out var line))
        {
            return ExecuteResult.Failed($"policy.ssh_commands has no '{name}': nothing run on {member.Ip}");
        }

        var text = line.Replace("{cluster}", cluster.Name, StringComparison.Ordinal).Replace("{member}", member.Name, StringComparison.Ordinal);
        var result = await _ssh.RunAsync(member.Ip, text, TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["mode"] = "ssh",
            ["ssh_command"] = name,
            ["ssh_destination"] = _ssh.Destination(member.Ip),
            ["exit_code"] = result.ExitCode.ToString(CultureInfo.InvariantCulture),
        };
        if (result.ExitCode != 0)
        {
            var why = result switch
            {
                { TimedOut: true } => $"'{name}' did not finish on {member.Ip} within 30 s and was stopped: {member.Name} may not be fenced",
                { ExitCode: SshRunner.NotRun } => $"'{name}' did not run on {member.Ip}, {member.Name} is not fenced: {result.StandardError.Trim()}",
                { ExitCode: SshRunner.ConnectionFailed } => $"'{name}' did not run, {member.Name} is not fenced: {_ssh.ConnectionFailure(member.Ip, result.StandardError)}",
                _ => $"'{name}' exited {result.ExitCode} on {member.Ip}",
            };
            return ExecuteResult.Failed(why, result.Combined()) with { Details = details };
        }

        LogFenced(_logger, action.Id, member.Name, -1);
        var released = await ReleaseLeaderKeyAsync(cluster, member, details, cancellationToken).ConfigureAwait(false);
        return ExecuteResult.Ok($"'{name}' exited 0 on {member.Ip}; {released}", result.Combined()) with { Details = details };
    }

    /// <summary>
    /// Once the member's Patroni is dead, the key it held only delays the failover: release it (compare-and-delete,
    /// see <see cref="DcsLeaderKey"/>). The outcome goes into the details either way.
    /// </summary>
    private async Task<string> ReleaseLeaderKeyAsync(PgCluster cluster, PgMember member, Dictionary<string, string> details, CancellationToken cancellationToken)
    {
        var (released, detail) = await new DcsLeaderKey(cluster, DcsLeaderKey.Endpoints(_sensing.Topology), EtcdHttp)
            .ReleaseAsync(member.Name, cancellationToken).ConfigureAwait(false);
        details["leader_key"] = detail;
        return released ? "released its leader key" : "leader key: " + detail;
    }

    /// <summary>
    /// The member's data directories on this machine: the listening postmaster's working directory, and the
    /// configured data paths (<c>sensing.ssh.paths</c>) when they name the member (<c>{member}</c>) or this machine
    /// holds no other member of the cluster (else a shared path like /pg/data would be another member's too).
    /// </summary>
    private List<string> DataDirectories(PgCluster cluster, PgMember member, IReadOnlyList<int> postmasters)
    {
        var dirs = postmasters.Select(_processes.WorkingDirectory).OfType<string>().ToList();
        var alone = cluster.Members.Count(m => IsLocal(m.Ip)) <= 1;
        dirs.AddRange(_ssh.Settings.Paths
            .Where(p => alone || p.Contains("{member}", StringComparison.Ordinal))
            .Select(p => p.Replace("{member}", member.Name, StringComparison.Ordinal).Replace("{cluster}", cluster.Name, StringComparison.Ordinal)));
        return [.. dirs.Distinct(StringComparer.Ordinal)];
    }

    private (IReadOnlyList<int> Patroni, IReadOnlyList<int> Postgres) Find(PgMember member)
    {
        var found = _processes.ListeningPids(IPAddress.Parse(member.Ip), [member.Ports.Patroni, member.Ports.Postgres]);
        return (found[member.Ports.Patroni], found[member.Ports.Postgres]);
    }

    private static string Sent((int Sent, IReadOnlyList<string> Errors) result) =>
        string.Create(CultureInfo.InvariantCulture, $"sent to {result.Sent}") + (result.Errors.Count == 0 ? "" : $" ({string.Join(", ", result.Errors)})");

    private static async Task<bool> AcceptsAsync(string ip, int port, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(1));
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Parse(ip), port, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // No answer within a second: a frozen host, or a filtered port. Not proof of a fence: count it as open.
            return true;
        }
    }

    private (PgCluster Cluster, PgMember Member) Target(PlannedAction action)
    {
        var cluster = _sensing.Topology.FindCluster(action.Cluster) ?? throw new InputException($"no cluster '{action.Cluster}' in the inventory");
        var member = action.Member is null ? null : cluster.FindMember(action.Member);
        return (cluster, member ?? throw new InputException($"member.fence needs a member of {action.Cluster} (got '{action.Member ?? "none"}')"));
    }

    private static string List(IEnumerable<int> pids)
    {
        var list = pids.ToList();
        return list.Count == 0 ? "none" : string.Join(",", list.Select(p => p.ToString(CultureInfo.InvariantCulture)));
    }

    private static string Show(bool? value) => value switch { true => "yes", false => "no", null => "unknown" };

    [LoggerMessage(EventId = 5300, Level = LogLevel.Warning, Message = "Action {ActionId}: fenced {Member} ({Count} processes killed; -1: over SSH)")]
    private static partial void LogFenced(ILogger logger, string actionId, string member, int count);
}

/// <summary>Registers the fencing actuator.</summary>
internal sealed class FencingActuatorFactory : IActuatorFactory
{
    public IEnumerable<IActuator> Create(ActuatorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        yield return new FenceActuator(ActionSensing.For(context), context.Policy.SshCommands, new ProcessTable(), context.Logging.CreateLogger<FenceActuator>(),
            new SshRunner(context.Sensing.Ssh));
    }
}
