using System.Web;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Metrics;

namespace PgRuntimeAgent.Tests.Sensing;

/// <summary>fs_free_ratio comes from the filesystems holding the member's own data and WAL paths.</summary>
public sealed class FilesystemMetricsTests
{
    private static readonly string[] LabPaths = ["/var/lib/pgra-lab/{member}/data", "/var/lib/pgra-lab/{member}/wal"];

    private static PromSeries Fs(string ins, string ip, string mountpoint, string ratio) => new(
        new Dictionary<string, string> { ["ins"] = ins, ["ip"] = ip, ["instance"] = ip + ":9100", ["mountpoint"] = mountpoint, ["fstype"] = "ext4" },
        [new PromSample(1795370436, ratio)]);

    /// <summary>
    /// The loopback lab: every node_exporter runs on one machine and reports every mount of it - the root filesystem
    /// and each member's WAL filesystem. pg-test-2's WAL filesystem is full.
    /// </summary>
    internal static PromQueryResult LabMounts(params (string Ins, string Ip)[] nodes) => new("vector",
        nodes.SelectMany(n => new[]
        {
            Fs(n.Ins, n.Ip, "/", "0.4"),
            Fs(n.Ins, n.Ip, "/var/lib/pgra-lab/pg-test-1/wal", "0.8"),
            Fs(n.Ins, n.Ip, "/var/lib/pgra-lab/pg-test-2/wal", "0.0001"),
            Fs(n.Ins, n.Ip, "/var/lib/pgra-lab/pg-test-3/wal", "0.7"),
        }).ToList(), []);

    [Fact]
    public async Task MetricsSensor_TwoNodesReportBothWalMounts_EachMemberGetsItsOwnFilesystem()
    {
        var cluster = SensingFixtures.Cluster();
        var body = System.Text.Json.JsonSerializer.Serialize(new
        {
            status = "success",
            data = new
            {
                resultType = "vector",
                result = LabMounts(("pg-test-1", "127.0.0.11"), ("pg-test-2", "127.0.0.12")).Series
                    .Select(s => new { metric = s.Labels, value = new object[] { 1795370436, s.Samples[0].Value } }),
            },
        });
        await using var server = new LoopbackHttpServer(r =>
        {
            var query = HttpUtility.ParseQueryString(r.Url!.Query)["query"] ?? "";
            return new LoopbackHttpServer.Reply(200, query.Contains("node_filesystem_avail_bytes", StringComparison.Ordinal)
                ? body
                : """{"status":"success","data":{"resultType":"vector","result":[]}}""");
        });
        using var http = new SensingHttp();
        using var httpClient = http.CreateClient(server.BaseUrl);
        var sensor = new MetricsSensor(new PrometheusClient(httpClient), TimeProvider.System, TimeSpan.FromSeconds(2)) { MemberPaths = LabPaths };

        var (observation, _) = await sensor.ObserveAsync(cluster, TestContext.Current.CancellationToken);

        var fs = observation.Find("fs_free_ratio")!;
        Assert.Equal("ok", fs.Status);
        Assert.Equal("0.4", fs.Values["pg-test-1"]); // its data directory's root filesystem, not pg-test-2's full WAL disk
        Assert.Equal("mount / holding /var/lib/pgra-lab/pg-test-1/data", fs.Basis["pg-test-1"]);
        Assert.Equal("0.0001", fs.Values["pg-test-2"]);
        Assert.Equal("mount /var/lib/pgra-lab/pg-test-2/wal holding /var/lib/pgra-lab/pg-test-2/wal", fs.Basis["pg-test-2"]);
        Assert.False(fs.Values.ContainsKey("pg-test-3")); // its node_exporter said nothing: the host sensor measures it
    }

    [Fact]
    public void MapFilesystemsToMembers_PigstyLayout_ReadsTheMainFilesystemBehindPgData()
    {
        var cluster = SensingFixtures.Cluster();
        var result = new PromQueryResult("vector",
            [Fs("pg-test-1", "127.0.0.11", "/", "0.9"), Fs("pg-test-1", "127.0.0.11", "/data", "0.02"), Fs("pg-test-1", "127.0.0.11", "/boot", "0.001")], []);

        var (values, basis) = MetricsSensor.MapFilesystemsToMembers(result, cluster, ["/pg/data", "/pg/data/pg_wal"]);

        Assert.Equal("0.02", values["pg-test-1"]);
        Assert.Equal("mount /data holding /pg/data", basis["pg-test-1"]);
    }

    [Fact]
    public void MapFilesystemsToMembers_NoMountHoldsAnyMemberPathOnANodeOfItsOwn_FallsBackToTheNodesLowest()
    {
        var cluster = SensingFixtures.Cluster();
        var result = new PromQueryResult("vector", [Fs("pg-test-1", "127.0.0.11", "/srv", "0.7"), Fs("pg-test-1", "127.0.0.11", "/boot", "0.1")], []);

        var (values, basis) = MetricsSensor.MapFilesystemsToMembers(result, cluster, LabPaths);

        Assert.Equal("0.1", values["pg-test-1"]);
        Assert.StartsWith("lowest of the node's 2 filesystem(s) (/boot)", basis["pg-test-1"], StringComparison.Ordinal);
    }

    [Fact]
    public void MapFilesystemsToMembers_NodeSharedByTwoMembers_DoesNotFallBackToItsLowest()
    {
        var cluster = SensingFixtures.Cluster(members: 2, ipPrefix: "10.0.0.5");
        var result = new PromQueryResult("vector", [Fs("pg-test-1", "10.0.0.5", "/srv", "0.7"), Fs("pg-test-1", "10.0.0.5", "/boot", "0.001")], []);

        var (values, _) = MetricsSensor.MapFilesystemsToMembers(result, cluster, LabPaths);

        Assert.Empty(values);
    }

    [Fact]
    public void MapFilesystemsToMembers_NodeReportsOnlyAnotherMembersMount_GivesNoValue()
    {
        var cluster = SensingFixtures.Cluster();
        var result = new PromQueryResult("vector", [Fs("pg-test-1", "127.0.0.11", "/var/lib/pgra-lab/pg-test-2/wal", "0.0001")], []);

        var (values, _) = MetricsSensor.MapFilesystemsToMembers(result, cluster, LabPaths);

        Assert.Empty(values);
    }
}
