using System.Globalization;
using PgRuntimeAgent.Bench.Agent;
using PgRuntimeAgent.Lab;
using PgRuntimeAgent.Lab.Safety;

namespace PgRuntimeAgent.Bench.Safety;

/// <summary>
/// The safety suite at scale: <c>PGRA_SAFETY_COUNT</c> randomised faults (default 200: the CI seeds, then fresh
/// ones; or exactly <c>PGRA_SAFETY_SEEDS</c>), each with a fresh agent at autonomy 3 and the independent checker, all
/// strict targets judged (no acknowledged write lost after another member took writes, split brain within
/// <c>PGRA_SAFETY_SPLIT_LIMIT</c> s (1), the key never handed back, the post-mortem never under-reporting, the journal
/// intact, the lab repaired). One line per run and a summary by shape, with the host's load beside the figures.
/// Needs the running lab and root.
/// </summary>
internal sealed class SafetyBenchmark : IBenchmark
{
    public string Name => "safety";

    public string Description => "randomised faults (default 200) against the agent with an independent write checker (needs the lab and root)";

    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken)
    {
        var manifest = await LabManifest.TryLoadAsync(LabPaths.ResolveDir(null), cancellationToken).ConfigureAwait(false);
        if (manifest is null || !Environment.IsPrivilegedProcess)
        {
            await output.WriteLineAsync("safety: needs the running lab (`pgra lab up`) and root; skipped").ConfigureAwait(false);
            return;
        }

        // The manifest outlives the lab (and may name a checkout that is gone): only a healthy lab is a start.
        using (var cluster = new LabCluster(manifest, TimeProvider.System))
        {
            var (healthy, health) = await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(20), cancellationToken).ConfigureAwait(false);
            if (!healthy)
            {
                await output.WriteLineAsync($"safety: the lab is not healthy ({health.Describe()}): bring it up with `pgra lab up` (or `pgra lab repair`) and run again").ConfigureAwait(false);
                return;
            }
        }

        var count = int.TryParse(Environment.GetEnvironmentVariable("PGRA_SAFETY_COUNT"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 200;
        var limit = double.TryParse(Environment.GetEnvironmentVariable("PGRA_SAFETY_SPLIT_LIMIT"), NumberStyles.Float, CultureInfo.InvariantCulture, out var l) ? l : 1.0;
        var seeds = SafetyFault.Seeds(SafetyFault.CiSeeds, Math.Max(0, count - SafetyFault.CiSeeds.Count), Environment.GetEnvironmentVariable("PGRA_SAFETY_SEEDS"));
        await output.WriteLineAsync($"safety: {seeds.Count} fault(s) on {manifest.Cluster} (ttl {manifest.Ha.Ttl} s), seeds {string.Join(",", seeds)}").ConfigureAwait(false);
        var reports = new List<SafetyRunReport>();
        var skills = Path.Combine(AgentDrillBenchmark.RepoRoot(), "skills");
        foreach (var seed in seeds)
        {
            await using var agent = await LabAgent.CreateAsync(manifest, skills, 3,
                s => s with { Policy = s.Policy with { Cooldowns = new Dictionary<string, int>(s.Policy.Cooldowns) { ["patroni.failover"] = 5 } } }, cancellationToken).ConfigureAwait(false);
            var report = await new SafetyRun(manifest, TimeProvider.System).RunAsync(SafetyFault.Generate(seed), agent.Runtime, _ => { }, cancellationToken).ConfigureAwait(false);
            reports.Add(report);
            var violations = report.Violations(limit);
            agent.Keep = violations.Count > 0 || Environment.GetEnvironmentVariable("PGRA_KEEP_AGENT_DIR") == "1";
            await output.WriteLineAsync((violations.Count == 0 ? "ok   " : "FAIL ") + report.Describe()
                + (agent.Keep && violations.Count == 0 ? $" (journal kept in {agent.Dir})" : "")).ConfigureAwait(false);
            foreach (var v in violations)
            {
                await output.WriteLineAsync($"       violation: {v}" + (agent.Keep ? $" (journal kept in {agent.Dir})" : "")).ConfigureAwait(false);
            }
        }

        await output.WriteLineAsync(SafetySummary.Render(reports, limit)).ConfigureAwait(false);
    }
}
