using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Lab;

namespace PgRuntimeAgent.LabTests.Agent;

/// <summary>
/// Warning findings outside a critical incident (safety issue: "archive-failing and replication-lag were never
/// journaled and no skill started, though the skills exist; `pgra detect` said 'lags 0 B, 70 s behind' and nothing
/// said replay was stalled"). The same faults as then, on the real lab, with a running agent at the policy's
/// defaults: each finding opens a warning incident and starts its skill; a stalled replay is said as such, with the
/// lag in bytes taken from the leader's position. Each test heals its fault.
/// </summary>
public sealed class WarningFindingsLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ArchiveFailing_NoCriticalIncident_OpensAWarningIncidentAndStartsTheArchiveSkill()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = (await lab.LeaderAsync(Ct)).Name;
        await using var agent = await AgentLab.CreateAsync(lab, level: null);
        await using var running = RunningAgent.Start(agent);
        await running.WaitAsync(e => e.Name == AgentEventNames.Snapshot, TimeSpan.FromSeconds(20));

        var faults = new LabFaults(lab.Manifest, TimeProvider.System);
        await faults.InjectAsync("archive-broken", null, Ct);
        AgentEvent? started;
        try
        {
            started = await running.WaitAsync(e => e.Name == AgentEventNames.SkillStarted && e.Title.Contains("archive-failure", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        }
        finally
        {
            await faults.HealAsync("archive-broken", Ct);
        }

        await running.StopAsync();
        AgentLab.Report(string.Join(Environment.NewLine, running.Timeline()));
        Assert.NotNull(started);
        Assert.Contains("archive-failing", started.Title, StringComparison.Ordinal);
        Assert.Equal("warning", started.Severity);
        // The finding opens a warning incident, or joins the one already open (the lab's backup may be stale too).
        var opened = Assert.Single(running.Events, e => e.Name == AgentEventNames.IncidentOpened && e.Incident == started.Incident);
        Assert.Equal("warning", opened.Severity);
        Assert.DoesNotContain(running.Events, e => e.Name == AgentEventNames.IncidentOpened && e.Severity == "critical");

        // Journaled: the finding is in the incident's record, on the leader, with pg_stat_archiver's evidence.
        var data = await PgRuntimeAgent.Incidents.IncidentStore.LoadAsync(agent.Journal, opened.Incident!, Ct);
        Assert.NotNull(data);
        var raised = PgRuntimeAgent.Incidents.IncidentStore.FindingEntries(data)
            .First(f => f.Finding.Code == FindingCodes.ArchiveFailing).Finding;
        Assert.Equal(leader, Assert.Single(raised.Members));
        Assert.Contains(raised.Evidence, x => x.Observation.Contains("pg_stat_archiver", StringComparison.Ordinal));
        Assert.True((await agent.Journal.VerifyAsync(Ct)).Ok);
    }

    [Fact]
    public async Task ReplayStopped_Replica_ReplicationLagSaysReplayStalledWithTheBytesBehindTheLeaderAndStartsItsSkill()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        var replica = lab.Members.First(m => m.Name != leader.Name).Name;

        // The stall must last replication_lag_seconds; 5 s instead of the default 60 keeps the test short.
        await using var agent = await AgentLab.CreateAsync(lab, level: null,
            s => s with { Detection = s.Detection with { ReplicationLagSeconds = 5 } });
        await using var workload = await lab.StartWorkloadAsync(TimeSpan.FromMilliseconds(50), cancellationToken: Ct);
        await using var running = RunningAgent.Start(agent);
        await running.WaitAsync(e => e.Name == AgentEventNames.Snapshot, TimeSpan.FromSeconds(20));

        var faults = new LabFaults(lab.Manifest, TimeProvider.System);
        await faults.InjectAsync("replication-stop", replica, Ct);
        AgentEvent? started;
        try
        {
            started = await running.WaitAsync(e => e.Name == AgentEventNames.SkillStarted && e.Title.Contains("replication-lag", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        }
        finally
        {
            await faults.HealAsync("replication-stop", Ct);
        }

        await running.StopAsync();
        await workload.StopAsync();
        AgentLab.Report(string.Join(Environment.NewLine, running.Timeline()));
        Assert.NotNull(started);
        Assert.Equal("warning", started.Severity);
        Assert.Contains(replica, started.Title, StringComparison.Ordinal);
        var opened = Assert.Single(running.Events, e => e.Name == AgentEventNames.IncidentOpened && e.Incident == started.Incident);
        Assert.Equal("warning", opened.Severity);

        var data = await PgRuntimeAgent.Incidents.IncidentStore.LoadAsync(agent.Journal, opened.Incident!, Ct);
        Assert.NotNull(data);
        var finding = PgRuntimeAgent.Incidents.IncidentStore.FindingEntries(data)
            .First(f => f.Finding.Code == FindingCodes.ReplicationLag).Finding;
        Assert.Equal(replica, Assert.Single(finding.Members));
        Assert.Contains($"replay stalled on {replica}", finding.Summary, StringComparison.Ordinal);

        // The bytes are the leader's position minus the replica's replay position: never "0 B" while replay stands still.
        Assert.DoesNotContain("lags 0 B", finding.Summary, StringComparison.Ordinal);
        Assert.True((await agent.Journal.VerifyAsync(Ct)).Ok);
    }
}
