using System.Globalization;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Detection;

/// <summary>unused-index (every member's statistics) and duplicate-index on the healthy lab snapshot (leader pg-test-3, replicas pg-test-1 and pg-test-2).</summary>
public sealed class IndexHygieneDetectorTests
{
    private const string Leader = "pg-test-3";

    private static readonly string[] Everyone = ["pg-test-1", "pg-test-2", "pg-test-3"];

    private const double Week = 7 * 86400;

    private static IReadOnlyDictionary<string, string?> UnusedRow(double statsAge, string index = "orders_note_idx", string size = "52428800") =>
        Row(("datname", "app"), ("schemaname", "public"), ("relname", "orders"), ("indexrelname", index), ("idx_scan", "0"), ("size_bytes", size),
            ("stats_age_seconds", statsAge.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Every member in <paramref name="reporting"/> reports the index unscanned over <paramref name="statsAge"/> seconds; the others answer without it.</summary>
    private static ClusterSnapshot Unused(double at, IEnumerable<string> reporting, double statsAge = 9 * 86400, string size = "52428800")
    {
        var s = Healthy(at);
        foreach (var member in Everyone)
        {
            s = reporting.Contains(member)
                ? WithProbe(s, member, "indexes_unused", UnusedRow(statsAge + at, size: size))
                : WithProbe(s, member, "indexes_unused");
        }

        return s;
    }

    private static IReadOnlyList<Finding> Stream(Func<double, ClusterSnapshot> at) => Run(at(0), at(30), at(70));

    [Fact]
    public void UnusedIndex_UnscannedOnEveryMemberForAWeek_IsReportedWithEveryMembersEvidence()
    {
        var f = Stream(t => Unused(t, Everyone)).Find(UnusedIndexDetector.FindingCode);

        Assert.NotNull(f);
        Assert.Equal(FindingSeverity.Info, f.Severity);
        Assert.Equal("app:public.orders_note_idx", f.Subject);
        Assert.Equal(("app", "public", "orders_note_idx", "orders", "52428800"),
            (f.Facts["database"], f.Facts["schema"], f.Facts["index"], f.Facts["table"], f.Facts["size_bytes"]));
        Assert.Equal(Everyone.Order(), f.Members.Order());
        Assert.Equal(Everyone.Order(), f.Evidence.Where(e => e.At == f.LastSeen).Select(e => e.Member!).Order());
        Assert.Contains("50 MiB", f.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void UnusedIndex_ScannedOnOneReplica_IsNotReported()
    {
        // pg-test-1 serves reads that use it: its indexes_unused rows do not list it.
        Assert.Null(Stream(t => Unused(t, ["pg-test-2", "pg-test-3"])).Find(UnusedIndexDetector.FindingCode));
    }

    [Fact]
    public void UnusedIndex_AMemberThatDidNotAnswer_ProvesNothing()
    {
        ClusterSnapshot Blind(double t)
        {
            var s = Unused(t, Everyone);
            return s with
            {
                Postgres = s.Postgres.Select(p => p.Member != "pg-test-2" ? p
                    : p with { Probes = [.. p.Probes.Select(r => r.Name == "indexes_unused" ? r with { Status = "error", Rows = [] } : r)] }).ToList(),
            };
        }

        Assert.Null(Stream(Blind).Find(UnusedIndexDetector.FindingCode));
    }

    [Fact]
    public void UnusedIndex_StatisticsYoungerThanTheWindow_OrASmallIndex_IsNotReported()
    {
        // A stats reset (or restart) two days ago: zero scans over two days say little.
        Assert.Null(Stream(t => Unused(t, Everyone, statsAge: 2 * 86400)).Find(UnusedIndexDetector.FindingCode));
        Assert.Null(Stream(t => Unused(t, Everyone, size: "65536")).Find(UnusedIndexDetector.FindingCode));
        // The window is a threshold: one day is enough when an operator says so.
        var settings = DetectionSettings.Default with
        {
            Thresholds = new Dictionary<string, IReadOnlyDictionary<string, double>>(StringComparer.Ordinal)
            {
                [UnusedIndexDetector.FindingCode] = new Dictionary<string, double>(StringComparer.Ordinal) { ["min_stats_age_seconds"] = 86400, ["min_size_bytes"] = 0 },
            },
        };
        Assert.NotNull(Run(settings, Unused(0, Everyone, 2 * 86400, "65536"), Unused(30, Everyone, 2 * 86400, "65536"), Unused(70, Everyone, 2 * 86400, "65536"))
            .Find(UnusedIndexDetector.FindingCode));
    }

    [Fact]
    public void UnusedIndex_OneSnapshot_IsNotEnough()
    {
        Assert.Null(Run(Unused(0, Everyone)).Find(UnusedIndexDetector.FindingCode));
    }

    private static ClusterSnapshot Duplicate(double at, string kind = "prefix", string size = "2097152") =>
        WithProbe(Healthy(at), Leader, "indexes_duplicate",
            Row(("datname", "app"), ("schemaname", "public"), ("relname", "orders"), ("indexrelname", "orders_user_idx"), ("covered_by", "orders_user_created_idx"),
                ("kind", kind), ("size_bytes", size)));

    [Fact]
    public void DuplicateIndex_PrefixOfAnother_IsReportedWithTheCoveringIndex()
    {
        var f = Stream(t => Duplicate(t)).Find(DuplicateIndexDetector.FindingCode);

        Assert.NotNull(f);
        Assert.Equal(FindingSeverity.Info, f.Severity);
        Assert.Equal("app:public.orders_user_idx", f.Subject);
        Assert.Equal(("orders_user_created_idx", "prefix", "orders"), (f.Facts["covered_by"], f.Facts["kind"], f.Facts["table"]));
        Assert.Contains("leading prefix of public.orders_user_created_idx", f.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void DuplicateIndex_Identical_SaysItRepeatsTheOther()
    {
        var f = Stream(t => Duplicate(t, "duplicate")).Find(DuplicateIndexDetector.FindingCode);

        Assert.NotNull(f);
        Assert.Contains("repeats public.orders_user_created_idx", f.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void DuplicateIndex_UnderTheSizeFloor_OrGoneBeforeItHeld_IsNotReported()
    {
        Assert.Null(Stream(t => Duplicate(t, size: "8192")).Find(DuplicateIndexDetector.FindingCode));
        Assert.Null(Run(Duplicate(0), Duplicate(30), WithProbe(Healthy(70), Leader, "indexes_duplicate")).Find(DuplicateIndexDetector.FindingCode));
    }
}
