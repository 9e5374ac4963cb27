namespace PgRuntimeAgent.Tests.Cli;

public sealed class CliAppTests
{
    [Fact]
    public async Task Run_UnknownVerb_ExitsWithUsageError()
    {
        var result = await CliRunner.RunAsync("no-such-verb");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no-such-verb", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_Help_ExitsZeroAndListsOptions()
    {
        var result = await CliRunner.RunAsync("--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("--inventory", result.Out, StringComparison.Ordinal);
    }
}
