using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Reads;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Tests.Incidents;

namespace PgRuntimeAgent.Tests.Reads;

/// <summary>Each read against loopback fakes: its result, its bound enforced, failures as values, secrets masked.</summary>
public sealed class ReadsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ClusterSnapshot_Sections_KeepsOnlyThoseAndTheIdentity()
    {
        await using var kit = ReadsKit.Start();

        var r = await kit.ReadAsync("cluster.snapshot", null, ("sections", "members,drift"));

        Assert.True((bool)r["ok"]!, r.ToJsonString());
        var result = r["result"]!.AsObject();
        Assert.Equal("pg-test-3", (string?)result["leader"]);
        Assert.Equal(3, result["members"]!.AsArray().Count);
        Assert.NotNull(result["drift"]);
        Assert.False(result.ContainsKey("patroni"));
        Assert.False(result.ContainsKey("logs"));
    }

    [Fact]
    public async Task ClusterSnapshot_UnknownSection_IsInputError()
    {
        await using var kit = ReadsKit.Start();

        var ex = await Assert.ThrowsAsync<InputException>(() => kit.ReadAsync("cluster.snapshot", null, ("sections", "members,everything")));

        Assert.Contains("everything", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClusterMember_Leader_IsItsPartOfTheSnapshot()
    {
        await using var kit = ReadsKit.Start();
        await kit.WriteLogsAsync(80);

        var r = await kit.ReadAsync("cluster.member", "pg-test-3");

        var result = r["result"]!;
        Assert.True((bool)result["is_leader"]!);
        Assert.Equal("pg-test-3", (string?)result["state"]!["name"]);
        Assert.Equal("leader", (string?)result["state"]!["patroni_role"]);
        Assert.Equal("pg-test-3", (string?)result["patroni"]!["member"]);
        var entries = result["logs"]!["entries"]!.AsArray();
        Assert.InRange(entries.Count, 1, ClusterMemberRead.MaxLogEntries);
        Assert.All(entries, e => Assert.Equal("pg-test-3", (string?)e!["member"]));
        Assert.DoesNotContain("Patroni.API.secret", r.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostgresProbe_UnreachableMember_IsAnAnswerWithTheReason()
    {
        await using var kit = ReadsKit.Start();

        var r = await kit.ReadAsync("postgres.probe", "pg-test-2", ("probe", "blocking"));

        Assert.True((bool)r["ok"]!);
        var member = Assert.Single(r["result"]!["members"]!.AsArray())!;
        Assert.Equal("pg-test-2", (string?)member["member"]);
        Assert.Equal(0, (int)member["row_count"]!);
        Assert.False(string.IsNullOrEmpty((string?)member["error"]));
        Assert.Equal(50, (int)r["result"]!["max_rows"]!);
    }

    [Fact]
    public async Task MetricsQuery_ManySeries_CutToMaxSeriesAndMarked()
    {
        await using var kit = ReadsKit.Start();
        kit.SeriesCount = 300;

        var r = await kit.ReadAsync("metrics.query", null, ("query", "pg_up"));

        var result = r["result"]!;
        Assert.Equal("vector", (string?)result["result_type"]);
        Assert.Equal(MetricsQueryRead.DefaultSeries, result["series"]!.AsArray().Count);
        Assert.Equal(300, (int)result["series_total"]!);
        Assert.True((bool)result["truncated"]!);
        Assert.Equal("pg-test-000", (string?)result["series"]![0]!["labels"]!["ins"]);
    }

    [Fact]
    public async Task MetricsQuery_Range_AsksForTheBoundedWindowAndStep()
    {
        await using var kit = ReadsKit.Start();

        var r = await kit.ReadAsync("metrics.query", null, ("query", "rate(pg_xact_commit[1m])"), ("range_minutes", "360"), ("step_seconds", "15"), ("max_series", "2"));

        var result = r["result"]!;
        Assert.Equal("matrix", (string?)result["result_type"]);
        Assert.Equal(2, result["series"]!.AsArray().Count);
        Assert.Equal(2, result["series"]![0]!["samples"]!.AsArray().Count);
        var sent = kit.Metrics.Requests.Single(u => u.AbsolutePath == "/api/v1/query_range");
        var query = System.Web.HttpUtility.ParseQueryString(sent.Query);
        Assert.Equal(6 * 3600, double.Parse(query["end"]!, System.Globalization.CultureInfo.InvariantCulture) - double.Parse(query["start"]!, System.Globalization.CultureInfo.InvariantCulture), 3);
        Assert.Equal("15", query["step"]);
        Assert.Equal(ReadsKit.Now.ToUnixTimeSeconds(), (long)double.Parse(query["end"]!, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task MetricsQuery_AtInTheFuture_IsRefused()
    {
        await using var kit = ReadsKit.Start();

        var ex = await Assert.ThrowsAsync<InputException>(() => kit.ReadAsync("metrics.query", null, ("query", "up"), ("at", ReadsKit.Now.AddHours(2).ToString("O"))));

        Assert.Contains("parameter at", ex.Message, StringComparison.Ordinal);
        Assert.Empty(kit.Metrics.Requests);
    }

    [Fact]
    public async Task MetricsQuery_NoEndpoint_IsAFailedResultNotAnException()
    {
        await using var kit = ReadsKit.Start();
        await using var context = kit.Context(metricsUrl: null);

        var r = await ReadCatalog.RunAsync(context, "metrics.query", new ReadRequest { Cluster = "pg-test", Parameters = new Dictionary<string, string> { ["query"] = "up" } }, Ct);

        Assert.False((bool)r["ok"]!);
        Assert.Contains("no metrics endpoint", (string?)r["error"], StringComparison.Ordinal);
        Assert.Null(r["result"]);
    }

    [Fact]
    public async Task FleetOwner_AgentAlone_SaysSo_AndEtcdUnreachable_IsAFailedResultNamingIt()
    {
        await using var kit = ReadsKit.Start();
        await using var alone = kit.Context();
        await using var fleet = kit.Context(fleet: new PgRuntimeAgent.Fleet.FleetSettings { AgentId = "admin-1" });

        var single = await ReadCatalog.RunAsync(alone, "fleet.owner", new ReadRequest { Cluster = "pg-test" }, Ct);
        var cut = await ReadCatalog.RunAsync(fleet, "fleet.owner", new ReadRequest { Cluster = "pg-test" }, Ct);

        Assert.True((bool)single["ok"]!);
        Assert.False((bool)single["result"]!["fleet"]!);
        Assert.Contains("alone", (string?)single["result"]!["note"], StringComparison.Ordinal);
        Assert.False((bool)cut["ok"]!);
        Assert.Contains("etcd (http://127.0.0.1:", (string?)cut["error"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task LogsSearch_Limit_CapsTheEntriesNewestFirst()
    {
        await using var kit = ReadsKit.Start();
        await kit.WriteLogsAsync(30);

        var r = await kit.ReadAsync("logs.search", "pg-test-1", ("limit", "5"), ("since_minutes", "60"));

        var result = r["result"]!;
        Assert.Equal("files", (string?)result["backend"]);
        var entries = result["entries"]!.AsArray();
        Assert.Equal(5, entries.Count);
        Assert.True((bool)result["truncated"]!);
        Assert.Equal(5, (int)result["limit"]!);
        Assert.Equal("line 0 of pg-test-1", (string?)entries[0]!["message"]);
        Assert.All(entries, e => Assert.Equal("pg-test-1", (string?)e!["member"]));
    }

    [Fact]
    public async Task LogsSearch_WindowAndSeverity_FilterTheEntries()
    {
        await using var kit = ReadsKit.Start();
        await kit.WriteLogsAsync(30);

        var r = await kit.ReadAsync("logs.search", "pg-test-2", ("since_minutes", "12"), ("min_severity", "warning"));

        var entries = r["result"]!["entries"]!.AsArray();
        Assert.Equal(["line 0 of pg-test-2", "line 5 of pg-test-2", "line 10 of pg-test-2"], entries.Select(e => (string?)e!["message"]));
        Assert.All(entries, e => Assert.Equal("warning", (string?)e!["severity"]));
        Assert.False((bool)r["result"]!["truncated"]!);
    }

    [Fact]
    public async Task BackupInfo_Limit_ListsTheNewestBackups()
    {
        await using var kit = ReadsKit.Start();

        var all = await kit.ReadAsync("backup.info");
        var one = await kit.ReadAsync("backup.info", null, ("limit", "1"));

        Assert.True((bool)all["ok"]!, all.ToJsonString());
        Assert.Equal("pg-test", (string?)all["result"]!["stanza"]);
        var count = (int)all["result"]!["backup_count"]!;
        Assert.Equal(count, all["result"]!["backups"]!.AsArray().Count);
        Assert.Single(one["result"]!["backups"]!.AsArray());
        Assert.Equal(count > 1, (bool)one["result"]!["truncated"]!);
        Assert.Equal((string?)all["result"]!["backups"]![0]!["label"], (string?)one["result"]!["backups"]![0]!["label"]);
    }

    [Fact]
    public async Task PatroniHistory_Limit_NewestTimelinesFirst()
    {
        await using var kit = ReadsKit.Start();
        kit.History = """[[1,25165984,"no recovery target specified","2026-11-22T17:58:40.401+00:00","pg-test-2"],[2,50331808,"no recovery target specified","2026-11-22T18:01:02.002+00:00","pg-test-3"],[3,67109024,"no recovery target specified","2026-11-22T18:05:00.000+00:00","pg-test-1"]]""";

        var r = await kit.ReadAsync("patroni.history", null, ("limit", "2"));

        var result = r["result"]!;
        Assert.Equal("pg-test-1", (string?)result["from_member"]); // the declared primary is asked first
        Assert.Equal(3, (int)result["total"]!);
        Assert.True((bool)result["truncated"]!);
        Assert.Equal([3L, 2L], result["entries"]!.AsArray().Select(e => (long)e!["timeline"]!));
        Assert.Equal("pg-test-1", (string?)result["entries"]![0]!["new_leader"]);
    }

    [Fact]
    public async Task PatroniHistory_NamedMemberDown_IsAFailedResult()
    {
        await using var kit = ReadsKit.Start();
        await kit.Patroni[1].DisposeAsync();

        var r = await kit.ReadAsync("patroni.history", "pg-test-2");

        Assert.False((bool)r["ok"]!);
        Assert.Contains("pg-test-2:", (string?)r["error"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task PatroniConfig_TypedViewAndDocument_WithSecretsMasked()
    {
        await using var kit = ReadsKit.Start();
        kit.ConfigExtra = "\"restapi_note\":\"password is Patroni.API.secret\"";

        var r = await kit.ReadAsync("patroni.config", "pg-test-3");

        var result = r["result"]!;
        Assert.Equal("pg-test-3", (string?)result["from_member"]);
        Assert.Equal(10, (int)result["config"]!["loop_wait_seconds"]!);
        Assert.NotNull(result["document"]!["loop_wait"]);
        Assert.DoesNotContain("Patroni.API.secret", r.ToJsonString(), StringComparison.Ordinal);
        Assert.Contains(SecretRef.Mask, (string?)result["document"]!["restapi_note"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task JournalSearch_Limit_NewestOfThisClusterOnly()
    {
        await using var kit = ReadsKit.Start();
        await using (var journal = await SqliteJournal.OpenAsync(kit.JournalPath, new SecretStore(), new FakeTimeProvider(ReadsKit.Now), Ct))
        {
            for (var i = 1; i <= 10; i++)
            {
                await journal.AppendAsync(new JournalRecord { Kind = JournalKinds.Note, Summary = $"note {i}", Cluster = i % 4 == 0 ? "pg-meta" : "pg-test", Payload = new JsonObject { ["n"] = i } }, Ct);
            }
        }

        var r = await kit.ReadAsync("journal.search", null, ("limit", "3"), ("include_payload", "true"));
        var all = await kit.ReadAsync("journal.search");

        var result = r["result"]!;
        Assert.True((bool)result["truncated"]!);
        Assert.Equal(["note 10", "note 9", "note 7"], result["entries"]!.AsArray().Select(e => (string?)e!["summary"]));
        Assert.Equal(10, (int)result["entries"]![0]!["payload"]!["n"]!);
        Assert.Equal(8, (int)all["result"]!["count"]!);
        Assert.False((bool)all["result"]!["truncated"]!);
        Assert.Null(all["result"]!["entries"]![0]!["payload"]);
    }

    [Fact]
    public async Task JournalSearch_NoJournal_IsAFailedResult()
    {
        await using var kit = ReadsKit.Start();

        var r = await kit.ReadAsync("journal.search");

        Assert.False((bool)r["ok"]!);
        Assert.Contains("does not exist", (string?)r["error"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task IncidentsList_AfterAnIncident_ListsIt()
    {
        await using var kit = ReadsKit.Start();
        string id;
        await using (var journal = await SqliteJournal.OpenAsync(kit.JournalPath, new SecretStore(), new FakeTimeProvider(IncidentScenario.T0), Ct))
        {
            (_, id, _) = await IncidentScenario.RunAsync(journal, runSkill: false, Ct);
        }

        var r = await kit.ReadAsync("incidents.list");
        var none = await kit.ReadAsync("incidents.list", null, ("state", "mitigating"), ("limit", "1"));

        var incident = Assert.Single(r["result"]!["incidents"]!.AsArray())!;
        Assert.Equal(id, (string?)incident["id"]);
        Assert.NotEmpty(incident["codes"]!.AsArray());
        Assert.False((bool)r["result"]!["truncated"]!);
        Assert.Equal((string?)incident["state"] == "mitigating" ? 1 : 0, none["result"]!["incidents"]!.AsArray().Count);
        SqliteConnection.ClearAllPools();
    }
}
