using System.Text.Json;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Skills;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Agent;

public sealed class PipelineSkillHostTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static SkillActionRequest Request(string actionClass, string with, int? ceiling = null, bool reactive = true) => new(
        AgentKit.Cluster, actionClass, JsonDocument.Parse(with).RootElement.Clone(), "primary-failure", "step", "because", false, ceiling, TimeSpan.FromSeconds(30),
        reactive ? JsonDocument.Parse("""{"code":"primary-disk-full","member":"pg-test-3"}""").RootElement.Clone() : null, "sha256:0");

    [Theory]
    [InlineData("Succeeded", SkillActionStatus.Succeeded)]
    [InlineData("ExecuteFailed", SkillActionStatus.Failed)]
    [InlineData("VerifyFailed", SkillActionStatus.Failed)]
    [InlineData("PrecheckFailed", SkillActionStatus.Failed)]
    [InlineData("Unknown", SkillActionStatus.Failed)]
    [InlineData("NotExecuted", SkillActionStatus.Failed)]
    [InlineData("DryRun", SkillActionStatus.Planned)]
    [InlineData("AwaitingApproval", SkillActionStatus.PendingApproval)]
    [InlineData("Recommended", SkillActionStatus.Refused)]
    [InlineData("Observed", SkillActionStatus.Refused)]
    [InlineData("Refused", SkillActionStatus.Refused)]
    public void Map_PipelineStatus_IsWhatTheRunnerExpects(string status, SkillActionStatus expected) =>
        Assert.Equal(expected, PipelineSkillHost.Map(Enum.Parse<ActionStatus>(status)));

    [Fact]
    public void Parameters_MemberBecomesTheTargetAndTheFailoverNamesTheFailedLeader()
    {
        var (member, parameters) = PipelineSkillHost.Parameters(Request("patroni.failover", """{"candidate":"pg-test-1","leader":"pg-test-3","member":null,"n":3}"""));

        Assert.Null(member);
        // The failed leader reaches the planner, which refuses when Patroni has given the key to another member since.
        Assert.Equal(new Dictionary<string, string> { ["candidate"] = "pg-test-1", ["leader"] = "pg-test-3", ["n"] = "3" }, parameters);
        Assert.DoesNotContain("cluster", PipelineSkillHost.Parameters(Request("inventory.propose_patch", """{"cluster":"pg-test","member":"pg-test-1"}""")).Parameters.Keys);
        Assert.Equal("pg-test-3", PipelineSkillHost.Parameters(Request("member.fence", """{"member":"pg-test-3"}""")).Member);
    }

    [Fact]
    public async Task ExecuteAction_SkillCeilingBelowThePolicy_WaitsForApprovalAtTheCappedLevel()
    {
        await using var kit = await AgentKit.CreateAsync(level: 4);
        kit.World = Load("disk-full-02") with { TakenAt = kit.Time.GetUtcNow() };
        var host = new PipelineSkillHost(kit.Acting, kit.Incidents, kit.SenseAsync, _ => { }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

        var capped = await host.ExecuteActionAsync(Request("member.fence", """{"member":"pg-test-3"}""", ceiling: 2), Ct);

        Assert.Equal(SkillActionStatus.PendingApproval, capped.Status);
        Assert.Empty(kit.Actuator.Executed);
        var approval = Assert.Single(await kit.Acting.Approvals.ListAsync(false, Ct));
        Assert.Equal(capped.JournalId, approval.Id);
        Assert.Equal("skill:primary-failure", approval.Action.Initiator);
        Assert.Equal(30, approval.Action.VerifyTimeoutSeconds);
        Assert.Contains(approval.Reasons, r => r.Code == PolicyCodes.Level && r.Message.Contains("at level 4", StringComparison.Ordinal)
            && r.Message.Contains("capped at 2", StringComparison.Ordinal));
        Assert.Equal(AutonomyLevel.ActAfterApproval, host.Actions[^1].Decision!.Ceiling);

        var free = await host.ExecuteActionAsync(Request("member.fence", """{"member":"pg-test-3"}""", ceiling: 5), Ct);
        Assert.Equal(SkillActionStatus.Succeeded, free.Status);
        Assert.Equal(["member.fence pg-test-3"], kit.Actuator.Executed);
        Assert.Equal(4, (int)host.Actions[^1].Decision!.Level);
        Assert.Null(host.Actions[^1].Decision!.Ceiling);
    }

    [Fact]
    public async Task ExecuteAction_UnknownAction_FailsWithTheReasonInsteadOfThrowing()
    {
        await using var kit = await AgentKit.CreateAsync();
        kit.World = Load("healthy");
        var host = new PipelineSkillHost(kit.Acting, kit.Incidents, kit.SenseAsync, _ => { }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

        var outcome = await host.ExecuteActionAsync(Request("inventory.propose_patch", "{}"), Ct);

        Assert.Equal(SkillActionStatus.Failed, outcome.Status);
        Assert.Contains("could not plan the action", outcome.Message, StringComparison.Ordinal);
    }
}
