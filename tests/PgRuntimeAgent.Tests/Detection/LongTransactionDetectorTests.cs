using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;
using static PgRuntimeAgent.Tests.Detection.SessionKit;

namespace PgRuntimeAgent.Tests.Detection;

/// <summary>long-transaction on the healthy lab snapshot with a member's xmin_horizon probe answering given holders.</summary>
public sealed class LongTransactionDetectorTests
{
    private const string Code = LongTransactionDetector.FindingCode;

    private static ClusterSnapshot Holding(double at, double age, string member = Leader, string state = "idle in transaction") =>
        WithRows(Healthy(at), member, "xmin_horizon", Backend(age + at, state));

    [Fact]
    public void Detect_IdleTransactionOlderThanTenMinutes_FiresNamingThePidAndBackendStart()
    {
        var f = Run(Healthy(), Holding(2, 700), Holding(4, 700)).Find(Code);

        Assert.NotNull(f);
        Assert.Equal(FindingSeverity.Warning, f.Severity);
        Assert.Equal(Leader, f.Member);
        Assert.Equal("backend", f.Facts["kind"]);
        Assert.Equal("5151", f.Facts["pid"]);
        Assert.Equal(BlockerStart, f.Facts["backend_start"]);
        Assert.Equal("pgra-lab-long-transaction", f.Facts["application"]);
        Assert.Equal("idle in transaction", f.Facts["state"]);
        Assert.Equal("704", f.Facts["age_seconds"]);
        Assert.StartsWith("pid 5151 (user dbuser_meta, application 'pgra-lab-long-transaction', idle in transaction for 704 s) holds the xmin horizon of pg-test-3 (open 704 s, xmin 12 transactions old)",
            f.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Detect_TransactionYoungerThanTheDefault_DoesNotFire()
    {
        Assert.Null(Run(Healthy(), Holding(2, 120), Holding(4, 120)).Find(Code));
    }

    [Fact]
    public void Detect_LabThresholdOfTwentySeconds_FiresOnATwentyFiveSecondTransaction()
    {
        var settings = DetectionSettings.Default.WithThreshold(Code, "max_age_seconds", 20);

        Assert.Null(Run(settings, Healthy(), Holding(2, 10), Holding(4, 10)).Find(Code)); // 12 and 14 s: under 20
        Assert.NotNull(Run(settings, Healthy(), Holding(2, 25), Holding(4, 25)).Find(Code));
    }

    [Fact]
    public void Detect_SeenOnOneSnapshot_DoesNotFire()
    {
        Assert.Null(Run(Healthy(), Healthy(2), Holding(4, 700)).Find(Code));
    }

    [Fact]
    public void Detect_LongQueryOnAReplica_NamesTheReplica()
    {
        var f = Run(Healthy(), Holding(2, 900, "pg-test-2", "active"), Holding(4, 900, "pg-test-2", "active")).Find(Code);

        Assert.NotNull(f);
        Assert.Equal("pg-test-2", f.Member);
        Assert.Equal("active", f.Facts["state"]);
    }

    [Fact]
    public void Detect_OldPreparedTransaction_NamesItsGid()
    {
        ClusterSnapshot S(double at) => WithRows(Healthy(at), Leader, "xmin_horizon", Prepared("tm-42", 3600));

        var f = Run(Healthy(), S(2), S(4)).Find(Code);

        Assert.NotNull(f);
        Assert.Equal("prepared", f.Facts["kind"]);
        Assert.Equal("tm-42", f.Facts["gid"]);
        Assert.False(f.Facts.ContainsKey("pid"));
        Assert.StartsWith("prepared transaction 'tm-42' (owner dbuser_meta) holds the xmin horizon", f.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Detect_SlotXmin_FiresOnlyPastTheXidAge()
    {
        ClusterSnapshot S(double at, long age) => WithRows(Healthy(at), Leader, "xmin_horizon", Slot("orphan_cdc", age));

        Assert.Null(Run(Healthy(), S(2, 5_000), S(4, 5_000)).Find(Code));
        var f = Run(Healthy(), S(2, 20_000_000), S(4, 20_000_000)).Find(Code);
        Assert.NotNull(f);
        Assert.Equal("slot", f.Facts["kind"]);
        Assert.Equal("orphan_cdc", f.Facts["slot"]);

        var low = DetectionSettings.Default.WithThreshold(Code, "xid_age", 1000);
        Assert.NotNull(Run(low, Healthy(), S(2, 5_000), S(4, 5_000)).Find(Code));
    }

    [Fact]
    public void Detect_TransactionAndSlot_NamesTheTransactionFirst()
    {
        ClusterSnapshot S(double at) => WithRows(Healthy(at), Leader, "xmin_horizon", Slot("orphan_cdc", 20_000_000), Backend(800));

        var f = Run(Healthy(), S(2), S(4)).Find(Code);

        Assert.NotNull(f);
        Assert.Equal("backend", f.Facts["kind"]);
        Assert.Contains(f.Evidence, e => e.Observation.StartsWith("replication slot orphan_cdc (inactive)", StringComparison.Ordinal));
    }
}
