using Microsoft.Extensions.Logging;

namespace PgRuntimeAgent.Journal;

/// <summary>Structured log events of the journal (event ids 3000-3099; docs/observability.md lists them).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Information, Message = "Journal {Location} opened (schema version {Version})")]
    public static partial void Opened(ILogger logger, string location, int version);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Journal {Location} migrated from schema version {From} to {To}")]
    public static partial void Migrated(ILogger logger, string location, int from, int to);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "Journal {Location} could not be opened: {Error}")]
    public static partial void OpenFailed(ILogger logger, string location, string error);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Error, Message = "Journal {Location}: could not {Operation}: {Error}")]
    public static partial void CallFailed(ILogger logger, string location, string operation, string error);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Error, Message = "Journal {Location} failed verification at entry #{Seq}: {Problem}: {Detail}")]
    public static partial void VerificationFailed(ILogger logger, string location, long seq, string problem, string detail);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "Journal {Location} verified: {Checked} entries, head #{LastSeq}")]
    public static partial void Verified(ILogger logger, string location, long @checked, long lastSeq);
}
