using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Detection.Workload;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Tests.Detection.Workload.WorkloadKit;

namespace PgRuntimeAgent.Tests.Detection.Workload;

/// <summary>StatementDeltas, slow-query and missing-index over crafted leader workloads (snapshots every 10 s).</summary>
public sealed class WorkloadDetectorTests
{
    /// <summary>The hot statement at one call per second: <paramref name="meanBefore"/> ms per call until <paramref name="slowFrom"/> s, then <paramref name="meanAfter"/>.</summary>
    private static (long Calls, double Total) HotCounters(double t, double meanBefore = 10, double meanAfter = 50, double slowFrom = 150) =>
        ((long)t, Math.Min(t, slowFrom) * meanBefore + Math.Max(0, t - slowFrom) * meanAfter);

    private static List<ClusterSnapshot> Stream(double until, Func<double, ClusterSnapshot> at)
    {
        var list = new List<ClusterSnapshot>();
        for (double t = 0; t <= until; t += 10)
        {
            list.Add(at(t));
        }

        return list;
    }

    private static ClusterSnapshot Slowing(double t)
    {
        var (calls, total) = HotCounters(t);
        return At(t, [new Stmt(WorkloadKit.Hot, calls, total), new Stmt(Other, (long)t * 2, t * 2)]);
    }

    private static IReadOnlyList<ClusterSnapshot> NewestFirst(IReadOnlyList<ClusterSnapshot> stream) => stream.Reverse().ToList();

    [Fact]
    public void Window_SlowingStatement_MeanNowAndBeforeFromTheSameBaseline()
    {
        var stream = Stream(300, Slowing);

        var (now, before) = StatementDeltas.Window(NewestFirst(stream), WorkloadKit.Hot, 120);

        Assert.NotNull(now);
        Assert.NotNull(before);
        Assert.Equal((120L, 50.0), (now.Calls, now.MeanMs));
        Assert.Equal(180L, before.Calls);
        Assert.Equal(3000.0 / 180, before.MeanMs, 6);
    }

    [Fact]
    public void Delta_P95Estimate_IsMeanPlus1645StandardDeviationsOfTheIntervalsCalls()
    {
        var at = new DateTimeOffset(2026, 12, 3, 8, 0, 0, TimeSpan.Zero);
        // 100 calls between the readings: 200 ms in all (mean 2 ms) and 500 ms² of squares (a standard deviation of 1 ms).
        var view = (double total, double squares, long calls) => new StatementSample("q", null, calls, total, 0, 0, 0, null, squares);
        var a = view(50_000, 2_600_000, 1000);
        var b = view(50_200, 2_600_500, 1100);
        var delta = new StatementDelta("q", null, null, b.Calls - a.Calls, b.TotalMs - a.TotalMs, 0, 0, at, at.AddSeconds(30), b.SumSquaresMs2 - a.SumSquaresMs2);

        Assert.Equal(2 + 1.645, delta.P95EstimateMs!.Value, 6);
        Assert.Null((delta with { SumSquaresMs2 = null }).P95EstimateMs);
        // Rounding that makes the variance negative is a spread of 0, not NaN.
        Assert.Equal(2.0, (delta with { SumSquaresMs2 = 399.9 }).P95EstimateMs!.Value, 6);
    }

    [Fact]
    public void Baseline_StatsResetCounterBackwardsOrNewLeader_StartsANewBaseline()
    {
        var reset = Stream(300, t => t < 200 ? Slowing(t) : At(t, [new Stmt(WorkloadKit.Hot, (long)(t - 200), (t - 200) * 50)], statsReset: "2026-11-22T21:14:50Z"));
        var evicted = Stream(300, t => t < 200 ? Slowing(t) : At(t, [new Stmt(WorkloadKit.Hot, (long)(t - 200), (t - 200) * 50)]));
        var failover = Stream(300, t => t < 200 ? Slowing(t) : At(t, [new Stmt(WorkloadKit.Hot, (long)(t + 500), (t + 500) * 50)], leader: "pg-test-1"));

        Assert.Equal(11, StatementDeltas.Baseline(NewestFirst(reset), WorkloadKit.Hot).Count);
        Assert.Equal(11, StatementDeltas.Baseline(NewestFirst(evicted), WorkloadKit.Hot).Count);
        Assert.Equal(11, StatementDeltas.Baseline(NewestFirst(failover), WorkloadKit.Hot).Count);
        Assert.Equal(31, StatementDeltas.Baseline(NewestFirst(Stream(300, Slowing)), WorkloadKit.Hot).Count);
        Assert.Null(StatementDeltas.Window(NewestFirst(reset), WorkloadKit.Hot, 120).Before);
    }

    [Fact]
    public void Baseline_ReplicaOnlyOrNoStatementsProbe_Empty()
    {
        var s = DetectionKit.Healthy();

        Assert.Null(StatementDeltas.Read(s));
        Assert.Empty(StatementDeltas.Baseline([s], WorkloadKit.Hot));
    }

    [Fact]
    public void SlowQuery_MeanRoseFiveFold_FiresWithQueryIdMeansAndCalls()
    {
        var findings = DetectionKit.Run([.. Stream(300, Slowing)]);

        var f = Assert.Single(findings, x => x.Code == SlowQueryDetector.FindingCode);
        Assert.Equal("pg-test-3", f.Member);
        Assert.Equal("queryid " + WorkloadKit.Hot, f.Subject);
        Assert.Equal(WorkloadKit.Hot, f.Facts["queryid"]);
        Assert.Equal("120", f.Facts["calls"]);
        Assert.Equal("50", f.Facts["mean_ms"]);
        Assert.Equal("16.67", f.Facts["mean_before_ms"]);
        Assert.Equal("slower", f.Facts["reason"]);
        Assert.Contains("ORDER BY created_at DESC", f.Facts["query"], StringComparison.Ordinal);
        Assert.Contains(f.Evidence, e => e.Observation.Contains("mean 50 ms now vs 16.67 ms before", StringComparison.Ordinal));
        Assert.DoesNotContain(findings, x => x.Code == SlowQueryDetector.FindingCode && x.Facts["queryid"] == Other);
    }

    [Fact]
    public void SlowQuery_SteadyStatement_DoesNotFire()
    {
        var steady = Stream(300, t => At(t, [new Stmt(WorkloadKit.Hot, (long)t, t * 30)]));

        Assert.DoesNotContain(DetectionKit.Run([.. steady]), x => x.Code == SlowQueryDetector.FindingCode);
    }

    [Fact]
    public void SlowQuery_StatsResetOrFailoverToAServerWithLowerCounters_IsANewBaselineNotASpike()
    {
        var reset = Stream(300, t => t < 200 ? Slowing(t) : At(t, [new Stmt(WorkloadKit.Hot, (long)(t - 200), (t - 200) * 50), new Stmt(Other, 1, 1)], statsReset: "2026-11-22T21:14:50Z"));
        var failover = Stream(300, t => t < 200 ? Slowing(t) : At(t, [new Stmt(WorkloadKit.Hot, (long)(t - 150), (t - 150) * 50), new Stmt(Other, 1, 1)], leader: "pg-test-1"));

        Assert.DoesNotContain(DetectionKit.Run([.. reset]), x => x.Code == SlowQueryDetector.FindingCode);
        Assert.DoesNotContain(DetectionKit.Run([.. failover]), x => x.Code == SlowQueryDetector.FindingCode);
    }

    [Fact]
    public void SlowQuery_OneSlowSnapshot_IsNotAFinding()
    {
        var stream = Stream(300, t => At(t, [new Stmt(WorkloadKit.Hot, (long)t, t * 10 + (t >= 300 ? 20000 : 0))]));

        Assert.DoesNotContain(DetectionKit.Run([.. stream]), x => x.Code == SlowQueryDetector.FindingCode);
    }

    [Fact]
    public void SlowQuery_StatementTakingMostOfTheTimeAndBusyingABackend_FiresAsDominating()
    {
        // 10 calls per second at 100 ms: one backend busy all the time, 99% of the statements' time, steady mean.
        var stream = Stream(300, t => At(t, [new Stmt(WorkloadKit.Hot, (long)t * 10, t * 1000), new Stmt(Other, (long)t, t * 10)]));

        var f = Assert.Single(DetectionKit.Run([.. stream]), x => x.Code == SlowQueryDetector.FindingCode);
        Assert.Equal("dominates", f.Facts["reason"]);
        Assert.Equal(WorkloadKit.Hot, f.Facts["queryid"]);
    }

    [Fact]
    public void SlowQuery_Thresholds_AreSettable()
    {
        var settings = DetectionSettings.Default.WithThreshold(SlowQueryDetector.FindingCode, "mean_ratio", 4);

        Assert.DoesNotContain(DetectionKit.Run(settings, [.. Stream(300, Slowing)]), x => x.Code == SlowQueryDetector.FindingCode);
    }

    private static ClusterSnapshot Scanning(double t, IndexAdvice? advice, long live = 2_000_000, bool scans = true) =>
        At(t, [new Stmt(WorkloadKit.Hot, (long)t, t * 30)], orders: (scans ? (long)t : 5, scans ? (long)t * live : 5 * live, live), advice: advice);

    [Fact]
    public void MissingIndex_HotStatementSeqScansALargeTableAndTheAdvisorHalvesTheCost_FiresWithFacts()
    {
        var stream = Stream(60, t => Scanning(t, Advice()));

        var f = Assert.Single(DetectionKit.Run([.. stream]), x => x.Code == MissingIndexDetector.FindingCode);

        Assert.Equal("pg-test-3", f.Member);
        Assert.Equal("public", f.Facts["schema"]);
        Assert.Equal("orders", f.Facts["table"]);
        Assert.Equal("user_id,created_at", f.Facts["columns"]);
        Assert.Equal("orders_user_id_created_at_idx", f.Facts["index"]);
        Assert.Equal(WorkloadKit.Hot, f.Facts["queryid"]);
        Assert.Equal("30", f.Facts["mean_ms"]);
        Assert.Equal("60", f.Facts["calls"]);
        Assert.Equal("6250.05", f.Facts["cost_before"]);
        Assert.Equal("19.7", f.Facts["cost_after"]);
        Assert.Equal("test", f.Facts["database"]);
        Assert.StartsWith("CREATE INDEX ON \"public\".\"orders\"", f.Facts["candidate"], StringComparison.Ordinal);
    }

    [Fact]
    public void MissingIndex_AdviceBelowTheGainUnusedOrUnchecked_DoesNotFire()
    {
        Assert.DoesNotContain(DetectionKit.Run([.. Stream(60, t => Scanning(t, Advice(costAfter: 4000)))]), x => x.Code == MissingIndexDetector.FindingCode);
        Assert.DoesNotContain(DetectionKit.Run([.. Stream(60, t => Scanning(t, Advice(uses: false)))]), x => x.Code == MissingIndexDetector.FindingCode);
        Assert.DoesNotContain(DetectionKit.Run([.. Stream(60, t => Scanning(t, Advice(status: "unchecked")))]), x => x.Code == MissingIndexDetector.FindingCode);
        Assert.DoesNotContain(DetectionKit.Run([.. Stream(60, t => Scanning(t, null))]), x => x.Code == MissingIndexDetector.FindingCode);
    }

    [Fact]
    public void MissingIndex_SmallTableOrNoSeqScansInTheWindow_DoesNotFire()
    {
        Assert.DoesNotContain(DetectionKit.Run([.. Stream(60, t => Scanning(t, Advice(), live: 50_000))]), x => x.Code == MissingIndexDetector.FindingCode);
        Assert.DoesNotContain(DetectionKit.Run([.. Stream(60, t => Scanning(t, Advice(), scans: false))]), x => x.Code == MissingIndexDetector.FindingCode);
    }

    [Fact]
    public void MissingIndex_AdviceOnOneSnapshotOnly_IsNotAFinding()
    {
        var stream = Stream(60, t => Scanning(t, t >= 60 ? Advice() : null));

        Assert.DoesNotContain(DetectionKit.Run([.. stream]), x => x.Code == MissingIndexDetector.FindingCode);
    }
}
