using System.Globalization;
using Npgsql;
using PgRuntimeAgent.Acting.Patroni;

namespace PgRuntimeAgent.Acting.Sql;

/// <summary>A member's last checkpoint as pg_control_checkpoint() reports it.</summary>
internal sealed record CheckpointState(string CheckpointLsn, string RedoLsn, long Timeline, DateTime CheckpointTime, bool InRecovery)
{
    public ulong Lsn => Parse(CheckpointLsn);

    public static ulong Parse(string lsn)
    {
        var slash = lsn.IndexOf('/', StringComparison.Ordinal);
        return slash <= 0 ? 0
            : (ulong.Parse(lsn[..slash], NumberStyles.HexNumber, CultureInfo.InvariantCulture) << 32) | ulong.Parse(lsn[(slash + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }

    /// <summary>True when <paramref name="after"/> is a later checkpoint than this one (its record further in the WAL, or written later).</summary>
    public bool IsOlderThan(CheckpointState after)
    {
        ArgumentNullException.ThrowIfNull(after);
        return after.Lsn > Lsn || after.CheckpointTime > CheckpointTime;
    }

    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"checkpoint at {CheckpointLsn} (redo {RedoLsn}, timeline {Timeline}) written {CheckpointTime:O}");
}

/// <summary>
/// <c>sql.checkpoint</c>: CHECKPOINT on a member (the leader unless one is named; on a replica it is a restartpoint).
/// Verified when pg_control_checkpoint() shows a checkpoint newer than before. Nothing to undo (Reversible=false);
/// it loses nothing (LossBounded), and costs an IO burst, so low risk.
/// </summary>
internal sealed class CheckpointActuator(SqlTargets targets, TimeProvider time) : IActuator
{
    public const string Kind = "sql.checkpoint";

    private static readonly TimeSpan CatalogTimeout = TimeSpan.FromSeconds(10);

    public IReadOnlyCollection<string> Kinds { get; } = [Kind];

    public static PlannedAction Plan(string cluster, string? member, DateTimeOffset plannedAt, string? timeoutSeconds = null, ActionTrigger trigger = ActionTrigger.Operator,
        string? initiator = null, string? reason = null)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { [SqlActions.PlannedAt] = plannedAt.ToString("O", CultureInfo.InvariantCulture) };
        if (timeoutSeconds is not null)
        {
            if (!double.TryParse(timeoutSeconds, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) || s <= 0)
            {
                throw new InputException($"timeout_seconds must be a positive number, got '{timeoutSeconds}'");
            }

            parameters[SqlActions.TimeoutSeconds] = timeoutSeconds;
        }

        return SqlCheckpointAction.Info.Plan(cluster, member, parameters, $"CHECKPOINT on {member ?? "the leader"} of {cluster}", trigger, initiator, reason);
    }

    public async Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var target = await targets.ResolveAsync(action, requirePrimary: false, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return PrecheckResult.Fail("target", target.Problem ?? "no member");
        }

        try
        {
            await using var connection = await targets.OpenAsync(target, null, cancellationToken).ConfigureAwait(false);
            var allowed = await SqlConnector.ScalarAsync<bool>(connection,
                "select case when (select rolsuper from pg_roles where rolname = current_user) then true "
                + "when exists (select 1 from pg_roles where rolname = 'pg_checkpoint') then pg_has_role(current_user, 'pg_checkpoint', 'member') else false end",
                [], CatalogTimeout, cancellationToken).ConfigureAwait(false);
            var state = await ReadAsync(connection, cancellationToken).ConfigureAwait(false);
            return new PrecheckResult(
            [
                new CheckResult("connect", true, $"{targets.Describe(target, null)}: {(state.InRecovery ? "a replica (CHECKPOINT is a restartpoint there)" : "the primary")}, last {state.Describe()}"),
                allowed
                    ? new CheckResult("privilege", true, $"{target.Cluster.Credentials.AdminUsername} may run CHECKPOINT (superuser or pg_checkpoint)")
                    : new CheckResult("privilege", false, $"{target.Cluster.Credentials.AdminUsername} is neither superuser nor a member of pg_checkpoint"),
            ]);
        }
        catch (Exception ex) when (SqlTargets.IsExpected(ex))
        {
            return PrecheckResult.Fail("connect", $"{targets.Describe(target, null)}: {SqlTargets.Describe(ex)}");
        }
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var target = await targets.ResolveAsync(action, requirePrimary: false, cancellationToken).ConfigureAwait(false);
        if (target.Member is null)
        {
            return ExecuteResult.Failed("not run: " + target.Problem);
        }

        await using var connection = await targets.OpenAsync(target, null, cancellationToken).ConfigureAwait(false);
        var before = await ReadAsync(connection, cancellationToken).ConfigureAwait(false);
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["member"] = target.Member.Name,
            ["checkpoint_lsn_before"] = before.CheckpointLsn,
            ["redo_lsn_before"] = before.RedoLsn,
            ["checkpoint_time_before"] = before.CheckpointTime.ToString("O", CultureInfo.InvariantCulture),
            ["in_recovery"] = before.InRecovery ? "true" : "false",
        };
        var started = time.GetTimestamp();
        try
        {
            await SqlConnector.ExecuteAsync(connection, "CHECKPOINT", [], Timeout(action), cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex)
        {
            return ExecuteResult.Failed($"CHECKPOINT on {target.Member.Name} failed: {ex.SqlState}: {ex.MessageText}") with { Details = details };
        }

        details["checkpoint_seconds"] = time.GetElapsedTime(started).TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        return ExecuteResult.Ok($"CHECKPOINT finished on {target.Member.Name}", "CHECKPOINT") with { Details = details };
    }

    public async Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(execution);
        var member = execution.Details.GetValueOrDefault("member");
        var target = await targets.ResolveAsync(action, requirePrimary: false, cancellationToken, member).ConfigureAwait(false);
        if (target.Member is null)
        {
            return VerifyResult.Pending(target.Problem ?? "no member");
        }

        await using var connection = await targets.OpenAsync(target, null, cancellationToken).ConfigureAwait(false);
        var now = await ReadAsync(connection, cancellationToken).ConfigureAwait(false);
        var before = Before(execution.Details);
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["member"] = target.Member.Name,
            ["checkpoint_lsn"] = now.CheckpointLsn,
            ["redo_lsn"] = now.RedoLsn,
            ["checkpoint_time"] = now.CheckpointTime.ToString("O", CultureInfo.InvariantCulture),
            ["checkpoint_lsn_before"] = before?.CheckpointLsn ?? "",
        };
        return (before is null, before is not null && before.IsOlderThan(now), now.InRecovery) switch
        {
            (true, _, _) => VerifyResult.Verified($"{target.Member.Name}: {now.Describe()} (the state before is unknown)") with { Evidence = evidence },
            (_, true, _) => VerifyResult.Verified($"{target.Member.Name}: new {now.Describe()}; before: {before!.CheckpointLsn}") with { Evidence = evidence },

            // A standby only makes a restartpoint at a checkpoint record it replayed since its last one.
            (_, false, true) => VerifyResult.Verified($"{target.Member.Name} is a replica and already at its newest replayed checkpoint ({now.CheckpointLsn}): no restartpoint was due")
                with { Evidence = new Dictionary<string, string>(evidence, StringComparer.Ordinal) { ["restartpoint_skipped"] = "true" } },
            _ => VerifyResult.Pending($"{target.Member.Name}'s last checkpoint is still {now.CheckpointLsn}") with { Evidence = evidence },
        };
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
            var target = await targets.ResolveAsync(action, requirePrimary: false, cancellationToken).ConfigureAwait(false);
            if (target.Member is null)
            {
                return new ReconcileResult(ReconcileStatus.Unknown, target.Problem ?? "no member");
            }

            await using var connection = await targets.OpenAsync(target, null, cancellationToken).ConfigureAwait(false);
            var now = await ReadAsync(connection, cancellationToken).ConfigureAwait(false);

            // pg_control keeps whole seconds: a checkpoint in the second the action was planned counts.
            var since = planned.UtcDateTime.AddTicks(-(planned.UtcDateTime.Ticks % TimeSpan.TicksPerSecond));
            return now.CheckpointTime >= since
                ? new ReconcileResult(ReconcileStatus.Happened, $"{target.Member.Name}: {now.Describe()}, at or after the action was planned ({planned:O})")
                : new ReconcileResult(ReconcileStatus.NotHappened, $"{target.Member.Name}: {now.Describe()}, before the action was planned ({planned:O})");
        }
        catch (Exception ex) when (SqlTargets.IsExpected(ex))
        {
            return new ReconcileResult(ReconcileStatus.Unknown, SqlTargets.Describe(ex));
        }
    }

    /// <summary>The before-state recorded by execution, when complete.</summary>
    public static CheckpointState? Before(IReadOnlyDictionary<string, string> details)
    {
        ArgumentNullException.ThrowIfNull(details);
        return details.TryGetValue("checkpoint_lsn_before", out var lsn)
            && DateTime.TryParse(details.GetValueOrDefault("checkpoint_time_before"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var time)
            ? new CheckpointState(lsn, details.GetValueOrDefault("redo_lsn_before") ?? "", 0, time, details.GetValueOrDefault("in_recovery") == "true")
            : null;
    }

    private static TimeSpan Timeout(PlannedAction action) =>
        double.TryParse(action.Parameter(SqlActions.TimeoutSeconds), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0
            ? TimeSpan.FromSeconds(s)
            : TimeSpan.FromMinutes(10);

    private static async Task<CheckpointState> ReadAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var rows = await SqlConnector.RowsAsync(connection,
            "select checkpoint_lsn::text as lsn, redo_lsn::text as redo, timeline_id::int8 as tl, checkpoint_time, pg_is_in_recovery() as rec from pg_control_checkpoint()",
            [], CatalogTimeout, cancellationToken).ConfigureAwait(false);
        var r = rows[0];
        var time = r["checkpoint_time"] switch
        {
            DateTime dt => dt.ToUniversalTime(),
            DateTimeOffset dto => dto.UtcDateTime,
            _ => DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc),
        };
        return new CheckpointState((string)r["lsn"]!, (string)r["redo"]!, (long)r["tl"]!, time, r["rec"] is true);
    }
}

/// <summary>Registers <c>sql.checkpoint</c>.</summary>
internal sealed class CheckpointActuatorFactory : IActuatorFactory
{
    public IEnumerable<IActuator> Create(ActuatorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        yield return new CheckpointActuator(new SqlTargets(ActionSensing.For(context), new SqlConnector(context.Secrets, context.Sensing.Postgres.Database)), context.Time);
    }
}
