using System.Diagnostics;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Lab;

namespace PgRuntimeAgent.LabTests.Agent;

/// <summary>
/// The everyday pages (workload diagnosis issue): each lab scenario raises its own finding within 30 s of the fault
/// being in place, the finding names the culprit (member, parameter, pid and application...), and healing the
/// fault clears it. The agent runs at autonomy 0 (observe): it senses, detects and journals, and acts on nothing.
/// </summary>
public sealed class WorkloadFindingsLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly TimeSpan DetectWithin = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task BadConfig_Replica_ConfigBrokenNamesTheMemberTheParameterAndTheFatalLine()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        var replica = lab.Members.First(m => m.Name != leader.Name).Name;

        var raised = await RaiseAndHealAsync(lab, "bad-config", replica, "config-broken");

        Assert.Equal(replica, raised.Details["member"]);
        Assert.Equal("shared_preload_libraries", raised.Details["fact.parameter"]);
        Assert.Equal(LabFaults.MissingLibrary, raised.Details["fact.value"]);
        Assert.Contains($"could not access file \"{LabFaults.MissingLibrary}\"", raised.Details["fact.line"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task LockPileup_Leader_NamesTheIdleInTransactionHeadBlockerAndItsApplication()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();

        var raised = await RaiseAndHealAsync(lab, "lock-pileup", null, "lock-pileup");

        Assert.Equal("pgra-lab-lock-pileup", raised.Details["fact.application"]);
        Assert.StartsWith("idle in transaction", raised.Details["fact.state"], StringComparison.Ordinal);
        Assert.True(int.Parse(raised.Details["fact.waiters"]!, System.Globalization.CultureInfo.InvariantCulture) >= 3, raised.Message);
        Assert.Contains(raised.Details["fact.pid"]!, raised.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectionStorm_Leader_ConnectionSaturationNamesTheApplicationHoldingThem()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();

        var raised = await RaiseAndHealAsync(lab, "connection-storm", null, "connection-saturation");

        Assert.Equal("pgra-lab-connection-storm", raised.Details["fact.top_application"]);
    }

    [Fact]
    public async Task LongTransaction_Leader_NamesTheHolderOfTheXminHorizon()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();

        var raised = await RaiseAndHealAsync(lab, "long-transaction", null, "long-transaction");

        Assert.Contains("pgra-lab-long-transaction", raised.Message + string.Join(" ", raised.Details.Values), StringComparison.Ordinal);
    }

    /// <summary>
    /// Runs an observing agent, injects <paramref name="scenario"/>, waits for <paramref name="code"/> to be raised
    /// (within <see cref="DetectWithin"/> of the fault being in place), heals, and waits for the finding to clear.
    /// </summary>
    private static async Task<AgentEvent> RaiseAndHealAsync(LabInfo lab, string scenario, string? member, string code)
    {
        await using var agent = await AgentLab.CreateAsync(lab, level: 0);
        await using var running = RunningAgent.Start(agent);
        Assert.NotNull(await running.WaitAsync(e => e.Name == AgentEventNames.Snapshot, TimeSpan.FromSeconds(20)));
        Assert.DoesNotContain(running.Events, e => e.Name == AgentEventNames.FindingRaised && Code(e) == code);

        var faults = new LabFaults(lab.Manifest, TimeProvider.System);
        AgentEvent? raised;
        TimeSpan took;
        try
        {
            await faults.InjectAsync(scenario, member, Ct);
            var inPlace = Stopwatch.StartNew();
            raised = await running.WaitAsync(e => e.Name == AgentEventNames.FindingRaised && Code(e) == code, DetectWithin + TimeSpan.FromSeconds(5));
            took = inPlace.Elapsed;
        }
        finally
        {
            await faults.HealAsync(scenario, Ct);
        }

        var cleared = raised is null ? null
            : await running.WaitAsync(e => e.Name == AgentEventNames.FindingCleared && Code(e) == code, TimeSpan.FromSeconds(90));
        await running.StopAsync();
        AgentLab.Report($"{scenario}: {code} raised {took.TotalSeconds:0.0} s after the fault was in place: {raised?.Message}");
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join(Environment.NewLine, running.Timeline()));
        Assert.True(raised is not null, $"{code} was not raised within {DetectWithin.TotalSeconds:0} s of {scenario}:{Environment.NewLine}{string.Join(Environment.NewLine, running.Timeline())}");
        Assert.True(took <= DetectWithin, $"{code} took {took.TotalSeconds:0.0} s");
        Assert.True(cleared is not null, $"{code} did not clear after healing {scenario}");
        // At autonomy 0 a skill may propose, and the policy refuses: nothing is executed.
        Assert.All(running.Events.Where(e => e.Name == AgentEventNames.ActionFinished), e => Assert.EndsWith(": refused", e.Title, StringComparison.Ordinal));
        return raised;
    }

    private static string? Code(AgentEvent e) => e.Details.GetValueOrDefault("code");
}
