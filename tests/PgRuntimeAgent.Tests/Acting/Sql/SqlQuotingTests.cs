using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Sql;

namespace PgRuntimeAgent.Tests.Acting.Sql;

public sealed class SqlQuotingTests
{
    [Theory]
    [InlineData("orders", "\"orders\"")]
    [InlineData("Orders", "\"Orders\"")]
    [InlineData("my \"t\"", "\"my \"\"t\"\"\"")]
    [InlineData("x\"; DROP TABLE y; --", "\"x\"\"; DROP TABLE y; --\"")]
    [InlineData("таблица", "\"таблица\"")]
    public void Quote_AnyName_IsOneDoubleQuotedIdentifier(string name, string expected)
    {
        Assert.Equal(expected, SqlIdentifier.Quote(name));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a\0b")]
    [InlineData("a123456789012345678901234567890123456789012345678901234567890123")]
    public void Quote_NotAName_InputError(string name)
    {
        Assert.Throws<InputException>(() => SqlIdentifier.Quote(name));
    }

    [Fact]
    public void Quote_63Bytes_Accepted64Refused()
    {
        Assert.NotNull(SqlIdentifier.Quote(new string('a', 63)));
        Assert.Contains("64 bytes", SqlIdentifier.Problem(new string('a', 64), "table"), StringComparison.Ordinal);
        Assert.Contains("66 bytes", SqlIdentifier.Problem(new string('a', 62) + "éé", "table"), StringComparison.Ordinal);
    }

    [Fact]
    public void CreateSql_NamesQuotedMethodFromTheList()
    {
        var sql = IndexActuator.CreateSql("public", "order \"items\"", "oi_idx", ["customer id", "Created"], "btree", unique: true);

        Assert.Equal("CREATE UNIQUE INDEX CONCURRENTLY \"oi_idx\" ON \"public\".\"order \"\"items\"\"\" USING btree (\"customer id\", \"Created\")", sql);
        Assert.Throws<InputException>(() => IndexActuator.CreateSql("public", "t", "i", ["a"], "btree) ; drop table t; --", unique: false));
    }

    [Fact]
    public void DropSql_QualifiedAndConcurrent()
    {
        Assert.Equal("DROP INDEX CONCURRENTLY IF EXISTS \"s\".\"i\"\"x\"", IndexActuator.DropSql("s", "i\"x"));
    }

    [Theory]
    [InlineData("CREATE INDEX t_a_idx ON public.t USING btree (a)", "CREATE INDEX CONCURRENTLY t_a_idx ON public.t USING btree (a)")]
    [InlineData("CREATE UNIQUE INDEX \"My Idx\" ON public.\"T\" USING btree (lower(b)) WHERE (c > 0)", "CREATE UNIQUE INDEX CONCURRENTLY \"My Idx\" ON public.\"T\" USING btree (lower(b)) WHERE (c > 0)")]
    public void RecreateSql_IndexDefinition_BecomesConcurrent(string definition, string expected)
    {
        Assert.Equal(expected, IndexActuator.RecreateSql(definition));
    }

    [Theory]
    [InlineData("CREATE INDEX i ON public.t USING btree (a); DROP TABLE t")]
    [InlineData("DROP TABLE t")]
    [InlineData("CREATE TABLE i (a int)")]
    [InlineData("CREATE INDEX i ON public.t (a)")]
    public void RecreateSql_AnythingElse_Refused(string definition)
    {
        Assert.Null(IndexActuator.RecreateSql(definition));
    }

    [Fact]
    public void MaintenanceStatement_FixedKeywordsAndQuotedNames()
    {
        Assert.Equal("ANALYZE", MaintenanceActuator.Statement(SqlActions.Analyze, null, null, false, false));
        Assert.Equal("ANALYZE \"app\".\"t; x\"", MaintenanceActuator.Statement(SqlActions.Analyze, "app", "t; x", false, false));
        Assert.Equal("VACUUM (ANALYZE, FREEZE) \"public\".\"t\"", MaintenanceActuator.Statement(SqlActions.Vacuum, "public", "t", true, true));
        Assert.Equal("VACUUM \"public\".\"t\"", MaintenanceActuator.Statement(SqlActions.Vacuum, "public", "t", false, false));
    }

    [Fact]
    public void PlanCreateIndex_DefaultNameUndoAndValidation()
    {
        var action = SqlActions.PlanCreateIndex("pg-test", "test", "public", "orders", ["customer_id", "created_at"]);

        Assert.Equal("orders_customer_id_created_at_idx", action.Parameter(SqlActions.Index));
        Assert.True(action.Reversible);
        Assert.Equal(SqlActions.DropIndex, action.Undo?.Kind);
        Assert.Equal("orders_customer_id_created_at_idx", action.Undo?.Parameter(SqlActions.Index));
        Assert.Throws<InputException>(() => SqlActions.PlanCreateIndex("pg-test", "test", "public", "orders", ["a"], method: "magic"));
        Assert.Throws<InputException>(() => SqlActions.PlanCreateIndex("pg-test", "test", "public", "orders", []));
        Assert.Throws<InputException>(() => SqlActions.PlanCreateIndex("pg-test", "test", "public", "", ["a"]));
        Assert.Equal(63, System.Text.Encoding.UTF8.GetByteCount(SqlActions.DefaultIndexName(new string('t', 40), [new string('c', 40)])));
    }

    [Fact]
    public void PlanBackend_TerminateIsIrreversibleHighRisk()
    {
        var terminate = SqlActions.PlanBackend(SqlActions.TerminateBackend, "pg-test", null, 1234);
        var cancel = SqlActions.PlanBackend(SqlActions.CancelBackend, "pg-test", "pg-test-2", 1234);

        Assert.False(terminate.Reversible);
        Assert.Equal(ActionRisk.High, terminate.Risk);
        Assert.Equal(ActionRisk.Medium, cancel.Risk);
        Assert.Throws<InputException>(() => SqlActions.PlanBackend(SqlActions.TerminateBackend, "pg-test", null, 0));
    }

    [Fact]
    public void PlanAlterSystem_ValueOrReset()
    {
        var set = SqlActions.PlanAlterSystem("pg-test", null, "Work_Mem", "8MB");
        var reset = SqlActions.PlanAlterSystem("pg-test", "pg-test-2", "work_mem", null);

        Assert.Equal("work_mem", set.Parameter(SqlActions.Name));
        Assert.Equal("8MB", set.Parameter(SqlActions.Value));
        Assert.Equal("true", reset.Parameter(SqlActions.Reset));
        Assert.Null(reset.Parameter(SqlActions.Value));
        Assert.True(set.Reversible);
    }

    [Fact]
    public void SessionSql_BuildOrDrop_ServerStatementTimeoutOfTheActionAndATenSecondLockTimeout()
    {
        Assert.Equal("set statement_timeout = 1800000; set lock_timeout = 10000", IndexActuator.SessionSql(TimeSpan.FromMinutes(30)));
        Assert.Equal("set statement_timeout = 2500; set lock_timeout = 10000", IndexActuator.SessionSql(TimeSpan.FromSeconds(2.5)));
    }
}
