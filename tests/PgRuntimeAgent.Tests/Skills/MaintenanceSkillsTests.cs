using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Tests.Skills;

/// <summary>The config-broken, vacuum-lag, wraparound and index-hygiene skills over crafted snapshots (leader pg-test-1).</summary>
public sealed class MaintenanceSkillsTests
{
    private static string Actions(ScriptedSkillHost host) =>
        string.Join(" ", host.Requests.Select(r => $"{r.ActionClass}{r.Parameters.GetRawText()}"));

    private static JsonElement Trigger(string code, string member, string summary, params (string Name, string Value)[] facts) =>
        JsonSerializer.SerializeToElement(new JsonObject
        {
            ["code"] = code,
            ["cluster"] = "pg-test",
            ["member"] = member,
            ["summary"] = summary,
            ["facts"] = new JsonObject(facts.Select(f => KeyValuePair.Create(f.Name, (JsonNode?)JsonValue.Create(f.Value)))),
        });

    private static JsonObject Probe(string name, params JsonObject[] rows) =>
        new() { ["name"] = name, ["status"] = "ok", ["rows"] = new JsonArray(rows.Select(r => (JsonNode?)r).ToArray()) };

    private static SnapshotBuilder LeaderProbes(params JsonObject[] probes) =>
        SnapshotBuilder.Healthy().Set("postgres", new JsonArray(new JsonObject
        {
            ["member"] = "pg-test-1",
            ["reachable"] = true,
            ["probes"] = new JsonArray(probes.Select(p => (JsonNode?)p).ToArray()),
        }));

    // ------------------------------------------------------------------ config-broken

    private static readonly JsonElement MissingLibrary = Trigger("config-broken", "pg-test-2", "member pg-test-2 cannot start",
        ("parameter", "shared_preload_libraries"), ("value", "pgra_missing_library"),
        ("line", "FATAL:  could not access file \"pgra_missing_library\": No such file or directory"));

    private static SnapshotBuilder Broken() =>
        LeaderProbes(Probe("settings", new JsonObject { ["name"] = "shared_preload_libraries", ["setting"] = "pg_stat_statements", ["pending_restart"] = "true" }))
            .MemberSet("pg-test-2", "patroni_state", "start failed").MemberSet("pg-test-2", "postgres_reachable", false);

    [Fact]
    public async Task ConfigBroken_LeaderStillRunsTheOldValue_RevertsItClusterWide_ThenRestartsTheMemberPatroniDidNotStart()
    {
        var host = new ScriptedSkillHost(Broken().Build()).AfterAction(Broken().Build()).AfterAction(LeaderProbes().Build(), count: 2);

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("config-broken"), host, MissingLibrary);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal("""patroni.config{"patch":{"postgresql":{"parameters":{"shared_preload_libraries":"pg_stat_statements"}}}} patroni.restart{"member":"pg-test-2"}""", Actions(host));
        Assert.Contains("could not access file", host.Requests[0].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigBroken_PatroniStartsTheMemberOnceTheValueIsBack_NoRestart()
    {
        // Measured in the evaluation (bad-config-replica): Patroni started the member 1 s after the revert.
        var host = new ScriptedSkillHost(Broken().Build()).AfterAction(LeaderProbes().Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("config-broken"), host, MissingLibrary);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal(["patroni.config"], host.Requests.Select(r => r.ActionClass));
        Assert.Contains("runs again with shared_preload_libraries = 'pg_stat_statements'", host.Notes.Single().Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigBroken_FencedMember_RevertsTheValue_AndLeavesTheStartToAnOperator()
    {
        // The bad-config leader held the key while it could not start, and primary-failure fenced it: its Patroni is stopped.
        var fenced = Broken().MemberSet("pg-test-2", "reachable", false).MemberSet("pg-test-2", "patroni_state", null).Build();
        var host = new ScriptedSkillHost(fenced);

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("config-broken"), host, MissingLibrary);

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Equal(["patroni.config"], host.Requests.Select(r => r.ActionClass));
        var note = Assert.Single(host.Notes);
        Assert.Equal(SkillRecordKinds.FollowUp, note.Kind);
        Assert.Contains("Patroni does not answer on pg-test-2 (fenced", note.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigBroken_NoRunningValueToGoBackTo_OnlyReports()
    {
        var host = new ScriptedSkillHost(LeaderProbes(Probe("settings")).MemberSet("pg-test-2", "postgres_reachable", false).Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("config-broken"), host, MissingLibrary);

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Empty(host.Requests);
        var note = Assert.Single(host.Notes);
        Assert.Equal(SkillRecordKinds.FollowUp, note.Kind);
        Assert.Contains("do not reinitialise", note.Text, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ vacuum-lag

    private static readonly JsonElement DeadOrders = Trigger("vacuum-lag", "pg-test-1", "test:public.orders carries 700,000 dead tuples",
        ("database", "test"), ("schema", "public"), ("table", "orders"), ("dead_tuples", "700000"), ("dead_ratio", "0.41"));

    // The same table name in two databases: only the one of the finding's database counts.
    private static SnapshotBuilder Dead(string dead, params JsonObject[] longTransactions) => LeaderProbes(
        Probe("table_stats",
            new JsonObject { ["datname"] = "postgres", ["schemaname"] = "public", ["relname"] = "orders", ["n_live_tup"] = "10", ["n_dead_tup"] = "900000" },
            new JsonObject { ["datname"] = "test", ["schemaname"] = "public", ["relname"] = "orders", ["n_live_tup"] = "1000000", ["n_dead_tup"] = dead }),
        Probe("long_transactions", longTransactions));

    [Fact]
    public async Task VacuumLag_HorizonFree_VacuumsTheTableAndVerifiesTheDeadRowsFell()
    {
        var host = new ScriptedSkillHost(Dead("700000").Build()).AfterAction(Dead("1200").Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("vacuum-lag"), host, DeadOrders);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal("""sql.vacuum{"database":"test","schema":"public","table":"orders","analyze":true}""", Actions(host));
    }

    [Fact]
    public async Task VacuumLag_AnOldTransactionHoldsTheHorizon_DoesNotVacuumAndNamesIt()
    {
        var holder = new JsonObject { ["pid"] = "4242", ["application_name"] = "report", ["state"] = "idle in transaction", ["xact_age_seconds"] = "5400" };
        var host = new ScriptedSkillHost(Dead("700000", holder).Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("vacuum-lag"), host, DeadOrders);

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Contains("4242", Assert.Single(host.Notes).Text, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ wraparound

    [Fact]
    public async Task Wraparound_NothingHoldsTheHorizon_TellsExactlyWhatToFreeze()
    {
        var host = new ScriptedSkillHost(LeaderProbes(Probe("long_transactions")).Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("wraparound"), host,
            Trigger("wraparound-risk", "pg-test-1", "database app: transaction ID age 1,200,000,000 is 56% of the 2^31 limit", ("database", "app"), ("kind", "xid")));

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Empty(host.Requests);
        var note = Assert.Single(host.Notes);
        Assert.Contains("vacuumdb --freeze --jobs 4 -d app", note.Text, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ index-hygiene

    private static readonly JsonElement Invalid = Trigger("invalid-index", "pg-test-1", "index public.orders_user_id_idx is invalid",
        ("schema", "public"), ("index", "orders_user_id_idx"), ("table", "orders"));

    private static SnapshotBuilder InvalidIndex(string building) =>
        LeaderProbes(Probe("indexes_invalid", new JsonObject { ["schemaname"] = "public", ["indexrelname"] = "orders_user_id_idx", ["relname"] = "orders", ["building"] = building }));

    [Fact]
    public async Task IndexHygiene_InvalidAndNoBuildRunning_DropsIt()
    {
        var host = new ScriptedSkillHost(InvalidIndex("false").Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("index-hygiene"), host, Invalid);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal("""sql.drop_index{"database":null,"schema":"public","index":"orders_user_id_idx"}""", Actions(host));
    }

    [Fact]
    public async Task IndexHygiene_ABuildOfItRunsAgain_LeavesItAlone()
    {
        var host = new ScriptedSkillHost(InvalidIndex("true").Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("index-hygiene"), host, Invalid);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
    }
    // ------------------------------------------------------------------ index-hygiene: the daily report

    private static readonly JsonElement Scheduled = JsonSerializer.SerializeToElement(new JsonObject
    {
        ["code"] = "schedule",
        ["cluster"] = "pg-test",
        ["summary"] = "scheduled run (cron 0 4 * * *) due 2026-12-03T04:00:00Z",
        ["facts"] = new JsonObject { ["schedule"] = "0 4 * * *", ["due"] = "2026-12-03T04:00:00Z" },
    });

    private static Task<SkillRun> ReportAsync(ScriptedSkillHost host, params JsonElement[] findings) =>
        new SkillRunner().RunAsync(SkillTestKit.LoadShipped("index-hygiene"),
            new SkillRunRequest("pg-test") { Trigger = Scheduled, Findings = JsonSerializer.SerializeToElement(findings) }, host, TestContext.Current.CancellationToken);

    [Fact]
    public async Task IndexHygiene_Scheduled_ReportsUnusedAndDuplicateIndexesWithTheirDropCommands_AndDropsNothing()
    {
        var host = new ScriptedSkillHost(LeaderProbes().Build());

        var run = await ReportAsync(host,
            Trigger("unused-index", "pg-test-1", "index app:public.orders_note_idx on public.orders (50 MiB) was not scanned on any of 3 member(s) for at least 9 days",
                ("database", "app"), ("schema", "public"), ("index", "orders_note_idx"), ("table", "orders")),
            Trigger("duplicate-index", "pg-test-1", "index public.orders_user_idx on public.orders (2 MiB) is a leading prefix of public.orders_user_created_idx",
                ("schema", "public"), ("index", "orders_user_idx"), ("covered_by", "orders_user_created_idx"), ("kind", "prefix")),
            Trigger("replication-lag", "pg-test-2", "pg-test-2 is 20 MB behind"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
        var note = Assert.Single(host.Notes);
        Assert.Equal("follow-up", note.Kind);
        Assert.Contains("orders_note_idx", note.Text, StringComparison.Ordinal);
        Assert.Contains("leading prefix of public.orders_user_created_idx", note.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("20 MB behind", note.Text, StringComparison.Ordinal);
        Assert.Contains("pgra act sql.drop_index pg-test --param database=app --param schema=public --param index=orders_note_idx", note.Text, StringComparison.Ordinal);
        Assert.Contains("pgra act sql.drop_index pg-test --param schema=public --param index=orders_user_idx", note.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IndexHygiene_ScheduledWithNothingToReport_SaysSo()
    {
        var host = new ScriptedSkillHost(LeaderProbes().Build());

        var run = await ReportAsync(host, Trigger("replication-lag", "pg-test-2", "pg-test-2 is 20 MB behind"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Contains("no invalid index", Assert.Single(host.Notes).Text, StringComparison.Ordinal);
    }
}
