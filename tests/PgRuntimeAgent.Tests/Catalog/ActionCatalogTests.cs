using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Tests.Acting.Patroni;
using PgRuntimeAgent.Tests.Sensing;
using static PgRuntimeAgent.Tests.Acting.Patroni.ActingSnapshots;

namespace PgRuntimeAgent.Tests.Catalog;

/// <summary>Every action kind describes itself, and the planner holds requests to those descriptions.</summary>
public sealed class ActionCatalogTests
{
    private static readonly FakeTimeProvider Time = new(new DateTimeOffset(2026, 11, 22, 19, 0, 0, TimeSpan.Zero));

    private static readonly string[] AllKinds =
    [
        "ansible.playbook", "backup.run", "inventory.propose_patch", "member.fence",
        "patroni.config", "patroni.failover", "patroni.pause", "patroni.reinit", "patroni.reload", "patroni.restart", "patroni.resume", "patroni.switchover",
        "sql.alter_system", "sql.analyze", "sql.cancel_backend", "sql.checkpoint", "sql.create_index", "sql.drop_index", "sql.terminate_backend", "sql.vacuum",
        "ssh.command",
    ];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ActionPlanner Planner()
    {
        var secrets = new SecretStore();
        var topology = SensingFixtures.Topology(SensingFixtures.Cluster(secrets: secrets));
        return new ActionPlanner(topology, new ScriptedSensing(topology, [Healthy()]), new PatroniControl(secrets, Time), Time, "postgres");
    }

    private static ActionRequest Request(string kind, string? member = null, params (string Name, string Value)[] parameters) => new()
    {
        Kind = kind,
        Cluster = "pg-test",
        Member = member,
        Parameters = parameters.ToDictionary(p => p.Name, p => p.Value, StringComparer.Ordinal),
    };

    /// <summary>The smallest valid request of each kind the planner can plan on a healthy snapshot (patroni.config reads Patroni's API: planned directly).</summary>
    private static ActionRequest? Minimal(string kind) => kind switch
    {
        "ansible.playbook" => Request(kind, null, ("playbook", "pgsql.yml")),
        "inventory.propose_patch" => Request(kind, null, ("changes", "pg-test-1 pg_role primary->replica")),
        "member.fence" or "patroni.reinit" or "patroni.reload" or "patroni.restart" => Request(kind, "pg-test-2"),
        "patroni.config" => null,
        "patroni.failover" => Request(kind, null, ("candidate", "pg-test-2")),
        "sql.alter_system" => Request(kind, null, ("name", "work_mem"), ("value", "64MB")),
        "sql.cancel_backend" or "sql.terminate_backend" => Request(kind, null, ("pid", "4242")),
        "sql.create_index" => Request(kind, null, ("table", "orders"), ("columns", "customer_id")),
        "sql.drop_index" => Request(kind, null, ("index", "orders_customer_id_idx")),
        "sql.vacuum" => Request(kind, null, ("table", "orders")),
        "ssh.command" => Request(kind, "pg-test-1", ("command", "pgbackrest-check")),
        _ => Request(kind),
    };

    [Fact]
    public void Default_Actions_OneDescriptorPerKindSortedByKind()
    {
        Assert.Equal(AllKinds, AgentCatalog.Default.Actions.Select(a => a.Kind));
        Assert.Equal(AllKinds, ActionKinds.Names);
    }

    [Fact]
    public void ToJson_Actions_EveryKindWithSummaryAndInputSchema()
    {
        var json = JsonNode.Parse(AgentCatalog.Default.ToJson().ToJsonString())!;

        Assert.Equal("pgra.catalog/v1", (string?)json["format"]);
        var actions = json["actions"]!.AsArray();
        Assert.Equal(AllKinds, actions.Select(a => (string?)a!["kind"]));
        Assert.All(actions, a =>
        {
            Assert.False(string.IsNullOrWhiteSpace((string?)a!["summary"]));
            Assert.NotEqual((string?)a["kind"], (string?)a["summary"]);
            Assert.Equal("object", (string?)a["input_schema"]!["type"]);
            Assert.False((bool)a["input_schema"]!["additionalProperties"]!);
            Assert.All(a["parameters"]!.AsArray(), p => Assert.False(string.IsNullOrWhiteSpace((string?)p!["description"])));
        });
    }

    [Fact]
    public void ToJson_BackupRunAndCreateIndex_AllowedValuesInTheSchema()
    {
        var json = AgentCatalog.Default.ToJson();
        var actions = json["actions"]!.AsArray();
        JsonNode Property(string kind, string name) => actions.Single(a => (string?)a!["kind"] == kind)!["input_schema"]!["properties"]![name]!;

        Assert.Equal(["full", "diff", "incr"], Property("backup.run", "type")["enum"]!.AsArray().Select(v => (string?)v));
        Assert.Equal("incr", (string?)Property("backup.run", "type")["default"]);
        // Defaults carry their type: a tool passes 14400 and true, not "14400" and "true".
        Assert.Equal(14400d, (double)Property("backup.run", "timeout_seconds")["default"]!);
        Assert.True((bool)Property("ansible.playbook", "check_first")["default"]!);
        Assert.Equal(["btree", "hash", "gist", "spgist", "gin", "brin"], Property("sql.create_index", "method")["enum"]!.AsArray().Select(v => (string?)v));
        Assert.Equal("integer", (string?)Property("sql.cancel_backend", "pid")["type"]);
        var required = actions.Single(a => (string?)a!["kind"] == "sql.create_index")!["input_schema"]!["required"]!.AsArray().Select(v => (string?)v);
        Assert.Equal(["table", "columns"], required);
    }

    [Fact]
    public void Descriptors_ReversibleOnesSayHowToUndoAndIrreversibleBoundedOnesSayWhy()
    {
        Assert.All(AgentCatalog.Default.Actions, a =>
        {
            if (a.Reversible)
            {
                Assert.False(string.IsNullOrWhiteSpace(a.Undo), a.Kind);
                Assert.Null(a.LossBound);
            }

            Assert.True(a.VerifyTimeout > TimeSpan.Zero, a.Kind);
        });
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Plan_EveryKind_RiskReversibleAndLossBoundedAreTheDescriptors(string kind)
    {
        var descriptor = AgentCatalog.Default.FindAction(kind)!;
        var action = Minimal(kind) is { } request
            ? Assert.IsType<PlannedAction>((await Planner().PlanAsync(request, Ct)).Action)
            : PatroniActions.PlanConfig("pg-test", new JsonObject { ["ttl"] = 30 }, new JsonObject { ["ttl"] = 20 }, []);

        Assert.Equal(kind, action.Kind);
        Assert.Equal(descriptor.Risk, action.Risk);
        Assert.Equal(descriptor.Reversible, action.Reversible);
        Assert.Equal(descriptor.LossBound is not null, action.LossBounded);
        Assert.Equal(descriptor.PolicyClass, action.PolicyClass);
        if (!descriptor.VerifyTimeoutFromPipeline)
        {
            Assert.Equal(descriptor.VerifyTimeout.TotalSeconds, action.VerifyTimeoutSeconds);
        }
        else
        {
            Assert.Null(action.VerifyTimeoutSeconds);
        }
    }

    public static TheoryData<string> Kinds() => [.. AllKinds];

    [Theory]
    [InlineData("sql.create_index", null, "table=orders", "needs 'columns'")]
    [InlineData("sql.cancel_backend", null, "pid=abc", "pid must be an integer, got 'abc'")]
    [InlineData("sql.cancel_backend", null, "pid=0", "pid must be at least 1")]
    [InlineData("sql.vacuum", null, "table=orders;freeze=maybe", "freeze must be true or false, got 'maybe'")]
    [InlineData("sql.create_index", null, "table=orders;columns=a;method=bitmap", "method must be one of btree, hash, gist, spgist, gin, brin, got 'bitmap'")]
    [InlineData("sql.create_index", null, "table=orders;columns=a,,b", "columns must be comma-separated names with none empty")]
    [InlineData("sql.terminate_backend", null, "pid=7;backend_start=yesterday", "backend_start must be a time (ISO 8601), got 'yesterday'")]
    [InlineData("patroni.config", null, "patch={not json", "patch must be JSON")]
    [InlineData("ssh.command", null, "command=x", "ssh.command needs a member (--member)")]
    [InlineData("patroni.pause", "pg-test-2", "", "patroni.pause acts on cluster pg-test as a whole: it takes no member")]
    [InlineData("patroni.restart", "pg-test-2", "force=true", "patroni.restart takes no parameter 'force'")]
    public async Task Plan_RequestAgainstTheDescriptor_InputErrorSayingWhat(string kind, string? member, string parameters, string expected)
    {
        var pairs = parameters.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).Select(p => (p[0], p[1])).ToArray();
        var request = Request(kind, member, pairs);

        var ex = await Assert.ThrowsAsync<InputException>(() => Planner().PlanAsync(request, Ct));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plan_UnknownKind_InputErrorListingTheCatalogue()
    {
        var ex = await Assert.ThrowsAsync<InputException>(() => Planner().PlanAsync(Request("patroni.remove"), Ct));

        Assert.Equal("unknown action 'patroni.remove'", ex.Message);
        Assert.Contains(ex.Problems, h => h.Contains("patroni.switchover", StringComparison.Ordinal) && h.Contains("sql.vacuum", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Plan_MissingRequiredParameter_HintListsTheParameters()
    {
        var ex = await Assert.ThrowsAsync<InputException>(() => Planner().PlanAsync(Request("sql.drop_index"), Ct));

        Assert.StartsWith("sql.drop_index needs 'index'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("parameters: database, schema, index, timeout_seconds", ex.Problems);
    }

    [Fact]
    public void Plan_DescriptorFactory_FillsKindRiskAndIdFromTheDescriptor()
    {
        var descriptor = new ActionDescriptor
        {
            Kind = "test.thing",
            Class = "test",
            Summary = "a test action",
            Risk = ActionRisk.High,
            Reversible = false,
            LossBound = "bounded by a test",
            VerifyTimeout = TimeSpan.FromSeconds(12),
        };

        var a = descriptor.Plan("pg-test", "pg-test-2", null, "do a thing", ActionTrigger.Reactive, "skill:t", "because");
        var b = descriptor.Plan("pg-test", "pg-test-2", null, "do a thing", ActionTrigger.Reactive, "skill:t", "because");

        Assert.StartsWith("act-", a.Id, StringComparison.Ordinal);
        Assert.NotEqual(a.Id, b.Id);
        Assert.Equal(("test.thing", "test", ActionRisk.High, false, true, 12d), (a.Kind, a.PolicyClass, a.Risk, a.Reversible, a.LossBounded, a.VerifyTimeoutSeconds));
        Assert.Equal(("pg-test", "pg-test-2", "do a thing", ActionTrigger.Reactive, "skill:t", "because"), (a.Cluster, a.Member, a.Summary, a.Trigger, a.Initiator, a.Reason));
        Assert.Empty(a.Parameters);
    }
}
