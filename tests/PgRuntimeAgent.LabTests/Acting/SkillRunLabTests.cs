using PgRuntimeAgent.Journal;

namespace PgRuntimeAgent.LabTests.Acting;

/// <summary>
/// <c>pgra skills run lock-pileup -c pg-test --finding lock-pileup</c> by hand on the live lab: the trigger is the
/// finding detection raises now (with the head blocker's facts), the run goes through the pipeline, and the terminate,
/// at level 2, waits for an operator. Before the pile-up has lasted long enough to be a finding, the run is refused.
/// </summary>
public sealed class SkillRunLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SkillsRun_LockPileupByHand_TakesTheLiveFindingAsTriggerAndTheTerminateWaitsForApproval()
    {
        await using var lab = await ActingLab.StartAsync("classes: { sql.terminate_backend: 2 }");
        var before = await lab.PgraAsync("skills", "run", "lock-pileup", "-c", "pg-test", "--finding", "lock-pileup");
        Assert.Equal(2, before.ExitCode);
        Assert.Contains("no active lock-pileup finding on pg-test: the skill is not run on a guess", before.Error, StringComparison.Ordinal);

        var inject = await lab.PgraAsync("lab", "inject", "lock-pileup");
        Assert.True(inject.ExitCode == 0, inject.ToString());
        try
        {
            // The writers' wait must pass wait_seconds (5 s) before it is a symptom, which must then last 5 s: an operator
            // who runs the skill this early is told so; one who waits gets the finding as the trigger.
            await Task.Delay(TimeSpan.FromSeconds(8), Ct);
            var run = await lab.PgraAsync("skills", "run", "lock-pileup", "-c", "pg-test", "--finding", "lock-pileup", "--json");

            Assert.True(run.ExitCode == 0, run.ToString());
            var json = run.Json();
            Assert.Equal("awaiting-approval", json.GetProperty("status").GetString());
            Assert.Equal("pgra-lab-lock-pileup", json.GetProperty("trigger").GetProperty("facts").GetProperty("application").GetString());
            var pid = json.GetProperty("trigger").GetProperty("facts").GetProperty("pid").GetString();
            var pending = Assert.Single((await lab.PgraAsync("approvals", "--json")).Json().EnumerateArray());
            Assert.Contains($"pid {pid}", pending.GetRawText(), StringComparison.Ordinal);
            var id = pending.GetProperty("id").GetString()!;
            Assert.DoesNotContain(await lab.JournalAsync(id), e => e.Kind == JournalKinds.ActionIntent);
            Assert.Contains(await lab.JournalAsync(), e => e.Kind == Incidents.IncidentKinds.SkillRun);
            Assert.Equal(0, (await lab.PgraAsync("deny", id, "--note", "lab test")).ExitCode);
        }
        finally
        {
            await lab.PgraAsync("lab", "heal", "lock-pileup");
        }
    }
}
