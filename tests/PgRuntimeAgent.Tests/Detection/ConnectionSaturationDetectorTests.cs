using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;
using static PgRuntimeAgent.Tests.Detection.SessionKit;

namespace PgRuntimeAgent.Tests.Detection;

/// <summary>connection-saturation on the healthy lab snapshot (max_connections 50, 3 reserved: 47 for non-superusers).</summary>
public sealed class ConnectionSaturationDetectorTests
{
    private const string Code = ConnectionSaturationDetector.FindingCode;

    private static ClusterSnapshot Storm(double at, int storm = 40) => WithRows(Healthy(at), Leader, "connection_clients", Clients(
        ("pgra-lab-connection-storm", "dbuser_meta", "idle", storm),
        ("app", "dbuser_app", "idle in transaction", 2),
        ("pgra", "dbuser_monitor", "active", 1)));

    /// <summary>Storm snapshots every 10 s from t=10 to <paramref name="last"/>.</summary>
    private static ClusterSnapshot[] StormUntil(double last, int storm = 40) =>
        [Healthy(), .. Enumerable.Range(1, (int)(last / 10)).Select(i => Storm(i * 10, storm))];

    [Fact]
    public void Detect_StormHeldForAMinute_FiresWithTheBreakdownAsEvidenceAndFacts()
    {
        var f = Run(StormUntil(70)).Find(Code);

        Assert.NotNull(f);
        Assert.Equal(FindingSeverity.Warning, f.Severity);
        Assert.Equal(Leader, f.Member);
        Assert.Equal("43", f.Facts["used"]);
        Assert.Equal("47", f.Facts["limit"]);
        Assert.Equal("pgra-lab-connection-storm", f.Facts["top_application"]);
        Assert.Equal("dbuser_meta", f.Facts["top_user"]);
        Assert.Equal("2", f.Facts["idle_in_transaction"]);
        Assert.Equal("43 client sessions on pg-test-3 of 47 non-superusers may open (91%); most from application 'pgra-lab-connection-storm' and user dbuser_meta, 2 idle in transaction",
            f.Summary);
        Assert.Contains(f.Evidence, e => e.Observation == "by application: 'pgra-lab-connection-storm' 40, 'app' 2, 'pgra' 1");
        Assert.Contains(f.Evidence, e => e.Observation.StartsWith("by state: 'idle' 40", StringComparison.Ordinal));
    }

    [Fact]
    public void Detect_BusyUnderAMinute_DoesNotFire()
    {
        Assert.Null(Run(StormUntil(50)).Find(Code));
    }

    [Fact]
    public void Detect_BusyButUnderTheRatio_DoesNotFire()
    {
        Assert.Null(Run(StormUntil(90, storm: 30)).Find(Code)); // 33 of 47: 70%
    }

    [Fact]
    public void Detect_RatioAndPersistenceSettable()
    {
        var settings = DetectionSettings.Default.WithThreshold(Code, "ratio", 0.6).WithPersistence(Code, new HeldFor(2, 4));

        Assert.NotNull(Run(settings, Healthy(), Storm(2, 30), Storm(6, 30)).Find(Code));
    }

    [Fact]
    public void Detect_MonitorLoginRefusedForWantOfSlots_FiresAfterTheRun()
    {
        ClusterSnapshot Refused(double at)
        {
            var s = Storm(at);
            return s with
            {
                Postgres = s.Postgres.Select(p => p.Member != Leader ? p : p with
                {
                    Reachable = false,
                    Error = "postgres://dbuser_monitor@127.0.0.13:5432/postgres: 53300: sorry, too many clients already",
                }).ToList(),
            };
        }

        var settings = DetectionSettings.Default.WithPersistence(Code, new HeldFor(2, 4));
        var f = Run(settings, Healthy(), Storm(2), Refused(4), Refused(8)).Find(Code);

        Assert.NotNull(f);
        Assert.Contains(f.Evidence, e => e.Observation.StartsWith("the agent's monitoring login was refused", StringComparison.Ordinal));
        Assert.Equal("pgra-lab-connection-storm", f.Facts["top_application"]); // from the last snapshot with a breakdown
    }

    [Fact]
    public void Detect_SqlRefusedForAnotherReason_DoesNotFire()
    {
        ClusterSnapshot Down(double at)
        {
            var s = Healthy(at);
            return s with
            {
                Postgres = s.Postgres.Select(p => p.Member != Leader ? p : p with { Reachable = false, Error = "postgres://x: connection refused" }).ToList(),
            };
        }

        var settings = DetectionSettings.Default.WithPersistence(Code, new HeldFor(2, 4));
        Assert.Null(Run(settings, Healthy(), Down(4), Down(8)).Find(Code));
    }
}
