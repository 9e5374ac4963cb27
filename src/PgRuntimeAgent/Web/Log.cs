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

    [LoggerMessage(EventId = 9003, Level = LogLevel.Information, Message = "Console: {Name} signed in ({Role})")]
    public static partial void ConsoleSignedIn(ILogger logger, string name, string role);

    [LoggerMessage(EventId = 9004, Level = LogLevel.Warning, Message = "Console: a sign-in from {Remote} was refused (unknown token)")]
    public static partial void ConsoleSignInRefused(ILogger logger, string remote);
}
