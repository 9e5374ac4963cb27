using PgRuntimeAgent.Cli.Commands;
using PgRuntimeAgent.Detection;

namespace PgRuntimeAgent.Tests.Cli;

/// <summary>
/// <c>pgra ask</c>, <c>pgra diagnose</c> and <c>pgra mcp</c> on bad input, before anything is sensed or sent: no
/// model configured, an unknown cluster; and diagnose's ranking of findings, most likely root cause first.
/// </summary>
public sealed class BrainCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-brain-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Inventory => Path.Combine(TestPaths.RepoRoot, "inventory", "lab.yml");

    private string EmptySettings()
    {
        var path = Path.Combine(_dir, "pgra.yml");
        File.WriteAllText(path, "notify:\n  stdout: false\n");
        return path;
    }

    [Fact]
    public async Task Ask_WithoutAnLlmSection_SaysWhatToConfigureAndSendsNothing()
    {
        var result = await CliRunner.RunAsync("-i", Inventory, "--settings", EmptySettings(), "ask", "pg-test", "why is it slow?");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no language model is configured", result.All, StringComparison.Ordinal);
        Assert.Contains("docs/brain.md", result.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AskAndDiagnose_UnknownCluster_NameTheClusters()
    {
        var ask = await CliRunner.RunAsync("-i", Inventory, "--settings", EmptySettings(), "ask", "pg-nope", "anything?");
        var diagnose = await CliRunner.RunAsync("-i", Inventory, "--settings", EmptySettings(), "diagnose", "pg-nope");

        Assert.Equal(2, ask.ExitCode);
        Assert.Equal(2, diagnose.ExitCode);
        Assert.Contains("unknown cluster 'pg-nope'", ask.All, StringComparison.Ordinal);
        Assert.Contains("pg-test", diagnose.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mcp_Help_OffersReadOnly()
    {
        var result = await CliRunner.RunAsync("mcp", "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("--read-only", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Ranked_RootCauseRankFirst_ThenSeverity()
    {
        Finding F(string code, FindingSeverity severity) => new()
        {
            Code = code, Severity = severity, Cluster = "pg-test", Summary = code, FirstSeen = DateTimeOffset.UnixEpoch, LastSeen = DateTimeOffset.UnixEpoch,
        };
        var byRank = global::PgRuntimeAgent.Catalog.AgentCatalog.Default.Detectors.OrderBy(d => d.RootCauseRank).Select(d => d.Code).ToList();
        var low = byRank[^1];
        var high = byRank[0];

        var ranked = DiagnoseCommands.Ranked([F(low, FindingSeverity.Critical), F(high, FindingSeverity.Info), F("not-a-detector", FindingSeverity.Critical)]);

        Assert.Equal(new[] { high, low, "not-a-detector" }, ranked.Select(f => f.Code));
    }
}
