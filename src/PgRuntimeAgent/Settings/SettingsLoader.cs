using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Settings;

/// <summary>Finds and binds the agent settings file (YAML, snake_case keys) and applies PGRA_SECTION__KEY overrides.</summary>
internal static class SettingsLoader
{
    public static AgentSettings Load(string? explicitPath, string inventoryPath, SecretStore secrets, IReadOnlyDictionary<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(inventoryPath);
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentNullException.ThrowIfNull(environment);
        return explicitPath is null ? AgentSettings.Default : throw new InputException($"{explicitPath}: settings loading is not implemented yet.");
    }
}
