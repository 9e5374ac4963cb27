using System.Globalization;
using Npgsql;

namespace PgRuntimeAgent.Acting.Sql;

/// <summary>
/// <c>sql.analyze</c> and <c>sql.vacuum</c> on the leader. Verified when the statistics views show an ANALYZE/VACUUM
/// that finished after pgra started it (the server's clock); irreversible (new statistics replace the old ones).
/// </summary>
internal sealed class MaintenanceActuator(SqlTargets targets) : IActuator
{
    private static readonly TimeSpan CatalogTimeout = TimeSpan.FromSeconds(10);

    public IReadOnlyCollection<string> Kinds { get; } = [SqlActions.Analyze, SqlActions.Vacuum];

    public async Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var p = Params.From(action);
        var target = await targets.ResolveAsync(action, requirePrimary: true, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return PrecheckResult.Fail("primary", target.Problem ?? "no primary");
        }

        try
        {
            await using var connection = await targets.OpenAsync(target, p.Database, cancellationToken).ConfigureAwait(false);
            if (p.Table is null)
            {
                return PrecheckResult.Pass("target", $"every table of {p.Database} on {target.Member.Name}");
            }

            var oid = await TableOidAsync(connection, p, cancellationToken).ConfigureAwait(false);
            return oid is null
                ? PrecheckResult.Fail("table-exists", $"no table {p.Schema}.{p.Table} in {p.Database}")
                : PrecheckResult.Pass("table-exists", $"{p.Schema}.{p.Table} in {p.Database} on {target.Member.Name}");
        }
        catch (Exception ex) when (SqlTargets.IsExpected(ex))
        {
            return PrecheckResult.Fail("connect", $"{targets.Describe(target, p.Database)}: {SqlTargets.Describe(ex)}");
        }
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var p = Params.From(action);
        var target = await targets.ResolveAsync(action, requirePrimary: true, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return ExecuteResult.Failed("not run: " + target.Problem);
        }

        await using var connection = await targets.OpenAsync(target, p.Database, cancellationToken).ConfigureAwait(false);
        var startedAt = await SqlConnector.ScalarAsync<DateTime>(connection, "select now()", [], CatalogTimeout, cancellationToken).ConfigureAwait(false);
        var sql = Statement(action.Kind, p);
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["member"] = target.Member.Name,
            ["statement"] = sql,
            ["server_started_at"] = startedAt.ToString("O", CultureInfo.InvariantCulture),
        };
        try
        {
            await SqlConnector.ExecuteAsync(connection, sql, [], p.Timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex)
        {
            return ExecuteResult.Failed($"{sql} failed: {ex.SqlState}: {ex.MessageText}") with { Details = details };
        }

        return ExecuteResult.Ok($"{sql} finished", sql) with { Details = details };
    }

    public async Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(execution);
        var since = DateTime.TryParse(execution.Details.GetValueOrDefault("server_started_at"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var t)
            ? t : (DateTime?)null;
        var (done, detail) = await CheckAsync(action, since, cancellationToken).ConfigureAwait(false);
        return done ? VerifyResult.Verified(detail) : VerifyResult.Pending(detail);
    }

    public async Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (!DateTimeOffset.TryParse(action.Parameter(SqlActions.PlannedAt), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var planned))
        {
            return new ReconcileResult(ReconcileStatus.Unknown, "the action does not say when it was planned");
        }

        try
        {
            var (done, detail) = await CheckAsync(action, planned.UtcDateTime, cancellationToken).ConfigureAwait(false);
            return new ReconcileResult(done ? ReconcileStatus.Happened : ReconcileStatus.NotHappened, detail);
        }
        catch (Exception ex) when (SqlTargets.IsExpected(ex))
        {
            return new ReconcileResult(ReconcileStatus.Unknown, SqlTargets.Describe(ex));
        }
    }

    /// <summary>The statement: fixed keywords and quoted names only.</summary>
    public static string Statement(string kind, string? schema, string? table, bool analyze, bool freeze)
    {
        var target = table is null ? "" : " " + SqlIdentifier.Qualified(schema ?? "public", table);
        if (kind == SqlActions.Analyze)
        {
            return "ANALYZE" + target;
        }

        var options = new[] { analyze ? "ANALYZE" : null, freeze ? "FREEZE" : null }.OfType<string>().ToList();
        return "VACUUM" + (options.Count > 0 ? $" ({string.Join(", ", options)})" : "") + target;
    }

    private static string Statement(string kind, Params p) => Statement(kind, p.Schema, p.Table, p.Analyze, p.Freeze);

    private async Task<(bool Done, string Detail)> CheckAsync(PlannedAction action, DateTime? since, CancellationToken cancellationToken)
    {
        var p = Params.From(action);
        var target = await targets.ResolveAsync(action, requirePrimary: true, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return (false, target.Problem ?? "no primary");
        }

        await using var connection = await targets.OpenAsync(target, p.Database, cancellationToken).ConfigureAwait(false);
        var column = action.Kind == SqlActions.Analyze ? "greatest(last_analyze, last_autoanalyze)" : "greatest(last_vacuum, last_autovacuum)";

        if (p.Table is null)
        {
            var rows = await SqlConnector.RowsAsync(connection,
                $"select count(*)::int8 as total, count(*) filter (where {column} >= $1::timestamptz)::int8 as done from pg_stat_user_tables",
                [since ?? DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc)], CatalogTimeout, cancellationToken).ConfigureAwait(false);
            var total = (long)rows[0]["total"]!;
            var done = (long)rows[0]["done"]!;
            return (total == 0 || done > 0, $"{done.ToString(CultureInfo.InvariantCulture)} of {total.ToString(CultureInfo.InvariantCulture)} tables of {p.Database} analyzed since {since:O}");
        }

        var last = await SqlConnector.ScalarAsync<DateTime?>(connection,
            $"select {column} from pg_stat_all_tables where schemaname = $1::text and relname = $2::text",
            [p.Schema, p.Table], CatalogTimeout, cancellationToken).ConfigureAwait(false);
        var what = action.Kind == SqlActions.Analyze ? "analyzed" : "vacuumed";
        return last is { } at && (since is null || at >= since)
            ? (true, $"{p.Schema}.{p.Table} last {what} at {at:O} on {target.Member.Name}")
            : (false, $"{p.Schema}.{p.Table} last {what} at {(last is { } l ? l.ToString("O", CultureInfo.InvariantCulture) : "never")}, not since {since:O}");
    }

    private static async Task<long?> TableOidAsync(NpgsqlConnection connection, Params p, CancellationToken cancellationToken) =>
        await SqlConnector.ScalarAsync<long?>(connection,
            "select c.oid::int8 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1::text and c.relname = $2::text and c.relkind in ('r', 'm', 'p')",
            [p.Schema, p.Table], CatalogTimeout, cancellationToken).ConfigureAwait(false);

    private sealed record Params(string Database, string Schema, string? Table, bool Analyze, bool Freeze, TimeSpan Timeout)
    {
        public static Params From(PlannedAction action)
        {
            var database = action.Parameter(SqlActions.Database) ?? throw new InputException($"{action.Kind} needs the parameter 'database'");
            SqlActions.Check(database, "database");
            var schema = action.Parameter(SqlActions.Schema) ?? "public";
            var table = action.Parameter(SqlActions.Table);
            SqlActions.Check(schema, "schema");
            if (table is not null)
            {
                SqlActions.Check(table, "table");
            }

            var timeout = double.TryParse(action.Parameter(SqlActions.TimeoutSeconds), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0
                ? TimeSpan.FromSeconds(s)
                : TimeSpan.FromMinutes(30);
            return new Params(database, schema, table, action.Parameter(SqlActions.WithAnalyze) == "true", action.Parameter(SqlActions.Freeze) == "true", timeout);
        }
    }
}
