using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Tests.Acting;
using PgRuntimeAgent.Tests.Telemetry;

namespace PgRuntimeAgent.Tests.Policy;

public sealed class PolicyLogTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, int> Levels(params (string Class, int Level)[] entries) =>
        entries.ToDictionary(e => e.Class, e => e.Level, StringComparer.Ordinal);

    [Theory]
    [InlineData(5, 4002, LogLevel.Debug)]
    [InlineData(2, 4001, LogLevel.Information)]
    [InlineData(1, 4002, LogLevel.Debug)]
    public async Task Evaluate_AgentActionAtLevel_LogsTheDecisionAtItsLevel(int level, int eventId, LogLevel logLevel)
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { Classes = Levels((ScriptedActuator.Set, level)) });
        var logs = new LogRecorder();
        var gate = new PolicyGate(h.Policy, h.Journal, h.Time, logs.CreateLogger<PolicyGate>());
        var action = ScriptedActuator.SetAction("k", "v", trigger: ActionTrigger.Reactive);

        await gate.EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState() }, Ct);

        var log = Assert.Single(logs.Logs);
        Assert.Equal(eventId, log.EventId.Id);
        Assert.Equal(logLevel, log.Level);
        Assert.Contains(action.Id, log.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Evaluate_CandidatePastLagLimit_LogsARefusalWithItsCode()
    {
        await using var h = await ActingHarness.CreateAsync(new PolicySettings { DefaultLevel = 5 });
        var logs = new LogRecorder();
        var gate = new PolicyGate(h.Policy, h.Journal, h.Time, logs.CreateLogger<PolicyGate>());
        var action = ScriptedActuator.SetAction("leader", "pg-test-3", risk: ActionRisk.High,
            extra: new Dictionary<string, string> { [ActionParameters.Candidate] = "pg-test-3" });

        await gate.EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState(), ApprovedBy = "alice" }, Ct);

        var log = logs.Single(4000, LogLevel.Warning);
        Assert.Contains(PolicyCodes.LagLimit, log.Message, StringComparison.Ordinal);
        Assert.Contains("4000000 bytes", log.Message, StringComparison.Ordinal);
    }
}
