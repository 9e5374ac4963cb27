using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;

namespace PgRuntimeAgent.Acting.Sql;

/// <summary>
/// <c>sql.create_index</c> (CREATE INDEX CONCURRENTLY) and <c>sql.drop_index</c> (DROP INDEX CONCURRENTLY), each the
/// undo of the other, on the leader. A build that fails leaves an INVALID index behind: it is dropped (concurrently)
/// right away, before a new build of the same name, and by reconciliation after a crash. Names are quoted as
/// identifiers (<see cref="SqlIdentifier"/>); catalog lookups use bind parameters. A drop records
/// pg_get_indexdef so its undo rebuilds exactly that index. Every build or drop runs with the server's
/// statement_timeout at the action's timeout and lock_timeout at <see cref="LockTimeout"/> (<see cref="SessionSql"/>):
/// a concurrent build waits for the table's lock and for every older transaction, and one that cannot get them in time
/// fails (its INVALID index is dropped) instead of queueing behind a long transaction.
/// </summary>
internal sealed partial class IndexActuator(SqlTargets targets) : IActuator
{
    public IReadOnlyCollection<string> Kinds { get; } = [SqlActions.CreateIndex, SqlActions.DropIndex];

    private static readonly TimeSpan CatalogTimeout = TimeSpan.FromSeconds(10);

    /// <summary>lock_timeout of a build or drop: the table's lock and each wait for an older transaction.</summary>
    public static TimeSpan LockTimeout { get; } = TimeSpan.FromSeconds(10);

    /// <summary>The session settings a build or drop runs under (server-side, so a statement of a vanished pgra ends too).</summary>
    public static string SessionSql(TimeSpan statementTimeout) => string.Create(CultureInfo.InvariantCulture,
        $"set statement_timeout = {(long)statementTimeout.TotalMilliseconds}; set lock_timeout = {(long)LockTimeout.TotalMilliseconds}");

    public async Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var p = IndexParams.From(action);
        var target = await targets.ResolveAsync(action, requirePrimary: true, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return PrecheckResult.Fail("primary", target.Problem ?? "no primary");
        }

        var checks = new List<CheckResult> { new("primary", true, $"runs on {targets.Describe(target, p.Database)}") };
        try
        {
            await using var connection = await targets.OpenAsync(target, p.Database, cancellationToken).ConfigureAwait(false);
            var existing = await FindIndexAsync(connection, p.Schema, p.Index, cancellationToken).ConfigureAwait(false);
            if (action.Kind == SqlActions.DropIndex)
            {
                checks.Add(existing is null
                    ? new CheckResult("index-exists", false, $"no index {p.Schema}.{p.Index} in {p.Database}")
                    : new CheckResult("index-exists", true, $"{existing.Definition}{(existing.Valid ? "" : " (INVALID)")}"));
                if (existing?.Constraint is { } constraint)
                {
                    checks.Add(new CheckResult("not-a-constraint", false, $"{p.Index} backs constraint {constraint}: drop the constraint instead"));
                }

                return new PrecheckResult(checks);
            }

            if (p.Definition is not null)
            {
                checks.Add(action.UndoOf is not null && RecreateSql(p.Definition) is not null
                    ? new CheckResult("definition", true, p.Definition)
                    : new CheckResult("definition", false, "an index definition is only accepted from the journal, as the undo of a drop, in pg_get_indexdef's form"));
            }

            var table = await SqlConnector.RowsAsync(connection,
                "select c.oid::int8 as oid, c.relkind::text as relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1::text and c.relname = $2::text",
                [p.Schema, p.Table], CatalogTimeout, cancellationToken).ConfigureAwait(false);
            if (table.Count == 0)
            {
                checks.Add(new CheckResult("table-exists", false, $"no table {p.Schema}.{p.Table} in {p.Database}"));
            }
            else if ((string?)table[0]["relkind"] is not ("r" or "m"))
            {
                checks.Add(new CheckResult("table-exists", false, $"{p.Schema}.{p.Table} is not a plain table or materialized view (relkind {table[0]["relkind"]}): no concurrent build"));
            }
            else
            {
                checks.Add(new CheckResult("table-exists", true, $"{p.Schema}.{p.Table}"));
                if (p.Columns.Count > 0)
                {
                    var found = await SqlConnector.RowsAsync(connection,
                        "select attname::text as attname from pg_attribute where attrelid = $1::int8::oid and attnum > 0 and not attisdropped and attname = any($2::text[])",
                        [table[0]["oid"], p.Columns.ToArray()], CatalogTimeout, cancellationToken).ConfigureAwait(false);
                    var missing = p.Columns.Except(found.Select(r => (string)r["attname"]!), StringComparer.Ordinal).ToList();
                    checks.Add(missing.Count == 0
                        ? new CheckResult("columns-exist", true, string.Join(", ", p.Columns))
                        : new CheckResult("columns-exist", false, $"{p.Schema}.{p.Table} has no column {string.Join(", ", missing)}"));
                }
            }

            checks.Add(existing switch
            {
                null => new CheckResult("name-free", true, $"no index named {p.Index} yet"),
                { Valid: false } => new CheckResult("name-free", true, $"an INVALID index {p.Index} (a failed build) is there: it is dropped before the build"),
                _ => new CheckResult("name-free", false, $"index {p.Schema}.{p.Index} already exists: {existing.Definition}"),
            });
            var other = existing is null ? await RelationKindAsync(connection, p.Schema, p.Index, cancellationToken).ConfigureAwait(false) : null;
            if (other is not null)
            {
                checks.Add(new CheckResult("name-free", false, $"{p.Schema}.{p.Index} is already a relation of kind {other}"));
            }
        }
        catch (Exception ex) when (SqlTargets.IsExpected(ex))
        {
            checks.Add(new CheckResult("connect", false, $"{targets.Describe(target, p.Database)}: {SqlTargets.Describe(ex)}"));
        }

        return new PrecheckResult(checks);
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var p = IndexParams.From(action);
        var target = await targets.ResolveAsync(action, requirePrimary: true, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return ExecuteResult.Failed("not run: " + target.Problem);
        }

        var details = new Dictionary<string, string>(StringComparer.Ordinal) { ["member"] = target.Member.Name, ["database"] = p.Database };
        await using var connection = await targets.OpenAsync(target, p.Database, cancellationToken).ConfigureAwait(false);
        await SqlConnector.ExecuteAsync(connection, SessionSql(p.Timeout), [], CatalogTimeout, cancellationToken).ConfigureAwait(false);
        details["session"] = SessionSql(p.Timeout);
        return action.Kind == SqlActions.DropIndex
            ? await DropAsync(action, p, connection, details, cancellationToken).ConfigureAwait(false)
            : await CreateAsync(action, p, connection, details, cancellationToken).ConfigureAwait(false);
    }

    public async Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(execution);
        var p = IndexParams.From(action);
        var target = await targets.ResolveAsync(action, requirePrimary: true, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return VerifyResult.Pending(target.Problem ?? "no primary");
        }

        await using var connection = await targets.OpenAsync(target, p.Database, cancellationToken).ConfigureAwait(false);
        var index = await FindIndexAsync(connection, p.Schema, p.Index, cancellationToken).ConfigureAwait(false);
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["member"] = target.Member.Name,
            ["index"] = index is null ? "absent" : $"{index.Definition}; valid={index.Valid.ToString().ToLowerInvariant()}; ready={index.Ready.ToString().ToLowerInvariant()}; size={index.SizeBytes.ToString(CultureInfo.InvariantCulture)} bytes",
        };
        if (action.Kind == SqlActions.DropIndex)
        {
            return (index is null
                ? VerifyResult.Verified($"{p.Schema}.{p.Index} is gone from {p.Database} on {target.Member.Name}")
                : VerifyResult.Failed($"{p.Schema}.{p.Index} is still there{(index.Valid ? "" : " (INVALID: the drop was interrupted)")}")) with { Evidence = evidence };
        }

        return (index switch
        {
            null => VerifyResult.Failed($"{p.Schema}.{p.Index} does not exist in {p.Database} on {target.Member.Name}"),
            { Valid: true, Ready: true } => VerifyResult.Verified($"{p.Schema}.{p.Index} is valid and ready on {target.Member.Name} ({index.SizeBytes.ToString(CultureInfo.InvariantCulture)} bytes): {index.Definition}"),
            _ => VerifyResult.Failed($"{p.Schema}.{p.Index} exists but is INVALID"),
        }) with { Evidence = evidence };
    }

    public async Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var p = IndexParams.From(action);
        var target = await targets.ResolveAsync(action, requirePrimary: true, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return new ReconcileResult(ReconcileStatus.Unknown, target.Problem ?? "no primary");
        }

        try
        {
            await using var connection = await targets.OpenAsync(target, p.Database, cancellationToken).ConfigureAwait(false);
            var index = await FindIndexAsync(connection, p.Schema, p.Index, cancellationToken).ConfigureAwait(false);
            if (action.Kind == SqlActions.DropIndex)
            {
                return index switch
                {
                    null => new ReconcileResult(ReconcileStatus.Happened, $"{p.Schema}.{p.Index} is gone") { Undo = action.Undo },
                    { Valid: false } => new ReconcileResult(ReconcileStatus.NotHappened, $"{p.Schema}.{p.Index} is still there, INVALID (the drop was interrupted): drop it again"),
                    _ => new ReconcileResult(ReconcileStatus.NotHappened, $"{p.Schema}.{p.Index} is still there"),
                };
            }

            if (index is null)
            {
                return new ReconcileResult(ReconcileStatus.NotHappened, $"{p.Schema}.{p.Index} does not exist");
            }

            if (index.Valid)
            {
                return new ReconcileResult(ReconcileStatus.Happened, $"{p.Schema}.{p.Index} exists and is valid") { Undo = action.Undo ?? DropUndo(action, p) };
            }

            var builder = await SqlConnector.ScalarAsync<int?>(connection,
                "select pid from pg_stat_progress_create_index where index_relid = $1::int8::oid limit 1",
                [index.Oid], CatalogTimeout, cancellationToken).ConfigureAwait(false);
            if (builder is { } pid)
            {
                return new ReconcileResult(ReconcileStatus.Unknown, $"{p.Schema}.{p.Index} is still being built by backend {pid.ToString(CultureInfo.InvariantCulture)}");
            }

            await SqlConnector.ExecuteAsync(connection, SessionSql(p.Timeout), [], CatalogTimeout, cancellationToken).ConfigureAwait(false);
            var cleanup = await DropInvalidAsync(connection, p, cancellationToken).ConfigureAwait(false);
            return new ReconcileResult(ReconcileStatus.NotHappened, $"the build did not finish: {cleanup}");
        }
        catch (Exception ex) when (SqlTargets.IsExpected(ex))
        {
            return new ReconcileResult(ReconcileStatus.Unknown, $"{targets.Describe(target, p.Database)}: {SqlTargets.Describe(ex)}");
        }
    }

    /// <summary>
    /// The CREATE INDEX CONCURRENTLY for a definition as pg_get_indexdef writes it (<c>CREATE [UNIQUE] INDEX name ON
    /// [ONLY] schema.table USING method (...)</c>, one statement); null when it is not in that form.
    /// </summary>
    public static string? RecreateSql(string definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (definition.Contains(';', StringComparison.Ordinal) || definition.Contains('\0', StringComparison.Ordinal))
        {
            return null;
        }

        var m = IndexDefinition().Match(definition);
        return m.Success ? $"CREATE {m.Groups["unique"].Value}INDEX CONCURRENTLY {m.Groups["rest"].Value}" : null;
    }

    /// <summary>The statement a structured create_index runs: every name quoted, the method from the allow-list.</summary>
    public static string CreateSql(string schema, string table, string index, IReadOnlyList<string> columns, string method, bool unique)
    {
        ArgumentNullException.ThrowIfNull(columns);
        if (!SqlActions.Methods.Contains(method))
        {
            throw new InputException($"index method '{method}' is not allowed");
        }

        return $"CREATE {(unique ? "UNIQUE " : "")}INDEX CONCURRENTLY {SqlIdentifier.Quote(index, "index")} ON {SqlIdentifier.Qualified(schema, table)} USING {method} ({string.Join(", ", columns.Select(c => SqlIdentifier.Quote(c, "column")))})";
    }

    public static string DropSql(string schema, string index) => $"DROP INDEX CONCURRENTLY IF EXISTS {SqlIdentifier.Qualified(schema, index)}";

    private async Task<ExecuteResult> CreateAsync(PlannedAction action, IndexParams p, NpgsqlConnection connection, Dictionary<string, string> details,
        CancellationToken cancellationToken)
    {
        var notes = new List<string>();
        if (await FindIndexAsync(connection, p.Schema, p.Index, cancellationToken).ConfigureAwait(false) is { Valid: false })
        {
            notes.Add(await DropInvalidAsync(connection, p, cancellationToken).ConfigureAwait(false));
        }

        string sql;
        if (p.Definition is not null)
        {
            sql = action.UndoOf is not null ? RecreateSql(p.Definition) ?? throw new InputException("the recorded index definition is not in pg_get_indexdef's form")
                : throw new InputException("an index definition is only accepted as the undo of a drop");
        }
        else
        {
            sql = CreateSql(p.Schema, p.Table, p.Index, p.Columns, p.Method, p.Unique);
        }

        details["statement"] = sql;
        try
        {
            await SqlConnector.ExecuteAsync(connection, sql, [], p.Timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex)
        {
            // A failed concurrent build leaves an INVALID index that still costs every write: remove it now.
            var cleanup = await DropInvalidAsync(connection, p, cancellationToken).ConfigureAwait(false);
            return ExecuteResult.Failed($"CREATE INDEX CONCURRENTLY failed: {ex.SqlState}: {ex.MessageText}; {cleanup}") with { Details = details };
        }

        var index = await FindIndexAsync(connection, p.Schema, p.Index, cancellationToken).ConfigureAwait(false);
        details["definition"] = index?.Definition ?? "";
        return new ExecuteResult
        {
            Succeeded = true,
            Message = $"built {p.Schema}.{p.Index}" + (notes.Count > 0 ? " (" + string.Join("; ", notes) + ")" : ""),
            Output = sql,
            Details = details,
            Undo = action.Undo ?? DropUndo(action, p),
        };
    }

    private static async Task<ExecuteResult> DropAsync(PlannedAction action, IndexParams p, NpgsqlConnection connection, Dictionary<string, string> details,
        CancellationToken cancellationToken)
    {
        var index = await FindIndexAsync(connection, p.Schema, p.Index, cancellationToken).ConfigureAwait(false);
        if (index is null)
        {
            return ExecuteResult.Failed($"no index {p.Schema}.{p.Index}: nothing dropped") with { Details = details };
        }

        details["definition"] = index.Definition;
        details["table"] = index.Table;
        var sql = DropSql(p.Schema, p.Index);
        details["statement"] = sql;
        try
        {
            await SqlConnector.ExecuteAsync(connection, sql, [], p.Timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex)
        {
            return ExecuteResult.Failed($"DROP INDEX CONCURRENTLY failed: {ex.SqlState}: {ex.MessageText}") with { Details = details };
        }

        // Rebuilding an index that was INVALID would not restore anything useful.
        var undo = index.Valid ? SqlActions.PlanRecreateIndex(action.Cluster, p.Database, p.Schema, index.Table, p.Index, index.Definition, action.Trigger) : null;
        return new ExecuteResult { Succeeded = true, Message = $"dropped {p.Schema}.{p.Index} ({index.Definition})", Output = sql, Details = details, Undo = undo };
    }

    private static async Task<string> DropInvalidAsync(NpgsqlConnection connection, IndexParams p, CancellationToken cancellationToken)
    {
        var index = await FindIndexAsync(connection, p.Schema, p.Index, cancellationToken).ConfigureAwait(false);
        if (index is null)
        {
            return "no INVALID index was left behind";
        }

        if (index.Valid)
        {
            return $"{p.Schema}.{p.Index} exists and is valid";
        }

        try
        {
            await SqlConnector.ExecuteAsync(connection, DropSql(p.Schema, p.Index), [], p.Timeout, cancellationToken).ConfigureAwait(false);
            return $"the INVALID index {p.Schema}.{p.Index} left by the failed build was dropped";
        }
        catch (PostgresException ex)
        {
            return $"the INVALID index {p.Schema}.{p.Index} could not be dropped ({ex.SqlState}: {ex.MessageText}): drop it by hand";
        }
    }

    private static PlannedAction DropUndo(PlannedAction action, IndexParams p) =>
        SqlActions.PlanDropIndex(action.Cluster, p.Database, p.Schema, p.Index, action.Trigger) with { Id = "" };

    private sealed record IndexInfo(long Oid, string Table, bool Valid, bool Ready, string Definition, long SizeBytes, string? Constraint);

    private static async Task<IndexInfo?> FindIndexAsync(NpgsqlConnection connection, string schema, string index, CancellationToken cancellationToken)
    {
        var rows = await SqlConnector.RowsAsync(connection,
            """
            select c.oid::int8 as oid, t.relname::text as tbl, i.indisvalid, i.indisready, pg_get_indexdef(c.oid) as def,
                   pg_relation_size(c.oid) as size, (select conname::text from pg_constraint where conindid = c.oid limit 1) as con
            from pg_class c
            join pg_namespace n on n.oid = c.relnamespace
            join pg_index i on i.indexrelid = c.oid
            join pg_class t on t.oid = i.indrelid
            where n.nspname = $1::text and c.relname = $2::text
            """,
            [schema, index], CatalogTimeout, cancellationToken).ConfigureAwait(false);
        if (rows.Count == 0)
        {
            return null;
        }

        var r = rows[0];
        return new IndexInfo((long)r["oid"]!, (string)r["tbl"]!, r["indisvalid"] is true, r["indisready"] is true, (string)r["def"]!, (long)r["size"]!, r["con"] as string);
    }

    private static async Task<string?> RelationKindAsync(NpgsqlConnection connection, string schema, string name, CancellationToken cancellationToken) =>
        await SqlConnector.ScalarAsync<string>(connection,
            "select c.relkind::text from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1::text and c.relname = $2::text",
            [schema, name], CatalogTimeout, cancellationToken).ConfigureAwait(false);

    /// <summary>The parameters of an index action, validated.</summary>
    private sealed record IndexParams(string Database, string Schema, string Table, string Index, IReadOnlyList<string> Columns, string Method, bool Unique,
        string? Definition, TimeSpan Timeout)
    {
        public static IndexParams From(PlannedAction action)
        {
            string Need(string name) => action.Parameter(name) ?? throw new InputException($"{action.Kind} needs the parameter '{name}'");
            var database = Need(SqlActions.Database);
            var schema = action.Parameter(SqlActions.Schema) ?? "public";
            var index = Need(SqlActions.Index);
            SqlActions.Check(database, "database");
            SqlActions.Check(schema, "schema");
            SqlActions.Check(index, "index");
            var timeout = double.TryParse(action.Parameter(SqlActions.TimeoutSeconds), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0
                ? TimeSpan.FromSeconds(s)
                : TimeSpan.FromMinutes(30);
            if (action.Kind == SqlActions.DropIndex)
            {
                return new IndexParams(database, schema, "", index, [], "btree", false, null, timeout);
            }

            var table = Need(SqlActions.Table);
            SqlActions.Check(table, "table");
            var definition = action.Parameter(SqlActions.Definition);
            var columns = definition is null ? SqlIdentifier.SplitList(Need(SqlActions.Columns), "column") : [];
            var method = action.Parameter(SqlActions.Method) ?? "btree";
            if (!SqlActions.Methods.Contains(method))
            {
                throw new InputException($"index method '{method}' is not one of {string.Join(", ", SqlActions.Methods.Order(StringComparer.Ordinal))}");
            }

            return new IndexParams(database, schema, table, index, columns, method, action.Parameter(SqlActions.Unique) == "true", definition, timeout);
        }
    }

    [GeneratedRegex(@"^CREATE (?<unique>UNIQUE )?INDEX (?<rest>(""([^""]|"""")+""|[A-Za-z_][A-Za-z0-9_$]*) ON (ONLY )?\S+ USING [a-z_]+ \(.+\)( .*)?)$", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex IndexDefinition();
}
