using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Agent;

/// <summary>Structured log events of the agent loop (event ids 7100-7199).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 7100, Level = LogLevel.Information, Message = "Agent started: watching {Clusters} every {IntervalSeconds} s with {Skills} skills")]
    public static partial void Started(ILogger logger, string clusters, double intervalSeconds, int skills);

    [LoggerMessage(EventId = 7101, Level = LogLevel.Information, Message = "Agent stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(EventId = 7102, Level = LogLevel.Warning, Message = "Reconciled open intent {ActionId} ({Kind}) on {Cluster} at start-up: {Result}")]
    public static partial void Reconciled(ILogger logger, string actionId, string kind, string cluster, string result);

    [LoggerMessage(EventId = 7103, Level = LogLevel.Error, Message = "Reconciling open intents failed: {Error}")]
    public static partial void ReconcileFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 7104, Level = LogLevel.Warning, Message = "No snapshot of {Cluster} (attempt {Attempt}): {Error}")]
    public static partial void SenseFailed(ILogger logger, string cluster, int attempt, string error);

    [LoggerMessage(EventId = 7105, Level = LogLevel.Error, Message = "Tick on {Cluster} failed with {Type}: {Error}; the agent keeps watching")]
    public static partial void TickFailed(ILogger logger, string cluster, string type, string error);

    [LoggerMessage(EventId = 7106, Level = LogLevel.Error, Message = "Journal write for {Cluster} failed: {Error}")]
    public static partial void JournalFailed(ILogger logger, string cluster, string error);

    [LoggerMessage(EventId = 7110, Level = LogLevel.Information, Message = "Skill {Skill} starting on {Cluster} for {Code} ({Why})")]
    public static partial void SkillStarting(ILogger logger, string skill, string cluster, string code, string why);

    [LoggerMessage(EventId = 7111, Level = LogLevel.Information, Message = "Skill {Skill} on {Cluster} finished {Status}: {Message}")]
    public static partial void SkillFinished(ILogger logger, string skill, string cluster, SkillRunStatus status, string message);

    [LoggerMessage(EventId = 7112, Level = LogLevel.Warning, Message = "Skill {Skill} on {Cluster} was cancelled (stop or time limit)")]
    public static partial void SkillCancelled(ILogger logger, string skill, string cluster);

    [LoggerMessage(EventId = 7113, Level = LogLevel.Error, Message = "A skill run on {Cluster} crashed: {Error}")]
    public static partial void SkillCrashed(ILogger logger, string cluster, string error);

    [LoggerMessage(EventId = 7114, Level = LogLevel.Information, Message = "Skill {Skill} step {Step}: {ActionClass} on {Cluster}: {Status}: {Message}")]
    public static partial void ActionFinished(ILogger logger, string skill, string step, string actionClass, string cluster, SkillActionStatus status, string message);

    [LoggerMessage(EventId = 7115, Level = LogLevel.Warning, Message = "Approved action {ApprovalId} could not run: {Error}")]
    public static partial void ApprovedRunFailed(ILogger logger, string approvalId, string error);

    [LoggerMessage(EventId = 7116, Level = LogLevel.Information, Message = "Stopping: waiting up to {GraceSeconds} s for {Count} skill run(s)")]
    public static partial void Draining(ILogger logger, int count, double graceSeconds);

    [LoggerMessage(EventId = 7117, Level = LogLevel.Warning, Message = "A snapshot of {Cluster} served to a skill was not journaled: {Error}")]
    public static partial void SnapshotNotJournaled(ILogger logger, string cluster, string error);

    [LoggerMessage(EventId = 7118, Level = LogLevel.Warning, Message = "Observer {Observer} failed: {Error}")]
    public static partial void ObserverFailed(ILogger logger, string observer, string error);

    [LoggerMessage(EventId = 7119, Level = LogLevel.Information, Message = "Post-mortem of {Incident} written to {File}")]
    public static partial void PostMortemWritten(ILogger logger, string incident, string file);

    [LoggerMessage(EventId = 7122, Level = LogLevel.Information, Message = "Skill {Skill} not run on {Cluster} for alert {Alertname}: {Why}")]
    public static partial void AlertRunSkipped(ILogger logger, string skill, string cluster, string alertname, string why);

    [LoggerMessage(EventId = 7121, Level = LogLevel.Warning, Message = "Post-mortem of {Incident} not written to {Directory}: {Error}")]
    public static partial void PostMortemFailed(ILogger logger, string incident, string directory, string error);
}
