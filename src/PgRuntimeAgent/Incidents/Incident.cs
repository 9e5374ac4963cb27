using System.Text.Json;
using System.Text.Json.Serialization;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Inventory;

namespace PgRuntimeAgent.Incidents;

/// <summary>open: a symptom is being seen; mitigating: someone acts on it (an action ran, a skill acts); resolved: the
/// critical symptoms cleared (and, for a critical incident, a leader accepts writes).</summary>
public enum IncidentState
{
    Open,
    Mitigating,
    Resolved,
}

/// <summary>A journal entry an incident refers to, and what it is to the incident.</summary>
/// <param name="Role">snapshot, finding, decision, precheck, intent, outcome, approval, skill-run, note.</param>
public sealed record IncidentLink(long Seq, string Kind, string Role, DateTimeOffset At, string? Correlation);

/// <summary>The journal kinds and topics incidents write (besides <c>incident</c>, <c>finding</c>, <c>snapshot</c>).</summary>
public static class IncidentKinds
{
    /// <summary>A skill run (payload: <see cref="SkillRunRecord"/>), journaled by <see cref="IncidentManager.RecordSkillRunAsync"/>.</summary>
    public const string SkillRun = "skill.run";

    /// <summary>A note, follow-up or patch a skill recorded (payload: the skill note).</summary>
    public const string SkillNote = "skill.note";

    public const string Opened = "opened";
    public const string FindingRaised = "finding-raised";
    public const string FindingCleared = "finding-cleared";
    public const string Linked = "linked";
    public const string AwaitingApproval = "awaiting-approval";
    public const string Mitigating = "mitigating";
    public const string Resolved = "resolved";
}

/// <summary>
/// Payload of every <c>incident</c> journal entry (topic = <see cref="Event"/>, correlation id = <see cref="Incident"/>).
/// The post-mortem and <c>pgra incidents</c> rebuild an incident from these alone.
/// </summary>
public sealed record IncidentEvent
{
    public required string Incident { get; init; }

    /// <summary>One of <see cref="IncidentKinds"/> opened, finding-raised, finding-cleared, linked, awaiting-approval, mitigating, resolved.</summary>
    public required string Event { get; init; }

    public required string Cluster { get; init; }

    public required IncidentState State { get; init; }

    public required FindingSeverity Severity { get; init; }

    /// <summary>The snapshot time (or entry time) the event is about.</summary>
    public required DateTimeOffset At { get; init; }

    public required string Message { get; init; }

    /// <summary>The finding raised or cleared (finding-raised, finding-cleared; opened: the first one).</summary>
    public Finding? Finding { get; init; }

    public IReadOnlyList<IncidentLink> Links { get; init; } = [];

    /// <summary>opened: the leader before the symptom (the last known leader key holder).</summary>
    public string? LeaderBefore { get; init; }

    /// <summary>opened: the thresholds detection ran with (replay uses them).</summary>
    public DetectionSettings? Settings { get; init; }

    /// <summary>opened: the backup schedule detection ran with (replay uses it).</summary>
    public BackupSchedule? BackupSchedule { get; init; }

    /// <summary>resolved: keys of findings still active, carried as follow-ups (they do not reopen an incident while they last).</summary>
    public IReadOnlyList<string> Carried { get; init; } = [];
}

/// <summary>A skill run as journaled: the run, and every snapshot the runner was served (journal seqs, in order).</summary>
public sealed record SkillRunRecord
{
    public required string Incident { get; init; }

    public required Skills.SkillRun Run { get; init; }

    /// <summary>Journal seqs of the snapshots the skill host served, in the order served (replay serves them again).</summary>
    public IReadOnlyList<long> ServedSnapshots { get; init; } = [];
}

/// <summary>An incident as known now (rebuilt from its journal events).</summary>
public sealed record Incident
{
    public required string Id { get; init; }

    public required string Cluster { get; init; }

    public required IncidentState State { get; init; }

    public required FindingSeverity Severity { get; init; }

    public required string Title { get; init; }

    public required DateTimeOffset OpenedAt { get; init; }

    public DateTimeOffset? MitigatingAt { get; init; }

    public DateTimeOffset? ResolvedAt { get; init; }

    public string? LeaderBefore { get; init; }

    /// <summary>Finding codes seen in the incident, in order of detection.</summary>
    public IReadOnlyList<string> Codes { get; init; } = [];

    /// <summary>Keys of findings currently active in the incident.</summary>
    public IReadOnlyList<string> ActiveFindings { get; init; } = [];

    public IReadOnlyList<IncidentLink> Links { get; init; } = [];

    /// <summary>Journal seq of the opening event.</summary>
    public long OpenedSeq { get; init; }

    public DetectionSettings? Settings { get; init; }

    public BackupSchedule? BackupSchedule { get; init; }

    [JsonIgnore]
    public bool IsOpen => State != IncidentState.Resolved;
}

/// <summary>JSON of incident payloads (journal payloads use the journal's options; this is for the CLI and files).</summary>
public static class IncidentJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.General)
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
            WriteIndented = true,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
