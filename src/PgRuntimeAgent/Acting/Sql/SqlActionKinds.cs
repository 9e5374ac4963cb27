using System.Globalization;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Catalog;

namespace PgRuntimeAgent.Acting.Sql;

/// <summary>Parameters several SQL kinds share, described once.</summary>
internal static class SqlParameterSpecs
{
    public static ParameterSpec Database { get; } = new(SqlActions.Database, ParameterType.String, "the database (default: sensing.postgres.database)");

    public static ParameterSpec Schema { get; } = new(SqlActions.Schema, ParameterType.String, "the table's schema") { Default = "public" };

    public static ParameterSpec Timeout { get; } =
        new(SqlActions.TimeoutSeconds, ParameterType.Number, "statement timeout in seconds (a positive number; default: the SQL actuator's)");

    public static ParameterSpec Table(bool required) => new(SqlActions.Table, ParameterType.String, "the table") { Required = required };
}

/// <summary><c>sql.create_index</c>: CREATE INDEX CONCURRENTLY on the leader.</summary>
internal sealed class SqlCreateIndexAction : ImmediateActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = SqlActions.CreateIndex,
        Summary = "Build an index with CREATE INDEX CONCURRENTLY on the leader (writes go on; an invalid index left by a failed build is dropped).",
        Parameters =
        [
            SqlParameterSpecs.Database,
            SqlParameterSpecs.Schema,
            SqlParameterSpecs.Table(required: true),
            new(SqlActions.Columns, ParameterType.List, "the indexed columns, comma-separated") { Required = true },
            new(SqlActions.Index, ParameterType.String, "the index name (default: <table>_<columns>_idx, cut to 63 bytes)"),
            new(SqlActions.Method, ParameterType.String, "the index access method") { Default = "btree", AllowedValues = ["btree", "hash", "gist", "spgist", "gin", "brin"] },
            new(SqlActions.Unique, ParameterType.Boolean, "a unique index") { Default = "false" },
            SqlParameterSpecs.Timeout,
        ],
        Member = MemberUse.None,
        Risk = ActionRisk.Medium,
        Reversible = true,
        VerifyTimeout = TimeSpan.FromSeconds(30),
        Undo = "sql.drop_index of the new index (DROP INDEX CONCURRENTLY)",
    };

    public override ActionDescriptor Descriptor => Info;

    protected override PlannedAction Plan(PlanContext context, PlanInput input)
    {
        var columns = SqlIdentifier.SplitList(input.Required(SqlActions.Columns), "column");
        return SqlActionKinds.WithTimeout(SqlActions.PlanCreateIndex(input.Cluster.Name, SqlActionKinds.Database(context, input), input.P(SqlActions.Schema) ?? "public",
            input.Required(SqlActions.Table), columns, input.P(SqlActions.Index), input.P(SqlActions.Method) ?? "btree", input.Flag(SqlActions.Unique),
            input.Trigger, input.Initiator, input.Reason), input);
    }
}

/// <summary><c>sql.drop_index</c>: DROP INDEX CONCURRENTLY on the leader.</summary>
internal sealed class SqlDropIndexAction : ImmediateActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = SqlActions.DropIndex,
        Summary = "Drop an index with DROP INDEX CONCURRENTLY on the leader; its definition is recorded first so the undo can rebuild it.",
        Parameters =
        [
            SqlParameterSpecs.Database,
            new(SqlActions.Schema, ParameterType.String, "the index's schema") { Default = "public" },
            new(SqlActions.Index, ParameterType.String, "the index to drop") { Required = true },
            SqlParameterSpecs.Timeout,
        ],
        Member = MemberUse.None,
        Risk = ActionRisk.Medium,
        Reversible = true,
        VerifyTimeout = TimeSpan.FromSeconds(30),
        Undo = "sql.create_index from the recorded definition (CREATE INDEX CONCURRENTLY)",
    };

    public override ActionDescriptor Descriptor => Info;

    protected override PlannedAction Plan(PlanContext context, PlanInput input) =>
        SqlActionKinds.WithTimeout(SqlActions.PlanDropIndex(input.Cluster.Name, SqlActionKinds.Database(context, input), input.P(SqlActions.Schema) ?? "public",
            input.Required(SqlActions.Index), input.Trigger, input.Initiator, input.Reason), input);
}

/// <summary><c>sql.analyze</c>: ANALYZE on the leader.</summary>
internal sealed class SqlAnalyzeAction : ImmediateActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = SqlActions.Analyze,
        Summary = "Refresh the planner's statistics with ANALYZE on the leader: one table, or every table of the database when none is named.",
        Parameters =
        [
            SqlParameterSpecs.Database,
            SqlParameterSpecs.Schema,
            SqlParameterSpecs.Table(required: false) with { Description = "the table (default: every table of the database)" },
            SqlParameterSpecs.Timeout,
        ],
        Member = MemberUse.None,
        Risk = ActionRisk.Low,
        Reversible = false,
        LossBound = "ANALYZE only refreshes the planner's statistics (what autovacuum's analyze does anyway); it discards nothing",
        VerifyTimeout = TimeSpan.FromSeconds(15),
    };

    public override ActionDescriptor Descriptor => Info;

    protected override PlannedAction Plan(PlanContext context, PlanInput input) =>
        SqlActionKinds.WithTimeout(SqlActions.PlanAnalyze(input.Cluster.Name, SqlActionKinds.Database(context, input), input.P(SqlActions.Schema), input.P(SqlActions.Table),
            context.Time.GetUtcNow(), input.Trigger, input.Initiator, input.Reason), input);
}

/// <summary><c>sql.vacuum</c>: VACUUM of one table on the leader.</summary>
internal sealed class SqlVacuumAction : ImmediateActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = SqlActions.Vacuum,
        Summary = "VACUUM one table on the leader (optionally with ANALYZE and FREEZE) to reclaim dead rows and advance its frozen transaction id; never VACUUM FULL.",
        Parameters =
        [
            SqlParameterSpecs.Database,
            SqlParameterSpecs.Schema,
            SqlParameterSpecs.Table(required: true),
            new(SqlActions.WithAnalyze, ParameterType.Boolean, "also ANALYZE the table") { Default = "false" },
            new(SqlActions.Freeze, ParameterType.Boolean, "VACUUM (FREEZE): freeze every row now") { Default = "false" },
            SqlParameterSpecs.Timeout,
        ],
        Member = MemberUse.None,
        Risk = ActionRisk.Low,
        Reversible = false,
        LossBound = "plain VACUUM (never FULL) removes only row versions no transaction can see; it discards no live row and takes no lock that blocks reads or writes",
        VerifyTimeout = TimeSpan.FromSeconds(15),
    };

    public override ActionDescriptor Descriptor => Info;

    protected override PlannedAction Plan(PlanContext context, PlanInput input) =>
        SqlActionKinds.WithTimeout(SqlActions.PlanVacuum(input.Cluster.Name, SqlActionKinds.Database(context, input), input.P(SqlActions.Schema) ?? "public",
            input.Required(SqlActions.Table), input.Flag(SqlActions.WithAnalyze), input.Flag(SqlActions.Freeze), context.Time.GetUtcNow(), input.Trigger,
            input.Initiator, input.Reason), input);
}

/// <summary><c>sql.cancel_backend</c> and <c>sql.terminate_backend</c>: one session of a member (default: the leader).</summary>
internal abstract class SqlBackendAction : ImmediateActionKind
{
    protected static ActionDescriptor Describe(string kind, string summary, ActionRisk risk) => new()
    {
        Kind = kind,
        Summary = summary,
        Parameters =
        [
            new(SqlActions.Pid, ParameterType.Integer, "the backend's process id (pg_stat_activity.pid)") { Required = true, Minimum = 1 },
            new(SqlActions.BackendStart, ParameterType.Time,
                "the backend's start (pg_stat_activity.backend_start): when given, a different session that reuses the pid is left alone"),
        ],
        Member = MemberUse.Optional,
        Risk = risk,
        Reversible = false,
        VerifyTimeout = TimeSpan.FromSeconds(15),
    };

    protected override PlannedAction Plan(PlanContext context, PlanInput input) => SqlActionKinds.PlanBackend(input);
}

/// <summary><c>sql.cancel_backend</c>: pg_cancel_backend of one session.</summary>
internal sealed class SqlCancelBackendAction : SqlBackendAction
{
    public static ActionDescriptor Info { get; } = Describe(SqlActions.CancelBackend,
        "Cancel the running query of one backend with pg_cancel_backend (its session stays; its transaction is rolled back if the query was in one).",
        ActionRisk.Medium);

    public override ActionDescriptor Descriptor => Info;
}

/// <summary><c>sql.terminate_backend</c>: pg_terminate_backend of one session.</summary>
internal sealed class SqlTerminateBackendAction : SqlBackendAction
{
    public static ActionDescriptor Info { get; } = Describe(SqlActions.TerminateBackend,
        "End one backend's session with pg_terminate_backend (its open transaction is rolled back); for a session that holds locks others wait on.",
        ActionRisk.High);

    public override ActionDescriptor Descriptor => Info;
}

/// <summary><c>sql.alter_system</c>: ALTER SYSTEM SET/RESET and a reload on one member.</summary>
internal sealed class SqlAlterSystemAction : ImmediateActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = SqlActions.AlterSystem,
        Summary = "Set (or reset) one PostgreSQL parameter with ALTER SYSTEM on one member (default: the leader), then reload; "
            + "a parameter that needs a restart is reported as pending. Exactly one of value or reset=true.",
        Parameters =
        [
            new(SqlActions.Name, ParameterType.String, "the parameter (a pg_settings name)") { Required = true },
            new(SqlActions.Value, ParameterType.String, "the new value, as SET would take it"),
            new(SqlActions.Reset, ParameterType.Boolean, "true: ALTER SYSTEM RESET the parameter instead") { Default = "false" },
            new(SqlActions.Database, ParameterType.String, "the database to connect to (default: sensing.postgres.database)"),
        ],
        Member = MemberUse.Optional,
        Risk = ActionRisk.Medium,
        Reversible = true,
        VerifyTimeout = TimeSpan.FromSeconds(15),
        Undo = "ALTER SYSTEM back to the value postgresql.auto.conf held before (or RESET), then reload",
    };

    public override ActionDescriptor Descriptor => Info;

    protected override PlannedAction Plan(PlanContext context, PlanInput input)
    {
        var reset = input.Flag(SqlActions.Reset);
        var value = input.P(SqlActions.Value);
        if (reset == (value is not null))
        {
            throw new InputException("sql.alter_system needs exactly one of 'value' or 'reset=true'");
        }

        return SqlActions.PlanAlterSystem(input.Cluster.Name, input.MemberName, input.Required(SqlActions.Name), value, input.P(SqlActions.Database), input.Trigger,
            input.Initiator, input.Reason);
    }
}

/// <summary><c>sql.checkpoint</c>: CHECKPOINT on one member.</summary>
internal sealed class SqlCheckpointAction : ImmediateActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = CheckpointActuator.Kind,
        Summary = "Run CHECKPOINT on one member (default: the leader): dirty pages are written out, so a restart or a backup starts faster and WAL can be recycled.",
        Parameters = [SqlParameterSpecs.Timeout],
        Member = MemberUse.Optional,
        Risk = ActionRisk.Low,
        Reversible = false,
        LossBound = "a checkpoint writes dirty pages out; nothing is discarded",
        VerifyTimeout = TimeSpan.FromSeconds(30),
    };

    public override ActionDescriptor Descriptor => Info;

    protected override PlannedAction Plan(PlanContext context, PlanInput input) =>
        CheckpointActuator.Plan(input.Cluster.Name, input.MemberName, context.Time.GetUtcNow(), input.P(SqlActions.TimeoutSeconds), input.Trigger, input.Initiator,
            input.Reason);
}

/// <summary>Planning steps the SQL kinds share.</summary>
internal static class SqlActionKinds
{
    public static string Database(PlanContext context, PlanInput input) => input.P(SqlActions.Database) ?? context.DefaultDatabase;

    public static PlannedAction PlanBackend(PlanInput input)
    {
        var pidText = input.Required(SqlActions.Pid);
        if (!int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 0)
        {
            throw new InputException($"pid must be a positive integer, got '{pidText}'");
        }

        DateTimeOffset? start = null;
        if (input.P(SqlActions.BackendStart) is { } s)
        {
            start = DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var st) ? st
                : throw new InputException($"backend_start must be a time (ISO 8601), got '{s}'");
        }

        return SqlActions.PlanBackend(input.Request.Kind, input.Cluster.Name, input.MemberName, pid, start, input.Trigger, input.Initiator, input.Reason);
    }

    /// <summary>The action with the request's <c>timeout_seconds</c> (a positive number) among its parameters.</summary>
    public static PlannedAction WithTimeout(PlannedAction action, PlanInput input)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (input.P(SqlActions.TimeoutSeconds) is not { } seconds)
        {
            return action;
        }

        if (!double.TryParse(seconds, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) || s <= 0)
        {
            throw new InputException($"timeout_seconds must be a positive number, got '{seconds}'");
        }

        var parameters = new Dictionary<string, string>(action.Parameters, StringComparer.Ordinal) { [SqlActions.TimeoutSeconds] = seconds };
        return action with { Parameters = parameters };
    }
}
