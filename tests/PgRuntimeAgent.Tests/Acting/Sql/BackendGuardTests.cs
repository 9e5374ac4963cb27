using PgRuntimeAgent.Acting.Sql;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Tests.Acting.Sql;

/// <summary>Which sessions sql.cancel_backend / sql.terminate_backend may signal, decided without a server.</summary>
public sealed class BackendGuardTests : IDisposable
{
    private static readonly DateTime Start = new(2026, 11, 22, 21, 5, 0, DateTimeKind.Utc);
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-guard-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static BackendSession Session(string? user = "dbuser_meta", string? app = "pgra-lab-lock-pileup", string state = "idle in transaction",
        string type = "client backend", bool superuser = false) =>
        new(4242, user, "meta", app, state, type, superuser, Start, null);

    private static string[] Refusals(BackendSession session, SqlSessionRules? rules = null, string kind = SqlActions.TerminateBackend, DateTimeOffset? start = null) =>
        [.. BackendGuard.Check(kind, session, start ?? Start, rules ?? new SqlSessionRules()).Where(c => !c.Passed).Select(c => c.Name)];

    private static SqlSessionRules Rules(Dictionary<string, SessionRule>? users = null, Dictionary<string, SessionRule>? apps = null) =>
        new() { Users = users ?? new Dictionary<string, SessionRule>(), Applications = apps ?? new Dictionary<string, SessionRule>() };

    [Fact]
    public void Check_IdleClientSessionOfAnApplication_Passes()
    {
        Assert.Empty(Refusals(Session()));
    }

    [Fact]
    public void Check_SuperusersSession_IsRefused()
    {
        Assert.Equal(["not-superuser"], Refusals(Session(user: "dbuser_dba", superuser: true)));
    }

    [Fact]
    public void Check_ReplicationConnection_IsRefusedAsReplication()
    {
        var checks = BackendGuard.Check(SqlActions.TerminateBackend, Session(user: "replicator", app: "pg-test-2", state: "active", type: "walsender"), Start, new SqlSessionRules());

        var refused = Assert.Single(checks, c => !c.Passed);
        Assert.Equal("not-replication", refused.Name);
        Assert.Contains("replication connection (walsender of 'pg-test-2')", refused.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_BackgroundProcess_IsRefused()
    {
        Assert.Equal(["client-session"], Refusals(Session(app: "", state: "active", type: "autovacuum worker")));
    }

    [Theory]
    [InlineData("pgra")]
    [InlineData("pgra-act")]
    [InlineData("pgra-journal")]
    [InlineData("pgra-advise")]
    public void Check_PgrasOwnSession_IsRefused(string app)
    {
        Assert.Equal(["not-pgra"], Refusals(Session(app: app)));
    }

    [Theory]
    [InlineData("pgra-lab-lock-pileup")]
    [InlineData("pgrammar")]
    public void Check_OtherApplicationsStartingWithPgra_AreNotPgrasOwn(string app)
    {
        Assert.False(BackendGuard.IsOwn(app));
        Assert.Empty(Refusals(Session(app: app)));
    }

    [Fact]
    public void Check_PidReusedByAnotherSession_IsRefused()
    {
        Assert.Equal(["same-session"], Refusals(Session(), start: new DateTimeOffset(Start.AddSeconds(3))));
        Assert.Empty(Refusals(Session(), start: DateTimeOffset.Parse("2026-11-22T21:05:00.0000000Z", System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void Check_CancelOfAnIdleSession_IsRefusedButTerminateIsNot()
    {
        Assert.Equal(["running-query"], Refusals(Session(), kind: SqlActions.CancelBackend));
        Assert.Empty(Refusals(Session(state: "active"), kind: SqlActions.CancelBackend));
    }

    [Fact]
    public void Check_DeniedUser_IsRefusedWithTheEntryThatDeniesIt()
    {
        var rules = Rules(users: new() { ["dbuser_*"] = SessionRule.Deny });

        var refused = Assert.Single(BackendGuard.Check(SqlActions.TerminateBackend, Session(), Start, rules), c => !c.Passed);

        Assert.Equal("session-rules", refused.Name);
        Assert.Equal("pid 4242: user 'dbuser_meta' is denied by policy.sql_sessions (dbuser_*: deny)", refused.Detail);
    }

    [Fact]
    public void Check_ApplicationAllowList_RefusesAnythingElse()
    {
        var rules = Rules(apps: new() { ["pgra-lab-*"] = SessionRule.Allow, ["app-web"] = SessionRule.Allow });

        Assert.Empty(Refusals(Session(), rules));
        Assert.Empty(Refusals(Session(app: "app-web"), rules));
        Assert.Equal(["session-rules"], Refusals(Session(app: "app-web-2"), rules));
        Assert.Equal(["session-rules"], Refusals(Session(app: null), rules));
    }

    [Fact]
    public void Check_DenyWinsOverAllow()
    {
        var rules = Rules(apps: new() { ["pgra-lab-*"] = SessionRule.Allow, ["pgra-lab-lock-*"] = SessionRule.Deny });

        Assert.Equal(["session-rules"], Refusals(Session(), rules));
        Assert.Empty(Refusals(Session(app: "pgra-lab-long-transaction"), rules));
    }

    [Theory]
    [InlineData("app-*", "app-web", true)]
    [InlineData("app-*", "app-", true)]
    [InlineData("app-*", "ap", false)]
    [InlineData("*-worker", "billing-worker", true)]
    [InlineData("a*b*c", "aXbYc", true)]
    [InlineData("a*b*c", "acb", false)]
    [InlineData("a*a", "a", false)]
    [InlineData("*", "", true)]
    [InlineData("exact", "exactly", false)]
    public void Matches_Globs(string pattern, string value, bool expected)
    {
        Assert.Equal(expected, SqlSessionRules.Matches(pattern, value));
    }

    [Fact]
    public void Settings_SqlSessions_BindFromThePolicySection()
    {
        var path = Path.Combine(_dir, "pgra.yml");
        File.WriteAllText(path, """
            policy:
              sql_sessions:
                users: { dbuser_dba: deny }
                applications: { "app-*": allow }
            """);

        var result = SettingsLoader.TryLoad(path, Path.Combine(_dir, "lab.yml"), new SecretStore(), new Dictionary<string, string?>(), _dir);

        Assert.Empty(result.Problems);
        Assert.Equal(SessionRule.Deny, result.Settings.Policy.SqlSessions.Users["dbuser_dba"]);
        Assert.Equal(SessionRule.Allow, result.Settings.Policy.SqlSessions.Applications["app-*"]);
    }

    [Fact]
    public void Settings_SqlSessions_ReportsAWrongRuleAndARegexPatternAtTheirLines()
    {
        var path = Path.Combine(_dir, "pgra.yml");
        File.WriteAllText(path, """
            policy:
              sql_sessions:
                users: { dbuser_dba: refuse }
                applications: { "app-.*": allow }
            """);

        var result = SettingsLoader.TryLoad(path, Path.Combine(_dir, "lab.yml"), new SecretStore(), new Dictionary<string, string?>(), _dir);

        Assert.Equal(2, result.Problems.Count);
        var rule = result.Problems.Single(p => p.Line == 3);
        Assert.Equal("unknown value 'refuse' for policy.sql_sessions.users.dbuser_dba", rule.Message);
        Assert.Equal("use one of: allow, deny", rule.Hint);
        var pattern = result.Problems.Single(p => p.Line == 4);
        Assert.Equal("'app-.*' looks like a regular expression; only * is a wildcard here", pattern.Message);
    }
}
