using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Fencing;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Tests.Acting.Patroni;
using PgRuntimeAgent.Tests.Sensing;
using PgRuntimeAgent.Transport;
using static PgRuntimeAgent.Tests.Acting.Patroni.ActingSnapshots;

namespace PgRuntimeAgent.Tests.Acting.Fencing;

public sealed class FenceActuatorTests : IDisposable
{
    /// <summary>A host key in known_hosts' base64 form (any bytes: the stand-in ssh never checks it).</summary>
    private const string HostKey = "AAAAC3NzaC1lZDI1NTE5AAAAIOw0mY2lSvl3AEvQUebEGcSBcmJ/GbsPMXnmiV1wSDbQ";

    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-fence-ssh-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static FenceActuator Create(PolicySettings policy, bool local, params PgRuntimeAgent.Sensing.Snapshot.ClusterSnapshot[] snapshots) =>
        Create(policy, local, null, snapshots);

    private static FenceActuator Create(PolicySettings policy, bool local, SshRunner? ssh, params PgRuntimeAgent.Sensing.Snapshot.ClusterSnapshot[] snapshots) =>
        new(new ScriptedSensing(SensingFixtures.Topology(SensingFixtures.Cluster()), snapshots), policy.SshCommands,
            new ProcessTable(Directory.CreateTempSubdirectory("pgra-empty-proc-").FullName), NullLogger.Instance, ssh)
        {
            IsLocal = _ => local,
        };

    private static PolicySettings FencePolicy() =>
        new() { SshCommands = new Dictionary<string, string> { ["fence-member"] = "sudo systemctl kill -s SIGKILL patroni" } };

    /// <summary>
    /// <c>sensing.ssh</c> as an operator sets it up: user, port, key, and a known_hosts that pins the members listed
    /// (on port 2222), with a stand-in ssh that records its arguments one per line and exits <paramref name="exitCode"/>.
    /// </summary>
    private SshRunner Ssh(int exitCode, params string[] pinned)
    {
        var key = Path.Combine(_dir, "id_ed25519");
        File.WriteAllText(key, "key");
        var known = Path.Combine(_dir, "known_hosts");
        File.WriteAllLines(known, pinned.Select(ip => $"[{ip}]:2222 ssh-ed25519 {HostKey}"));
        var ssh = Path.Combine(_dir, "ssh");
        File.WriteAllText(ssh, $"#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done > \"{_dir}/ssh-args\"\necho fence-output\nexit {exitCode}\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(ssh, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        return new SshRunner(new SshSettings { User = "postgres", Port = 2222, PrivateKeyPath = key, KnownHostsPath = known }, ssh);
    }

    private static PgRuntimeAgent.Sensing.Snapshot.ClusterSnapshot BrokenThird() =>
        Snapshot("pg-test-1", [Leader(), Replica("pg-test-2"), Replica("pg-test-3") with { Reachable = false, PostgresRunning = false }]);

    [Fact]
    public void Plan_IrreversibleHighRiskLossBounded()
    {
        var action = FenceActuator.Plan("pg-test", "pg-test-1");

        Assert.False(action.Reversible);
        Assert.Equal(ActionRisk.High, action.Risk);
        Assert.Equal("member.fence", action.Kind);
        Assert.True(action.LossBounded);
        Assert.Equal(AutonomyLevel.ActProactively, PolicyGate.RequiredLevel(action with { Trigger = ActionTrigger.Proactive }));
        Assert.Equal(AutonomyLevel.ActWithinGuardrails, PolicyGate.RequiredLevel(action with { Trigger = ActionTrigger.Reactive }));
    }

    [Fact]
    public async Task Precheck_HealthyLeader_Refused()
    {
        var fence = Create(new PolicySettings(), local: true, Healthy());

        var precheck = await fence.PrecheckAsync(FenceActuator.Plan("pg-test", "pg-test-1"), Ct);

        Assert.False(precheck.Passed);
        Assert.Contains(precheck.Checks, c => c is { Name: "not-a-healthy-leader", Passed: false });
    }

    [Fact]
    public async Task Precheck_FrozenOldLeader_PassesLocally()
    {
        // The frozen leader's own API and SQL time out; the others still hold the cluster.
        var frozen = Leader() with { Reachable = false, PostgresReachable = null };
        var fence = Create(new PolicySettings(), local: true, Snapshot("pg-test-1", [frozen, Replica("pg-test-2"), Replica("pg-test-3")]));

        var precheck = await fence.PrecheckAsync(FenceActuator.Plan("pg-test", "pg-test-1"), Ct);

        Assert.True(precheck.Passed, string.Join("; ", precheck.Checks.Select(c => $"{c.Name}: {c.Detail}")));
        Assert.Contains(precheck.Checks, c => c.Name == "how" && c.Detail.Contains("is local", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Precheck_RemoteWithoutAllowListedCommand_Refused()
    {
        var broken = Replica("pg-test-3") with { Reachable = false, PostgresRunning = false };
        var snapshot = Snapshot("pg-test-1", [Leader(), Replica("pg-test-2"), broken]);
        var without = Create(new PolicySettings(), local: false, snapshot);
        var with = Create(FencePolicy(), local: false, Ssh(0, "127.0.0.13"), snapshot);

        var refused = await without.PrecheckAsync(FenceActuator.Plan("pg-test", "pg-test-3"), Ct);
        var allowed = await with.PrecheckAsync(FenceActuator.Plan("pg-test", "pg-test-3"), Ct);

        Assert.Contains(refused.Checks, c => c is { Name: "how", Passed: false } && c.Detail.Contains("policy.ssh_commands has no 'fence-member'", StringComparison.Ordinal));
        Assert.True(allowed.Passed);
    }

    [Fact]
    public async Task Precheck_NoOtherMemberRuns_Refused()
    {
        var down = Replica("pg-test-2") with { Reachable = false, PostgresRunning = false };
        var fence = Create(new PolicySettings(), local: true, Snapshot(null, [Leader() with { Reachable = false }, down, down with { Name = "pg-test-3" }]));

        var precheck = await fence.PrecheckAsync(FenceActuator.Plan("pg-test", "pg-test-1"), Ct);

        Assert.Contains(precheck.Checks, c => c is { Name: "others-run", Passed: false });
    }

    [Fact]
    public async Task Execute_NothingListening_SucceedsWithoutKilling()
    {
        var fence = Create(new PolicySettings(), local: true, Healthy());

        var result = await fence.ExecuteAsync(FenceActuator.Plan("pg-test", "pg-test-3"), Ct);

        Assert.True(result.Succeeded);
        Assert.Equal("none", result.Details["killed_pids"]);
        Assert.Contains("already down", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Precheck_RemoteHostKeyNotPinned_Refused()
    {
        var fence = Create(FencePolicy(), local: false, Ssh(0, "127.0.0.11", "127.0.0.12"), BrokenThird());

        var precheck = await fence.PrecheckAsync(FenceActuator.Plan("pg-test", "pg-test-3"), Ct);

        Assert.False(precheck.Passed);
        Assert.Contains(precheck.Checks, c => c is { Name: "ssh-host-key", Passed: false }
            && c.Detail.Contains($"the host key of 127.0.0.13:2222 is not pinned in {_dir}/known_hosts: refusing to connect", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Execute_RemoteHostKeyNotPinned_FailsWithoutRunningSsh()
    {
        var fence = Create(FencePolicy(), local: false, Ssh(0, "127.0.0.11", "127.0.0.12"), BrokenThird());

        var result = await fence.ExecuteAsync(FenceActuator.Plan("pg-test", "pg-test-3"), Ct);

        Assert.False(result.Succeeded);
        Assert.Contains("'fence-member' did not run on 127.0.0.13, pg-test-3 is not fenced: the host key of 127.0.0.13:2222 is not pinned in", result.Message, StringComparison.Ordinal);
        Assert.Equal("-1", result.Details["exit_code"]);
        Assert.False(File.Exists(Path.Combine(_dir, "ssh-args")), "ssh must not start for an unpinned host");
    }

    [Fact]
    public async Task Execute_RemoteNoKnownHostsFile_FailsWithoutRunningSsh()
    {
        var ssh = Ssh(0);
        File.Delete(Path.Combine(_dir, "known_hosts"));
        var fence = Create(FencePolicy(), local: false, ssh, BrokenThird());

        var result = await fence.ExecuteAsync(FenceActuator.Plan("pg-test", "pg-test-3"), Ct);

        Assert.False(result.Succeeded);
        Assert.Contains($"no pinned host keys in {_dir}/known_hosts: refusing to connect to 127.0.0.13", result.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "ssh-args")));
    }

    [Fact]
    public async Task Execute_RemotePinnedHost_SshCarriesUserPortKeyAndPinnedKnownHosts()
    {
        // exit 1: the remote command ran and failed, so no leader key is released (no DCS is contacted)
        var fence = Create(FencePolicy(), local: false, Ssh(1, "127.0.0.13"), BrokenThird());

        var result = await fence.ExecuteAsync(FenceActuator.Plan("pg-test", "pg-test-3"), Ct);
        var args = File.ReadAllLines(Path.Combine(_dir, "ssh-args"));
        var text = string.Join(' ', args);

        Assert.False(result.Succeeded);
        Assert.Equal("'fence-member' exited 1 on 127.0.0.13", result.Message);
        Assert.Equal("postgres@127.0.0.13:2222", result.Details["ssh_destination"]);
        Assert.Contains("fence-output", result.Output, StringComparison.Ordinal);
        Assert.Contains("-o BatchMode=yes", text, StringComparison.Ordinal);
        Assert.Contains("-o StrictHostKeyChecking=yes", text, StringComparison.Ordinal);
        Assert.Contains($"-p 2222 -l postgres -i {_dir}/id_ed25519 -o IdentitiesOnly=yes", text, StringComparison.Ordinal);
        Assert.Contains($"-o UserKnownHostsFile={_dir}/known_hosts -o GlobalKnownHostsFile=/dev/null", text, StringComparison.Ordinal);
        Assert.Equal(["127.0.0.13", "--", "sudo systemctl kill -s SIGKILL patroni"], args[^3..]);
    }

    [Fact]
    public async Task Execute_RemoteSshRefusedByHost_FailsAndSaysTheMemberIsNotFenced()
    {
        var fence = Create(FencePolicy(), local: false, Ssh(255, "127.0.0.13"), BrokenThird());

        var result = await fence.ExecuteAsync(FenceActuator.Plan("pg-test", "pg-test-3"), Ct);

        Assert.False(result.Succeeded);
        Assert.StartsWith("'fence-member' did not run, pg-test-3 is not fenced: ssh postgres@127.0.0.13:2222 could not connect or was refused", result.Message, StringComparison.Ordinal);
    }
}
