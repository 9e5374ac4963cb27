using Microsoft.Extensions.Logging;

namespace PgRuntimeAgent.Alerts;

/// <summary>Structured log events of the Alertmanager intake (event ids 7200-7299). Label values never reach a log line.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 7200, Level = LogLevel.Warning, Message = "Alertmanager notification refused ({Code} at {Path})")]
    public static partial void Refused(ILogger logger, AlertPayloadErrorCode code, string path);

    [LoggerMessage(EventId = 7201, Level = LogLevel.Information, Message = "Alert {Alertname} on {Cluster}/{Member}: queued {Skills}")]
    public static partial void Queued(ILogger logger, string alertname, string cluster, string member, string skills);

    [LoggerMessage(EventId = 7202, Level = LogLevel.Information, Message = "Alert {Alertname} ignored: {Reason}")]
    public static partial void Ignored(ILogger logger, string alertname, string reason);

    [LoggerMessage(EventId = 7203, Level = LogLevel.Warning, Message = "Alertmanager left {Count} alert(s) out of a notification to {Receiver} (max_alerts)")]
    public static partial void Truncated(ILogger logger, int count, string receiver);
}
