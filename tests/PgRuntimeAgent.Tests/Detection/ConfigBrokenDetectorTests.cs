using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Detection;

public sealed class ConfigBrokenDetectorTests
{
    private const string Replica = "pg-test-1";

    private const string MissingLibraryLine = "2026-12-03 04:00:01.120 UTC [4242] FATAL:  could not access file \"pgra_missing_library\": No such file or directory";

    private static ClusterSnapshot Broken(double at, string line, double lineAt, string state = "start failed")
    {
        var h = Healthy(at);
        var entry = new LogEntry(Healthy(lineAt).TakenAt, Replica, "postgres", LogSeverity.Fatal, null, line);
        return h with
        {
            Members = h.Members.Select(m => m.Name != Replica ? m : m with { PatroniState = state, PostgresRunning = false, PostgresReachable = false, InRecovery = null }).ToList(),
            Logs = new LogsObservation { Backend = "files", Since = h.TakenAt.AddMinutes(-5), Until = h.TakenAt, Entries = [entry] },
        };
    }

    [Theory]
    [InlineData("FATAL:  could not access file \"pgra_missing_library\": No such file or directory", "shared_preload_libraries", "pgra_missing_library")]
    [InlineData("FATAL:  invalid value for parameter \"wal_level\": \"minimum\"", "wal_level", "minimum")]
    [InlineData("FATAL:  70000 is outside the valid range for parameter \"max_connections\" (1 .. 262143)", "max_connections", "70000")]
    [InlineData("FATAL:  unrecognized configuration parameter \"shared_bufers\"", "shared_bufers", null)]
    [InlineData("DETAIL:  max_connections = 50 is a lower setting than on the primary server, where its value was 100.", "max_connections", "50")]
    [InlineData("FATAL:  configuration file \"/pg/data/postgresql.conf\" contains errors", "configuration file /pg/data/postgresql.conf", null)]
    [InlineData("FATAL:  could not map anonymous shared memory: Cannot allocate memory", "shared_buffers", null)]
    public void Blame_ConfigurationFatalLines_NameTheParameterAndValue(string line, string parameter, string? value)
    {
        Assert.Equal((parameter, value), ConfigBrokenDetector.Blame(line));
    }

    [Theory]
    [InlineData("FATAL:  the database system is starting up")]
    [InlineData("FATAL:  could not connect to the primary server: connection to server at \"127.0.0.1\", port 15433 failed: Connection refused")]
    [InlineData("FATAL:  terminating connection due to administrator command")]
    [InlineData("FATAL:  could not start WAL streaming: ERROR:  replication slot \"pg_test_1\" does not exist")]
    public void Blame_OtherFatalLines_BlameNothing(string line)
    {
        Assert.Null(ConfigBrokenDetector.Blame(line));
    }

    [Fact]
    public void ConfigBroken_ReplicaDownWithAMissingLibraryFatal_FiresNamingMemberParameterAndLine()
    {
        var f = Run(Healthy(), Broken(2, MissingLibraryLine, 1), Broken(4, MissingLibraryLine, 1)).Find(ConfigBrokenDetector.FindingCode);

        Assert.NotNull(f);
        Assert.Equal(Replica, f.Member);
        Assert.Equal(FindingSeverity.Warning, f.Severity);
        Assert.Equal("shared_preload_libraries", f.Facts["parameter"]);
        Assert.Equal("pgra_missing_library", f.Facts["value"]);
        Assert.Contains("could not access file", f.Facts["line"], StringComparison.Ordinal);
        Assert.Contains(f.Evidence, e => e.Source == "logs" && e.Member == Replica);
    }

    [Fact]
    public void ConfigBroken_MemberUpDespiteTheLine_OrALineFromBeforeItWasLastUp_DoesNotFire()
    {
        // Running again: the line is history.
        Assert.Null(Run(Broken(2, MissingLibraryLine, 1, "running") with { Members = Healthy(2).Members }, Healthy(4) with { Logs = Broken(4, MissingLibraryLine, 1).Logs })
            .Find(ConfigBrokenDetector.FindingCode));
        // Down again (a plain restart) after having been up at 3 s: the FATAL line of 1 s belongs to the healed break.
        Assert.Null(Run(Broken(2, MissingLibraryLine, 1), Healthy(3), Broken(5, MissingLibraryLine, 1, "starting"), Broken(7, MissingLibraryLine, 1, "starting"))
            .Find(ConfigBrokenDetector.FindingCode));
    }

    [Fact]
    public void ConfigBroken_DownForAnotherReason_DoesNotFire()
    {
        const string Refused = "FATAL:  could not connect to the primary server: Connection refused";
        Assert.Null(Run(Healthy(), Broken(2, Refused, 1), Broken(4, Refused, 1)).Find(ConfigBrokenDetector.FindingCode));
    }
}
