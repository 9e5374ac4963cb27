namespace PgRuntimeAgent.Tests.Lab;

/// <summary>`pgra lab` input errors that need no lab.</summary>
public sealed class LabCliTests
{
    [Fact]
    public async Task Inject_UnknownScenario_Exit2()
    {
        var result = await CliRunner.RunAsync("lab", "inject", "meteor-strike", "--dir", "/nonexistent/pgra-lab");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown scenario 'meteor-strike'", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Heal_UnknownScenario_Exit2()
    {
        var result = await CliRunner.RunAsync("lab", "heal", "meteor-strike", "--dir", "/nonexistent/pgra-lab");
        Assert.Equal(2, result.ExitCode);
    }

    [Fact]
    public async Task Status_NoLab_Exit1SaysHowToBringItUp()
    {
        var result = await CliRunner.RunAsync("lab", "status", "--dir", "/nonexistent/pgra-lab");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("pgra lab up", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Up_UnknownHaPreset_Exit2()
    {
        if (Environment.UserName != "root")
        {
            Assert.Skip("lab up checks root first");
        }

        var result = await CliRunner.RunAsync("lab", "up", "--ha", "turbo", "--dir", "/nonexistent/pgra-lab");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown HA preset 'turbo'", result.Error, StringComparison.Ordinal);
    }
}
