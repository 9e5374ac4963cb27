using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Detection;

/// <summary>wraparound-risk, vacuum-lag and invalid-index on the healthy lab snapshot (leader pg-test-3) with crafted probe rows.</summary>
public sealed class MaintenanceDetectorTests
{
    private const string Leader = "pg-test-3";

    private static ClusterSnapshot XidAge(double at, string xidAge, string mxidAge = "5") =>
        WithProbe(WithProbe(Healthy(at), Leader, "xid_age",
                Row(("datname", "meta"), ("xid_age", "20000"), ("mxid_age", "3")),
                Row(("datname", "app"), ("xid_age", xidAge), ("mxid_age", mxidAge))),
            Leader, "settings", Row(("name", "autovacuum_freeze_max_age"), ("setting", "200000000")));

    [Fact]
    public void WraparoundRisk_XidAgePastHalfTheLimit_WarnsNamingTheDatabase()
    {
        var findings = Run(XidAge(0, "1200000000"), XidAge(2, "1200000100"));

        var f = findings.Find(WraparoundRiskDetector.FindingCode);
        Assert.NotNull(f);
        Assert.Equal(FindingSeverity.Warning, f.Severity);
        Assert.Equal("app", f.Facts["database"]);
        Assert.Equal("xid", f.Facts["kind"]);
        Assert.Contains("6x autovacuum_freeze_max_age", string.Join(" ", f.Evidence.Select(e => e.Observation)), StringComparison.Ordinal);
    }

    [Fact]
    public void WraparoundRisk_PastTheCriticalRatio_IsCritical()
    {
        var f = Run(XidAge(0, "1700000000"), XidAge(2, "1700000000")).Find(WraparoundRiskDetector.FindingCode);

        Assert.NotNull(f);
        Assert.Equal(FindingSeverity.Critical, f.Severity);
    }

    [Fact]
    public void WraparoundRisk_MultixactAge_IsJudgedToo()
    {
        var f = Run(XidAge(0, "1000", "1300000000"), XidAge(2, "1000", "1300000000")).Find(WraparoundRiskDetector.FindingCode);

        Assert.NotNull(f);
        Assert.Equal("multixact", f.Facts["kind"]);
    }

    [Fact]
    public void WraparoundRisk_AgeUnderTheWarningRatio_OrOneSnapshot_DoesNotFire()
    {
        Assert.Null(Run(XidAge(0, "900000000"), XidAge(2, "900000000")).Find(WraparoundRiskDetector.FindingCode));
        Assert.Null(Run(XidAge(0, "1200000000")).Find(WraparoundRiskDetector.FindingCode));
    }

    private static ClusterSnapshot Dead(double at, string dead, string? vacuumAge) =>
        WithProbe(Healthy(at), Leader, "table_stats",
            Row(("schemaname", "public"), ("relname", "orders"), ("n_live_tup", "1000000"), ("n_dead_tup", dead), ("vacuum_age_seconds", vacuumAge)),
            Row(("schemaname", "public"), ("relname", "small"), ("n_live_tup", "10"), ("n_dead_tup", "9"), ("vacuum_age_seconds", null)));

    [Fact]
    public void VacuumLag_DeadTuplesPileUpOnATableNotVacuumedForHours_FiresForThatTable()
    {
        var f = Run(Dead(0, "600000", "7200"), Dead(60, "650000", "7260"), Dead(130, "700000", "7330")).Find(VacuumLagDetector.FindingCode);

        Assert.NotNull(f);
        Assert.Equal("public.orders", f.Subject);
        Assert.Equal("orders", f.Facts["table"]);
        Assert.Contains("700,000 dead tuples", f.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void VacuumLag_RecentVacuumOrAShortBurst_DoesNotFire()
    {
        // Vacuumed a minute ago: autovacuum is on it.
        Assert.Null(Run(Dead(0, "600000", "60"), Dead(60, "600000", "120"), Dead(130, "600000", "190")).Find(VacuumLagDetector.FindingCode));
        // The same pile for under two minutes (a bulk delete autovacuum has not reached yet).
        Assert.Null(Run(Dead(0, "600000", "7200"), Dead(30, "600000", "7230"), Dead(60, "600000", "7260")).Find(VacuumLagDetector.FindingCode));
    }

    private static ClusterSnapshot Workers(double at, string running) =>
        WithProbe(Healthy(at), Leader, "autovacuum", Row(("workers", running), ("max_workers", "3"), ("longest_seconds", "1800"), ("longest_table", "public.events")));

    [Fact]
    public void VacuumLag_EveryAutovacuumWorkerBusyForMinutes_Fires()
    {
        var f = Run(Workers(0, "3"), Workers(60, "3"), Workers(125, "3")).Find(VacuumLagDetector.FindingCode);

        Assert.NotNull(f);
        Assert.Equal("autovacuum", f.Subject);
        Assert.Contains("public.events", f.Summary, StringComparison.Ordinal);
        Assert.Null(Run(Workers(0, "3"), Workers(60, "2"), Workers(125, "3")).Find(VacuumLagDetector.FindingCode));
    }

    private static ClusterSnapshot Invalid(double at, string building) =>
        WithProbe(Healthy(at), Leader, "indexes_invalid",
            Row(("schemaname", "public"), ("indexrelname", "orders_user_id_idx"), ("relname", "orders"), ("size_bytes", "8192"), ("building", building)));

    [Fact]
    public void InvalidIndex_LeftByAFailedBuild_FiresWithTheIndexAndTable()
    {
        var f = Run(Invalid(0, "false"), Invalid(20, "false"), Invalid(40, "false")).Find(InvalidIndexDetector.FindingCode);

        Assert.NotNull(f);
        Assert.Equal("public.orders_user_id_idx", f.Subject);
        Assert.Equal(("public", "orders_user_id_idx", "orders"), (f.Facts["schema"], f.Facts["index"], f.Facts["table"]));
    }

    [Fact]
    public void InvalidIndex_WhileItsConcurrentBuildRuns_IsNeverReported()
    {
        Assert.Null(Run(Invalid(0, "true"), Invalid(20, "true"), Invalid(40, "true")).Find(InvalidIndexDetector.FindingCode));
        // The build just ended (failed): not yet held for 30 s.
        Assert.Null(Run(Invalid(0, "true"), Invalid(20, "true"), Invalid(40, "false")).Find(InvalidIndexDetector.FindingCode));
    }
}
