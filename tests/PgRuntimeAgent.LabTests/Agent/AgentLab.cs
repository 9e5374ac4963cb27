using System.Globalization;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Lab;
using PgRuntimeAgent.Lab.Safety;
using PgRuntimeAgent.Cli;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.LabTests.Agent;

/// <summary>
/// An agent on the lab for one test: the lab's inventory and settings, a journal file of its own (never the lab's
/// shared one), a one-second sensing interval, the given autonomy for the classes that fail over and fence, and
/// inventory drift silenced (earlier tests leave the leader elsewhere than pg_role says, which would open an incident
/// of its own before the fault), and the loopback lab's disk-full thresholds (<see cref="FaultDrill.LoopbackDetection"/>). Run the lab tests under <c>flock /work/notes/lab.lock</c> when the lab is shared.
/// </summary>
internal sealed class AgentLab : IAsyncDisposable
{
    private readonly LabAgent _agent;

    private AgentLab(LabInfo lab, LabAgent agent)
    {
        Lab = lab;
        _agent = agent;
    }

    public LabInfo Lab { get; }

    public string Dir => _agent.Dir;

    public AgentRuntime Runtime => _agent.Runtime;

    public IJournal Journal => _agent.Journal;

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static string RepoRoot => RepoPaths.Root;

    /// <summary>How long a Patroni-alone run waits for writes (CI default 75 s; <c>PGRA_DRILL_CAP_SECONDS=300</c> for the full five minutes).</summary>
    public static TimeSpan PatroniAloneCap { get; } = TimeSpan.FromSeconds(
        double.TryParse(Environment.GetEnvironmentVariable("PGRA_DRILL_CAP_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0 ? s : 75);

    /// <summary>An agent for <paramref name="lab"/> with <paramref name="level"/> for patroni.failover and member.fence (null: the policy's defaults).</summary>
    public static async Task<AgentLab> CreateAsync(LabInfo lab, int? level, Func<AgentSettings, AgentSettings>? tweak = null, string? skillsDirectory = null) =>
        new(lab, await LabAgent.CreateAsync(lab.Manifest, skillsDirectory ?? Path.Combine(RepoRoot, "skills"), level, tweak, Ct));

    /// <summary>The agent's deployment (inventory, settings as tweaked, secrets).</summary>
    public PgRuntimeAgent.Workspaces.Workspace Workspace => _agent.Workspace;

    /// <summary>A drill with this agent (or with none, for Patroni alone).</summary>
    public static async Task<FaultDrillResult> DrillAsync(LabInfo lab, FaultDrillOptions options, AgentRuntime? agent)
    {
        var result = await new FaultDrill(lab.Manifest, TimeProvider.System).RunAsync(options, agent, Report, Ct);
        foreach (var line in result.Timeline())
        {
            Report("  " + line);
        }

        foreach (var note in result.Notes)
        {
            Report("  note: " + note);
        }

        return result;
    }

    /// <summary>
    /// Runs the cluster with Patroni's timing of <paramref name="preset"/> (fast: ttl 10, loop_wait 2, retry_timeout
    /// 4, primary_start_timeout 10, the lab's own; norm: Pigsty's default 30/5/10/25) until the result is disposed,
    /// which puts the lab's fast timing back. A PATCH of the dynamic configuration through the leader's REST API.
    /// </summary>
    public static async Task<IAsyncDisposable> HaTimingAsync(LabInfo lab, string preset)
    {
        await SetHaTimingAsync(lab, preset);
        return new Restore(() => SetHaTimingAsync(lab, "fast"));
    }

    private static async Task SetHaTimingAsync(LabInfo lab, string preset)
    {
        using var cluster = lab.NewCluster();
        Report(await LabHaTiming.SetAsync(cluster, preset, Ct));
    }

    /// <summary>
    /// Approves every pending approval of <paramref name="agent"/> (as the test) until the drill's writer is acknowledged
    /// again after the fault, or 90 s: the further steps a skill asks for once its first action was approved.
    /// </summary>
    public static async Task ApproveUntilWritesAsync(AgentRuntime agent, FaultDrillContext ctx, CancellationToken ct)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(90) && ctx.Workload.LastAckedAt < ctx.InjectedAt)
        {
            foreach (var more in await agent.Acting.Approvals.ListAsync(false, ct))
            {
                await agent.Acting.Approvals.ApproveAsync(more.Id, "lab-test", "approved by the test", ct);
            }

            await Task.Delay(500, ct);
        }
    }

    private sealed class Restore(Func<Task> undo) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await undo();
    }

    /// <summary>Where the figures of every drill are appended (artifacts/lab-figures/agent.log; CI keeps artifacts/).</summary>
    public static string FiguresFile { get; } = Path.Combine(RepoRoot, "artifacts", "lab-figures", "agent.log");

    private static readonly Lock FiguresGate = new();

    public static void Report(string line)
    {
        var text = $"{TimeProvider.System.GetUtcNow():yyyy-MM-dd HH:mm:ss.f}Z {line}";
        TestContext.Current.TestOutputHelper?.WriteLine(text);
        Console.WriteLine(text);
        lock (FiguresGate)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(FiguresFile)!);
            File.AppendAllText(FiguresFile, text + Environment.NewLine);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _agent.Keep = Environment.GetEnvironmentVariable("PGRA_KEEP_AGENT_DIR") == "1";
        if (_agent.Keep)
        {
            Report($"agent journal kept: {Dir}");
        }

        await _agent.DisposeAsync();
    }
}
