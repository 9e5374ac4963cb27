using System.Net;
using System.Net.Sockets;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Host;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Tests.Sensing;

public sealed class SnapshotServiceTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1795370436 + 600);

    [Fact]
    public async Task TakeAsync_RecordedCluster_FusesRolesLagBackupAndRecordsDrift()
    {
        await using var lab = await FakeLab.StartAsync();
        using var service = lab.Service();

        var snapshot = await service.TakeAsync("pg-test", TestContext.Current.CancellationToken);

        Assert.Equal(ClusterSnapshot.CurrentSchemaVersion, snapshot.SchemaVersion);
        Assert.Equal(Now, snapshot.TakenAt);
        Assert.Equal("pg-test-3", snapshot.Leader);
        Assert.Equal("patroni", snapshot.LeaderSource);
        Assert.Equal(1, snapshot.Timeline);
        var leader = snapshot.FindMember("pg-test-3")!;
        Assert.Equal(PatroniRole.Leader, leader.PatroniRole);
        Assert.Equal(DeclaredRole.Replica, leader.DeclaredRole);
        Assert.Equal("0/4000000", leader.WalLsn);
        foreach (var name in new[] { "pg-test-1", "pg-test-2" })
        {
            var m = snapshot.FindMember(name)!;
            Assert.Equal(PatroniRole.Replica, m.PatroniRole);
            Assert.True(m.Reachable);
            Assert.True(m.PostgresRunning);
            Assert.Equal(0, m.LagBytes);
            Assert.True(m.Streaming);
            Assert.Equal("async", m.SyncState);
        }

        var drift = Assert.Single(snapshot.Drift, d => d.Code == "declared-primary-not-leader");
        Assert.Equal("warning", drift.Severity);
        Assert.Equal("pg-test-1", drift.Expected);
        Assert.Equal("pg-test-3", drift.Observed);
        Assert.Contains(snapshot.Drift, d => d.Code == "ha-config-differs" && d.Expected == "loop_wait=5" && d.Observed == "loop_wait=10");
        Assert.Equal(600, snapshot.Backup!.LastBackupAgeSeconds);
        Assert.Equal(SensorHealth.Ok, snapshot.HealthOf(SensorNames.Patroni));
        Assert.Equal(SensorHealth.Ok, snapshot.HealthOf(SensorNames.Backup));
        Assert.Equal(SensorHealth.Ok, snapshot.HealthOf(SensorNames.Metrics));
        Assert.Equal(SensorHealth.Unknown, snapshot.HealthOf(SensorNames.Postgres));
        Assert.Equal(SensorHealth.Unknown, snapshot.HealthOf(SensorNames.Host));
        Assert.Equal("1", snapshot.Metrics!.Find("pg_up")!.Values["pg-test-1"]);
        Assert.Equal(SensorNames.All.Count, snapshot.Sensors.Count);
        Assert.All(lab.Patroni.SelectMany(p => p.AuthorizationHeaders), h => Assert.StartsWith("Basic ", h, StringComparison.Ordinal));
    }

    [Fact]
    public async Task TakeAsync_OneMemberPatroniDead_MarksItUnreachableAndKeepsTheRest()
    {
        await using var lab = await FakeLab.StartAsync();
        await lab.Patroni[1].DisposeAsync();
        using var service = lab.Service();

        var snapshot = await service.TakeAsync("pg-test", TestContext.Current.CancellationToken);

        var dead = snapshot.FindMember("pg-test-2")!;
        Assert.False(dead.Reachable);
        Assert.Contains(dead.Notes, n => n.StartsWith("Patroni API unreachable", StringComparison.Ordinal));
        Assert.Equal("pg-test-3", snapshot.Leader);
        Assert.True(snapshot.FindMember("pg-test-1")!.Reachable);
        Assert.True(snapshot.FindMember("pg-test-3")!.Reachable);
        Assert.Equal(SensorHealth.Degraded, snapshot.HealthOf(SensorNames.Patroni));
        var detail = Assert.Single(snapshot.SensorDetails, s => s.Sensor == SensorNames.Patroni && s.Target == "pg-test-2");
        Assert.Equal(SensorHealth.Unknown, detail.Health);
        Assert.Contains("patroni", detail.Reason, StringComparison.Ordinal);
        Assert.NotNull(snapshot.Backup);
    }

    [Fact]
    public async Task TakeAsync_MetricsDown_MarksMetricsUnknownAndStillAnswers()
    {
        await using var lab = await FakeLab.StartAsync();
        await lab.Metrics.DisposeAsync();
        using var service = lab.Service();

        var snapshot = await service.TakeAsync("pg-test", TestContext.Current.CancellationToken);

        Assert.Equal(SensorHealth.Unknown, snapshot.HealthOf(SensorNames.Metrics));
        Assert.Equal("pg-test-3", snapshot.Leader);
        Assert.Equal(SensorHealth.Ok, snapshot.HealthOf(SensorNames.Patroni));
    }

    [Fact]
    public async Task TakeAsync_MetricsDown_IsTracedAndCountsTheUnknownSensor()
    {
        using var recorder = new Telemetry.TelemetryRecorder();
        await using var lab = await FakeLab.StartAsync();
        await lab.Metrics.DisposeAsync();
        using var service = lab.Service();
        var cluster = lab.Topology.Clusters[0].Name;

        var snapshot = await service.TakeAsync(cluster, TestContext.Current.CancellationToken);

        Assert.Contains(recorder.Stopped, a => a.OperationName == "pgra.snapshot" && Equals(a.GetTagItem("pgra.cluster"), cluster));
        Assert.True(recorder.Heard("pgra.sensing.sensor.unhealthy", ("cluster", cluster), ("sensor", SensorNames.Metrics), ("health", "unknown")));
        Assert.Contains(snapshot.DurationMs / 1000.0, recorder.Values("pgra.sensing.snapshot.duration", ("cluster", cluster)));
    }

    [Fact]
    public void HungMembers_PostgresThatAnsweredSomeProbes_IsSlowNotHung()
    {
        SensorStatus TimedOut(string sensor, string member, int done) =>
            new(sensor, member, SensorHealth.Degraded, $"postgres://m@{member}: timed out after 2s ({done} of 22 probes done)", 2000);
        var details = new[]
        {
            TimedOut(SensorNames.Postgres, "pg-test-1", 7),
            TimedOut(SensorNames.Postgres, "pg-test-2", 0),
            TimedOut(SensorNames.Patroni, "pg-test-3", 0),
            SensorStatus.Ok(SensorNames.Postgres, "pg-test-3", 30),
        };
        var postgres = new[]
        {
            new PostgresMemberObservation { Member = "pg-test-1", Probes = [new ProbeResult { Name = "activity", Status = "ok" }] },
            new PostgresMemberObservation { Member = "pg-test-2" },
            new PostgresMemberObservation { Member = "pg-test-3", Probes = [new ProbeResult { Name = "activity", Status = "ok" }] },
        };

        var hung = SnapshotService.HungMembers(details, postgres);

        Assert.Equal(["pg-test-2", "pg-test-3"], hung.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task TakeAsync_HungPatroniMember_CostsAtMostItsTimeout()
    {
        await using var lab = await FakeLab.StartAsync(hungMember: 0);
        using var service = lab.Service(timeoutSeconds: 0.5, realClock: true);
        var started = TimeProvider.System.GetTimestamp();

        var snapshot = await service.TakeAsync("pg-test", TestContext.Current.CancellationToken);

        var elapsed = TimeProvider.System.GetElapsedTime(started);
        Assert.True(elapsed < TimeSpan.FromSeconds(3), $"snapshot took {elapsed}");
        Assert.False(snapshot.FindMember("pg-test-1")!.Reachable);
        Assert.Contains("timed out after 0.5s", snapshot.SensorDetails.Single(s => s.Sensor == SensorNames.Patroni && s.Target == "pg-test-1").Reason, StringComparison.Ordinal);
        Assert.Equal("pg-test-3", snapshot.Leader);
    }

    [Fact]
    public async Task TakeAsync_UnknownCluster_IsInputError()
    {
        await using var lab = await FakeLab.StartAsync();
        using var service = lab.Service();

        var ex = await Assert.ThrowsAsync<InputException>(() => service.TakeAsync("pg-nope", TestContext.Current.CancellationToken));

        Assert.Contains("pg-nope", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SnapshotJson_RoundTrips_AndHoldsNoSecret()
    {
        await using var lab = await FakeLab.StartAsync();
        using var service = lab.Service();
        var snapshot = await service.TakeAsync("pg-test", TestContext.Current.CancellationToken);

        var json = SnapshotJson.Serialize(snapshot);
        var back = SnapshotJson.Deserialize(json);
        var again = SnapshotJson.Serialize(back);

        Assert.Equal(json, again);
        Assert.Contains("\"schema_version\": 1", json, StringComparison.Ordinal);
        Assert.Contains("\"patroni_role\": \"leader\"", json, StringComparison.Ordinal);
        Assert.Equal(snapshot.Leader, back.Leader);
        Assert.Equal(snapshot.Members.Count, back.Members.Count);
        Assert.Equal(snapshot.Drift, back.Drift);
        Assert.Equal(snapshot.Sensors, back.Sensors);
        foreach (var secret in lab.Secrets.Values)
        {
            Assert.DoesNotContain(secret, json, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void SnapshotJson_NewerSchema_IsRefused()
    {
        var ex = Assert.Throws<NotSupportedException>(() => SnapshotJson.Deserialize("""{"schema_version": 99, "cluster": "x"}"""));

        Assert.Contains("99", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SnapshotJson_NaNMetricValues_Serialise()
    {
        var snapshot = new ClusterSnapshot
        {
            Cluster = "c",
            TakenAt = Now,
            Inventory = new InventoryView(),
            Metrics = new PgRuntimeAgent.Sensing.Metrics.MetricsObservation
            {
                Readings = [new PgRuntimeAgent.Sensing.Metrics.MetricReading { Name = "lag_seconds", Status = "ok", Values = new Dictionary<string, string> { ["c-1"] = "NaN" } }],
            },
            Hosts = [new HostObservation { Member = "c-1", Load1 = double.NaN }],
        };

        var back = SnapshotJson.Deserialize(SnapshotJson.Serialize(snapshot));

        Assert.Equal("NaN", back.Metrics!.Readings[0].Values["c-1"]);
        Assert.True(double.IsNaN(back.Hosts[0].Load1!.Value));
    }

    /// <summary>Three Patroni members, a Prometheus, a scripted pgBackRest and no PostgreSQL, all on loopback.</summary>
    private sealed class FakeLab : IAsyncDisposable
    {
        public required List<LoopbackHttpServer> Patroni { get; init; }
        public required LoopbackHttpServer Metrics { get; init; }
        public required SecretStore Secrets { get; init; }
        public required Topology Topology { get; init; }

        public static Task<FakeLab> StartAsync(int? hungMember = null)
        {
            var clusterBody = SensingFixtures.Recorded("patroni-3.0.2", "cluster-leader.json");
            var config = SensingFixtures.Recorded("patroni-3.0.2", "config-leader.json");
            var servers = new List<LoopbackHttpServer>();
            for (var i = 0; i < 3; i++)
            {
                var node = SensingFixtures.Recorded("patroni-3.0.2", i == 2 ? "patroni-leader.json" : "patroni-replica.json");
                var hung = hungMember == i;
                servers.Add(new LoopbackHttpServer(async r =>
                {
                    if (hung)
                    {
                        await Task.Delay(TimeSpan.FromSeconds(10));
                    }

                    return r.Url!.AbsolutePath switch
                    {
                        "/patroni" => new LoopbackHttpServer.Reply(200, node),
                        "/cluster" => new LoopbackHttpServer.Reply(200, clusterBody),
                        "/history" => new LoopbackHttpServer.Reply(200, "[]"),
                        "/config" => new LoopbackHttpServer.Reply(200, config),
                        _ => new LoopbackHttpServer.Reply(404, "{}"),
                    };
                }));
            }

            var pgUp = """{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cls":"pg-test","ins":"pg-test-1"},"value":[1,"1"]},{"metric":{"cls":"pg-test","ins":"pg-test-2"},"value":[1,"1"]},{"metric":{"cls":"pg-test","ins":"pg-test-3"},"value":[1,"1"]}]}}""";
            const string empty = """{"status":"success","data":{"resultType":"vector","result":[]}}""";
            var metrics = new LoopbackHttpServer(r => r.Url!.AbsolutePath == "/api/v1/alerts"
                ? new LoopbackHttpServer.Reply(200, """{"status":"success","data":{"alerts":[]}}""")
                : new LoopbackHttpServer.Reply(200, System.Web.HttpUtility.ParseQueryString(r.Url.Query)["query"]!.StartsWith("pg_up", StringComparison.Ordinal) ? pgUp : empty));
            var secrets = new SecretStore();
            var topology = SensingFixtures.Topology(SensingFixtures.Cluster(secrets: secrets));
            return Task.FromResult(new FakeLab { Patroni = servers, Metrics = metrics, Secrets = secrets, Topology = topology });
        }

        public SnapshotService Service(double timeoutSeconds = 2, bool realClock = false)
        {
            var closedPort = ClosedPort();
            var settings = new AgentSettings
            {
                Sensing = new SensingSettings { TimeoutSeconds = timeoutSeconds, Pgbackrest = new PgBackRestSettings { RunAs = null } },
            };
            var overrides = new SensingOverrides
            {
                PatroniUrl = m => Patroni[m.Seq - 1].BaseUrl,
                PostgresAddress = _ => ("127.0.0.1", closedPort),
                MetricsUrl = Metrics.BaseUrl,
                LogsKind = LogsKind.Files,
                FileAccess = (_, _) => new EmptyFiles(),
                LocalRunner = new FixedRunner(new ShellResult(0, SensingFixtures.Recorded("pgbackrest-2.45", "info.json"), "")),
                SshRunner = new FixedRunner(null),
            };
            return new SnapshotService(Topology, settings.Sensing, settings.Endpoints, Secrets, realClock ? null : new ClockOnly(Now), overrides);
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var s in Patroni)
            {
                await s.DisposeAsync();
            }

            await Metrics.DisposeAsync();
        }

        private static int ClosedPort()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            var port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            return port;
        }
    }

    /// <summary>Real timers and timestamps, a fixed wall clock: timeouts work, taken_at and ages are exact.</summary>
    private sealed class ClockOnly(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private sealed class EmptyFiles : IFileAccess
    {
        public Task<IReadOnlyList<FileStat>> ListAsync(string pattern, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<FileStat>>([]);

        public Task<byte[]> ReadRangeAsync(string path, long offset, int length, CancellationToken cancellationToken) => Task.FromResult(Array.Empty<byte>());
    }

    private sealed class FixedRunner(ShellResult? result) : ICommandRunner
    {
        public Task<ShellResult> RunAsync(string host, string command, CancellationToken cancellationToken) =>
            result is null ? Task.FromException<ShellResult>(new SocketException(111)) : Task.FromResult(result);
    }
}
