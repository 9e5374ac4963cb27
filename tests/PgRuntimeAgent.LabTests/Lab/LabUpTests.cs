using System.Net.Http.Json;
using System.Text.Json;
using PgRuntimeAgent.Lab;

namespace PgRuntimeAgent.LabTests.Lab;

/// <summary>The lab as `pgra lab up` leaves it: what the "done means" lists.</summary>
public sealed class LabUpTests
{
    [Fact]
    public async Task Status_RunningLab_EveryComponentHealthyInJson()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        // An earlier test may have stopped a component on purpose (an sshd, a pgbouncer a fault took down): start
        // what is stopped first, as `pgra lab repair` does; the test is about what status reports of a running lab.
        using (var faults = new LabFaults(lab.Manifest, TimeProvider.System))
        {
            Assert.True((await faults.RepairAsync(TimeSpan.FromSeconds(120), TestContext.Current.CancellationToken)).Ok);
        }

        var result = await LabCli.RunAsync("lab", "status", "--json", "--dir", lab.Dir);
        Assert.True(result.ExitCode == 0, result.Out);
        using var doc = JsonDocument.Parse(result.Out);
        Assert.True(doc.RootElement.GetProperty("healthy").GetBoolean(), result.Out);
        var components = doc.RootElement.GetProperty("components").EnumerateArray().ToList();
        Assert.Equal(lab.Manifest.Services.Count, components.Count);
        Assert.All(components, c =>
        {
            Assert.True(c.GetProperty("healthy").GetBoolean(), c.ToString());
            Assert.True(c.GetProperty("pid").GetInt32() > 0, c.ToString());
        });
        foreach (var kind in new[] { "etcd", "etcd_relay", "patroni", "postgres", "pgbouncer", "haproxy", "pg_exporter", "node_exporter", "prometheus", "alertmanager", "meta_postgres" })
        {
            Assert.Contains(components, c => c.GetProperty("kind").GetString() == kind);
        }
    }

    [Fact]
    public async Task PgMeta_RunningLab_JournalDatabaseOnTheAdminAddressOutsidePgTest()
    {
        var lab = await LabGuard.RequireLabAsync();
        var service = Assert.Single(lab.Manifest.Services, s => s.Kind == "meta_postgres");
        Assert.Null(service.Member);
        Assert.Equal("INT", service.StopSignal);
        var (connectionString, password) = lab.JournalDatabase();
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { Password = password };
        Assert.Equal(lab.Manifest.InfraIp, builder.Host);
        Assert.DoesNotContain(lab.Members, m => m.Ip == builder.Host);
        await using var connection = new Npgsql.NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new Npgsql.NpgsqlCommand(
            "SELECT current_database(), current_user, pg_is_in_recovery(), host(inet_server_addr()), current_setting('server_version_num')::int / 10000", connection);
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        Assert.True(await reader.ReadAsync(TestContext.Current.CancellationToken));
        Assert.Equal(("meta", "dbuser_meta", false, lab.Manifest.InfraIp, 15),
            (reader.GetString(0), reader.GetString(1), reader.GetBoolean(2), reader.GetString(3), reader.GetInt32(4)));
    }

    [Fact]
    public async Task PatroniCluster_RunningLab_OneLeaderTwoStreamingReplicas()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        using var http = new HttpClient();
        var cluster = await http.GetFromJsonAsync<JsonElement>(new Uri(lab.Members[0].PatroniUrl, "/cluster"), TestContext.Current.CancellationToken);
        var members = cluster.GetProperty("members").EnumerateArray().ToList();
        Assert.Equal(3, members.Count);
        Assert.Single(members, m => m.GetProperty("role").GetString() == "leader");
        var leader = await lab.LeaderAsync(TestContext.Current.CancellationToken);
        var patroni = await http.GetFromJsonAsync<JsonElement>(new Uri(leader.PatroniUrl, "/patroni"), TestContext.Current.CancellationToken);
        var streaming = patroni.GetProperty("replication").EnumerateArray().Where(r => r.GetProperty("state").GetString() == "streaming").ToList();
        Assert.Equal(2, streaming.Count);
    }

    [Fact]
    public async Task Prometheus_RunningLab_PgUpForEveryInstanceWithPigstyLabels()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        using var http = new HttpClient();
        // A member whose PostgreSQL a previous test restarted (or a repair rebuilt) can still show the exporter's last
        // scrape from before it came back: wait a few scrape intervals for every pg_up to say 1.
        List<JsonElement> series = [];
        for (var i = 0; i < 30; i++)
        {
            var body = await http.GetFromJsonAsync<JsonElement>(new Uri(lab.PrometheusUrl, "/api/v1/query?query=pg_up"), TestContext.Current.CancellationToken);
            series = body.GetProperty("data").GetProperty("result").EnumerateArray().ToList();
            if (series.Count == lab.Members.Count && series.All(s => s.GetProperty("value")[1].GetString() == "1"))
            {
                break;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        }

        Assert.Equal(lab.Members.Select(m => m.Name).Order(), series.Select(s => s.GetProperty("metric").GetProperty("ins").GetString()).Order());
        Assert.All(series, s =>
        {
            var metric = s.GetProperty("metric");
            Assert.Equal("pg-test", metric.GetProperty("cls").GetString());
            Assert.Equal("pgsql", metric.GetProperty("job").GetString());
            Assert.StartsWith(metric.GetProperty("ip").GetString() + ":", metric.GetProperty("instance").GetString(), StringComparison.Ordinal);
            Assert.Equal("1", s.GetProperty("value")[1].GetString());
        });
        var rules = await http.GetFromJsonAsync<JsonElement>(new Uri(lab.PrometheusUrl, "/api/v1/rules"), TestContext.Current.CancellationToken);
        var names = rules.GetProperty("data").GetProperty("groups").EnumerateArray()
            .SelectMany(g => g.GetProperty("rules").EnumerateArray()).Select(r => r.GetProperty("name").GetString()).ToList();
        Assert.Contains("pg:ins:lag_bytes", names);
        Assert.Contains("pg:cls:partition", names);
        Assert.Contains("PostgresDown", names);
        Assert.Contains("PatroniDown", names);
        Assert.Contains("PostgresReplicationLag", names);
    }

    [Fact]
    public async Task PgBackRest_RunningLab_FullBackupInTheRepository()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var info = await LabBackup.InfoAsync(lab.Manifest, TestContext.Current.CancellationToken);
        Assert.Null(info.Error);
        Assert.Equal(0, info.StatusCode);
        Assert.True(info.FullBackups >= 1, info.Describe());
    }

    [Fact]
    public async Task Inventory_RunningLab_PigstyInventoryAndSettingsDescribeIt()
    {
        var lab = await LabGuard.RequireLabAsync();
        var inventory = await File.ReadAllTextAsync(lab.InventoryPath, TestContext.Current.CancellationToken);
        foreach (var member in lab.Members)
        {
            Assert.Contains($"{member.Ip}: {{ pg_seq: {member.Seq}", inventory, StringComparison.Ordinal);
        }

        Assert.Contains("pg_cluster: pg-test", inventory, StringComparison.Ordinal);
        Assert.Contains("patroni_password: " + lab.Credentials.Patroni.Password, inventory, StringComparison.Ordinal);
        var settings = await File.ReadAllTextAsync(lab.SettingsPath, TestContext.Current.CancellationToken);
        Assert.Contains("metrics_url: " + lab.PrometheusUrl.ToString().TrimEnd('/'), settings, StringComparison.Ordinal);
        Assert.Contains("logs_kind: files", settings, StringComparison.Ordinal);
        Assert.Contains(lab.Members[0].PatroniLog, settings, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WalFilesystem_EveryMember_OwnSmallMountWithPgWal()
    {
        var lab = await LabGuard.RequireLabAsync();
        foreach (var member in lab.Members)
        {
            Assert.True(LabDown.IsMountPoint(member.WalMount), $"{member.WalMount} is not a mount point");
            var pgWal = new DirectoryInfo(Path.Combine(member.DataDir, "pg_wal"));
            Assert.Equal(Path.Combine(member.WalMount, "pg_wal"), pgWal.LinkTarget);
            Assert.True(new DriveInfo(member.WalMount).TotalSize < 1024L * 1024 * 1024);
        }
    }

    [Fact]
    public async Task Listeners_RunningLab_OnlyLoopback()
    {
        var lab = await LabGuard.RequireLabAsync();
        var ips = new[] { lab.Manifest.InfraIp }.Concat(lab.Members.Select(m => m.Ip)).ToHashSet();
        var listening = LabProcesses.ListeningOn(ips);
        Assert.Contains($"{lab.Members[0].Ip}:5432", listening);
        Assert.Contains($"{lab.Manifest.InfraIp}:2379", listening);
        var lines = File.ReadLines("/proc/net/tcp").Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(c => c[3] == "0A").Select(c => LabProcesses.ParseProcNetAddress(c[1])!.Value).ToList();
        foreach (var service in lab.Manifest.Services)
        {
            var port = int.Parse(service.Address.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
            Assert.DoesNotContain(lines, l => l.Port == port && l.Ip == "0.0.0.0");
        }
    }
}
