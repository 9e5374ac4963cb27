using System.Collections;
using System.CommandLine;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Cli;

/// <summary>
/// The deployment a verb works on: the topology from the inventory, the agent settings and the secrets both hold.
/// Every verb that needs the deployment calls <see cref="Load(GlobalOptions, ParseResult)"/>.
/// </summary>
internal sealed record Workspace(Topology Topology, AgentSettings Settings, SecretStore Secrets)
{
    /// <summary>Where relative paths in the settings resolve (the settings file's directory, else the inventory's).</summary>
    public string BaseDirectory => JournalFactory.BaseDirectory(Settings.SourcePath, Topology.SourcePath);

    /// <summary>What actuators are built from for this deployment.</summary>
    public ActuatorContext ActingContext(TimeProvider time) => new()
    {
        Topology = Topology,
        Settings = Settings,
        Secrets = Secrets,
        Time = time,
        BaseDirectory = BaseDirectory,
    };

    /// <summary>
    /// Locates the inventory (-i, $PGRA_INVENTORY, ./pigsty.yml, ~/pigsty/pigsty.yml) and the settings file
    /// (--settings, $PGRA_SETTINGS, &lt;inventory stem&gt;.pgra.yml, pgra.yml beside it, /etc/pgra/pgra.yml) and loads
    /// both. Bad or missing input throws <see cref="InputException"/> (the CLI prints it and exits 2).
    /// </summary>
    public static Workspace Load(GlobalOptions options, ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(parse);
        return Load(
            parse.GetValue(options.Inventory),
            parse.GetValue(options.Settings),
            ProcessEnvironment(),
            Directory.GetCurrentDirectory(),
            Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
    }

    /// <summary>The same as <see cref="Load(GlobalOptions, ParseResult)"/> with every input explicit (tests, daemon).</summary>
    public static Workspace Load(
        string? inventoryPath,
        string? settingsPath,
        IReadOnlyDictionary<string, string?> environment,
        string currentDirectory,
        string? homeDirectory)
    {
        var inventory = InventoryLocator.Locate(inventoryPath, environment, currentDirectory, homeDirectory);
        var secrets = new SecretStore();
        var settings = SettingsLoader.Load(
            settingsPath is null ? null : Path.GetFullPath(settingsPath, currentDirectory), inventory, secrets, environment);
        var topology = InventoryLoader.Load(inventory, secrets, settings);
        return new Workspace(topology, settings, secrets);
    }

    /// <summary>A snapshot of the process environment, as the loaders take it.</summary>
    public static IReadOnlyDictionary<string, string?> ProcessEnvironment()
    {
        var result = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            result[(string)entry.Key] = entry.Value as string;
        }

        return result;
    }
}
