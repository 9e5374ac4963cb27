using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Acting;

namespace PgRuntimeAgent.Policy;

/// <summary>Structured log events of the policy gate (event ids 4000-4099; docs/observability.md lists them).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 4000, Level = LogLevel.Warning, Message = "Action {ActionId} ({Kind}) on {Cluster} refused by policy ({Codes}): {Reason}")]
    public static partial void Refused(ILogger logger, string actionId, string kind, string cluster, string codes, string reason);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Action {ActionId} ({Kind}) on {Cluster} waits for approval: {Class} is at level {Level}, it needs {Required}")]
    public static partial void AwaitingApproval(ILogger logger, string actionId, string kind, string cluster, string @class, int level, int required);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Debug, Message = "Action {ActionId} ({Kind}) on {Cluster}: policy says {Verdict} ({Class} at level {Level}, needs {Required}, dry run {DryRun})")]
    public static partial void Decided(ILogger logger, string actionId, string kind, string cluster, PolicyVerdict verdict, string @class, int level, int required, bool dryRun);
}
