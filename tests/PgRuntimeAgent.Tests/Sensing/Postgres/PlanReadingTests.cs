using PgRuntimeAgent.Sensing.Postgres;

namespace PgRuntimeAgent.Tests.Sensing.Postgres;

/// <summary>The index advisor's pure parts over plans captured from PostgreSQL 15 (tests/fixtures/recorded/postgres-15-explain).</summary>
public sealed class PlanReadingTests
{
    private static string Plan(string name) => File.ReadAllText(Path.Combine(TestPaths.Fixtures, "recorded", "postgres-15-explain", name + ".json"));

    [Fact]
    public void Candidate_GenericPlanOfTheHotOrdersQuery_IsUserIdThenCreatedAtWithParameterOneOnUserId()
    {
        var scans = PlanReading.SeqScans(Plan("orders-user-id-generic"));

        var scan = Assert.Single(scans);
        Assert.Equal(("public", "orders", "(orders.user_id = $1)"), (scan.Schema, scan.Table, scan.Filter));
        Assert.Equal(["orders.created_at DESC"], scan.SortKeys);
        var candidate = PlanReading.Candidate(scan);
        Assert.NotNull(candidate);
        Assert.Equal(["user_id", "created_at"], candidate.Columns);
        Assert.Equal("user_id", candidate.ParameterColumns[1]);
        Assert.Equal("CREATE INDEX ON \"public\".\"orders\" USING btree (\"user_id\", \"created_at\")", candidate.Definition);
    }

    [Fact]
    public void Candidate_FilterWithTwoEqualitiesAndARange_EqualityColumnsOnlyInFilterOrder()
    {
        var scan = Assert.Single(PlanReading.SeqScans(Plan("orders-status-range-generic")));

        var candidate = PlanReading.Candidate(scan);

        Assert.NotNull(candidate);
        Assert.Equal(["status", "user_id"], candidate.Columns);
        Assert.Equal(new Dictionary<int, string> { [1] = "status", [2] = "created_at", [3] = "user_id" }, candidate.ParameterColumns);
    }

    [Fact]
    public void Candidate_RangeOnly_TakesTheRangeColumn()
    {
        var scan = new SeqScanNode("public", "orders", "orders", "(orders.created_at >= $1)", 6250, 100, ["orders.id"]);

        Assert.Equal(["created_at"], PlanReading.Candidate(scan)!.Columns);
    }

    [Fact]
    public void Candidate_FilterOnAnotherAliasOrAnExpression_IsNull()
    {
        Assert.Null(PlanReading.Candidate(new SeqScanNode("public", "orders", "o", "(p.user_id = $1)", 10, 1, [])));
        Assert.Null(PlanReading.Candidate(new SeqScanNode("public", "orders", "orders", "(lower((orders.note)::text) ~~ 'a%'::text)", 10, 1, [])));
    }

    [Fact]
    public void SeqScans_PrimaryKeyLookup_None()
    {
        Assert.Empty(PlanReading.SeqScans(Plan("orders-pkey-generic")));
    }

    [Fact]
    public void TotalCost_BeforeAndWithTheHypotheticalIndex_DropsBelowHalfAndTheIndexIsUsed()
    {
        var before = PlanReading.TotalCost(Plan("orders-user-id-custom"));
        var with = PlanReading.TotalCost(Plan("orders-user-id-custom-hypopg"));

        Assert.Equal(6250.05, before);
        Assert.Equal(19.70, with);
        Assert.False(PlanReading.UsesHypotheticalIndex(Plan("orders-user-id-custom")));
        Assert.True(PlanReading.UsesHypotheticalIndex(Plan("orders-user-id-custom-hypopg")));
        var advice = new IndexAdvice { QueryId = "1", Status = "checked", CostBefore = before, CostAfter = with, UsesIndex = true, AdvisedAt = DateTimeOffset.UnixEpoch };
        Assert.True(advice.Qualifies(0.5));
        Assert.False((advice with { CostAfter = before * 0.6 }).Qualifies(0.5));
        Assert.False((advice with { UsesIndex = false }).Qualifies(0.5));
        Assert.False((advice with { Status = "unchecked", CostAfter = null }).Qualifies(0.5));
    }

    [Theory]
    [InlineData("SELECT id FROM orders WHERE user_id = $1", true)]
    [InlineData("  select 1", true)]
    [InlineData("SELECT id FROM orders WHERE user_id = $1 FOR UPDATE", false)]
    [InlineData("SELECT * INTO t FROM orders", false)]
    [InlineData("SELECT 1; DROP TABLE orders", false)]
    [InlineData("UPDATE orders SET status = $1", false)]
    [InlineData("WITH d AS (DELETE FROM orders RETURNING id) SELECT * FROM d", false)]
    [InlineData(null, false)]
    public void Advisable_OnlyPlainSingleSelects(string? query, bool expected) => Assert.Equal(expected, PlanReading.Advisable(query));

    [Fact]
    public void Arguments_LimitAndColumnValues_QuotedOthersNull()
    {
        const string Query = "SELECT id FROM orders WHERE user_id = $1 AND note = $3 ORDER BY created_at DESC LIMIT $2 OFFSET $4";
        var values = new Dictionary<int, string>(PlanReading.LimitValues(Query)) { [1] = "O'Brien" };

        Assert.Equal(4, PlanReading.ParameterCount(Query));
        Assert.Equal("'O''Brien', '10', NULL, '0'", PlanReading.Arguments(4, values));
    }

    [Theory]
    [InlineData("{7,42}", null, "7")]
    [InlineData(null, "{1,5,9,13}", "9")]
    [InlineData(null, "{\"a b\",\"c,\\\"d\",e}", "c,\"d")]
    [InlineData("{NULL}", "{x}", "x")]
    [InlineData(null, null, null)]
    public void Representative_MostCommonValueElseMiddleHistogramBound(string? mcv, string? histogram, string? expected) =>
        Assert.Equal(expected, PlanReading.Representative(mcv, histogram));

    [Theory]
    [InlineData("42::integer", "42")]
    [InlineData("-3.5::numeric", "-3.5")]
    [InlineData("'k3'::text", "k3")]
    [InlineData("'k''5'::text", "k'5")]
    [InlineData("'2026-12-03'::date", "2026-12-03")]
    [InlineData("'x'::character varying(20)", "x")]
    [InlineData("'a'", "a")]
    [InlineData("7", "7")]
    [InlineData("NULL::integer", null)]
    [InlineData("'{1,2}'::integer[]", null)]
    [InlineData("now()", null)]
    [InlineData("1); drop table t; --", null)]
    [InlineData("'a' || 'b'", null)]
    [InlineData(null, null)]
    public void QualstatsValue_TakesOnlyAPlainNumberOrQuotedString_AndUnquotesIt(string? constant, string? expected) =>
        Assert.Equal(expected, PlanReading.QualstatsValue(constant));

    [Fact]
    public void Row_RoundTrips()
    {
        var advice = new IndexAdvice
        {
            QueryId = "-7973933697010830831", Database = "test", Status = "checked", Schema = "public", Table = "orders", Columns = "user_id,created_at",
            Definition = "CREATE INDEX ON x", CostBefore = 6250.05, CostAfter = 19.7, UsesIndex = true, Plan = "custom",
            ValuesFrom = "pg_qualstats+pg_stats", AdvisedAt = new DateTimeOffset(2026, 12, 3, 4, 0, 0, TimeSpan.Zero), ElapsedMs = 12.5,
        };

        Assert.Equal(advice, IndexAdvice.FromRow(advice.ToRow()));
    }
}
