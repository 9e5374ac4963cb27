using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Inventory;

/// <summary>
/// What the settings file lays over an inventory: the <c>credentials:</c> and <c>endpoints:</c> sections, and where
/// each settings value came from (so an endpoint says <c>pgra.yml:3:16</c> or <c>PGRA_ENDPOINTS__METRICS_URL</c>).
/// The workspace builds it from the settings; <see cref="None"/> reads the inventory alone.
/// </summary>
internal sealed record InventoryOverrides
{
    public CredentialSettings Credentials { get; init; } = new();

    public EndpointSettings Endpoints { get; init; } = new();

    /// <summary>Origins by settings key path (<c>endpoints.metrics_url</c>); a key without one is a default.</summary>
    public IReadOnlyDictionary<string, SettingOrigin> Origins { get; init; } = new Dictionary<string, SettingOrigin>(StringComparer.Ordinal);

    /// <summary>No overrides: the inventory as it stands.</summary>
    public static InventoryOverrides None { get; } = new();

    /// <summary>The sections of <paramref name="settings"/> the inventory reads.</summary>
    public static InventoryOverrides From(AgentSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new InventoryOverrides { Credentials = settings.Credentials, Endpoints = settings.Endpoints, Origins = settings.Origins };
    }

    /// <summary>Where the value at <paramref name="keyPath"/> came from; null for a default.</summary>
    public SettingOrigin? OriginOf(string keyPath) => Origins.GetValueOrDefault(keyPath);
}
