using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Inventory;

/// <summary>Reads a Pigsty inventory into a <see cref="Topology"/>; secrets go to the <see cref="SecretStore"/>.</summary>
internal static class InventoryLoader
{
    /// <summary>Loads and validates; throws <see cref="InputException"/> listing every problem (file:line:column).</summary>
    public static Topology Load(string path, SecretStore secrets, AgentSettings settings)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentNullException.ThrowIfNull(settings);
        throw new InputException($"{path}: inventory loading is not implemented yet.");
    }
}
