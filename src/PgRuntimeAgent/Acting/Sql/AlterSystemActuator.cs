using Npgsql;

namespace PgRuntimeAgent.Acting.Sql;

/// <summary>
/// <c>sql.alter_system</c>: ALTER SYSTEM SET name TO value (or RESET name) on one member, then pg_reload_conf(). The
/// statement is composed by the server (<c>format('ALTER SYSTEM SET %I TO %L', name, value)</c>), so neither the
/// name nor the value is ever pasted into SQL. Execution records what postgresql.auto.conf held: the undo sets that
/// value again, or RESETs a name that had no line there. Verified when postgresql.auto.conf holds the value and the
/// member runs with it (or reports a pending restart). In a Patroni cluster, patroni.config is the cluster-wide
/// way; ALTER SYSTEM changes one member and overrides Patroni's value there.
/// </summary>
internal sealed class AlterSystemActuator(SqlTargets targets) : IActuator
{
    private static readonly TimeSpan CatalogTimeout = TimeSpan.FromSeconds(10);

    public IReadOnlyCollection<string> Kinds { get; } = [SqlActions.AlterSystem];

    public async Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var (name, value, database) = Params(action);
        var target = await targets.ResolveAsync(action, requirePrimary: false, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return PrecheckResult.Fail("member", target.Problem ?? "no member");
        }

        try
        {
            await using var connection = await targets.OpenAsync(target, database, cancellationToken).ConfigureAwait(false);
            var checks = new List<CheckResult>();
            var live = await SqlSettings.ReadAsync(connection, [name], cancellationToken).ConfigureAwait(false);
            if (!live.TryGetValue(name, out var setting))
            {
                return PrecheckResult.Fail("parameter", $"{target.Member.Name} knows no parameter '{name}'");
            }

            checks.Add(setting.Context == "internal"
                ? new CheckResult("parameter", false, $"{name} cannot be changed (context internal)")
                : new CheckResult("parameter", true, $"{name} is {setting.Describe()} (context {setting.Context}{(setting.Context == "postmaster" ? ": takes effect after a restart" : "")})"));
            var allowed = await SqlConnector.ScalarAsync<bool>(connection,
                connection.PostgreSqlVersion.Major >= 15
                    ? "select (select rolsuper from pg_roles where rolname = current_user) or has_parameter_privilege($1::text, 'ALTER SYSTEM')"
                    : "select rolsuper from pg_roles where rolname = current_user",
                connection.PostgreSqlVersion.Major >= 15 ? [name] : [], CatalogTimeout, cancellationToken).ConfigureAwait(false);
            checks.Add(new CheckResult("privilege", allowed, allowed ? "the admin user may ALTER SYSTEM" : "the admin user may not ALTER SYSTEM this parameter"));
            checks.Add(new CheckResult("scope", true, $"changes {target.Member.Name} only (postgresql.auto.conf overrides Patroni's value there; patroni.config changes every member)"));
            return new PrecheckResult(checks);
        }
        catch (Exception ex) when (SqlTargets.IsExpected(ex))
        {
            return PrecheckResult.Fail("connect", $"{targets.Describe(target, database)}: {SqlTargets.Describe(ex)}");
        }
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var (name, value, database) = Params(action);
        var target = await targets.ResolveAsync(action, requirePrimary: false, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return ExecuteResult.Failed("not run: " + target.Problem);
        }

        await using var connection = await targets.OpenAsync(target, database, cancellationToken).ConfigureAwait(false);
        var previous = await SqlSettings.AutoConfValueAsync(connection, name, cancellationToken).ConfigureAwait(false);
        var sql = await ComposeAsync(connection, name, value, cancellationToken).ConfigureAwait(false);
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["member"] = target.Member.Name,
            ["statement"] = sql,
            ["previous_auto_conf"] = previous ?? "(none)",
        };
        try
        {
            await SqlConnector.ExecuteAsync(connection, sql, [], CatalogTimeout, cancellationToken).ConfigureAwait(false);
            await SqlConnector.ExecuteAsync(connection, "select pg_reload_conf()", [], CatalogTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex)
        {
            return ExecuteResult.Failed($"{sql} failed: {ex.SqlState}: {ex.MessageText}") with { Details = details };
        }

        var undo = SqlActions.PlanAlterSystem(action.Cluster, target.Member.Name, name, previous, database, action.Trigger) with { Id = "" };
        return new ExecuteResult
        {
            Succeeded = true,
            Message = $"{sql}; configuration reloaded on {target.Member.Name}",
            Output = sql,
            Details = details,
            Undo = undo,
        };
    }

    public async Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(execution);
        var (name, value, database) = Params(action);
        var target = await targets.ResolveAsync(action, requirePrimary: false, cancellationToken, execution.Details.GetValueOrDefault("member")).ConfigureAwait(false);
        if (target.Member is null)
        {
            return VerifyResult.Pending(target.Problem ?? "no member");
        }

        await using var connection = await targets.OpenAsync(target, database, cancellationToken).ConfigureAwait(false);
        var (ok, detail) = await ObserveAsync(connection, name, value, cancellationToken).ConfigureAwait(false);
        return ok ? VerifyResult.Verified($"{target.Member.Name}: {detail}") : VerifyResult.Pending($"{target.Member.Name}: {detail}");
    }

    public async Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var (name, value, database) = Params(action);
        var target = await targets.ResolveAsync(action, requirePrimary: false, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return new ReconcileResult(ReconcileStatus.Unknown, target.Problem ?? "no member");
        }

        try
        {
            await using var connection = await targets.OpenAsync(target, database, cancellationToken).ConfigureAwait(false);
            var inFile = await SqlSettings.AutoConfValueAsync(connection, name, cancellationToken).ConfigureAwait(false);
            return string.Equals(inFile, value, StringComparison.Ordinal)
                ? new ReconcileResult(ReconcileStatus.Happened, $"postgresql.auto.conf on {target.Member.Name} holds {name} = {inFile ?? "(no line)"}; the previous value was not recorded, so there is no undo")
                : new ReconcileResult(ReconcileStatus.NotHappened, $"postgresql.auto.conf on {target.Member.Name} holds {name} = {inFile ?? "(no line)"}");
        }
        catch (Exception ex) when (SqlTargets.IsExpected(ex))
        {
            return new ReconcileResult(ReconcileStatus.Unknown, SqlTargets.Describe(ex));
        }
    }

    /// <summary>The statement, composed by the server from the name and value as bind parameters.</summary>
    public static async Task<string> ComposeAsync(NpgsqlConnection connection, string name, string? value, CancellationToken cancellationToken) =>
        (value is null
            ? await SqlConnector.ScalarAsync<string>(connection, "select format('ALTER SYSTEM RESET %I', $1::text)", [name], CatalogTimeout, cancellationToken).ConfigureAwait(false)
            : await SqlConnector.ScalarAsync<string>(connection, "select format('ALTER SYSTEM SET %I TO %L', $1::text, $2::text)", [name, value], CatalogTimeout, cancellationToken).ConfigureAwait(false))!;

    private static async Task<(bool Ok, string Detail)> ObserveAsync(NpgsqlConnection connection, string name, string? value, CancellationToken cancellationToken)
    {
        var inFile = await SqlSettings.AutoConfValueAsync(connection, name, cancellationToken).ConfigureAwait(false);
        var live = await SqlSettings.ReadAsync(connection, [name], cancellationToken).ConfigureAwait(false);
        var setting = live.GetValueOrDefault(name);
        var running = setting is null ? "unknown" : setting.Describe();
        if (!string.Equals(inFile, value, StringComparison.Ordinal))
        {
            return (false, $"postgresql.auto.conf holds {name} = {inFile ?? "(no line)"}, expected {value ?? "(no line)"}");
        }

        if (value is null)
        {
            return (true, $"{name} has no line in postgresql.auto.conf; it runs with {running}");
        }

        if (setting is not null && GucValue.Matches(setting, value))
        {
            return (true, $"{name} = {value} in postgresql.auto.conf and in effect ({running})");
        }

        return setting?.PendingRestart == true
            ? (true, $"{name} = {value} in postgresql.auto.conf; takes effect after a restart (now {running})")
            : (false, $"{name} = {value} in postgresql.auto.conf, but the server still runs with {running}");
    }

    private static (string Name, string? Value, string? Database) Params(PlannedAction action)
    {
        var name = action.Parameter(SqlActions.Name) ?? throw new InputException("sql.alter_system needs the parameter 'name'");
        SqlActions.Check(name, "parameter name");
        var reset = action.Parameter(SqlActions.Reset) == "true";
        var value = reset ? null : action.Parameter(SqlActions.Value) ?? throw new InputException("sql.alter_system needs 'value' (or reset=true)");
        return (name.ToLowerInvariant(), value, action.Parameter(SqlActions.Database));
    }
}
