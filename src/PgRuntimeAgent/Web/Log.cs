using Microsoft.Extensions.Logging;

namespace PgRuntimeAgent.Web;

/// <summary>Structured log events of the web host (event ids 9000-9099; docs/observability.md lists them).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 9000, Level = LogLevel.Information, Message = "Web host listening on {Addresses}: MCP at /mcp ({Mcp}), API at /api/v1, metrics at /metrics, {Tokens} token(s)")]
    public static partial void Started(ILogger logger, string addresses, string mcp, int tokens);

    [LoggerMessage(EventId = 9001, Level = LogLevel.Information, Message = "Web host off: {Why}")]
    public static partial void Off(ILogger logger, string why);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Information, Message = "Web host stopped")]
    public static partial void Stopped(ILogger logger);
}
