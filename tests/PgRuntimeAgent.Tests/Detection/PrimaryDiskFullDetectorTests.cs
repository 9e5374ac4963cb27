using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing.Host;
using PgRuntimeAgent.Sensing.Metrics;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Detection;

/// <summary>primary-disk-full judged on the leader's own filesystems (pg-test-3 leads in the healthy lab snapshot).</summary>
public sealed class PrimaryDiskFullDetectorTests
{
    private static ClusterSnapshot WithFsReading(ClusterSnapshot s, MetricReading? fs) => s with
    {
        Metrics = s.Metrics! with { Readings = s.Metrics.Readings.Where(r => r.Name != "fs_free_ratio").Concat(fs is null ? [] : [fs]).ToList() },
    };

    [Fact]
    public void Detect_LeadersOwnWalMountFull_EvidenceNamesTheMount()
    {
        var fs = new MetricReading
        {
            Name = "fs_free_ratio",
            Status = "ok",
            Values = new Dictionary<string, string> { ["pg-test-1"] = "0.3", ["pg-test-2"] = "0.3", ["pg-test-3"] = "0.0001" },
            Basis = new Dictionary<string, string> { ["pg-test-3"] = "mount /var/lib/pgra-lab/pg-test-3/wal holding /var/lib/pgra-lab/pg-test-3/wal" },
        };

        var f = Run(WithFsReading(Healthy(), fs), WithFsReading(Healthy(3), fs)).Find(FindingCodes.PrimaryDiskFull);

        Assert.NotNull(f);
        Assert.Contains(f.Evidence, e => e.Source == "metrics"
            && e.Observation == "free ratio 0.0001 of mount /var/lib/pgra-lab/pg-test-3/wal holding /var/lib/pgra-lab/pg-test-3/wal");
    }

    [Fact]
    public void Detect_AnotherMembersWalMountFullOnTheSameMachine_DoesNotFlagTheLeader()
    {
        // The loopback lab: every node_exporter reports every member's WAL mount; pg-test-2's is full, leader pg-test-3's is not.
        var cluster = PgRuntimeAgent.Tests.Sensing.SensingFixtures.Cluster();
        var series = PgRuntimeAgent.Tests.Sensing.FilesystemMetricsTests.LabMounts(("pg-test-1", "127.0.0.11"), ("pg-test-2", "127.0.0.12"), ("pg-test-3", "127.0.0.13"));
        var (values, basis) = MetricsSensor.MapFilesystemsToMembers(series, cluster, ["/var/lib/pgra-lab/{member}/data", "/var/lib/pgra-lab/{member}/wal"]);
        var fs = new MetricReading { Name = "fs_free_ratio", Status = "ok", Values = values, Basis = basis };

        var findings = Run(WithFsReading(Healthy(), fs), WithFsReading(Healthy(3), fs), WithFsReading(Healthy(6), fs));

        Assert.Null(findings.Find(FindingCodes.PrimaryDiskFull));
        Assert.Equal("0.4", values["pg-test-3"]);
    }

    [Fact]
    public void Detect_NoMetricsForTheLeader_UsesTheHostSensorsDfOfItsOwnPaths()
    {
        ClusterSnapshot Full(double at) => WithFsReading(Healthy(at), null) with
        {
            Hosts =
            [
                new HostObservation
                {
                    Member = "pg-test-3",
                    Filesystems =
                    [
                        new FilesystemUse("/var/lib/pgra-lab/pg-test-3/data", "/", 100_000, 50_000, 50_000),
                        new FilesystemUse("/var/lib/pgra-lab/pg-test-3/wal", "/var/lib/pgra-lab/pg-test-3/wal", 100_000, 99_990, 10),
                    ],
                },
            ],
        };

        var f = Run(Full(0), Full(3)).Find(FindingCodes.PrimaryDiskFull);

        Assert.NotNull(f);
        Assert.Contains(f.Evidence, e => e.Source == "host" && e.Observation.StartsWith("free ratio 0.0001 of mount /var/lib/pgra-lab/pg-test-3/wal", StringComparison.Ordinal));
    }
}
