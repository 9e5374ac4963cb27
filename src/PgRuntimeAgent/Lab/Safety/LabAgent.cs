using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Lab.Safety;

/// <summary>
/// An agent on the lab for a drill or a safety run: the lab's inventory and settings, a journal of its own in a
/// temporary directory, sensing every second, the loopback lab's detection thresholds, inventory drift silenced, and
/// patroni.failover and member.fence at <c>level</c> (3: acts alone within the guardrails; null: the policy's own).
/// </summary>
internal sealed class LabAgent : IAsyncDisposable
{
    private LabAgent(AgentRuntime runtime, IJournal journal, string dir)
    {
        Runtime = runtime;
        Journal = journal;
        Dir = dir;
    }

    public AgentRuntime Runtime { get; }

    /// <summary>The deployment the agent was built for (the lab's inventory and settings, as tweaked).</summary>
    public Workspace Workspace => Runtime.Acting.Workspace!;

    public IJournal Journal { get; }

    public string Dir { get; }

    /// <summary>Keep the journal directory when disposed (to read it after a failing run).</summary>
    public bool Keep { get; set; }

    public static async Task<LabAgent> CreateAsync(LabManifest manifest, string skillsDirectory, int? level, Func<AgentSettings, AgentSettings>? tweak,
        CancellationToken cancellationToken, Microsoft.Extensions.AI.IChatClient? chatClient = null)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var secrets = new SecretStore();
        var settings = SettingsLoader.Load(manifest.Settings, manifest.Inventory, secrets, new Dictionary<string, string?>());
        var topology = InventoryLoader.Load(manifest.Inventory, secrets, InventoryOverrides.From(settings));
        settings = settings with
        {
            Sensing = settings.Sensing with { IntervalSeconds = 1 },
            Detection = FaultDrill.LoopbackDetection(settings.Detection) with { Silenced = [.. settings.Detection.Silenced, FindingCodes.InventoryDrift] },
            Policy = level is { } l
                ? settings.Policy with { Classes = new Dictionary<string, int>(settings.Policy.Classes) { ["patroni.failover"] = l, ["member.fence"] = l } }
                : settings.Policy,
            Notify = settings.Notify with { Stdout = false },
            Agent = settings.Agent with { ShutdownGraceSeconds = 5 },
        };
        settings = tweak?.Invoke(settings) ?? settings;
        var dir = Directory.CreateTempSubdirectory("pgra-lab-agent-").FullName;
        var journal = await SqliteJournal.OpenAsync(Path.Combine(dir, "journal.db"), secrets, TimeProvider.System, cancellationToken).ConfigureAwait(false);
        var runtime = await AgentRuntime.CreateAsync(new Workspace(topology, settings, secrets), new AgentRuntimeOptions
        {
            SkillsDirectory = skillsDirectory,
            Journal = journal,
            PostmortemDirectory = Path.Combine(dir, "postmortems"),
            ChatClient = chatClient,
        }, cancellationToken).ConfigureAwait(false);
        return new LabAgent(runtime, journal, dir);
    }

    public async ValueTask DisposeAsync()
    {
        await Runtime.DisposeAsync().ConfigureAwait(false);
        await Journal.DisposeAsync().ConfigureAwait(false);
        if (!Keep)
        {
            try
            {
                Directory.Delete(Dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
