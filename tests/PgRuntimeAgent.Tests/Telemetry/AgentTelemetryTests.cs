using System.Diagnostics;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Telemetry;
using PgRuntimeAgent.Tests.Acting;

namespace PgRuntimeAgent.Tests.Telemetry;

/// <summary>The agent's own traces and metrics, heard the way OpenTelemetry or dotnet-counters hears them.</summary>
public sealed class AgentTelemetryTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly TelemetryRecorder _recorder = new();

    public void Dispose() => _recorder.Dispose();

    private bool Heard(string instrument, params (string Key, string Value)[] tags) => _recorder.Heard(instrument, tags);

    [Fact]
    public async Task Pipeline_ActionRuns_TracesItAndCountsItsOutcomeDecisionAndJournalAppends()
    {
        await using var h = await ActingHarness.CreateAsync();
        h.Actuator.World["leader"] = "pg-test-1";
        var action = ScriptedActuator.SetAction("leader", "pg-test-2");

        var result = await h.Pipeline().RunAsync(action, dryRun: false, Ct);

        Assert.Equal(ActionStatus.Succeeded, result.Status);
        var activity = Assert.Single(_recorder.Stopped, a => Equals(a.GetTagItem("pgra.action.id"), action.Id));
        Assert.Equal("pgra.action", activity.OperationName);
        Assert.Equal(AgentTelemetry.Acting.Name, activity.Source.Name);
        Assert.Equal("succeeded", activity.GetTagItem("pgra.action.status"));
        Assert.True(Heard("pgra.acting.actions", ("kind", action.Kind), ("status", "succeeded"), ("cluster", action.Cluster)));
        Assert.True(Heard("pgra.acting.action.duration", ("kind", action.Kind), ("status", "succeeded")));
        Assert.True(Heard("pgra.policy.decisions", ("class", action.PolicyClass), ("verdict", "execute")));
        Assert.True(Heard("pgra.journal.append.duration", ("kind", JournalKinds.ActionIntent)));
        Assert.True(Heard("pgra.journal.append.duration", ("kind", JournalKinds.ActionOutcome)));
    }

    [Fact]
    public async Task Pipeline_ForbiddenAction_IsTracedAndCountedAsRefused()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { Forbidden = [ScriptedActuator.Set] });
        var action = ScriptedActuator.SetAction("leader", "pg-test-2");

        var result = await h.Pipeline().RunAsync(action, dryRun: false, Ct);

        Assert.Equal(ActionStatus.Refused, result.Status);
        var activity = Assert.Single(_recorder.Stopped, a => Equals(a.GetTagItem("pgra.action.id"), action.Id));
        Assert.Equal("refused", activity.GetTagItem("pgra.action.status"));
        Assert.True(Heard("pgra.acting.actions", ("kind", action.Kind), ("status", "refused")));
        Assert.True(Heard("pgra.policy.decisions", ("class", action.PolicyClass), ("verdict", "refuse")));
    }

    [Fact]
    public void Inventory_ReadValidAndInvalid_CountedByResult()
    {
        var secrets = new PgRuntimeAgent.Secrets.SecretStore();
        var path = Path.Combine(TestPaths.RepoRoot, "inventory", "lab.yml");

        PgRuntimeAgent.Inventory.InventoryLoader.Check(path, secrets, PgRuntimeAgent.Inventory.InventoryOverrides.None);
        PgRuntimeAgent.Inventory.InventoryLoader.Parse("all: [not, a, mapping", "telemetry-bad.yml", secrets, PgRuntimeAgent.Inventory.InventoryOverrides.None);

        Assert.True(_recorder.Heard("pgra.inventory.reads", ("result", "valid")));
        Assert.True(_recorder.Heard("pgra.inventory.reads", ("result", "invalid")));
        Assert.True(_recorder.Heard("pgra.inventory.read.duration", ("result", "invalid")));
    }

    [Fact]
    public void Names_EveryMeterAndSourceStartsWithThePrefixAndIsListed()
    {
        Assert.All(AgentTelemetry.MeterNames, n => Assert.StartsWith(AgentTelemetry.Prefix + ".", n, StringComparison.Ordinal));
        Assert.Equal(AgentTelemetry.MeterNames.Count, AgentTelemetry.MeterNames.Distinct(StringComparer.Ordinal).Count());
        Assert.Contains(AgentTelemetry.Sensing.Source.Name, AgentTelemetry.SourceNames);
        Assert.Contains(AgentTelemetry.Acting.Source.Name, AgentTelemetry.SourceNames);
    }
}
