using Microsoft.Extensions.Logging;

namespace PgRuntimeAgent.Inventory;

/// <summary>Structured log events of the inventory loader (event ids 1000-1099; docs/observability.md lists them).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Inventory {Path} loaded: {Clusters} cluster(s), {Members} member(s)")]
    public static partial void Loaded(ILogger logger, string path, int clusters, int members);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Error, Message = "Inventory {Path}: {Count} problem(s); the first: {Problem}")]
    public static partial void Invalid(ILogger logger, string path, int count, string problem);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Inventory {Path}: {Warning}")]
    public static partial void Warning(ILogger logger, string path, string warning);
}
