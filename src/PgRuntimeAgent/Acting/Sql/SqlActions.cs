using System.Globalization;
using System.Text;

namespace PgRuntimeAgent.Acting.Sql;

/// <summary>Kinds, parameter names and planners of the SQL actions. Every name is validated here (bad input: <see cref="InputException"/>).</summary>
internal static class SqlActions
{
    public const string CreateIndex = "sql.create_index";
    public const string DropIndex = "sql.drop_index";
    public const string Analyze = "sql.analyze";
    public const string Vacuum = "sql.vacuum";
    public const string CancelBackend = "sql.cancel_backend";
    public const string TerminateBackend = "sql.terminate_backend";
    public const string AlterSystem = "sql.alter_system";

    public const string Database = "database";
    public const string Schema = "schema";
    public const string Table = "table";
    public const string Index = "index";
    public const string Columns = "columns";
    public const string Method = "method";
    public const string Unique = "unique";

    /// <summary>An index definition from pg_get_indexdef, recorded when an index is dropped; only an undo may carry it.</summary>
    public const string Definition = "definition";

    public const string TimeoutSeconds = "timeout_seconds";
    public const string Pid = "pid";
    public const string BackendStart = "backend_start";
    public const string Name = "name";
    public const string Value = "value";
    public const string Reset = "reset";
    public const string WithAnalyze = "analyze";
    public const string Freeze = "freeze";
    public const string PlannedAt = "planned_at";

    /// <summary>Index access methods pgra builds with (the core ones; an extension's method must be asked for by an operator in SQL).</summary>
    public static IReadOnlySet<string> Methods { get; } = new HashSet<string>(StringComparer.Ordinal) { "btree", "hash", "gist", "spgist", "gin", "brin" };

    public static PlannedAction PlanCreateIndex(string cluster, string database, string schema, string table, IReadOnlyList<string> columns, string? index = null,
        string method = "btree", bool unique = false, ActionTrigger trigger = ActionTrigger.Operator, string? initiator = null, string? reason = null)
    {
        ArgumentNullException.ThrowIfNull(columns);
        Check(database, "database");
        Check(schema, "schema");
        Check(table, "table");
        if (columns.Count == 0)
        {
            throw new InputException("an index needs at least one column");
        }

        foreach (var column in columns)
        {
            Check(column, "column");
        }

        if (!Methods.Contains(method))
        {
            throw new InputException($"index method '{method}' is not one of {string.Join(", ", Methods.Order(StringComparer.Ordinal))}");
        }

        var name = index ?? DefaultIndexName(table, columns);
        Check(name, "index");
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [Database] = database,
            [Schema] = schema,
            [Table] = table,
            [Index] = name,
            [Columns] = string.Join(",", columns),
            [Method] = method,
            [Unique] = unique ? "true" : "false",
        };
        var action = SqlCreateIndexAction.Info.Plan(cluster, null, parameters,
            $"create {(unique ? "unique " : "")}index {name} concurrently on {schema}.{table} ({string.Join(", ", columns)}) using {method} in {database} on {cluster}",
            trigger, initiator, reason);
        return action with { Undo = PlanDropIndex(cluster, database, schema, name, trigger) with { Id = "" } };
    }

    /// <summary>The create_index that rebuilds a dropped index from its recorded definition (the undo of a drop).</summary>
    public static PlannedAction PlanRecreateIndex(string cluster, string database, string schema, string table, string index, string definition,
        ActionTrigger trigger = ActionTrigger.Operator)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [Database] = database,
            [Schema] = schema,
            [Table] = table,
            [Index] = index,
            [Definition] = definition,
        };
        return SqlCreateIndexAction.Info.Plan(cluster, null, parameters, $"recreate index {schema}.{index} concurrently in {database} on {cluster} ({definition})",
            trigger, null, null) with { Id = "" };
    }

    public static PlannedAction PlanDropIndex(string cluster, string database, string schema, string index, ActionTrigger trigger = ActionTrigger.Operator,
        string? initiator = null, string? reason = null)
    {
        Check(database, "database");
        Check(schema, "schema");
        Check(index, "index");
        return SqlDropIndexAction.Info.Plan(cluster, null,
            new Dictionary<string, string>(StringComparer.Ordinal) { [Database] = database, [Schema] = schema, [Index] = index },
            $"drop index {schema}.{index} concurrently in {database} on {cluster}", trigger, initiator, reason);
    }

    public static PlannedAction PlanAnalyze(string cluster, string database, string? schema, string? table, DateTimeOffset plannedAt,
        ActionTrigger trigger = ActionTrigger.Operator, string? initiator = null, string? reason = null) =>
        Maintenance(Analyze, cluster, database, schema, table, false, false, plannedAt, trigger, initiator, reason);

    public static PlannedAction PlanVacuum(string cluster, string database, string schema, string table, bool analyze, bool freeze, DateTimeOffset plannedAt,
        ActionTrigger trigger = ActionTrigger.Operator, string? initiator = null, string? reason = null) =>
        Maintenance(Vacuum, cluster, database, schema, table, analyze, freeze, plannedAt, trigger, initiator, reason);

    public static PlannedAction PlanBackend(string kind, string cluster, string? member, int pid, DateTimeOffset? backendStart = null,
        ActionTrigger trigger = ActionTrigger.Operator, string? initiator = null, string? reason = null)
    {
        if (kind is not (CancelBackend or TerminateBackend))
        {
            throw new ArgumentException($"not a backend action: {kind}", nameof(kind));
        }

        if (pid <= 0)
        {
            throw new InputException($"pid must be a positive process id, got {pid.ToString(CultureInfo.InvariantCulture)}");
        }

        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { [Pid] = pid.ToString(CultureInfo.InvariantCulture) };
        if (backendStart is { } start)
        {
            parameters[BackendStart] = start.ToString("O", CultureInfo.InvariantCulture);
        }

        var terminate = kind == TerminateBackend;
        return (terminate ? SqlTerminateBackendAction.Info : SqlCancelBackendAction.Info).Plan(cluster, member, parameters, terminate
            ? $"terminate backend {pid.ToString(CultureInfo.InvariantCulture)} on {member ?? "the leader"} of {cluster} (its session and open transaction end)"
            : $"cancel the running query of backend {pid.ToString(CultureInfo.InvariantCulture)} on {member ?? "the leader"} of {cluster}", trigger, initiator, reason);
    }

    /// <summary>ALTER SYSTEM SET name TO value (or RESET) and a reload, on one member (the leader when none is named).</summary>
    public static PlannedAction PlanAlterSystem(string cluster, string? member, string name, string? value, string? database = null,
        ActionTrigger trigger = ActionTrigger.Operator, string? initiator = null, string? reason = null)
    {
        Check(name, "parameter name");
        if (value is not null && value.Contains('\0', StringComparison.Ordinal))
        {
            throw new InputException($"the value of {name} contains a NUL character");
        }

        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { [Name] = name.ToLowerInvariant() };
        if (value is null)
        {
            parameters[Reset] = "true";
        }
        else
        {
            parameters[Value] = value;
        }

        if (database is not null)
        {
            Check(database, "database");
            parameters[Database] = database;
        }

        return SqlAlterSystemAction.Info.Plan(cluster, member, parameters, value is null
            ? $"ALTER SYSTEM RESET {name} on {member ?? "the leader"} of {cluster}, then reload"
            : $"ALTER SYSTEM SET {name} = '{value}' on {member ?? "the leader"} of {cluster}, then reload", trigger, initiator, reason);
    }

    /// <summary><c>&lt;table&gt;_&lt;col&gt;_..._idx</c>, cut to 63 bytes as PostgreSQL would.</summary>
    public static string DefaultIndexName(string table, IReadOnlyList<string> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        var name = $"{table}_{string.Join("_", columns)}_idx";
        while (Encoding.UTF8.GetByteCount(name) > SqlIdentifier.MaxBytes)
        {
            name = name[..^1];
        }

        return name;
    }

    public static void Check(string? name, string what)
    {
        if (SqlIdentifier.Problem(name, what) is { } problem)
        {
            throw new InputException(problem);
        }
    }

    private static PlannedAction Maintenance(string kind, string cluster, string database, string? schema, string? table, bool analyze, bool freeze,
        DateTimeOffset plannedAt, ActionTrigger trigger, string? initiator, string? reason)
    {
        Check(database, "database");
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [Database] = database,
            [PlannedAt] = plannedAt.ToString("O", CultureInfo.InvariantCulture),
        };
        if (table is not null)
        {
            Check(schema ?? "public", "schema");
            Check(table, "table");
            parameters[Schema] = schema ?? "public";
            parameters[Table] = table;
        }
        else if (kind == Vacuum)
        {
            throw new InputException("sql.vacuum needs a table (a database-wide VACUUM is not an agent's action)");
        }

        if (kind == Vacuum)
        {
            parameters[WithAnalyze] = analyze ? "true" : "false";
            parameters[Freeze] = freeze ? "true" : "false";
        }

        var what = table is null ? $"every table of {database}" : $"{parameters[Schema]}.{table} in {database}";
        var verb = kind == Analyze ? "ANALYZE" : "VACUUM" + (analyze || freeze ? $" ({string.Join(", ", new[] { analyze ? "ANALYZE" : null, freeze ? "FREEZE" : null }.OfType<string>())})" : "");
        return (kind == Analyze ? SqlAnalyzeAction.Info : SqlVacuumAction.Info).Plan(cluster, null, parameters, $"{verb} {what} on the leader of {cluster}", trigger, initiator,
            reason);
    }
}
