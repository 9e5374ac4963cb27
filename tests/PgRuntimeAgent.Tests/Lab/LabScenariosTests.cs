using PgRuntimeAgent.Lab;

namespace PgRuntimeAgent.Tests.Lab;

public sealed class LabScenariosTests
{
    private static readonly string[] Members = ["pg-test-1", "pg-test-2", "pg-test-3"];

    [Fact]
    public void All_TenScenarios_NamesAreTheIssues()
    {
        Assert.Equal(
            ["primary-crash", "primary-freeze", "disk-full", "archive-broken", "replication-stop", "lock-pileup", "connection-storm", "missing-index", "long-transaction", "bad-config"],
            LabScenarios.All.Select(s => s.Name));
    }

    [Theory]
    [InlineData("primary-crash", "PrimaryCrash")]
    [InlineData(" Disk-Full ", "DiskFull")]
    public void Parse_KnownName_Scenario(string name, string expected) =>
        Assert.Equal(expected, LabScenarios.Parse(name).Scenario.ToString());

    [Fact]
    public void Parse_UnknownName_InputExceptionListingScenarios()
    {
        var ex = Assert.Throws<InputException>(() => LabScenarios.Parse("meteor"));
        Assert.Contains("unknown scenario 'meteor'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("bad-config", Assert.Single(ex.Problems), StringComparison.Ordinal);
    }

    [Fact]
    public void ResolveTarget_LeaderScenarioWithoutMember_Leader() =>
        Assert.Equal("pg-test-2", LabScenarios.ResolveTarget(LabScenarios.Parse("primary-crash"), null, "pg-test-2", Members));

    [Fact]
    public void ResolveTarget_LeaderScenarioOnReplica_InputExceptionNamingLeader()
    {
        var ex = Assert.Throws<InputException>(() => LabScenarios.ResolveTarget(LabScenarios.Parse("disk-full"), "pg-test-3", "pg-test-1", Members));
        Assert.Contains("the leader is pg-test-1", Assert.Single(ex.Problems), StringComparison.Ordinal);
    }

    [Fact]
    public void ResolveTarget_ReplicaScenarioWithoutMember_FirstReplica() =>
        Assert.Equal("pg-test-2", LabScenarios.ResolveTarget(LabScenarios.Parse("replication-stop"), null, "pg-test-1", Members));

    [Fact]
    public void ResolveTarget_ReplicaScenarioOnLeader_InputException() =>
        Assert.Throws<InputException>(() => LabScenarios.ResolveTarget(LabScenarios.Parse("replication-stop"), "pg-test-1", "pg-test-1", Members));

    [Fact]
    public void ResolveTarget_UnknownMember_InputExceptionListingMembers()
    {
        var ex = Assert.Throws<InputException>(() => LabScenarios.ResolveTarget(LabScenarios.Parse("bad-config"), "pg-test-7", "pg-test-1", Members));
        Assert.Contains("unknown member 'pg-test-7'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("pg-test-1, pg-test-2, pg-test-3", Assert.Single(ex.Problems), StringComparison.Ordinal);
    }

    [Fact]
    public void ResolveTarget_NoLeader_InputException() =>
        Assert.Throws<InputException>(() => LabScenarios.ResolveTarget(LabScenarios.Parse("lock-pileup"), null, null, Members));

    [Fact]
    public void ResolveTarget_AnyMemberScenarioOnLeader_Leader() =>
        Assert.Equal("pg-test-1", LabScenarios.ResolveTarget(LabScenarios.Parse("bad-config"), "pg-test-1", "pg-test-1", Members));
}
