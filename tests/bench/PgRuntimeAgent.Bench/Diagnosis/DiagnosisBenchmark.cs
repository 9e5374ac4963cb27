using System.Diagnostics;
using CliWrap;
using PgRuntimeAgent.Bench.Agent;
using PgRuntimeAgent.Lab;

namespace PgRuntimeAgent.Bench.Diagnosis;

/// <summary>
/// The workload diagnosis figures, from the lab tests that assert them (one implementation, not a copy): time to detect
/// per scenario (bad-config, lock-pileup, connection-storm, long-transaction), the missing-index loop (p95 and mean
/// before and after as the workload measured them, build time, the longest write during the build, symptom to
/// verified fix), the lock-pileup approval, and the pgbench soak at five minutes (<c>PGRA_SOAK_SECONDS</c>, default
/// 300). It runs those lab test classes with <c>dotnet test</c> and prints the figure lines they report. Needs the
/// running lab and root.
/// </summary>
internal sealed class DiagnosisBenchmark : IBenchmark
{
    private static readonly string[] Classes =
    [
        "*WorkloadFindingsLabTests", "*MissingIndexLabTests", "*LockPileupApprovalLabTests", "*PgbenchSoakLabTests",
    ];

    public string Name => "diagnosis";

    public string Description => "workload diagnosis: time to detect per scenario, p95 before/after an index, build time, write stall, pgbench soak (needs the lab and root)";

    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken)
    {
        var manifest = await LabManifest.TryLoadAsync(LabPaths.ResolveDir(null), cancellationToken).ConfigureAwait(false);
        if (manifest is null || !Environment.IsPrivilegedProcess)
        {
            await output.WriteLineAsync("diagnosis: needs the running lab (`pgra lab up`) and root; skipped").ConfigureAwait(false);
            return;
        }

        var root = AgentDrillBenchmark.RepoRoot();
        var figures = Path.Combine(root, "artifacts", "lab-figures", "agent.log");
        var before = File.Exists(figures) ? File.ReadAllLines(figures).Length : 0;
        var soak = Environment.GetEnvironmentVariable("PGRA_SOAK_SECONDS") ?? "300";
        var clock = Stopwatch.StartNew();
        var log = new List<string>();
        string[] args = ["test", "--project", Path.Combine(root, "tests", "PgRuntimeAgent.LabTests"), "-c", "Release", .. Classes.SelectMany(c => new[] { "--filter-class", c })];
        var result = await Cli.Wrap("dotnet").WithArguments(args).WithWorkingDirectory(root)
            .WithEnvironmentVariables(e => e.Set("CI", "true").Set("PGRA_SOAK_SECONDS", soak))
            .WithStandardOutputPipe(PipeTarget.ToDelegate(log.Add))
            .WithValidation(CommandResultValidation.None)
            .ExecuteAsync(cancellationToken).ConfigureAwait(false);

        var lines = File.Exists(figures) ? File.ReadAllLines(figures).Skip(before).ToList() : [];
        await output.WriteLineAsync($"diagnosis: {Classes.Length} lab test classes, pgbench soak {soak} s, {clock.Elapsed.TotalMinutes:0.0} min, exit {result.ExitCode}").ConfigureAwait(false);
        foreach (var line in lines)
        {
            await output.WriteLineAsync("  " + line).ConfigureAwait(false);
        }

        foreach (var line in log.Where(l => l.Contains("failed", StringComparison.OrdinalIgnoreCase) || l.Contains("total:", StringComparison.Ordinal) || l.Contains("succeeded:", StringComparison.Ordinal)))
        {
            await output.WriteLineAsync("  " + line.Trim()).ConfigureAwait(false);
        }
    }
}
