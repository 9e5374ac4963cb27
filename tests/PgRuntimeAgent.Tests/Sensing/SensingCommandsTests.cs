using PgRuntimeAgent.Cli.Commands;

namespace PgRuntimeAgent.Tests.Sensing;

public sealed class SensingCommandsTests
{
    private static string LabInventory => Path.Combine(TestPaths.RepoRoot, "inventory", "lab.yml");

    [Theory]
    [InlineData("10m", 600)]
    [InlineData("30s", 30)]
    [InlineData("2h", 7200)]
    [InlineData("1d", 86400)]
    [InlineData("1.5min", 90)]
    public void ParseSince_Durations_CountBackFromNow(string text, double seconds)
    {
        var now = new DateTimeOffset(2026, 11, 22, 18, 0, 0, TimeSpan.Zero);

        Assert.Equal(now.AddSeconds(-seconds), SensingCommands.ParseSince(text, now));
    }

    [Fact]
    public void ParseSince_IsoTime_IsAbsolute()
    {
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 17, 0, 0, TimeSpan.Zero), SensingCommands.ParseSince("2026-11-22T17:00:00Z", DateTimeOffset.UnixEpoch));
    }

    [Fact]
    public async Task Logs_UnknownMember_ExitsTwoNamingTheMembers()
    {
        var result = await CliRunner.RunAsync("logs", "pg-test", "--member", "pg-test-9", "-i", LabInventory);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no member 'pg-test-9' in cluster pg-test", result.Error, StringComparison.Ordinal);
        Assert.Contains("pg-test-1, pg-test-2, pg-test-3", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logs_BadSince_ExitsTwo()
    {
        var result = await CliRunner.RunAsync("logs", "pg-test", "--since", "yesterday-ish", "-i", LabInventory);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--since 'yesterday-ish'", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Snapshot_UnknownCluster_ExitsTwo()
    {
        var result = await CliRunner.RunAsync("snapshot", "pg-nope", "-i", LabInventory);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no cluster 'pg-nope'", result.Error, StringComparison.Ordinal);
        Assert.Contains("pg-test", result.Error, StringComparison.Ordinal);
    }
}
