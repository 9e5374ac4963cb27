using Microsoft.Extensions.Logging;

namespace PgRuntimeAgent.Sensing;

/// <summary>Structured log events of sensing (event ids 2000-2099; docs/observability.md lists them).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Warning, Message = "Sensor {Sensor} on {Cluster} turned {Health}: {Reason}")]
    public static partial void SensorUnhealthy(ILogger logger, string sensor, string cluster, SensorHealth health, string reason);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Sensor {Sensor} on {Cluster} recovered (was {Previous})")]
    public static partial void SensorRecovered(ILogger logger, string sensor, string cluster, SensorHealth previous);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Snapshot of {Cluster} took {DurationMs} ms, longer than the sensing interval of {IntervalMs} ms")]
    public static partial void SlowSnapshot(ILogger logger, string cluster, double durationMs, double intervalMs);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Member {Member} of {Cluster} hit its {Sensor} probe deadline: {Reason}; its next probes get half the timeout")]
    public static partial void MemberDeadlineHit(ILogger logger, string member, string cluster, string sensor, string reason);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Information, Message = "Member {Member} of {Cluster} answered its probes in time again; full timeout restored")]
    public static partial void MemberDeadlineCleared(ILogger logger, string member, string cluster);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Error, Message = "Internal error in the {Sensor} sensor on {Cluster}: {Type}: {Error}")]
    public static partial void SensorCrashed(ILogger logger, string sensor, string cluster, string type, string error);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Debug, Message = "Snapshot of {Cluster} taken in {DurationMs} ms: leader {Leader}")]
    public static partial void SnapshotTaken(ILogger logger, string cluster, double durationMs, string leader);
}
