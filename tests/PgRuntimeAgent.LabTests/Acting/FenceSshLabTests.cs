using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Fencing;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Transport;

namespace PgRuntimeAgent.LabTests.Acting;

/// <summary>
/// <c>member.fence</c> over SSH against the lab's real sshd instances (127.0.0.11-13:2222, key-only, host keys pinned
/// by the lab's known_hosts), through the agent's one SSH transport with <c>sensing.ssh</c> from the lab's settings.
/// The lab's members are local addresses, so the fence is told they are remote; its <c>fence-member</c> command
/// leaves a marker instead of killing anything, and the target is a replica (its leader key release is a no-op), so
/// the lab stays as it was.
/// </summary>
public sealed class FenceSshLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Marker(LabInfo lab, string member) => Path.Combine(lab.Dir, member, "run", "pgra-fence-marker");

    private static PolicySettings Policy(LabInfo lab) => new()
    {
        SshCommands = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [FenceActuator.DefaultSshCommand] = $"touch {lab.Dir}/{{member}}/run/pgra-fence-marker && id -un",
        },
    };

    private static async Task<(FenceActuator Fence, ActionSensing Sensing, string Target)> CreateAsync(LabInfo lab, PgRuntimeAgent.Sensing.SshSettings ssh)
    {
        var workspace = LabSsh.LoadWorkspace(lab);
        var sensing = new ActionSensing(workspace.Topology, workspace.Settings.Sensing, workspace.Settings.Endpoints, workspace.Secrets, TimeProvider.System);
        var leader = (await lab.LeaderAsync(Ct)).Name;
        var target = lab.Members.Select(m => m.Name).Last(m => !string.Equals(m, leader, StringComparison.Ordinal));
        var fence = new FenceActuator(sensing, Policy(lab).SshCommands, new ProcessTable(), NullLogger.Instance, new SshRunner(ssh))
        {
            IsLocal = _ => false,
        };
        return (fence, sensing, target);
    }

    [Fact]
    public async Task Execute_RemoteMemberWithPinnedKey_RunsTheFenceCommandThroughSshdAsTheSettingsUser()
    {
        var lab = await LabSsh.RequireAsync();
        var ssh = LabSsh.Settings(lab);
        var (fence, sensing, target) = await CreateAsync(lab, ssh);
        using var _ = sensing;
        File.Delete(Marker(lab, target));
        var before = LabSsh.LogLines(lab, lab.Member(target)).Count;

        var precheck = await fence.PrecheckAsync(FenceActuator.Plan(lab.Cluster, target), Ct);
        var result = await fence.ExecuteAsync(FenceActuator.Plan(lab.Cluster, target), Ct);

        Assert.Contains(precheck.Checks, c => c is { Name: "ssh-host-key", Passed: true });
        Assert.True(result.Succeeded, $"{result.Message}\n{result.Output}");
        Assert.Equal("ssh", result.Details["mode"]);
        Assert.Equal($"{ssh.User}@{lab.Member(target).Ip}:{ssh.Port}", result.Details["ssh_destination"]);
        Assert.Contains(ssh.User, result.Output, StringComparison.Ordinal);
        Assert.True(File.Exists(Marker(lab, target)), "the fence command ran on the member");
        Assert.Contains(LabSsh.LogLines(lab, lab.Member(target)).Skip(before), l => l.Contains($"Accepted publickey for {ssh.User}", StringComparison.Ordinal));
        File.Delete(Marker(lab, target));
    }

    [Fact]
    public async Task Execute_RemoteMemberNotPinned_RefusedBeforeConnectingAndCountsAsFailed()
    {
        var lab = await LabSsh.RequireAsync();
        var ssh = LabSsh.Settings(lab);
        var dir = Directory.CreateTempSubdirectory("pgra-fence-known-hosts-").FullName;
        try
        {
            var (_, sensing0, target) = await CreateAsync(lab, ssh);
            sensing0.Dispose();
            var ip = lab.Member(target).Ip;
            // every pinned key except the target's: the target is not pinned
            var lines = await File.ReadAllLinesAsync(ssh.KnownHostsPath!, Ct);
            var known = Path.Combine(dir, "known_hosts");
            await File.WriteAllLinesAsync(known, lines.Where(l => !l.StartsWith($"[{ip}]:{ssh.Port} ", StringComparison.Ordinal)), Ct);
            var unpinned = ssh with { KnownHostsPath = known };
            var (fence, sensing, _) = await CreateAsync(lab, unpinned);
            using var __ = sensing;
            File.Delete(Marker(lab, target));
            var before = LabSsh.LogLines(lab, lab.Member(target)).Count;

            var precheck = await fence.PrecheckAsync(FenceActuator.Plan(lab.Cluster, target), Ct);
            var result = await fence.ExecuteAsync(FenceActuator.Plan(lab.Cluster, target), Ct);

            Assert.Contains(precheck.Checks, c => c is { Name: "ssh-host-key", Passed: false }
                && c.Detail.Contains($"the host key of {ip}:{ssh.Port} is not pinned in {known}", StringComparison.Ordinal));
            Assert.False(result.Succeeded);
            Assert.Contains($"did not run on {ip}, {target} is not fenced: the host key of {ip}:{ssh.Port} is not pinned in {known}", result.Message, StringComparison.Ordinal);
            Assert.False(File.Exists(Marker(lab, target)));
            Assert.DoesNotContain(LabSsh.LogLines(lab, lab.Member(target)).Skip(before), l => l.Contains("Accepted", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
