using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Brain;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Web;

/// <summary>
/// The web host composed for a deployment: <c>pgra serve</c> (no loop: fresh snapshots on demand, no event stream)
/// and <c>pgra run</c> (beside the loop: its snapshots, findings and events). Null, and nothing started, when
/// <c>http.tokens</c> is empty.
/// </summary>
internal static class AgentWebHosting
{
    /// <summary>
    /// Starts the web host over <paramref name="acting"/> (its journal takes the MCP calls and answers the API) with
    /// the workspace's reads, the skills and the standing orders, and the running agent's view when
    /// <paramref name="runtime"/> is given.
    /// </summary>
    public static async Task<AgentWebHost?> StartAsync(Workspace workspace, ActingServices acting, string skillsDirectory, AgentRuntime? runtime,
        TimeProvider time, ILoggerFactory logging, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        var settings = workspace.Settings;
        if (!settings.Http.Enabled)
        {
            return null;
        }

        var cwd = Directory.GetCurrentDirectory();
        var skills = SkillCatalog.Load(skillsDirectory, SkillVocabulary.Default, cwd);
        var orders = await StandingOrders.ReadAsync(skillsDirectory, cwd, cancellationToken).ConfigureAwait(false);
        var reads = workspace.ReadContext(time);
        var sensing = new SnapshotService(workspace.Topology, settings.Sensing, settings.Endpoints, workspace.Secrets, time, logger: logging.CreateLogger<SnapshotService>());
        try
        {
            return await AgentWebHost.StartAsync(new AgentWebHostOptions
            {
                Http = settings.Http,
                Telemetry = settings.Telemetry,
                Mcp = settings.Mcp,
                Secrets = workspace.Secrets,
                Reads = reads,
                OwnsReads = true,
                Acting = acting,
                Skills = skills,
                StandingOrders = orders,
                Clusters = runtime?.Clusters ?? [],
                AgentLoop = runtime is not null,
                Alerts = runtime?.Alerts,
                Leases = runtime?.Leases,
                Live = runtime is null ? null : AgentLiveView.Attach(runtime.Loop, runtime.Clusters),
                Sense = (cluster, ct) => sensing.TakeAsync(cluster, ct),
                OwnedSensing = sensing,
                SenseTimeout = AgentWebHostOptions.FreshSnapshotBound(settings.Sensing),
                Detection = settings.Detection,
                BaseDirectory = workspace.BaseDirectory,
                Time = time,
                Logging = logging,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            sensing.Dispose();
            await reads.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
