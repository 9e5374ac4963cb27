using System.Globalization;

namespace PgRuntimeAgent.Acting.Sql;

/// <summary>A backend as pg_stat_activity (joined to pg_roles for <see cref="Superuser"/>) shows it.</summary>
internal sealed record BackendSession(int Pid, string? User, string? Database, string? Application, string? State, string BackendType, bool Superuser,
    DateTime BackendStart, DateTime? QueryStart)
{
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"pid {Pid} {BackendType}, user {User ?? "-"}{(Superuser ? " (superuser)" : "")}, database {Database ?? "-"}, application '{Application ?? ""}', {State ?? "no state"}, session since {BackendStart:O}");
}

/// <summary>
/// The decision of <c>sql.cancel_backend</c> / <c>sql.terminate_backend</c>'s precheck, apart from the server: which
/// sessions may be signalled. Refused always: anything but a client session (a replication connection, a background
/// process), a superuser's session (an operator's or the DBA tooling's: Patroni, pg_rewind, backups run as one), pgra's
/// own, another session reusing the pid; then whatever <see cref="SqlSessionRules"/> denies. A cancel also needs a
/// running query. Pure.
/// </summary>
internal static class BackendGuard
{
    public static IReadOnlyList<CheckResult> Check(string kind, BackendSession backend, DateTimeOffset? expectedStart, SqlSessionRules rules)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(rules);
        var pid = backend.Pid.ToString(CultureInfo.InvariantCulture);
        var checks = new List<CheckResult> { new("backend-exists", true, backend.Describe()) };
        if (backend.BackendType == "walsender")
        {
            checks.Add(new CheckResult("not-replication", false,
                $"pid {pid} is a replication connection (walsender of '{backend.Application ?? ""}'): ending it cuts a replica or a backup off"));
        }
        else if (backend.BackendType != "client backend")
        {
            checks.Add(new CheckResult("client-session", false, $"pid {pid} is a {backend.BackendType}: only client sessions are cancelled or terminated"));
        }

        if (backend.Superuser)
        {
            checks.Add(new CheckResult("not-superuser", false,
                $"pid {pid} is a superuser's session (user {backend.User ?? "-"}): an operator's or the HA tooling's, never signalled by pgra"));
        }

        if (IsOwn(backend.Application))
        {
            checks.Add(new CheckResult("not-pgra", false, $"pid {pid} is pgra's own session ({backend.Application})"));
        }

        if (rules.Refusal(backend.User, backend.Application) is { } refused)
        {
            checks.Add(new CheckResult("session-rules", false, $"pid {pid}: {refused}"));
        }

        if (expectedStart is { } start && !SameInstant(start, backend.BackendStart))
        {
            checks.Add(new CheckResult("same-session", false,
                string.Create(CultureInfo.InvariantCulture, $"pid {pid} now belongs to a session started at {backend.BackendStart:O}, not {start:O}")));
        }

        if (kind == SqlActions.CancelBackend && backend.State != "active")
        {
            checks.Add(new CheckResult("running-query", false, $"pid {pid} is {backend.State ?? "idle"}: there is no query to cancel"));
        }

        return checks;
    }

    /// <summary>The application names pgra's own sessions carry: the Postgres sensor, the SQL actuators, the journal.</summary>
    public static IReadOnlyList<string> OwnApplications { get; } = ["pgra", SqlConnector.ApplicationName, "pgra-journal", Sensing.Postgres.IndexAdvisorCache.ApplicationName];

    /// <summary>
    /// A session of pgra itself: one of <see cref="OwnApplications"/>, with or without a suffix after a space or a
    /// slash. Other <c>pgra-*</c> names belong to the lab's tooling (<c>pgra-lab-lock-pileup</c> is a fault the lab
    /// injects for the agent to find and end), not to the agent.
    /// </summary>
    public static bool IsOwn(string? application) => application is not null
        && OwnApplications.Any(own => application == own || application.StartsWith(own + " ", StringComparison.Ordinal) || application.StartsWith(own + "/", StringComparison.Ordinal));

    /// <summary>The same instant to the millisecond (backend_start round-trips through ISO 8601 text).</summary>
    public static bool SameInstant(DateTimeOffset a, DateTime b) => Math.Abs((a.UtcDateTime - b.ToUniversalTime()).TotalMilliseconds) < 1;
}
