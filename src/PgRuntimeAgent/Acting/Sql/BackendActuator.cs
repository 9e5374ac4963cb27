using System.Globalization;
using Npgsql;

namespace PgRuntimeAgent.Acting.Sql;

/// <summary>
/// <c>sql.cancel_backend</c> (pg_cancel_backend: the running query stops, the session stays) and
/// <c>sql.terminate_backend</c> (pg_terminate_backend: the session and its open transaction end; irreversible). Only
/// client sessions, never pgra's own, a superuser's or a replication/background process, and none that
/// <c>policy.sql_sessions</c> denies (<see cref="BackendGuard"/> decides). The backend is identified by pid and
/// backend_start together, so a pid reused by a new session is never hit. Verification watches pg_stat_activity.
/// </summary>
internal sealed class BackendActuator(SqlTargets targets, SqlSessionRules rules) : IActuator
{
    private static readonly TimeSpan CatalogTimeout = TimeSpan.FromSeconds(10);

    public IReadOnlyCollection<string> Kinds { get; } = [SqlActions.CancelBackend, SqlActions.TerminateBackend];

    public async Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var pid = Pid(action);
        var target = await targets.ResolveAsync(action, requirePrimary: false, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return PrecheckResult.Fail("member", target.Problem ?? "no member");
        }

        try
        {
            await using var connection = await targets.OpenAsync(target, null, cancellationToken).ConfigureAwait(false);
            var backend = await FindAsync(connection, pid, cancellationToken).ConfigureAwait(false);
            if (backend is null)
            {
                return PrecheckResult.Fail("backend-exists", $"no backend with pid {pid.ToString(CultureInfo.InvariantCulture)} on {target.Member.Name}");
            }

            return new PrecheckResult(BackendGuard.Check(action.Kind, backend, StartOf(action), rules));
        }
        catch (Exception ex) when (SqlTargets.IsExpected(ex))
        {
            return PrecheckResult.Fail("connect", $"{targets.Describe(target, null)}: {SqlTargets.Describe(ex)}");
        }
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var pid = Pid(action);
        var target = await targets.ResolveAsync(action, requirePrimary: false, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return ExecuteResult.Failed("not run: " + target.Problem);
        }

        await using var connection = await targets.OpenAsync(target, null, cancellationToken).ConfigureAwait(false);
        var backend = await FindAsync(connection, pid, cancellationToken).ConfigureAwait(false);
        if (backend is null || (StartOf(action) is { } start && !SameInstant(start, backend.BackendStart)))
        {
            return ExecuteResult.Failed($"backend {pid.ToString(CultureInfo.InvariantCulture)} is gone (or is another session now): nothing sent");
        }

        // Checked again at the moment of sending: the session may have changed role or application since the precheck.
        if (BackendGuard.Check(action.Kind, backend, StartOf(action), rules).Where(c => !c.Passed).Select(c => c.Detail).FirstOrDefault() is { } refused)
        {
            return ExecuteResult.Failed("nothing sent: " + refused);
        }

        var function = action.Kind == SqlActions.TerminateBackend ? "pg_terminate_backend" : "pg_cancel_backend";
        var signalled = await SqlConnector.ScalarAsync<bool?>(connection,
            $"select {function}(pid) from pg_stat_activity where pid = $1::int and backend_start = $2::timestamptz",
            [pid, backend.BackendStart], CatalogTimeout, cancellationToken).ConfigureAwait(false);
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["member"] = target.Member.Name,
            ["pid"] = pid.ToString(CultureInfo.InvariantCulture),
            ["backend_start"] = backend.BackendStart.ToString("O", CultureInfo.InvariantCulture),
            ["query_start"] = backend.QueryStart?.ToString("O", CultureInfo.InvariantCulture) ?? "",
            ["session"] = backend.Describe(),
        };
        return signalled == true
            ? ExecuteResult.Ok($"{function}({pid.ToString(CultureInfo.InvariantCulture)}) returned true", backend.Describe()) with { Details = details }
            : ExecuteResult.Failed($"{function}({pid.ToString(CultureInfo.InvariantCulture)}) returned {(signalled is null ? "no row (the session ended)" : "false")}") with { Details = details };
    }

    public async Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(execution);
        var pid = Pid(action);
        var target = await targets.ResolveAsync(action, requirePrimary: false, cancellationToken, execution.Details.GetValueOrDefault("member")).ConfigureAwait(false);
        if (target.Member is null)
        {
            return VerifyResult.Pending(target.Problem ?? "no member");
        }

        await using var connection = await targets.OpenAsync(target, null, cancellationToken).ConfigureAwait(false);
        var backend = await FindAsync(connection, pid, cancellationToken).ConfigureAwait(false);
        var sameSession = backend is not null && DateTimeOffset.TryParse(execution.Details.GetValueOrDefault("backend_start"), CultureInfo.InvariantCulture,
            DateTimeStyles.RoundtripKind, out var start) && SameInstant(start, backend.BackendStart);
        if (!sameSession)
        {
            return VerifyResult.Verified($"session {pid.ToString(CultureInfo.InvariantCulture)} is gone from pg_stat_activity on {target.Member.Name}");
        }

        if (action.Kind == SqlActions.TerminateBackend)
        {
            return VerifyResult.Pending($"session {pid.ToString(CultureInfo.InvariantCulture)} is still there ({backend!.State})");
        }

        var queryBefore = execution.Details.GetValueOrDefault("query_start");
        var queryNow = backend!.QueryStart?.ToString("O", CultureInfo.InvariantCulture) ?? "";
        return backend.State != "active" || !string.Equals(queryBefore, queryNow, StringComparison.Ordinal)
            ? VerifyResult.Verified($"the query of {pid.ToString(CultureInfo.InvariantCulture)} stopped; the session is {backend.State}")
            : VerifyResult.Pending($"{pid.ToString(CultureInfo.InvariantCulture)} still runs the query started at {queryNow}");
    }

    public async Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (action.Kind == SqlActions.CancelBackend)
        {
            return new ReconcileResult(ReconcileStatus.Unknown, "a cancelled query leaves no trace to tell whether the cancel ran");
        }

        var pid = Pid(action);
        var target = await targets.ResolveAsync(action, requirePrimary: false, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return new ReconcileResult(ReconcileStatus.Unknown, target.Problem ?? "no member");
        }

        try
        {
            await using var connection = await targets.OpenAsync(target, null, cancellationToken).ConfigureAwait(false);
            var backend = await FindAsync(connection, pid, cancellationToken).ConfigureAwait(false);
            var start = StartOf(action);
            return backend is null || (start is not null && !SameInstant(start.Value, backend.BackendStart))
                ? new ReconcileResult(ReconcileStatus.Happened, $"session {pid.ToString(CultureInfo.InvariantCulture)} is gone")
                : new ReconcileResult(ReconcileStatus.NotHappened, $"session {pid.ToString(CultureInfo.InvariantCulture)} is still there ({backend.Describe()})");
        }
        catch (Exception ex) when (SqlTargets.IsExpected(ex))
        {
            return new ReconcileResult(ReconcileStatus.Unknown, SqlTargets.Describe(ex));
        }
    }

    private static int Pid(PlannedAction action) =>
        int.TryParse(action.Parameter(SqlActions.Pid), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0
            ? pid
            : throw new InputException($"{action.Kind} needs a positive 'pid' parameter (got '{action.Parameter(SqlActions.Pid) ?? "none"}')");

    private static DateTimeOffset? StartOf(PlannedAction action) =>
        DateTimeOffset.TryParse(action.Parameter(SqlActions.BackendStart), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var s) ? s : null;

    private static bool SameInstant(DateTimeOffset a, DateTime b) => BackendGuard.SameInstant(a, b);

    private static async Task<BackendSession?> FindAsync(NpgsqlConnection connection, int pid, CancellationToken cancellationToken)
    {
        var rows = await SqlConnector.RowsAsync(connection,
            "select a.pid, a.usename::text as usename, a.datname::text as datname, a.application_name, a.state, a.backend_type, a.backend_start, a.query_start, "
            + "coalesce((select r.rolsuper from pg_roles r where r.oid = a.usesysid), false) as rolsuper from pg_stat_activity a where a.pid = $1::int",
            [pid], CatalogTimeout, cancellationToken).ConfigureAwait(false);
        if (rows.Count == 0 || rows[0]["backend_start"] is not DateTime start)
        {
            return null;
        }

        var r = rows[0];
        return new BackendSession(pid, r["usename"] as string, r["datname"] as string, r["application_name"] as string, r["state"] as string,
            r["backend_type"] as string ?? "?", r["rolsuper"] is true, start, r["query_start"] as DateTime?);
    }
}
