namespace PgRuntimeAgent.LabTests.Lab;

/// <summary>Bad input to `pgra lab inject|heal`: a clear error and exit 2, and nothing injected.</summary>
public sealed class LabBadInputTests
{
    [Fact]
    public async Task Inject_UnknownScenario_Exit2ListsScenarios()
    {
        var lab = await LabGuard.RequireLabAsync();
        var result = await LabCli.RunAsync("lab", "inject", "meteor-strike", "--dir", lab.Dir);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown scenario 'meteor-strike'", result.Error, StringComparison.Ordinal);
        Assert.Contains("primary-crash", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inject_UnknownMember_Exit2ListsMembers()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var result = await LabCli.RunAsync("lab", "inject", "replication-stop", "--member", "pg-test-9", "--dir", lab.Dir);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown member 'pg-test-9'", result.Error, StringComparison.Ordinal);
        Assert.Contains("pg-test-1", result.Error, StringComparison.Ordinal);
        Assert.Empty(PgRuntimeAgent.Lab.LabFaultBook.Active(lab.Manifest));
    }

    [Fact]
    public async Task Inject_LeaderScenarioOnReplica_Exit2NamesTheLeader()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(TestContext.Current.CancellationToken);
        var replica = lab.Members.First(m => m.Name != leader.Name);
        var result = await LabCli.RunAsync("lab", "inject", "primary-crash", "--member", replica.Name, "--dir", lab.Dir);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"the leader is {leader.Name}", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inject_NoLabInDirectory_Exit2()
    {
        await LabGuard.RequireLabAsync();
        var dir = Path.Combine(Path.GetTempPath(), "pgra-no-lab-" + Guid.NewGuid().ToString("N"));
        var result = await LabCli.RunAsync("lab", "inject", "primary-crash", "--dir", dir);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"no lab in {dir}", result.Error, StringComparison.Ordinal);
    }
}
