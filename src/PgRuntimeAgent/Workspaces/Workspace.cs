using System.Collections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Workspaces;

/// <summary>
/// The deployment the agent works on, opened once: the topology from the inventory, the agent settings, and the
/// secrets both hold. Everything else is opened from it: the journal, the acting services (policy gate, approvals,
/// every discovered actuator, the planner, the guard state), the actuators' context. The CLI's verbs, <c>pgra run</c>,
/// the demo, the lab's agent and the benchmarks all compose the agent this way.
/// </summary>
internal sealed record Workspace(Topology Topology, AgentSettings Settings, SecretStore Secrets)
{
    /// <summary>Where relative paths in the settings resolve (the settings file's directory, else the inventory's).</summary>
    public string BaseDirectory => JournalFactory.BaseDirectory(Settings.SourcePath, Topology.SourcePath);

    /// <summary>
    /// Locates the inventory (<paramref name="inventoryPath"/>, $PGRA_INVENTORY, ./pigsty.yml, ~/pigsty/pigsty.yml)
    /// and the settings file (<paramref name="settingsPath"/>, $PGRA_SETTINGS, &lt;inventory stem&gt;.pgra.yml,
    /// pgra.yml beside it, /etc/pgra/pgra.yml) and loads both. Bad or missing input throws <see cref="InputException"/>
    /// saying where (file:line:column) and what to do.
    /// </summary>
    public static Workspace Load(
        string? inventoryPath,
        string? settingsPath,
        IReadOnlyDictionary<string, string?> environment,
        string currentDirectory,
        string? homeDirectory,
        ILoggerFactory? logging = null)
    {
        var inventory = InventoryLocator.Locate(inventoryPath, environment, currentDirectory, homeDirectory);
        var secrets = new SecretStore();
        var settings = SettingsLoader.Load(
            settingsPath is null ? null : Path.GetFullPath(settingsPath, currentDirectory), inventory, secrets, environment);
        var topology = InventoryLoader.Load(inventory, secrets, InventoryOverrides.From(settings), logging?.CreateLogger("PgRuntimeAgent.Inventory"));
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

    /// <summary>The context the catalogue's reads run in for this deployment (its topology, sensing, endpoints, journal and secrets).</summary>
    public Reads.ReadContext ReadContext(TimeProvider time) =>
        new(Topology, Settings.Sensing, Settings.Endpoints, Settings.Journal, Secrets, time, BaseDirectory)
        {
            Fleet = Settings.Fleet,
            FleetEtcd = Settings.Fleet.EtcdUrls.Count > 0 ? Settings.Fleet.ParsedEtcdUrls() : Sensing.Dcs.DcsLeaderKey.Endpoints(Topology),
        };

    /// <summary>What actuators, planners and action sensing are built from for this deployment.</summary>
    public ActuatorContext ActingContext(TimeProvider time, ILoggerFactory? logging = null) => new()
    {
        Topology = Topology,
        Sensing = Settings.Sensing,
        Endpoints = Settings.Endpoints,
        Policy = Settings.Policy,
        Journal = Settings.Journal,
        Secrets = Secrets,
        Time = time,
        Logging = logging ?? NullLoggerFactory.Instance,
        BaseDirectory = BaseDirectory,
    };

    /// <summary>The journal <c>journal:</c> names (created and migrated when it is a new SQLite file).</summary>
    public Task<IJournal> OpenJournalAsync(TimeProvider time, CancellationToken cancellationToken) =>
        OpenJournalAsync(time, null, cancellationToken);

    /// <summary>The journal <c>journal:</c> names, logging through <paramref name="logging"/> (null: no logs).</summary>
    public Task<IJournal> OpenJournalAsync(TimeProvider time, ILoggerFactory? logging, CancellationToken cancellationToken) =>
        JournalFactory.OpenAsync(Settings.Journal, BaseDirectory, Secrets, time, logging?.CreateLogger("PgRuntimeAgent.Journal"), cancellationToken);

    /// <summary>
    /// The hands: the journal (<paramref name="journal"/> when given, kept open by the caller; else the one the
    /// settings name, closed with the services), the policy gate, approvals, every discovered actuator, the planner
    /// and the sensing-backed guard state, with one pipeline every action runs through.
    /// </summary>
    public async Task<ActingServices> OpenActingAsync(TimeProvider time, ILoggerFactory? logging, IJournal? journal, CancellationToken cancellationToken)
    {
        var context = ActingContext(time, logging);
        var owned = journal is null;
        journal ??= await OpenJournalAsync(time, logging, cancellationToken).ConfigureAwait(false);
        try
        {
            return new ActingServices(journal, Settings.Policy, ActuatorCatalog.Discover(context), ClusterStateProviders.Discover(context),
                ActionPlanner.For(context), time, logging: logging)
            {
                Workspace = this,
                Context = context,
                OwnsJournal = owned,
            };
        }
        catch
        {
            if (owned)
            {
                await journal.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }
}
