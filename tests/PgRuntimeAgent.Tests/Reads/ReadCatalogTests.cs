using System.Reflection;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Reads;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing.Host;
using PgRuntimeAgent.Tests.Sensing;

namespace PgRuntimeAgent.Tests.Reads;

public sealed class ReadCatalogTests
{
    private static readonly string[] Expected =
    [
        "backup.info", "cluster.member", "cluster.snapshot", "fleet.owner", "incidents.list", "journal.search", "logs.search", "metrics.query",
        "patroni.config", "patroni.history", "postgres.probe",
    ];

    [Fact]
    public void All_DiscoversEveryReadSortedByName()
    {
        Assert.Equal(Expected, ReadCatalog.All.Select(r => r.Descriptor.Name));
        Assert.Equal(Expected, AgentCatalog.Default.Reads.Select(r => r.Name));
    }

    [Fact]
    public void Descriptors_EachHasSummaryBoundAndWellFormedParameters()
    {
        foreach (var d in ReadCatalog.Descriptors)
        {
            Assert.False(string.IsNullOrWhiteSpace(d.Summary), d.Name);
            Assert.False(string.IsNullOrWhiteSpace(d.Bound), d.Name);
            Assert.Equal(d.Parameters.Count, d.Parameters.Select(p => p.Name).Distinct(StringComparer.Ordinal).Count());
            Assert.All(d.Parameters, p => Assert.True(p.Default is null || p.Check(p.Default) is null, $"{d.Name}.{p.Name} default {p.Default}: {p.Check(p.Default ?? "")}"));
            Assert.All(d.Parameters.Where(p => p.Type == ParameterType.Integer && p.Name is "limit" or "max_rows" or "max_series"), p => Assert.NotNull(p.Maximum));
        }
    }

    [Fact]
    public void ToJson_Reads_CarrySchemaAndBound()
    {
        var reads = AgentCatalog.Default.ToJson()["reads"]!.AsArray();

        Assert.Equal(Expected.Length, reads.Count);
        var metrics = reads.Single(r => (string?)r!["name"] == "metrics.query")!;
        Assert.Equal("metrics", (string?)metrics["source"]);
        Assert.Equal("none", (string?)metrics["member"]);
        Assert.Contains("6 h", (string?)metrics["bound"], StringComparison.Ordinal);
        var schema = metrics["input_schema"]!;
        Assert.Equal("query", (string?)schema["required"]![0]);
        Assert.Equal(360, (double)schema["properties"]!["range_minutes"]!["maximum"]!);
        Assert.Equal(15, (double)schema["properties"]!["step_seconds"]!["minimum"]!);
        var probe = reads.Single(r => (string?)r!["name"] == "postgres.probe")!;
        Assert.Contains("blocking", probe["input_schema"]!["properties"]!["probe"]!["enum"]!.AsArray().Select(v => (string?)v));
    }

    [Fact]
    public void ReadContext_ExposesNoWayToChangeAnything()
    {
        // What a read gets is the context: none of its members may hand out a writer, a runner, the secrets or a pipeline.
        var forbidden = new[]
        {
            typeof(IJournal), typeof(IActuator), typeof(ActionPipeline), typeof(ICommandRunner), typeof(SecretStore), typeof(HttpClient),
            typeof(Npgsql.NpgsqlConnection), typeof(PgRuntimeAgent.Sensing.SensingHttp),
        };
        var flags = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;
        var visible = typeof(ReadContext).GetMembers(flags).Where(m => m switch
        {
            MethodBase mb => mb.IsPublic || mb.IsAssembly,
            PropertyInfo p => p.GetMethod is { } g && (g.IsPublic || g.IsAssembly),
            FieldInfo f => f.IsPublic || f.IsAssembly,
            _ => false,
        }).ToList();
        foreach (var member in visible)
        {
            var types = member switch
            {
                MethodInfo mi => [mi.ReturnType, .. mi.GetParameters().Select(p => p.ParameterType)],
                PropertyInfo p => [p.PropertyType],
                FieldInfo f => [f.FieldType],
                _ => Array.Empty<Type>(),
            };
            foreach (var t in types.SelectMany(Flatten))
            {
                Assert.False(forbidden.Any(f => f.IsAssignableFrom(t)), $"ReadContext.{member.Name} exposes {t.Name}");
            }
        }

        // Its methods are queries by name: reads take, get, query, list, probe, find or redact; never append or run.
        var verbs = new[] { "Take", "Get", "Query", "List", "Probe", "Cluster", "Redact", "Dispose", "ToString", "Equals" };
        Assert.All(typeof(ReadContext).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly).Where(m => !m.IsSpecialName),
            m => Assert.True(verbs.Any(v => m.Name.StartsWith(v, StringComparison.Ordinal)), m.Name));
    }

    [Fact]
    public void Reads_AreStatelessAndHoldNothingButTheirDescriptor()
    {
        foreach (var read in ReadCatalog.All)
        {
            var type = read.GetType();
            Assert.True(type.IsSealed, type.Name);
            Assert.All(type.GetConstructors(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance), c => Assert.Empty(c.GetParameters()));
            Assert.All(type.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance), f => Assert.Equal(typeof(ReadDescriptor), f.FieldType));
        }
    }

    [Fact]
    public void Validate_UnknownParameter_NamesItAndTheKnownOnes()
    {
        var ex = Assert.Throws<InputException>(() => Request("logs.search", parameters: [("lines", "5")]));

        Assert.Contains("unknown parameter 'lines' for logs.search", ex.Message, StringComparison.Ordinal);
        Assert.Contains("limit", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_MissingRequired_NamesIt()
    {
        var ex = Assert.Throws<InputException>(() => Request("postgres.probe"));

        Assert.Contains("parameter 'probe' is required by postgres.probe", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("postgres.probe", "probe", "drop_table", "probe must be one of")]
    [InlineData("logs.search", "limit", "lots", "limit must be an integer, got 'lots'")]
    [InlineData("logs.search", "limit", "5000", "limit must be at most 1000")]
    [InlineData("logs.search", "since_minutes", "720", "since_minutes must be at most 360")]
    [InlineData("metrics.query", "range_minutes", "1440", "range_minutes must be at most 360")]
    [InlineData("metrics.query", "step_seconds", "1", "step_seconds must be at least 15")]
    [InlineData("metrics.query", "max_series", "10000", "max_series must be at most 200")]
    [InlineData("journal.search", "limit", "100000", "limit must be at most 500")]
    [InlineData("journal.search", "since", "yesterday", "since must be a time")]
    [InlineData("incidents.list", "state", "closed", "state must be one of open, mitigating, resolved")]
    public void Validate_BadValue_IsRefusedNamingTheParameter(string read, string name, string value, string expected)
    {
        var parameters = new List<(string, string)> { (name, value) };
        if (read == "metrics.query")
        {
            parameters.Add(("query", "up"));
        }

        var ex = Assert.Throws<InputException>(() => Request(read, parameters: [.. parameters]));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_MemberRules_AreEnforced()
    {
        Assert.Contains("takes no member", Assert.Throws<InputException>(() => Request("cluster.snapshot", "pg-test-1")).Message, StringComparison.Ordinal);
        Assert.Contains("needs a member", Assert.Throws<InputException>(() => Request("cluster.member")).Message, StringComparison.Ordinal);
        Assert.Contains("no member 'pg-test-9' in cluster pg-test", Assert.Throws<InputException>(() => Request("logs.search", "pg-test-9")).Message, StringComparison.Ordinal);
        Assert.Contains("no cluster 'pg-nope'", Assert.Throws<InputException>(() => Request("logs.search", cluster: "pg-nope")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SeveralProblems_ListsEveryOne()
    {
        var ex = Assert.Throws<InputException>(() => Request("metrics.query", "pg-test-1", [("range_minutes", "999"), ("bogus", "1")]));

        Assert.Equal(4, ex.Problems.Count); // member, bogus, range, missing query
    }

    [Fact]
    public void Request_Defaults_ComeFromTheDescriptor()
    {
        var request = Request("logs.search", parameters: [("grep", "FATAL")]);

        Assert.Equal(100, request.Integer("limit"));
        Assert.Equal(15, request.Integer("since_minutes"));
        Assert.Equal("FATAL", request.Text("grep"));
        Assert.Null(request.Time("until"));
    }

    private static ReadRequest Request(string read, string? member = null, (string Key, string Value)[]? parameters = null, string cluster = "pg-test") =>
        new ReadRequest { Cluster = cluster, Member = member, Parameters = (parameters ?? []).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal) }
            .Validate(ReadCatalog.Find(read)!.Descriptor, SensingFixtures.Topology(SensingFixtures.Cluster()));

    private static IEnumerable<Type> Flatten(Type t) =>
        t.IsGenericType ? [t, .. t.GetGenericArguments().SelectMany(Flatten)] : t.IsArray ? [t, .. Flatten(t.GetElementType()!)] : [t];
}
