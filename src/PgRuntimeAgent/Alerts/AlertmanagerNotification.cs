namespace PgRuntimeAgent.Alerts;

/// <summary>
/// One notification of Alertmanager's <c>webhook_config</c> receiver (payload <c>version</c> "4"), as documented in
/// Alertmanager's configuration reference: the receiver, the group's status, its alerts, the group's labels, the labels
/// and annotations common to all its alerts, the Alertmanager's external URL, the group key and how many alerts
/// <c>max_alerts</c> left out. Read by <see cref="AlertmanagerParser"/>, which bounds every size.
/// </summary>
internal sealed record AlertmanagerNotification
{
    /// <summary>The payload version; always <see cref="AlertmanagerParser.Version"/> ("4").</summary>
    public required string Version { get; init; }

    /// <summary>The receiver's name in Alertmanager's configuration.</summary>
    public string Receiver { get; init; } = "";

    /// <summary><c>firing</c> while any alert of the group fires, else <c>resolved</c>.</summary>
    public required AlertStatus Status { get; init; }

    public required IReadOnlyList<AlertmanagerAlert> Alerts { get; init; }

    public IReadOnlyDictionary<string, string> GroupLabels { get; init; } = Empty;

    public IReadOnlyDictionary<string, string> CommonLabels { get; init; } = Empty;

    public IReadOnlyDictionary<string, string> CommonAnnotations { get; init; } = Empty;

    /// <summary>Backlink to the Alertmanager that sent it.</summary>
    public string ExternalUrl { get; init; } = "";

    /// <summary>The key identifying the group of alerts.</summary>
    public string GroupKey { get; init; } = "";

    /// <summary>How many alerts of the group Alertmanager left out because of the receiver's <c>max_alerts</c>.</summary>
    public int TruncatedAlerts { get; init; }

    internal static IReadOnlyDictionary<string, string> Empty { get; } = new Dictionary<string, string>(StringComparer.Ordinal);
}

/// <summary>One alert of a notification: its status, labels (which identify it), annotations, times and fingerprint.</summary>
internal sealed record AlertmanagerAlert
{
    public required AlertStatus Status { get; init; }

    /// <summary>The alert's labels (names sorted); <c>alertname</c> names the rule. Values cut at <see cref="AlertLimits.MaxLabelChars"/>.</summary>
    public required IReadOnlyDictionary<string, string> Labels { get; init; }

    /// <summary>Free text (<c>summary</c>, <c>description</c>...), cut at <see cref="AlertLimits.MaxAnnotationChars"/>.</summary>
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = AlertmanagerNotification.Empty;

    /// <summary>When the alert started firing (UTC); with the fingerprint it identifies one occurrence.</summary>
    public required DateTimeOffset StartsAt { get; init; }

    /// <summary>When it ended (resolved alerts); null for Alertmanager's zero time (<c>0001-01-01T00:00:00Z</c>) of a firing one.</summary>
    public DateTimeOffset? EndsAt { get; init; }

    /// <summary>Identifies the entity that caused the alert (the rule's expression in Prometheus).</summary>
    public string GeneratorUrl { get; init; } = "";

    /// <summary>Alertmanager's fingerprint of the labels; when the sender gave none, a hash of the labels (<see cref="AlertmanagerParser.Fingerprint"/>).</summary>
    public required string Fingerprint { get; init; }

    /// <summary>True when the sender gave no fingerprint and <see cref="Fingerprint"/> was computed here.</summary>
    public bool FingerprintComputed { get; init; }

    /// <summary>How many labels and annotations were left out, and how many values were cut, to keep within <see cref="AlertLimits"/>.</summary>
    public int Cut { get; init; }

    /// <summary>The <c>alertname</c> label, or null when the alert has none.</summary>
    public string? AlertName => Labels.TryGetValue("alertname", out var name) && name.Length > 0 ? name : null;
}

/// <summary>An alert's (or a group's) status in a webhook notification.</summary>
internal enum AlertStatus
{
    Firing,
    Resolved,
}

/// <summary>What a notification may hold. A body or an alert list over these is refused; labels and text over them are cut.</summary>
internal sealed record AlertLimits
{
    public static AlertLimits Default { get; } = new();

    /// <summary>The raw body (bytes).</summary>
    public int MaxBodyBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Alerts in one notification (Alertmanager's <c>max_alerts</c> caps what it sends; 0 there means all).</summary>
    public int MaxAlerts { get; init; } = 1000;

    /// <summary>Labels kept per alert (and per group label set); the rest are left out, by name order.</summary>
    public int MaxLabels { get; init; } = 64;

    /// <summary>Characters of a label name or value.</summary>
    public int MaxLabelChars { get; init; } = 256;

    /// <summary>Annotations kept per alert.</summary>
    public int MaxAnnotations { get; init; } = 16;

    /// <summary>Characters of an annotation's value (free text).</summary>
    public int MaxAnnotationChars { get; init; } = 2048;

    /// <summary>Characters of the other strings (receiver, group key, URLs, fingerprint).</summary>
    public int MaxTextChars { get; init; } = 1024;
}
