using System.Text.Json;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Skills;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Agent;

/// <summary>A skill run by hand through the loop's pipeline: journaled like a loop run, refused beside a running loop.</summary>
public sealed class AgentLoopByHandTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RunSkillByHand_JournalsTheRunAndItsNotes_WithTheGivenTrigger()
    {
        await using var kit = await AgentKit.CreateAsync(skills: AgentLoopScheduleTests.Catalog(AgentLoopScheduleTests.Manual));
        kit.World = Load("healthy");
        var trigger = JsonDocument.Parse("""{"code":"missing-index","cluster":"pg-test","facts":{"table":"orders"}}""").RootElement.Clone();

        var run = await kit.Loop.RunSkillByHandAsync(AgentKit.Cluster, "manual", trigger, null, Ct);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        var record = Assert.Single(await kit.EntriesAsync(IncidentKinds.SkillRun)).PayloadAs<SkillRunRecord>()!;
        Assert.Equal("manual", record.Run.Skill);
        Assert.Equal("orders", record.Run.Trigger!.Value.GetProperty("facts").GetProperty("table").GetString());
        Assert.Single(record.ServedSnapshots);
        var note = Assert.Single(await kit.EntriesAsync(IncidentKinds.SkillNote));
        Assert.Contains("ran", note.Summary, StringComparison.Ordinal);
        Assert.Contains(kit.EventsNamed(AgentEventNames.SkillStarted), e => e.Title == "skill manual by hand");
        Assert.Contains(kit.EventsNamed(AgentEventNames.SkillFinished), e => e.Title == "skill manual: completed");
    }

    [Fact]
    public async Task RunSkillByHand_UnknownSkillOrCluster_IsRefusedWithWhatExists()
    {
        await using var kit = await AgentKit.CreateAsync(skills: AgentLoopScheduleTests.Catalog(AgentLoopScheduleTests.Manual));
        kit.World = Load("healthy");

        var skill = await Assert.ThrowsAsync<InvalidOperationException>(() => kit.Loop.RunSkillByHandAsync(AgentKit.Cluster, "nope", null, null, Ct));
        var cluster = await Assert.ThrowsAsync<InvalidOperationException>(() => kit.Loop.RunSkillByHandAsync("pg-other", "manual", null, null, Ct));

        Assert.Contains("skills: manual", skill.Message, StringComparison.Ordinal);
        Assert.Contains("pg-other", cluster.Message, StringComparison.Ordinal);
        Assert.Empty(await kit.EntriesAsync(IncidentKinds.SkillRun));
    }

    [Fact]
    public async Task RunSkillByHand_WhileTheLoopRuns_IsRefused()
    {
        await using var kit = await AgentKit.CreateAsync(skills: AgentLoopScheduleTests.Catalog(AgentLoopScheduleTests.Manual));
        kit.World = Load("healthy");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var loop = kit.Loop.RunAsync(stop.Token);
        try
        {
            for (var i = 0; i < 500 && kit.EventsNamed(AgentEventNames.Started).Count == 0; i++)
            {
                await Task.Delay(10, Ct);
            }

            var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => kit.Loop.RunSkillByHandAsync(AgentKit.Cluster, "manual", null, null, Ct));
            Assert.Contains("loop is running", refused.Message, StringComparison.Ordinal);
        }
        finally
        {
            await stop.CancelAsync();
            await loop;
        }

        var run = await kit.Loop.RunSkillByHandAsync(AgentKit.Cluster, "manual", null, null, Ct);
        Assert.Equal(SkillRunStatus.Completed, run.Status);
    }
}
