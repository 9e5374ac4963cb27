using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Tests.Inventory;

/// <summary>Reads inventories for tests: from text (named <c>test.yml</c> in messages) or from the fixtures.</summary>
internal static class InventoryTestKit
{
    public const string Name = "test.yml";

    public static string RepoRoot => TestPaths.RepoRoot;

    public static string PigstyFixtures => TestPaths.Fixture("pigsty");

    public static IEnumerable<string> FixtureFiles() =>
        Directory.GetFiles(PigstyFixtures, "*.yml", SearchOption.AllDirectories).Order(StringComparer.Ordinal);

    public static TheoryData<string> Fixtures()
    {
        var data = new TheoryData<string>();
        foreach (var file in FixtureFiles())
        {
            data.Add(Path.GetRelativePath(PigstyFixtures, file));
        }

        return data;
    }

    public static string FixturePath(string relative) => Path.Combine(PigstyFixtures, relative);

    public static InventoryReport Parse(string yaml, AgentSettings? settings = null, SecretStore? secrets = null) =>
        InventoryLoader.Parse(yaml, Name, secrets ?? new SecretStore(), settings is null ? InventoryOverrides.None : InventoryOverrides.From(settings));

    public static Topology Valid(string yaml, AgentSettings? settings = null, SecretStore? secrets = null)
    {
        var report = Parse(yaml, settings, secrets);
        Assert.True(report.IsValid, "unexpected problems:\n" + string.Join("\n", report.Problems));
        return report.Topology!;
    }

    public static Topology Fixture(string relative, AgentSettings? settings = null, SecretStore? secrets = null)
    {
        var report = InventoryLoader.Check(FixturePath(relative), secrets ?? new SecretStore(), settings is null ? InventoryOverrides.None : InventoryOverrides.From(settings));
        Assert.True(report.IsValid, "unexpected problems:\n" + string.Join("\n", report.Problems));
        return report.Topology!;
    }

    /// <summary>The problems as "line:column subject: message" for exact comparisons.</summary>
    public static IReadOnlyList<string> Located(InventoryReport report) =>
        report.Problems.Select(p => $"{p.Line}:{p.Column} {p.Subject}: {p.Message}").ToArray();
}
