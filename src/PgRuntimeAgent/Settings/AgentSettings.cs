using YamlDotNet.Serialization;

namespace PgRuntimeAgent.Settings;

/// <summary>
/// The agent's own settings file (YAML): what the inventory cannot say. Each section lives beside the concept it
/// configures. Documented in docs/settings.md.
/// </summary>
public sealed record AgentSettings
{
    /// <summary>File the settings were read from; null when only defaults apply.</summary>
    [YamlIgnore]
    public string? SourcePath { get; init; }

    /// <summary>
    /// Where each value that is not a default came from, by key path (<c>endpoints.metrics_url</c>,
    /// <c>sensing.interval_seconds</c>): the settings file with line and column, or an environment variable.
    /// </summary>
    [YamlIgnore]
    public IReadOnlyDictionary<string, SettingOrigin> Origins { get; init; } = new Dictionary<string, SettingOrigin>(StringComparer.Ordinal);

    /// <summary>Where the value at <paramref name="keyPath"/> (snake_case, dot separated) came from; null for a default.</summary>
    public SettingOrigin? OriginOf(string keyPath) => Origins.GetValueOrDefault(keyPath);

    public EndpointSettings Endpoints { get; init; } = new();

    public CredentialSettings Credentials { get; init; } = new();

    public Sensing.SensingSettings Sensing { get; init; } = new();

    public Journal.JournalSettings Journal { get; init; } = new();

    public Policy.PolicySettings Policy { get; init; } = new();

    public Detection.DetectionSettings Detection { get; init; } = new();

    public Agent.AgentRunSettings Agent { get; init; } = new();

    public Agent.NotifySettings Notify { get; init; } = new();

    public Brain.LlmSettings Llm { get; init; } = new();

    public Web.HttpSettings Http { get; init; } = new();

    public Mcp.McpSettings Mcp { get; init; } = new();

    public Telemetry.TelemetrySettings Telemetry { get; init; } = new();

    public Fleet.FleetSettings Fleet { get; init; } = new();

    public static AgentSettings Default { get; } = new();
}

/// <summary>Endpoint overrides: a Prometheus at a non-default URL, logs read from files instead of VictoriaLogs.</summary>
public sealed record EndpointSettings
{
    public Uri? MetricsUrl { get; init; }
    public Inventory.MetricsKind? MetricsKind { get; init; }
    public Uri? LogsUrl { get; init; }
    public Inventory.LogsKind? LogsKind { get; init; }
    public Uri? AlertmanagerUrl { get; init; }
}

/// <summary>Credential overrides (values are moved into the secret store on load; never kept here as text).</summary>
public sealed record CredentialSettings
{
    public string? PatroniUsername { get; init; }
    public Secrets.SecretRef? PatroniPassword { get; init; }
    public string? MonitorUsername { get; init; }
    public Secrets.SecretRef? MonitorPassword { get; init; }
    public string? AdminUsername { get; init; }
    public Secrets.SecretRef? AdminPassword { get; init; }
}

/// <summary>Where one settings value came from.</summary>
/// <param name="Source"><see cref="Inventory.ValueSource.Settings"/> or <see cref="Inventory.ValueSource.Environment"/>.</param>
/// <param name="Where"><c>file:line:column</c>, or the environment variable's name.</param>
public sealed record SettingOrigin(Inventory.ValueSource Source, string Where);
