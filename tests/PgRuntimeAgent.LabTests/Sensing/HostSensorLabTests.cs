using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Backup;
using PgRuntimeAgent.Sensing.Host;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Transport;

namespace PgRuntimeAgent.LabTests.Sensing;

/// <summary>
/// The Host sensor (and pgBackRest info over SSH) against the lab's real sshd instances (openssh-server, one per member
/// on 127.0.0.11-13:2222, key-only, host keys pinned by the lab's known_hosts), with the settings the lab writes.
/// </summary>
public sealed class HostSensorLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static (PgCluster Cluster, SshSettings Ssh, SensingSettings Sensing) Load(LabInfo lab)
    {
        var workspace = LabSsh.LoadWorkspace(lab);
        return (workspace.Topology.FindCluster(lab.Cluster)!, workspace.Settings.Sensing.Ssh, workspace.Settings.Sensing);
    }

    private static PgMember Member(PgCluster cluster, string name) => cluster.FindMember(name)!;

    [Fact]
    public async Task ObserveAsync_RealSshd_ReportsWalAndDataFilesystemsMemoryAndLoadOfEveryMember()
    {
        var lab = await LabSsh.RequireAsync();
        var (cluster, ssh, _) = Load(lab);
        Assert.Equal("postgres", ssh.User);
        Assert.Equal(2222, ssh.Port);
        var sensor = new HostSensor(new SshRunner(ssh), ssh, TimeProvider.System, TimeSpan.FromSeconds(15));
        var before = lab.Members.ToDictionary(m => m.Name, m => LabSsh.LogLines(lab, m).Count);

        var results = await Task.WhenAll(cluster.Members.Select(m => sensor.ObserveAsync(m, Ct)));

        foreach (var (observation, health) in results)
        {
            Assert.True(health.Health == SensorHealth.Ok, $"{health.Target}: {health.Health} {health.Reason}");
            var labMember = lab.Member(observation!.Member);
            Assert.Equal(2, observation.Filesystems.Count);
            var data = observation.Filesystems[0];
            var wal = observation.Filesystems[1];
            Assert.Equal(labMember.DataDir, data.Path);
            Assert.Equal(labMember.WalMount, wal.Path);
            Assert.Equal(labMember.WalMount, wal.Mount); // pg_wal is its own (loop-mounted ext4) filesystem
            Assert.NotEqual(data.Mount, wal.Mount);
            Assert.InRange(wal.SizeBytes, 900L << 20, 1100L << 20); // pg_wal_fs_size_mb: 1024
            Assert.True(wal.UsedBytes > 0 && wal.AvailableBytes > 0 && wal.FreeRatio is > 0 and < 1, $"{wal}");
            Assert.True(observation.MemTotalBytes > 0 && observation.MemAvailableBytes > 0 && observation.MemAvailableBytes <= observation.MemTotalBytes);
            Assert.NotNull(observation.Load1);
            Assert.NotNull(observation.Load15);
        }

        // every member was read through its own sshd, as the settings' user
        foreach (var member in lab.Members)
        {
            var fresh = LabSsh.LogLines(lab, member).Skip(before[member.Name]).ToList();
            Assert.Contains(fresh, l => l.Contains("Accepted publickey for postgres", StringComparison.Ordinal));
        }

        var wal1 = results.First(r => r.Observation!.Member == lab.Members[0].Name).Observation!.Filesystems[1];
        LabSsh.Figure(
            $"host sensor over SSH: {string.Join(", ", results.Select(r => $"{r.Health.Target} {r.Health.ElapsedMs:0} ms"))}; {lab.Members[0].Name} WAL fs {wal1.UsedBytes >> 20}/{wal1.SizeBytes >> 20} MiB used");
    }

    [Fact]
    public async Task ObserveAsync_MemberSshdStopped_ThatMemberUnknownWithReasonOthersOk()
    {
        var lab = await LabSsh.RequireAsync();
        var (cluster, ssh, _) = Load(lab);
        var sensor = new HostSensor(new SshRunner(ssh), ssh, TimeProvider.System, TimeSpan.FromSeconds(10));
        var stopped = lab.Member("pg-test-2");
        await LabSsh.StopAsync(lab, stopped);
        try
        {
            var results = await Task.WhenAll(cluster.Members.Select(m => sensor.ObserveAsync(m, Ct)));

            var down = results.Single(r => r.Health.Target == stopped.Name);
            Assert.Null(down.Observation);
            Assert.Equal(SensorHealth.Unknown, down.Health.Health);
            Assert.Contains("127.0.0.12", down.Health.Reason, StringComparison.Ordinal);
            Assert.Contains("refused", down.Health.Reason, StringComparison.OrdinalIgnoreCase);
            Assert.True(down.Health.ElapsedMs < 10_000, $"a refused connection should not cost the timeout ({down.Health.ElapsedMs} ms)");
            Assert.All(results.Where(r => r.Health.Target != stopped.Name), r => Assert.Equal(SensorHealth.Ok, r.Health.Health));
            LabSsh.Figure($"host sensor, sshd of {stopped.Name} stopped: unknown in {down.Health.ElapsedMs:0} ms ({down.Health.Reason})");
        }
        finally
        {
            await LabSsh.StartAsync(lab, stopped);
        }

        var (again, health) = await sensor.ObserveAsync(Member(cluster, stopped.Name), Ct);
        Assert.True(health.Health == SensorHealth.Ok, $"after restart: {health.Reason}");
        Assert.NotNull(again);
    }

    [Fact]
    public async Task ObserveAsync_HostKeyNotPinned_RefusesTheHostAndSaysWhy()
    {
        var lab = await LabSsh.RequireAsync();
        var (cluster, ssh, _) = Load(lab);
        var dir = Directory.CreateTempSubdirectory("pgra-known-hosts-").FullName;
        try
        {
            // pg-test-1's host key listed for pg-test-2's address: a host answering with another key is not trusted
            var lines = await File.ReadAllLinesAsync(ssh.KnownHostsPath!, Ct);
            var first = lines.Single(l => l.StartsWith("[127.0.0.11]:2222 ", StringComparison.Ordinal));
            var wrong = Path.Combine(dir, "known_hosts");
            await File.WriteAllLinesAsync(wrong, [first, first.Replace("[127.0.0.11]", "[127.0.0.12]", StringComparison.Ordinal)], Ct);
            var pinnedWrong = ssh with { KnownHostsPath = wrong };
            var sensor = new HostSensor(new SshRunner(pinnedWrong), pinnedWrong, TimeProvider.System, TimeSpan.FromSeconds(10));

            var (trusted, trustedHealth) = await sensor.ObserveAsync(Member(cluster, "pg-test-1"), Ct);
            var (refused, refusedHealth) = await sensor.ObserveAsync(Member(cluster, "pg-test-2"), Ct);

            Assert.Equal(SensorHealth.Ok, trustedHealth.Health);
            Assert.NotNull(trusted);
            Assert.Null(refused);
            Assert.Equal(SensorHealth.Unknown, refusedHealth.Health);
            Assert.Contains("is not pinned in " + wrong, refusedHealth.Reason, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task TakeAsync_NodeExporterSeriesMissing_SnapshotFillsHostsOverSsh()
    {
        var lab = await LabSsh.RequireAsync();
        var workspace = LabSsh.LoadWorkspace(lab);
        // Prometheus unreachable (nothing listens on 127.0.0.10:1): no node_exporter series, so the snapshot asks the hosts
        // an SSH login (key exchange, PAM session) costs more than the lab's 2 s default on a loaded 2-core machine
        var settings = workspace.Settings with
        {
            Sensing = workspace.Settings.Sensing with { SensorTimeouts = new Dictionary<string, double>(StringComparer.Ordinal) { [SensorNames.Host] = 15 } },
        };
        using var service = new SnapshotService(workspace.Topology, settings.Sensing, settings.Endpoints, workspace.Secrets, TimeProvider.System,
            new SensingOverrides { MetricsUrl = new Uri("http://127.0.0.10:1") });

        var snapshot = await service.TakeAsync(lab.Cluster, Ct);
        LabSsh.Figure($"snapshot with the Host sensor over SSH for 3 members: {snapshot.DurationMs:0} ms; host sensor {string.Join(", ", snapshot.SensorDetails.Where(d => d.Sensor == SensorNames.Host).Select(d => $"{d.Target} {d.ElapsedMs:0} ms"))}");

        Assert.Equal(lab.Members.Select(m => m.Name).Order(StringComparer.Ordinal), snapshot.Hosts.Select(h => h.Member).Order(StringComparer.Ordinal));
        Assert.All(snapshot.Hosts, h => Assert.Equal(2, h.Filesystems.Count));
        var hostHealth = snapshot.SensorDetails.Where(d => d.Sensor == SensorNames.Host).ToList();
        Assert.Equal(3, hostHealth.Count);
        Assert.All(hostHealth, d => Assert.Equal(SensorHealth.Ok, d.Health));
        Assert.Contains(snapshot.SensorDetails, d => d.Sensor == SensorNames.Metrics && d.Health == SensorHealth.Unknown);
    }

    [Fact]
    public async Task BackupSensor_SshHost_ReadsPgBackRestInfoOnTheRepoHostOverSsh()
    {
        var lab = await LabSsh.RequireAsync();
        var (cluster, ssh, sensing) = Load(lab);
        var repoHost = lab.Members[0].Ip;
        var pgbackrest = sensing.Pgbackrest with { SshHost = repoHost };
        var sensor = new BackupSensor(pgbackrest, new LocalCommandRunner(), new SshRunner(ssh), TimeProvider.System, TimeSpan.FromSeconds(30));
        var before = LabSsh.LogLines(lab, lab.Members[0]).Count;

        var (observation, health) = await sensor.ObserveAsync(cluster, Ct);

        Assert.True(health.Health == SensorHealth.Ok, $"{health.Health}: {health.Reason}");
        LabSsh.Figure($"pgbackrest info over SSH ({repoHost}): {health.ElapsedMs:0} ms");
        Assert.Equal(lab.Manifest.Pgbackrest.Stanza, observation!.Stanza);
        Assert.NotNull(observation.LastFull);
        Assert.Equal(0, observation.StatusCode);
        Assert.DoesNotContain("runuser", observation.Command, StringComparison.Ordinal); // over SSH it runs as the SSH user
        Assert.Contains(LabSsh.LogLines(lab, lab.Members[0]).Skip(before), l => l.Contains("Accepted publickey for postgres", StringComparison.Ordinal));
    }
}
