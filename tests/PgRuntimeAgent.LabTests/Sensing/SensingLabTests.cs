using System.Text.Json;

namespace PgRuntimeAgent.LabTests.Sensing;

/// <summary>
/// The sensing acceptance tests against the real loopback lab. The destructive ones restore exactly what they
/// broke (switch back, restart Prometheus, restart the killed Patroni) before they end, pass or fail.
/// </summary>
public sealed class SensingLabTests
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Status_Lab_ShowsOneLeaderTwoStreamingReplicasLagAndBackupAge()
    {
        await SensingLab.RequireAsync();

        var cluster = await SensingLab.WaitForStatusAsync(SensingLab.Healthy, Settle);

        Assert.Equal("pg-test", cluster.GetProperty("cluster").GetString());
        var members = cluster.GetProperty("members").EnumerateArray().ToList();
        Assert.Equal(3, members.Count);
        Assert.Single(members, m => m.GetProperty("role").GetString() == "leader");
        var replicas = members.Where(m => m.GetProperty("role").GetString() == "replica").ToList();
        Assert.Equal(2, replicas.Count);
        Assert.All(replicas, r =>
        {
            Assert.True(r.GetProperty("streaming").GetBoolean());
            Assert.Equal(JsonValueKind.Number, r.GetProperty("lag_bytes").ValueKind);
            Assert.Equal(JsonValueKind.Number, r.GetProperty("lag_seconds").ValueKind);
        });
        Assert.Equal(JsonValueKind.Number, cluster.GetProperty("backup_age_seconds").ValueKind);
        Assert.True(cluster.GetProperty("backup_age_seconds").GetDouble() >= 0);
        Assert.Equal("ok", cluster.GetProperty("sensors").GetProperty("patroni").GetString());
        Assert.Equal("ok", cluster.GetProperty("sensors").GetProperty("backup").GetString());
        Assert.Equal("ok", cluster.GetProperty("sensors").GetProperty("postgres").GetString());
    }

    [Fact]
    public async Task Snapshot_Lab_IsCompleteFastAndRoundTrips()
    {
        await SensingLab.RequireAsync();
        await SensingLab.WaitForStatusAsync(SensingLab.Healthy, Settle);

        // A loaded machine can time a query out once; the lab is complete when one of a few snapshots sees everything.
        var (code, output, error) = (0, "", "");
        PgRuntimeAgent.Sensing.Snapshot.ClusterSnapshot snapshot = null!;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            (code, output, error) = await SensingLab.PgraAsync("snapshot", "pg-test", "--json", "-i", SensingLab.Inventory);
            Assert.True(code == 0, error);
            snapshot = PgRuntimeAgent.Sensing.Snapshot.SnapshotJson.Deserialize(output);
            if (snapshot.Sensors.All(s => s.Health == PgRuntimeAgent.Sensing.SensorHealth.Ok))
            {
                break;
            }
        }

        Assert.Equal(1, snapshot.SchemaVersion);
        Assert.NotNull(snapshot.Leader);
        Assert.All(snapshot.Postgres, p =>
        {
            Assert.True(p.Reachable, p.Error);
            Assert.NotNull(p.MaxConnections);
            Assert.DoesNotContain(p.Probes, r => r.Status == "error");
        });
        var leaderPg = snapshot.Postgres.Single(p => p.Member == snapshot.Leader);
        Assert.False(leaderPg.InRecovery);
        Assert.Equal(2, leaderPg.Replication.Count);
        Assert.True(snapshot.Metrics!.Find("pg_up")!.Status == "ok", string.Join("; ", snapshot.Sensors.Select(x => $"{x.Sensor} {x.Health} {x.Reason}")));
        Assert.NotNull(snapshot.Logs);
        Assert.NotEmpty(snapshot.Logs!.Entries);
        Assert.Equal(output.TrimEnd(), PgRuntimeAgent.Sensing.Snapshot.SnapshotJson.Serialize(snapshot));
        Assert.DoesNotContain("DBUser.Monitor", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Patroni.API", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logs_Lab_ReadsPatroniAndPostgresFilesOfOneMember()
    {
        await SensingLab.RequireAsync();

        var (code, output, error) = await SensingLab.PgraAsync("logs", "pg-test", "--member", "pg-test-2", "--since", "1d", "--limit", "50", "--json", "-i", SensingLab.Inventory);

        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        var entries = doc.RootElement.GetProperty("entries").EnumerateArray().ToList();
        Assert.NotEmpty(entries);
        Assert.All(entries, e => Assert.Equal("pg-test-2", e.GetProperty("member").GetString()));
        Assert.Contains(entries, e => e.GetProperty("source").GetString() == "patroni");
        Assert.Equal("files", doc.RootElement.GetProperty("backend").GetString());
    }

    [Fact]
    public async Task Status_AfterCurlSwitchover_ShowsNewLeaderAndInventoryDrift()
    {
        await SensingLab.RequireAsync();
        var before = await SensingLab.WaitForStatusAsync(SensingLab.Healthy, Settle);
        var leader = SensingLab.Leader(before)!;
        var declared = before.GetProperty("declared_primary").GetString();
        // A candidate the inventory does not call primary, so the drift is certain.
        var candidate = before.GetProperty("members").EnumerateArray()
            .Select(m => m.GetProperty("name").GetString()!)
            .First(n => n != leader && n != declared);
        try
        {
            var switched = await SensingLab.CurlSwitchoverAsync(leader, candidate);
            Assert.True(switched.ExitCode == 0, switched.StandardError);

            var after = await SensingLab.WaitForStatusAsync(s => SensingLab.Leader(s) == candidate && SensingLab.Healthy(s), Settle);

            Assert.Equal(candidate, SensingLab.Leader(after));
            var drift = after.GetProperty("drift").EnumerateArray().Single(d => d.GetProperty("code").GetString() == "declared-primary-not-leader");
            Assert.Equal("warning", drift.GetProperty("severity").GetString());
            Assert.Equal(declared, drift.GetProperty("expected").GetString());
            Assert.Equal(candidate, drift.GetProperty("observed").GetString());
        }
        finally
        {
            // Put the leader back where it was.
            var now = await SensingLab.WaitForStatusAsync(SensingLab.Healthy, Settle);
            if (SensingLab.Leader(now) is { } current && current != leader)
            {
                await SensingLab.CurlSwitchoverAsync(current, leader);
                await SensingLab.WaitForStatusAsync(s => SensingLab.Leader(s) == leader && SensingLab.Healthy(s), Settle);
            }
        }
    }

    [Fact]
    public async Task Status_PrometheusStopped_StillAnswersMarksMetricsUnknownExitsZero()
    {
        await SensingLab.RequireAsync();
        await SensingLab.WaitForStatusAsync(SensingLab.Healthy, Settle);
        await SensingLab.StopServiceAsync("prometheus", "prometheus", kill: false);
        try
        {
            var (code, output, error) = await SensingLab.PgraAsync("status", "--json", "-i", SensingLab.Inventory);

            Assert.True(code == 0, error);
            using var doc = JsonDocument.Parse(output);
            var cluster = doc.RootElement.GetProperty("clusters")[0];
            Assert.Equal("unknown", cluster.GetProperty("sensors").GetProperty("metrics").GetString());
            Assert.Contains(cluster.GetProperty("sensor_problems").EnumerateArray(), p =>
                p.GetProperty("sensor").GetString() == "metrics" && p.GetProperty("reason").GetString()!.Contains("127.0.0.10:9090", StringComparison.Ordinal));
            Assert.NotNull(SensingLab.Leader(cluster));
            Assert.Equal("ok", cluster.GetProperty("sensors").GetProperty("patroni").GetString());
        }
        finally
        {
            await SensingLab.StartServiceAsync("start-monitor.sh", "prometheus");
            await SensingLab.WaitUntilAsync(() => SensingLab.AnswersAsync("http://127.0.0.10:9090/-/ready"), TimeSpan.FromSeconds(60), "Prometheus to be ready again");
        }
    }

    [Fact]
    public async Task Status_OneMemberPatroniKilled_ReportsItUnreachableAndTheRestComplete()
    {
        await SensingLab.RequireAsync();
        var before = await SensingLab.WaitForStatusAsync(SensingLab.Healthy, Settle);
        var leader = SensingLab.Leader(before)!;
        // A replica, so that no failover is triggered.
        var victim = before.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("name").GetString()!).First(n => n != leader);
        await SensingLab.StopServiceAsync($"{victim}-patroni", "postgres", kill: true);
        try
        {
            await SensingLab.WaitUntilAsync(async () => !await SensingLab.AnswersAsync($"http://{SensingLab.IpOf(victim)}:8008/liveness"), TimeSpan.FromSeconds(20), $"{victim}'s Patroni to go away");

            var (code, output, error) = await SensingLab.PgraAsync("status", "--json", "-i", SensingLab.Inventory);

            Assert.True(code == 0, error);
            using var doc = JsonDocument.Parse(output);
            var cluster = doc.RootElement.GetProperty("clusters")[0];
            var members = cluster.GetProperty("members").EnumerateArray().ToList();
            var dead = members.Single(m => m.GetProperty("name").GetString() == victim);
            Assert.False(dead.GetProperty("reachable").GetBoolean());
            Assert.Equal(leader, SensingLab.Leader(cluster));
            Assert.All(members.Where(m => m.GetProperty("name").GetString() != victim), m =>
            {
                Assert.True(m.GetProperty("reachable").GetBoolean());
                Assert.NotEqual("unknown", m.GetProperty("role").GetString());
                Assert.Equal(JsonValueKind.Number, m.GetProperty("timeline").ValueKind);
            });
            Assert.Equal("degraded", cluster.GetProperty("sensors").GetProperty("patroni").GetString());
            Assert.Equal("ok", cluster.GetProperty("sensors").GetProperty("backup").GetString());
            Assert.Equal("ok", cluster.GetProperty("sensors").GetProperty("postgres").GetString());
            Assert.Equal(JsonValueKind.Number, cluster.GetProperty("backup_age_seconds").ValueKind);
        }
        finally
        {
            await SensingLab.StartServiceAsync($"start-{victim}.sh", $"{victim}-patroni");
            await SensingLab.WaitUntilAsync(() => SensingLab.AnswersAsync($"http://{SensingLab.IpOf(victim)}:8008/liveness"), TimeSpan.FromSeconds(60), $"{victim}'s Patroni to come back");
            await SensingLab.WaitForStatusAsync(SensingLab.Healthy, Settle);
        }
    }
}
