using System.Globalization;
using Npgsql;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Lab;

namespace PgRuntimeAgent.LabTests.Agent;

/// <summary>
/// The lock pile-up page at autonomy 2 (workload diagnosis issue): the lock-pileup skill asks to terminate the idle in
/// transaction head blocker, with the blocking tree in the request, and does nothing until an operator approves; after
/// the approval the head blocker's session ends, the queued writers drain, the finding clears, and the journal records
/// the terminate with its outcome under the approval's id.
/// </summary>
public sealed class LockPileupApprovalLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task LockPileup_Autonomy2_AsksToTerminateTheHeadBlocker_AndAfterApproveTheWaitersDrain()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        var faults = new LabFaults(lab.Manifest, TimeProvider.System);
        await using var agent = await AgentLab.CreateAsync(lab, level: 0, settings => settings with
        {
            Policy = settings.Policy with { Classes = new Dictionary<string, int>(settings.Policy.Classes) { ["sql.terminate_backend"] = 2 } },
        });
        await using var running = RunningAgent.Start(agent);
        Assert.NotNull(await running.WaitAsync(e => e.Name == AgentEventNames.Snapshot, TimeSpan.FromSeconds(20)));

        Approval? pending;
        int waitingBefore, waitingAfter;
        AgentEvent? raised, asked, cleared = null;
        IReadOnlyList<JournalEntry> intentsWhileWaiting;
        try
        {
            await faults.InjectAsync("lock-pileup", null, Ct);
            raised = await running.WaitAsync(e => e.Name == AgentEventNames.FindingRaised && e.Details.GetValueOrDefault("code") == "lock-pileup", TimeSpan.FromSeconds(60));
            Assert.True(raised is not null, "lock-pileup was not raised: " + string.Join(Environment.NewLine, running.Timeline()));
            // The lock-pileup skill's request (the long-transaction skill may ask to end the same idle session too).
            asked = await running.WaitAsync(e => e.Name == AgentEventNames.ApprovalRequested && (e.Message ?? "").Contains("; lock-pileup on", StringComparison.Ordinal),
                TimeSpan.FromSeconds(60));
            Assert.True(asked is not null, "no approval was requested: " + string.Join(Environment.NewLine, running.Timeline()));
            var approvalId = asked.Details["action_id"]!;

            // Nothing is done while it waits: the writers still queue behind the blocker.
            await Task.Delay(TimeSpan.FromSeconds(3), Ct);
            pending = await agent.Runtime.Acting.Approvals.GetAsync(approvalId, Ct);
            intentsWhileWaiting = await agent.Journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.ActionIntent] }, Ct);
            waitingBefore = await WaitingWritersAsync(lab, leader);

            await agent.Runtime.Acting.Approvals.ApproveAsync(approvalId, "lab-test", "approved by the test", Ct);
            cleared = await running.WaitAsync(e => e.Name == AgentEventNames.FindingCleared && e.Details.GetValueOrDefault("code") == "lock-pileup", TimeSpan.FromSeconds(60));
            waitingAfter = await WaitingWritersAsync(lab, leader);
        }
        finally
        {
            await faults.HealAsync("lock-pileup", Ct);
        }

        var outcome = await agent.Journal.QueryAsync(new JournalQuery { CorrelationId = pending?.Id, Kinds = [JournalKinds.ActionOutcome] }, Ct);
        AgentLab.Report($"lock-pileup at autonomy 2: approval asked {(asked.At - raised.At).TotalSeconds:0.0} s after the finding; {waitingBefore} writers waited; after approve the finding cleared {(cleared is null ? "never" : $"{(cleared.At - asked.At).TotalSeconds:0.0} s after the request")}, {waitingAfter} still waiting");
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join(Environment.NewLine, running.Timeline()));

        Assert.NotNull(pending);
        Assert.Equal("sql.terminate_backend", pending.Action.Kind);
        Assert.Equal(raised.Details["fact.pid"], pending.Action.Parameters["pid"]);
        Assert.Equal(leader.Name, pending.Action.Member);
        // The blocking tree in the request: who blocks, how many wait, and what it ran.
        Assert.Contains($"pid {raised.Details["fact.pid"]}", pending.Action.Reason, StringComparison.Ordinal);
        Assert.Contains("pgra-lab-lock-pileup", pending.Action.Reason, StringComparison.Ordinal);
        Assert.Contains("blocks", pending.Action.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(intentsWhileWaiting, e => e.Topic == "sql.terminate_backend");
        Assert.True(waitingBefore >= 3, $"{waitingBefore} writers waited before the approval");

        Assert.True(cleared is not null, "lock-pileup did not clear after the approval: " + string.Join(Environment.NewLine, running.Timeline()));
        Assert.Equal(0, waitingAfter);
        var done = Assert.Single(outcome);
        Assert.Equal(ActionOutcomeStatus.Succeeded, done.PayloadAs<OutcomePayload>()!.Status);
    }

    private static async Task<int> WaitingWritersAsync(LabInfo lab, LabMember leader)
    {
        await using var connection = new NpgsqlConnection(lab.ConnectionString(leader, database: lab.Manifest.Database));
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgra-lab-lock-pileup' AND wait_event_type = 'Lock'", connection);
        return Convert.ToInt32(await command.ExecuteScalarAsync(Ct), CultureInfo.InvariantCulture);
    }
}
