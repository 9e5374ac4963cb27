using System.Globalization;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Lab;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.LabTests.Agent;

/// <summary>
/// The agent against real faults on the lab's leader, with the workload measuring what clients saw: a crash that
/// Patroni handles (the agent verifies and explains it), a full WAL disk and a frozen node that Patroni alone handles
/// slowly or never (Patroni alone, then the agent allowed to act), and the same fault at autonomy 2, where the agent
/// waits for an approval. Each drill heals its fault. Run under <c>flock /work/notes/lab.lock</c> on a shared lab.
/// </summary>
public sealed class AgentLabTests
{
    /// <summary>The autonomy at which the agent fences and fails over alone: irreversible, but their loss is bounded by prechecks, so 3 when reacting (AGENT.md).</summary>
    private const int ActsAlone = 3;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PrimaryCrash_PatroniFailsOver_AgentVerifiesResolvesAndPostMortemAgreesWithTheWorkload()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        await using var agent = await AgentLab.CreateAsync(lab, level: null);

        var r = await AgentLab.DrillAsync(lab, new FaultDrillOptions { Scenario = "primary-crash", Cap = TimeSpan.FromSeconds(60) }, agent.Runtime);

        AgentLab.Report(r.Describe());
        var pm = r.PostMortem;
        if (pm is not null)
        {
            AgentLab.Report(string.Create(CultureInfo.InvariantCulture,
                $"post-mortem {pm.Incident}: {pm.OldLeader} -> {pm.NewLeader}, outage {pm.Outage.Seconds:0.0} s ({pm.Outage.StartMethod} .. {pm.Outage.EndMethod}), time to detect {pm.TimeToDetectSeconds:0.0} s, data-loss bound {pm.DataLoss.Bytes} bytes; workload outage {r.OutageSeconds:0.0} s, lost {r.LostWrites}"));
        }

        Assert.True(r.Restored, r.Describe() + "; " + string.Join("; ", r.Notes));
        Assert.NotNull(r.Incident);
        Assert.True(r.IncidentResolved, $"incident {r.Incident} not resolved; {string.Join("; ", r.Notes)}");
        Assert.NotNull(pm);
        Assert.NotEqual(r.LeaderBefore, r.LeaderAfter);
        Assert.Equal(r.LeaderBefore, pm.OldLeader);
        Assert.Equal(r.LeaderAfter, pm.NewLeader);
        Assert.NotNull(pm.Outage.Seconds);
        Assert.InRange(pm.Outage.Seconds!.Value - r.OutageSeconds!.Value, -2.0, 2.0);

        // The agent's part: primary-failure ran for the crash, took no action (Patroni failed over) and verified the new leader.
        var runs = agent.Runtime.Loop.Runs.Where(x => x.Skill.Name == "primary-failure").ToList();
        Assert.Contains(runs, x => x.Run.Status == SkillRunStatus.Completed
            && x.Run.Steps.Any(s => s.StepId == "verify_new_leader" && s.Status == SkillStepStatus.Passed));
        Assert.Empty(runs.SelectMany(x => x.Actions));
        Assert.True(pm.DataLoss.Bytes is null && (pm.DataLoss.AtLeastBytes is null || pm.DataLoss.AtLeastBytes <= 1_048_576), $"data loss {pm.DataLoss.Statement}: an asynchronous failover claims no bound, and its floor is within the lag limit");
        var file = r.Events.Single(e => e.Name == AgentEventNames.IncidentResolved && e.Incident == r.Incident).Details["postmortem_file"];
        Assert.True(File.Exists(file), $"no post-mortem file {file}");
        Assert.Contains(pm.NewLeader!, await File.ReadAllTextAsync(file!, Ct), StringComparison.Ordinal);
        Assert.True((await agent.Journal.VerifyAsync(Ct)).Ok);
    }

    [Theory]
    [InlineData("disk-full", "fast")]
    [InlineData("primary-freeze", "fast")]
    [InlineData("primary-freeze", "norm")]
    public async Task GrayFailure_PatroniAloneThenAgent_AgentRestoresWritesWithin30SecondsAndSooner(string scenario, string timing)
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        await using var preset = await AgentLab.HaTimingAsync(lab, timing);
        var alone = await AgentLab.DrillAsync(lab, new FaultDrillOptions { Scenario = scenario, Cap = AgentLab.PatroniAloneCap }, agent: null);
        AgentLab.Report(alone.Describe());

        lab = await LabGuard.RequireHealthyLabAsync();
        await using var agent = await AgentLab.CreateAsync(lab, ActsAlone);
        var acted = await AgentLab.DrillAsync(lab, new FaultDrillOptions { Scenario = scenario, Cap = TimeSpan.FromSeconds(90) }, agent.Runtime);
        AgentLab.Report(acted.Describe());
        var aloneText = alone.Restored ? $"{alone.OutageSeconds:0.0} s" : $"not restored within {alone.CapSeconds:0} s";
        var ratio = alone.Restored && acted.OutageSeconds is > 0 ? alone.OutageSeconds!.Value / acted.OutageSeconds.Value : (double?)null;
        AgentLab.Report(string.Create(CultureInfo.InvariantCulture,
            $"{scenario} ({timing} timing): fault-to-writable Patroni alone {aloneText}, agent {acted.OutageSeconds:0.0} s, ratio {(ratio is { } x ? x.ToString("0.0", CultureInfo.InvariantCulture) : $"> {alone.CapSeconds / Math.Max(0.1, acted.OutageSeconds ?? 1):0.0}")}; agent lost {acted.LostWrites} acknowledged writes, Patroni alone lost {alone.LostWrites}"));
        if (acted.PostMortem is { } pm)
        {
            AgentLab.Report($"post-mortem {pm.Incident}: {pm.Summary}");
        }

        Assert.True(acted.Restored, acted.Describe() + "; " + string.Join("; ", acted.Notes));
        Assert.True(acted.OutageSeconds <= 30, acted.Describe());
        AssertLossWithinTheLagLimit(scenario, acted);
        if (scenario == "disk-full")
        {
            // Patroni alone never fails over from a full WAL disk: the agent fences the old primary and fails over.
            Assert.False(alone.Restored && alone.OutageSeconds <= acted.OutageSeconds, $"the agent ({acted.OutageSeconds:0.0} s) was not sooner than Patroni alone ({alone.OutageSeconds:0.0} s)");
            var actions = agent.Runtime.Loop.Runs.SelectMany(x => x.Actions).ToList();
            Assert.Contains(actions, a => a.Action.Kind == "member.fence" && a.Action.Member == acted.LeaderBefore && a.Status == PgRuntimeAgent.Acting.ActionStatus.Succeeded);
            Assert.NotNull(acted.PostMortem);
            Assert.Equal(acted.LeaderBefore, acted.PostMortem.OldLeader);
            Assert.Equal(acted.LeaderAfter, acted.PostMortem.NewLeader);
            // An asynchronous failover proves no upper bound (writes after the last snapshot are invisible); the floor is within the RPO.
            Assert.Null(acted.PostMortem.DataLoss.Bytes);
            Assert.True(acted.PostMortem.DataLoss.AtLeastBytes is { } b && b <= 1_048_576, $"data loss {acted.PostMortem.DataLoss.Statement}");
        }
        else if (timing == "norm")
        {
            // Pigsty's default timing (ttl 30): the frozen leader's key outlives it by up to 30 s; the agent detects the
            // freeze, fences the member, releases its key and fails over first.
            Assert.True(alone.Restored is false || acted.OutageSeconds < alone.OutageSeconds,
                $"the agent ({acted.OutageSeconds:0.0} s) was not sooner than Patroni alone ({alone.OutageSeconds:0.0} s)");
            Assert.Contains(agent.Runtime.Loop.Runs.SelectMany(x => x.Actions), a => a.Action.Kind == "member.fence" && a.Status == PgRuntimeAgent.Acting.ActionStatus.Succeeded);
        }
        else
        {
            // The lab freezes the leader's Patroni too, and with the fast timing (ttl 10) its key expires about as
            // soon as two timed-out snapshots can tell a freeze from a slow probe: the agent must not be slower (within
            // one sensing interval), whoever moves first.
            Assert.True(!alone.Restored || acted.OutageSeconds <= alone.OutageSeconds + 2.0,
                $"the agent ({acted.OutageSeconds:0.0} s) was slower than Patroni alone ({alone.OutageSeconds:0.0} s)");
        }
    }

    [Fact]
    public async Task DiskFull_AtAutonomy2_PendingApprovalWithEvidence_NothingDoneUntilApproved()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        await using var agent = await AgentLab.CreateAsync(lab, level: 2);
        string? approvalId = null;
        Approval? pending = null;
        IReadOnlyList<JournalEntry> intentsBefore = [];
        string? leaderWhileWaiting = null;

        var r = await AgentLab.DrillAsync(lab, new FaultDrillOptions
        {
            Scenario = "disk-full",
            Cap = TimeSpan.FromSeconds(120),
            AfterInject = async (ctx, ct) =>
            {
                var asked = await ctx.WaitForEventAsync(e => e.Name == AgentEventNames.ApprovalRequested, TimeSpan.FromSeconds(60), ct);
                Assert.NotNull(asked);
                approvalId = asked.Details["action_id"];
                AgentLab.Report($"approval requested {(asked.At - ctx.InjectedAt).TotalSeconds:0.0} s after the fault: {asked.Title}");

                // Nothing happens while it waits.
                await Task.Delay(TimeSpan.FromSeconds(6), ct);
                pending = await agent.Runtime.Acting.Approvals.GetAsync(approvalId!, ct);
                intentsBefore = await agent.Journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.ActionIntent] }, ct);
                leaderWhileWaiting = (await lab.LeaderAsync(ct)).Name;

                // Approve; the agent runs the approved action and then its skill again (approving any further step).
                await agent.Runtime.Acting.Approvals.ApproveAsync(approvalId!, "lab-test", "approved by the test", ct);
                await AgentLab.ApproveUntilWritesAsync(agent.Runtime, ctx, ct);
            },
        }, agent.Runtime);

        AgentLab.Report(r.Describe());
        Assert.NotNull(pending);
        Assert.Equal(ApprovalStatus.Pending, pending.Status);
        Assert.Equal("member.fence", pending.Action.Kind);
        Assert.Equal(r.LeaderBefore, pending.Action.Member);
        Assert.Contains(pending.Reasons, x => x.Code == PolicyCodes.Level);
        Assert.NotNull(pending.Evidence);
        Assert.Empty(intentsBefore);
        Assert.Equal(r.LeaderBefore, leaderWhileWaiting);

        Assert.True(r.Restored, r.Describe() + "; " + string.Join("; ", r.Notes));
        var fence = await agent.Journal.QueryAsync(new JournalQuery { CorrelationId = approvalId, Kinds = [JournalKinds.ActionOutcome] }, Ct);
        Assert.Single(fence);
        AssertLossWithinTheLagLimit("disk-full", r);
    }

    /// <summary>
    /// Each workload write is one small INSERT and its commit (well under 1 KiB of WAL). A frozen or crashed leader
    /// acknowledges nothing after the fault, so nothing may be lost. A leader whose WAL disk fills keeps acknowledging
    /// commits into its current segment, and between crash restarts, for a moment: WAL that may never have reached a
    /// replica. Promoting one then loses those writes, which async replication allows up to maximum_lag_on_failover
    /// (1 MiB here, Pigsty's pg_rpo); the issue asks for nothing lost beyond the lag limit.
    /// </summary>
    private static void AssertLossWithinTheLagLimit(string scenario, FaultDrillResult r)
    {
        if (scenario != "disk-full")
        {
            Assert.Equal(0, r.LostWrites);
            return;
        }

        Assert.NotNull(r.LostWrites);
        Assert.True(r.LostWrites * 1024L <= 1_048_576, $"{r.LostWrites} acknowledged writes lost: more than the 1 MiB lag limit allows");
    }
}
