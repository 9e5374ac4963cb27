using System.Globalization;
using System.Runtime.CompilerServices;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Lab;
using PgRuntimeAgent.Lab.Safety;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Bench.Agent;

/// <summary>
/// Time to detect and time to restore writes for each primary failure the lab can inject, once with Patroni alone and
/// once with the agent allowed to fence and fail over (autonomy 3), measured by a writer through haproxy. Needs the
/// running lab and root (faults are real); run it under <c>flock /work/notes/lab.lock</c> when the lab is shared.
/// Patroni-alone runs that never recover are capped at <c>PGRA_DRILL_CAP_SECONDS</c> (default 75; 300 for the full wait).
/// </summary>
internal sealed class AgentDrillBenchmark : IBenchmark
{
    private static readonly string[] Scenarios = ["primary-crash", "disk-full", "primary-freeze"];

    public string Name => "agent";

    public string Description => "time to detect and to restore writes per primary failure, Patroni alone vs the agent (needs the lab and root)";

    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken)
    {
        if (await BenchLab.RunningAsync(output, "agent drills", cancellationToken).ConfigureAwait(false) is not { } manifest)
        {
            return;
        }

        if (!Environment.IsPrivilegedProcess)
        {
            await output.WriteLineAsync("agent drills inject real faults and need root; skipped").ConfigureAwait(false);
            return;
        }

        var cap = TimeSpan.FromSeconds(double.TryParse(Environment.GetEnvironmentVariable("PGRA_DRILL_CAP_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var c) && c > 0 ? c : 75);
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"lab {manifest.Cluster}: ttl {manifest.Ha.Ttl} s, loop_wait {manifest.Ha.LoopWait} s; writer every 50 ms through haproxy; cap {cap.TotalSeconds:0} s")).ConfigureAwait(false);
        await output.WriteLineAsync($"{"scenario",-15} {"run",-14} {"detect",8} {"writable",10} {"lost",6}  leader").ConfigureAwait(false);
        var drill = new FaultDrill(manifest, TimeProvider.System);
        foreach (var scenario in Scenarios)
        {
            var alone = await drill.RunAsync(new FaultDrillOptions { Scenario = scenario, Cap = cap }, null, null, cancellationToken).ConfigureAwait(false);
            await output.WriteLineAsync(Row(alone)).ConfigureAwait(false);
            await using var agent = await AgentAsync(manifest, cancellationToken).ConfigureAwait(false);
            var acted = await drill.RunAsync(new FaultDrillOptions { Scenario = scenario, Cap = cap }, agent.Runtime, null, cancellationToken).ConfigureAwait(false);
            await output.WriteLineAsync(Row(acted)).ConfigureAwait(false);
            if (acted.PostMortem is { } pm)
            {
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{"",-15} post-mortem: outage {pm.Outage.Seconds:0.0} s, time to detect {pm.TimeToDetectSeconds:0.0} s, data-loss bound {pm.DataLoss.Bytes?.ToString(CultureInfo.InvariantCulture) ?? "?"} bytes")).ConfigureAwait(false);
            }

            foreach (var note in alone.Notes.Concat(acted.Notes))
            {
                await output.WriteLineAsync($"{"",-15} note: {note}").ConfigureAwait(false);
            }
        }
    }

    private static string Row(FaultDrillResult r) => string.Create(CultureInfo.InvariantCulture,
        $"{r.Scenario,-15} {(r.WithAgent ? "agent (3)" : "Patroni alone"),-14} {(r.TimeToDetectSeconds is { } d ? $"{d:0.0} s" : "-"),8} {(r.Restored ? $"{r.OutageSeconds:0.0} s" : $">{r.CapSeconds:0} s"),10} {(r.LostWrites?.ToString(CultureInfo.InvariantCulture) ?? "?"),6}  {r.LeaderBefore} -> {r.LeaderAfter}");

    private static Task<LabAgent> AgentAsync(LabManifest manifest, CancellationToken cancellationToken) =>
        LabAgent.CreateAsync(manifest, Path.Combine(RepoRoot(), "skills"), level: 3, tweak: null, cancellationToken);

    internal static string RepoRoot([CallerFilePath] string source = "")
    {
        for (var d = new DirectoryInfo(Path.GetDirectoryName(source)!); d is not null; d = d.Parent)
        {
            if (Directory.Exists(Path.Combine(d.FullName, "skills")) && File.Exists(Path.Combine(d.FullName, "PgRuntimeAgent.sln")))
            {
                return d.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
