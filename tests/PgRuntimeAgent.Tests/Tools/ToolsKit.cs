using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Reads;
using PgRuntimeAgent.Tests.Agent;
using PgRuntimeAgent.Tools;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Tools;

/// <summary>
/// The catalogue's tools over an <see cref="AgentKit"/>: actions through its pipeline (fence and failover on the fake
/// world at the kit's level), reads on its own journal (no network: only the journal reads are called).
/// </summary>
internal sealed class ToolsKit : IAsyncDisposable
{
    private ToolsKit(AgentKit kit, ReadContext reads)
    {
        Kit = kit;
        Reads = reads;
    }

    public AgentKit Kit { get; }

    public ReadContext Reads { get; }

    public static async Task<ToolsKit> CreateAsync(int level, PgRuntimeAgent.Skills.SkillCatalog? skills = null)
    {
        var kit = await AgentKit.CreateAsync(level, skills: skills);
        kit.World = Load("disk-full-02") with { TakenAt = kit.Time.GetUtcNow() };
        var settings = kit.Workspace.Settings;
        var journalPath = Path.Combine(Path.GetDirectoryName(kit.PostmortemDirectory)!, "journal.db");
        var reads = new ReadContext(kit.Topology, settings.Sensing, settings.Endpoints, settings.Journal with { Path = journalPath }, kit.Workspace.Secrets,
            kit.Time, kit.Workspace.BaseDirectory);
        return new ToolsKit(kit, reads);
    }

    public IReadOnlyList<AgentTool> Tools(string caller, int maxResultChars = 32_000) =>
        AgentToolbox.Build(AgentCatalog.Default, new ToolboxOptions { Caller = caller, Reads = Reads, Acting = Kit.Acting, MaxResultChars = maxResultChars });

    public async ValueTask DisposeAsync()
    {
        await Reads.DisposeAsync();
        await Kit.DisposeAsync();
    }
}
