using Microsoft.Extensions.Logging;

namespace PgRuntimeAgent.Lab;

/// <summary>Structured log events of the loopback lab (event ids 8000-8099; docs/observability.md lists them).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 8000, Level = LogLevel.Information, Message = "Lab up: stage {Stage} done in {Seconds} s: {Detail}")]
    public static partial void UpStage(ILogger logger, string stage, double seconds, string detail);

    [LoggerMessage(EventId = 8001, Level = LogLevel.Error, Message = "Lab up: stage {Stage} failed after {Seconds} s: {Detail}")]
    public static partial void UpStageFailed(ILogger logger, string stage, double seconds, string detail);

    [LoggerMessage(EventId = 8002, Level = LogLevel.Information, Message = "Lab down in {Directory}: {Stopped} process(es) stopped, {Listening} address(es) still listening, purged {Purged}")]
    public static partial void Down(ILogger logger, string directory, int stopped, int listening, bool purged);

    [LoggerMessage(EventId = 8003, Level = LogLevel.Warning, Message = "Lab down in {Directory}: {Problem}")]
    public static partial void DownProblem(ILogger logger, string directory, string problem);

    [LoggerMessage(EventId = 8010, Level = LogLevel.Warning, Message = "Lab fault {Scenario} injected on {Target}: {Summary}")]
    public static partial void FaultInjected(ILogger logger, string scenario, string target, string summary);

    [LoggerMessage(EventId = 8011, Level = LogLevel.Information, Message = "Lab fault {Scenario} on {Target} healed (healthy: {Healthy}): {Summary}")]
    public static partial void FaultHealed(ILogger logger, string scenario, string target, bool healthy, string summary);

    [LoggerMessage(EventId = 8012, Level = LogLevel.Debug, Message = "Lab step: {Command}: {Outcome}")]
    public static partial void Step(ILogger logger, string command, string outcome);

    [LoggerMessage(EventId = 8013, Level = LogLevel.Information, Message = "Lab repair finished (healthy: {Healthy}) in {Seconds} s with {Steps} step(s): {Summary}")]
    public static partial void Repaired(ILogger logger, bool healthy, double seconds, int steps, string summary);
}
