using System.Globalization;
using System.Text.RegularExpressions;
using CliWrap;
using CliWrap.Buffered;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Lab;

namespace PgRuntimeAgent.LabTests.Agent;

/// <summary>
/// No false positives (workload diagnosis issue): pgbench's TPC-B-like load at full speed on the leader, its row-lock
/// waits on pgbench_branches and pgbench_tellers included, raises none of the workload findings while an observing
/// agent watches. One minute here; <c>PGRA_SOAK_SECONDS</c> sets the length (the benchmark run uses five minutes).
/// </summary>
public sealed partial class PgbenchSoakLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string Pgbench = "/usr/lib/postgresql/15/bin/pgbench";

    /// <summary>Every finding code of the workload diagnosis: none may be raised by an ordinary busy workload.</summary>
    private static readonly string[] WorkloadCodes =
    [
        "lock-pileup", "long-transaction", "connection-saturation", "slow-query", "missing-index", "vacuum-lag", "invalid-index",
        "config-broken", "wraparound-risk", "unused-index", "duplicate-index",
    ];

    [Fact]
    public async Task Pgbench_FullLoadOnTheLeader_RaisesNoWorkloadFinding()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("PGRA_SOAK_SECONDS"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) && s > 0 ? s : 60;
        var login = lab.Manifest.Credentials.Admin;
        string[] target = ["-h", leader.Ip, "-p", leader.Ports.Postgres.ToString(CultureInfo.InvariantCulture), "-U", login.Username];
        var env = new Dictionary<string, string?> { ["PGPASSWORD"] = login.Password, ["PGAPPNAME"] = "pgra-lab-pgbench" };

        await RunAsync([.. target, "-i", "-s", "1", "-q", lab.Manifest.Database], env);
        await using var agent = await AgentLab.CreateAsync(lab, level: 0);
        await using var running = RunningAgent.Start(agent);
        string output;
        try
        {
            Assert.NotNull(await running.WaitAsync(e => e.Name == AgentEventNames.Snapshot, TimeSpan.FromSeconds(20)));
            // 8 clients on scale 1: every transaction updates one of 1 branch and 10 tellers, so they queue on row locks.
            output = await RunAsync([.. target, "-n", "-c", "8", "-j", "2", "-T", seconds.ToString(CultureInfo.InvariantCulture), lab.Manifest.Database], env);
            // The detectors see the last minute of statements and the tables' state after it.
            var after = running.Events.Count(e => e.Name == AgentEventNames.Snapshot);
            await running.WaitAsync(e => running.Events.Count(x => x.Name == AgentEventNames.Snapshot) >= after + 5, TimeSpan.FromSeconds(30));
            await running.StopAsync();
        }
        finally
        {
            await RunAsync([.. target, "-i", "-I", "d", lab.Manifest.Database], env);
        }

        var raised = running.Events.Where(e => e.Name == AgentEventNames.FindingRaised).ToList();
        var tps = Tps().Match(output) is { Success: true } m ? m.Groups[1].Value : "?";
        AgentLab.Report($"pgbench soak: {seconds} s, 8 clients, {tps} tps on {leader.Name}; findings raised: {(raised.Count == 0 ? "none" : string.Join(", ", raised.Select(e => e.Details.GetValueOrDefault("code"))))}");
        Assert.NotEqual("?", tps);
        Assert.DoesNotContain(raised, e => WorkloadCodes.Contains(e.Details.GetValueOrDefault("code")));
    }

    private static async Task<string> RunAsync(string[] args, IReadOnlyDictionary<string, string?> env)
    {
        var result = await CliWrap.Cli.Wrap(Pgbench).WithArguments(args).WithEnvironmentVariables(env).WithValidation(CommandResultValidation.None).ExecuteBufferedAsync(Ct);
        Assert.True(result.ExitCode == 0, $"pgbench {string.Join(' ', args)} exited {result.ExitCode}: {result.StandardError}");
        return result.StandardOutput;
    }

    [GeneratedRegex(@"tps = ([0-9.]+)", RegexOptions.CultureInvariant)]
    private static partial Regex Tps();
}
