namespace PgRuntimeAgent.Tests.Cli;

public sealed class InventoryDriftCliTests
{
    [Fact]
    public async Task InventoryDrift_UnknownCluster_ExitsTwoNamingTheClusters()
    {
        var run = await CliRunner.RunAsync("-i", TestPaths.Fixture("pigsty", "v4.5.0", "ha-full.yml"), "inventory", "drift", "pg-nope", "--patch");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("no cluster 'pg-nope'", run.Error, StringComparison.Ordinal);
        Assert.Contains("clusters: pg-meta, pg-test", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InventoryDrift_Help_NamesPatch()
    {
        var run = await CliRunner.RunAsync("inventory", "drift", "--help");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("--patch", run.Out, StringComparison.Ordinal);
        Assert.Contains("CLUSTER", run.Out, StringComparison.Ordinal);
    }
}
