using System.Text.Json;
using System.Text.Json.Serialization;

namespace PgRuntimeAgent.Alerts;

/// <summary>
/// What <see cref="AlertIntake"/> did with one notification: the counts, each alert's outcome with its reason, and the
/// skill runs it queued; or, for a refused body, the <see cref="Error"/>. A web host answers with <see cref="ToJson"/>
/// and <see cref="HttpStatus"/>.
/// </summary>
internal sealed record AlertIntakeResult
{
    /// <summary><c>accepted</c> (the notification was read and journaled) or <c>refused</c> (see <see cref="Error"/>).</summary>
    public required string Status { get; init; }

    /// <summary>Why the body was refused; null when accepted.</summary>
    public AlertPayloadError? Error { get; init; }

    public string? Receiver { get; init; }

    public string? GroupKey { get; init; }

    /// <summary>Alerts in the notification.</summary>
    public int Alerts { get; init; }

    /// <summary>New firing occurrences whose skills were queued.</summary>
    public int Accepted { get; init; }

    /// <summary>Firing occurrences seen before (Alertmanager's repeat, or another notification of the group): nothing started.</summary>
    public int Duplicates { get; init; }

    /// <summary>Resolved alerts: journaled, nothing started; a run they queued that had not started is dropped.</summary>
    public int Resolved { get; init; }

    /// <summary>Alerts that start nothing, each with its reason in <see cref="Items"/>.</summary>
    public int Ignored { get; init; }

    /// <summary>How many alerts Alertmanager left out (<c>truncatedAlerts</c>, the receiver's <c>max_alerts</c>).</summary>
    public int TruncatedAlerts { get; init; }

    /// <summary>Skill runs queued in the clusters' skill slots.</summary>
    public IReadOnlyList<QueuedAlertRun> Runs { get; init; } = [];

    /// <summary>Every alert of the notification, in order, with its outcome.</summary>
    public IReadOnlyList<AlertOutcome> Items { get; init; } = [];

    /// <summary>200 when accepted; the error's status (400, or 413 when over the limits) when refused.</summary>
    [JsonIgnore]
    public int HttpStatus => Error?.HttpStatus ?? 200;

    /// <summary>The result as the web route answers it (snake_case keys, enums in kebab-case).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    internal static JsonSerializerOptions Json { get; } = CreateJson();

    private static JsonSerializerOptions CreateJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.General)
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

/// <summary>What happened to one alert of a notification.</summary>
internal sealed record AlertOutcome
{
    public required string? Alertname { get; init; }

    public required AlertStatus Status { get; init; }

    /// <summary>The watched cluster it maps to; null when none (then <see cref="Reason"/> says why).</summary>
    public string? Cluster { get; init; }

    public string? Member { get; init; }

    public required string Fingerprint { get; init; }

    public required DateTimeOffset StartsAt { get; init; }

    public required AlertDisposition Outcome { get; init; }

    /// <summary>Why nothing started (ignored, duplicate, resolved); null when queued.</summary>
    public string? Reason { get; init; }

    /// <summary>The skills queued for it (queued), or that it names (duplicate).</summary>
    public IReadOnlyList<string> Skills { get; init; } = [];

    /// <summary>The <c>alert.received</c> journal entry.</summary>
    public long JournalSeq { get; init; }
}

/// <summary>One skill run an alert queued.</summary>
internal sealed record QueuedAlertRun(string Cluster, string Skill, string Alertname, string? Member, string Fingerprint);

/// <summary>An alert's outcome in the intake.</summary>
internal enum AlertDisposition
{
    /// <summary>A new firing occurrence: its skills were queued.</summary>
    Queued,

    /// <summary>A firing occurrence already queued once: nothing started.</summary>
    Duplicate,

    /// <summary>A resolved alert: nothing started; the occurrence is forgotten.</summary>
    Resolved,

    /// <summary>Starts nothing: no alertname, no watched cluster, no skill names it, or the cluster's queue is full.</summary>
    Ignored,
}
