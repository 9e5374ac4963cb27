using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Yaml;
using YamlDotNet.RepresentationModel;
using YamlDotNet.Serialization;

namespace PgRuntimeAgent.Tests.Settings;

/// <summary>The binder picks up new init properties of any shape without changes (other sections rely on this).</summary>
public sealed class SettingsBinderTests
{
    public enum Flavor
    {
        VictoriaMetrics,
        PlainOld,
    }

    public sealed record Probe
    {
        public string Name { get; init; } = "default";
        public int Count { get; init; } = 1;
        public long Big { get; init; }
        public double Ratio { get; init; }
        public bool Enabled { get; init; }
        public Uri? Url { get; init; }
        public TimeSpan Every { get; init; } = TimeSpan.FromSeconds(10);
        public Flavor Kind { get; init; }
        public Flavor? MaybeKind { get; init; }
        public int? MaybeCount { get; init; }
        public IReadOnlyList<string> Tags { get; init; } = [];
        public IReadOnlyList<Child> Children { get; init; } = [];
        public IReadOnlyDictionary<string, Child> ByName { get; init; } = new Dictionary<string, Child>();
        public IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> Nested { get; init; } = new Dictionary<string, IReadOnlyDictionary<string, int>>();
        public Child Inner { get; init; } = new();
        public Point? Where { get; init; }
        public SecretRef? Token { get; init; }
        public string[] Array { get; init; } = [];

        [YamlMember(Alias = "renamed")]
        public string? OriginalName { get; init; }

        [YamlIgnore]
        public string Ignored { get; init; } = "untouched";

        public int Computed => Count * 2;
    }

    public sealed record Child
    {
        public string Path { get; init; } = "/default";
        public int Level { get; init; } = 7;
    }

    public sealed record Point(int X, int Y, string Label = "p");

    private static (Probe? Value, List<YamlProblem> Problems, SettingsBinder Binder, SecretStore Secrets) Bind(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var problems = new List<YamlProblem>();
        var secrets = new SecretStore();
        var binder = new SettingsBinder("probe.yml", secrets, problems);
        var value = (Probe?)binder.Bind(typeof(Probe), stream.Documents[0].RootNode, "probe", null);
        return (value, problems, binder, secrets);
    }

    [Fact]
    public void Bind_EveryShape_IsBound()
    {
        var (p, problems, binder, secrets) = Bind("""
            name: alpha
            count: 3
            big: 9000000000
            ratio: 0.25
            enabled: yes
            url: https://10.0.0.1:8428/
            every: 250ms
            kind: victoria-metrics
            maybe_kind: plain_old
            maybe_count: 4
            tags: [ a, b ]
            children: [ { path: /x }, { level: 2 } ]
            by_name: { pg-test-1: { path: /y } }
            nested: { pg-test: { patroni.failover: 3 } }
            inner: { level: 9 }
            where: { x: 1, y: 2 }
            token: Tok.Secret-123
            array: [ one ]
            renamed: via-alias
            """);

        Assert.Empty(problems);
        Assert.NotNull(p);
        Assert.Equal(("alpha", 3, 9_000_000_000L, 0.25, true), (p.Name, p.Count, p.Big, p.Ratio, p.Enabled));
        Assert.Equal(new Uri("https://10.0.0.1:8428/"), p.Url);
        Assert.Equal(TimeSpan.FromMilliseconds(250), p.Every);
        Assert.Equal((Flavor.VictoriaMetrics, Flavor.PlainOld, 4), (p.Kind, p.MaybeKind!.Value, p.MaybeCount!.Value));
        Assert.Equal(["a", "b"], p.Tags);
        Assert.Equal([new Child { Path = "/x" }, new Child { Level = 2 }], p.Children);
        Assert.Equal(new Child { Path = "/y" }, p.ByName["pg-test-1"]);
        Assert.Equal(3, p.Nested["pg-test"]["patroni.failover"]);
        Assert.Equal(new Child { Level = 9 }, p.Inner);
        Assert.Equal(new Point(1, 2), p.Where);
        Assert.Equal("Tok.Secret-123", secrets.Reveal(p.Token!));
        Assert.Equal("probe.yml:17 (probe.token)", p.Token!.Origin);
        Assert.Equal(["one"], p.Array);
        Assert.Equal("via-alias", p.OriginalName);
        Assert.Equal("untouched", p.Ignored);
        Assert.Equal(new SettingOrigin(ValueSource.Settings, "probe.yml:2:8"), binder.Origins["probe.count"]);
    }

    [Theory]
    [InlineData("victoriametrics")]
    [InlineData("VictoriaMetrics")]
    [InlineData("victoria_metrics")]
    [InlineData("VICTORIA-METRICS")]
    public void Bind_EnumSpellings_AreAccepted(string text)
    {
        var (p, problems, _, _) = Bind($"kind: {text}\n");

        Assert.Empty(problems);
        Assert.Equal(Flavor.VictoriaMetrics, p!.Kind);
    }

    [Theory]
    [InlineData("10", 10)]
    [InlineData("1.5s", 1.5)]
    [InlineData("2m", 120)]
    [InlineData("1h", 3600)]
    [InlineData("00:00:30", 30)]
    public void Bind_Durations_AreAccepted(string text, double seconds)
    {
        var (p, problems, _, _) = Bind($"every: {text}\n");

        Assert.Empty(problems);
        Assert.Equal(TimeSpan.FromSeconds(seconds), p!.Every);
    }

    [Fact]
    public void Bind_PartialSection_KeepsTheDefaultsOfOtherKeys()
    {
        var (p, problems, _, _) = Bind("inner: { path: /only }\n");

        Assert.Empty(problems);
        Assert.Equal(new Child { Path = "/only", Level = 7 }, p!.Inner);
        Assert.Equal(("default", 1), (p.Name, p.Count));
    }

    [Fact]
    public void Bind_Errors_AreCollectedWithPathsAndLocations()
    {
        var (_, problems, _, _) = Bind("""
            count: many
            where: { x: 1 }
            children: [ { levle: 2 } ]
            by_name: { a: [ 1 ] }
            nmae: x
            kind: 3
            """);

        Assert.Equal(
            [
                "probe.yml:1:8: probe.count: 'many' is not a whole number",
                "probe.yml:2:8: probe.where.y: missing key 'y' in probe.where",
                "probe.yml:3:15: probe.children[0].levle: unknown key 'levle' in probe.children[0]",
                "probe.yml:4:15: probe.by_name.a: 'a' must be a mapping of keys, found a list",
                "probe.yml:5:1: probe.nmae: unknown key 'nmae' in probe",
                "probe.yml:6:7: probe.kind: unknown value '3' for probe.kind",
            ],
            problems.Select(p => $"{p.Location}: {p.Subject}: {p.Message}"));
    }

    [Fact]
    public void Bind_SecretLookingStringKey_IsAlsoInTheStore()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader("name: x\n"));
        var problems = new List<YamlProblem>();
        var secrets = new SecretStore();
        var binder = new SettingsBinder("s.yml", secrets, problems);
        stream.Load(new StringReader("api_token: Abc.Def-123\n"));

        var value = (WithToken?)binder.Bind(typeof(WithToken), stream.Documents[0].RootNode, "llm", null);

        Assert.Equal("Abc.Def-123", value!.ApiToken);
        Assert.Contains("Abc.Def-123", secrets.Values);
    }

    public sealed record WithToken
    {
        public string? ApiToken { get; init; }
    }
}
