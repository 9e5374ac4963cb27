using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace PgRuntimeAgent.Detection;

/// <summary>How bad a finding is. Critical: writes are down or at risk now. Warning: needs attention. Info: noted.</summary>
public enum FindingSeverity
{
    Info,
    Warning,
    Critical,
}

/// <summary>One observation that made a detector fire: when, from which source, about which member, what was seen.</summary>
/// <param name="At">The snapshot's taken-at time, or the log line's own time.</param>
/// <param name="Source">patroni, postgres, metrics, logs, backup, host, inventory or snapshot.</param>
public sealed record FindingEvidence(DateTimeOffset At, string Source, string? Member, string Observation);

/// <summary>
/// A detector's verdict on a cluster: a stable <see cref="Code"/> (<see cref="FindingCodes"/>), the members it is about
/// (the first is the one acted on: <c>$trigger.member</c>), the evidence with its times, and first / last seen.
/// </summary>
public sealed record Finding
{
    public required string Code { get; init; }

    public required FindingSeverity Severity { get; init; }

    public required string Cluster { get; init; }

    /// <summary>Members concerned; the first is the primary subject (the failed leader, the lagging replica).</summary>
    public IReadOnlyList<string> Members { get; init; } = [];

    /// <summary>One line for an operator.</summary>
    public required string Summary { get; init; }

    /// <summary>The observations that triggered it, oldest first.</summary>
    public IReadOnlyList<FindingEvidence> Evidence { get; init; } = [];

    /// <summary>When the symptom was first observed (the first observation of the run that triggered the finding, or
    /// the tracker's first sighting when the finding lasted across snapshots).</summary>
    public required DateTimeOffset FirstSeen { get; init; }

    /// <summary>The last snapshot the finding held on.</summary>
    public required DateTimeOffset LastSeen { get; init; }

    /// <summary>The snapshot on which the finding was first raised (detection time); set by the tracker.</summary>
    public DateTimeOffset? DetectedAt { get; init; }

    /// <summary>What the finding is about when that is not simply its first member (a sensor name, <c>cluster</c>);
    /// null: <see cref="Member"/>. Part of <see cref="Key"/>.</summary>
    public string? Subject { get; init; }

    /// <summary>
    /// Named values a skill acts on (<c>$trigger.facts.pid</c>, <c>$trigger.facts.table</c>): the culprit as data, not
    /// prose. Strings; empty for most findings.
    /// </summary>
    public IReadOnlyDictionary<string, string> Facts { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// What a skill sees as <c>$trigger</c> when that is not the finding's own shape: an Alertmanager alert's
    /// (<see cref="Alerts.AlertTrigger"/>), a superset of the finding's fields. Null for detectors' findings. Never
    /// journaled with the finding (the run's journaled trigger carries it).
    /// </summary>
    [JsonIgnore]
    public JsonElement? TriggerView { get; init; }

    /// <summary>The primary subject (<see cref="Members"/>[0]) or null for a cluster-wide finding.</summary>
    [JsonIgnore]
    public string? Member => Members.Count > 0 ? Members[0] : null;

    /// <summary>Identity across snapshots: the same code on the same subject is the same finding.</summary>
    [JsonIgnore]
    public string Key => $"{Cluster}/{Code}/{Subject ?? Member ?? "-"}";

    /// <summary>The JSON a skill sees as <c>$trigger</c>: code, cluster, member, members, severity, summary, facts, evidence, times
    /// (or <see cref="TriggerView"/> when set).</summary>
    public JsonElement ToTrigger()
    {
        if (TriggerView is { } view)
        {
            return view;
        }

        var node = new JsonObject
        {
            ["code"] = Code,
            ["cluster"] = Cluster,
            ["member"] = Member,
            ["members"] = new JsonArray(Members.Select(m => (JsonNode?)JsonValue.Create(m)).ToArray()),
            ["severity"] = FindingJson.SeverityName(Severity),
            ["summary"] = Summary,
            ["first_seen"] = FindingJson.Time(FirstSeen),
            ["last_seen"] = FindingJson.Time(LastSeen),
            ["detected_at"] = DetectedAt is { } d ? FindingJson.Time(d) : null,
            ["facts"] = new JsonObject(Facts.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => KeyValuePair.Create(f.Key, (JsonNode?)JsonValue.Create(f.Value)))),
            ["evidence"] = new JsonArray(Evidence.Select(e => (JsonNode?)new JsonObject
            {
                ["at"] = FindingJson.Time(e.At),
                ["source"] = e.Source,
                ["member"] = e.Member,
                ["observation"] = e.Observation,
            }).ToArray()),
        };
        return JsonSerializer.SerializeToElement(node);
    }
}

/// <summary>JSON conventions of findings (snake_case, severities lower-case, ISO-8601 UTC times).</summary>
public static class FindingJson
{
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    public static string SeverityName(FindingSeverity severity) => severity.ToString().ToLowerInvariant();

    public static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    public static string Serialize(Finding finding) => JsonSerializer.Serialize(finding, Options);

    public static Finding? Deserialize(string json) => JsonSerializer.Deserialize<Finding>(json, Options);

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.General)
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
            WriteIndented = false,
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
