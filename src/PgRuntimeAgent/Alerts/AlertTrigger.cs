using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Detection;

namespace PgRuntimeAgent.Alerts;

/// <summary>
/// The <c>$trigger</c> of a run an Alertmanager alert started: <c>kind</c> <c>alert</c>, <c>code</c> and
/// <c>alertname</c> the alert's name, <c>cluster</c>, <c>member</c> (Pigsty's <c>ins</c>) and <c>members</c>,
/// <c>severity</c> (from the <c>severity</c> or Pigsty <c>level</c> label), <c>summary</c>, <c>status</c>,
/// <c>labels</c>, <c>annotations</c>, <c>fingerprint</c>, <c>starts_at</c>, <c>generator_url</c>, <c>received_at</c>,
/// and the fields of a finding's trigger (<c>facts</c> are the labels, <c>first_seen</c> is <c>starts_at</c>,
/// <c>evidence</c> the alert), so a skill written for findings reads an alert the same way. It never enters
/// detection: no incident opens for it. Its actions are reactive (the alert is an observed problem), and its run keeps
/// the skill's cooldown per member and severity as a finding's run does.
/// </summary>
internal static class AlertTrigger
{
    /// <summary><c>$trigger.kind</c> of a run an alert started (<c>$trigger.kind == 'alert'</c> in a step).</summary>
    public const string Kind = "alert";

    /// <summary>The trigger of <paramref name="alert"/> for <paramref name="cluster"/>: a <see cref="Finding"/> whose
    /// <see cref="Finding.TriggerView"/> is the JSON above.</summary>
    public static Finding Create(AlertmanagerAlert alert, string cluster, string? member, DateTimeOffset receivedAt)
    {
        ArgumentNullException.ThrowIfNull(alert);
        var name = alert.AlertName ?? "";
        var severity = Severity(alert.Labels);
        var summary = Summary(alert);
        var members = member is null ? Array.Empty<string>() : [member];
        var view = new JsonObject
        {
            ["kind"] = Kind,
            ["code"] = name,
            ["alertname"] = name,
            ["cluster"] = cluster,
            ["member"] = member,
            ["members"] = new JsonArray(members.Select(m => (JsonNode?)JsonValue.Create(m)).ToArray()),
            ["severity"] = FindingJson.SeverityName(severity),
            ["summary"] = summary,
            ["status"] = alert.Status == AlertStatus.Firing ? "firing" : "resolved",
            ["labels"] = Object(alert.Labels),
            ["annotations"] = Object(alert.Annotations),
            ["fingerprint"] = alert.Fingerprint,
            ["starts_at"] = FindingJson.Time(alert.StartsAt),
            ["generator_url"] = alert.GeneratorUrl,
            ["received_at"] = FindingJson.Time(receivedAt),
            ["first_seen"] = FindingJson.Time(alert.StartsAt),
            ["last_seen"] = FindingJson.Time(receivedAt),
            ["detected_at"] = null,
            ["facts"] = Object(alert.Labels),
            ["evidence"] = new JsonArray(new JsonObject
            {
                ["at"] = FindingJson.Time(alert.StartsAt),
                ["source"] = "alertmanager",
                ["member"] = member,
                ["observation"] = summary,
            }),
        };
        return new Finding
        {
            Code = name,
            Severity = severity,
            Cluster = cluster,
            Members = members,
            Summary = summary,
            FirstSeen = alert.StartsAt,
            LastSeen = receivedAt,
            Facts = alert.Labels,
            Evidence = [new FindingEvidence(alert.StartsAt, "alertmanager", member, summary)],
            TriggerView = JsonSerializer.SerializeToElement(view),
        };
    }

    /// <summary>Whether a run's trigger as the skill sees it is an alert's (<c>kind</c> <c>alert</c>).</summary>
    public static bool Is(JsonElement? trigger) =>
        trigger is { ValueKind: JsonValueKind.Object } t && t.TryGetProperty("kind", out var kind) && kind.ValueKind == JsonValueKind.String
        && string.Equals(kind.GetString(), Kind, StringComparison.Ordinal);

    public static bool Is(Finding? trigger) => Is(trigger?.TriggerView);

    /// <summary>One occurrence of an alert: its fingerprint and when it started (Alertmanager keeps both while it fires).</summary>
    public static string Occurrence(string fingerprint, DateTimeOffset startsAt) => fingerprint + "@" + FindingJson.Time(startsAt);

    /// <summary>The occurrence a run's alert trigger names (<see cref="Occurrence(string, DateTimeOffset)"/>), or null.</summary>
    public static string? Occurrence(Finding trigger)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        return trigger.TriggerView is { ValueKind: JsonValueKind.Object } v
            && v.TryGetProperty("fingerprint", out var f) && f.ValueKind == JsonValueKind.String
            && v.TryGetProperty("starts_at", out var at) && at.ValueKind == JsonValueKind.String
            ? f.GetString() + "@" + at.GetString()
            : null;
    }

    /// <summary>
    /// The severity of an alert: its <c>severity</c> label (critical, crit, fatal, error, page, emergency, alert:
    /// critical; warning, warn: warning; info, information, notice, none: info), else Pigsty's <c>level</c> (0 or CRIT
    /// critical, 2 or INFO info), else warning.
    /// </summary>
    public static FindingSeverity Severity(IReadOnlyDictionary<string, string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var named = labels.GetValueOrDefault("severity")?.Trim().ToLowerInvariant() switch
        {
            "critical" or "crit" or "fatal" or "error" or "page" or "emergency" or "alert" => FindingSeverity.Critical,
            "warning" or "warn" => FindingSeverity.Warning,
            "info" or "information" or "notice" or "none" => FindingSeverity.Info,
            _ => (FindingSeverity?)null,
        };
        return named ?? labels.GetValueOrDefault("level")?.Trim().ToLowerInvariant() switch
        {
            "0" or "crit" or "critical" => FindingSeverity.Critical,
            "2" or "info" => FindingSeverity.Info,
            _ => FindingSeverity.Warning,
        };
    }

    /// <summary>The <c>summary</c> annotation, else the first line of <c>description</c>, else the alert's name and status.</summary>
    public static string Summary(AlertmanagerAlert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        var text = alert.Annotations.GetValueOrDefault("summary") is { Length: > 0 } s ? s
            : alert.Annotations.GetValueOrDefault("description") is { Length: > 0 } d ? d.Split('\n', 2)[0]
            : $"{alert.AlertName ?? "alert"} {(alert.Status == AlertStatus.Firing ? "firing" : "resolved")}";
        var cut = 0;
        return AlertmanagerParser.Bound(text.Trim(), 300, ref cut);
    }

    private static JsonObject Object(IReadOnlyDictionary<string, string> map) =>
        new(map.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => KeyValuePair.Create(e.Key, (JsonNode?)JsonValue.Create(e.Value))));
}
