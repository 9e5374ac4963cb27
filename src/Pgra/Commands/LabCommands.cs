using System.CommandLine;
using System.Globalization;
using PgRuntimeAgent.Lab;
using Spectre.Console;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary>
/// <c>pgra lab up|status|down|inject|heal|workload</c>: the loopback lab (a Pigsty-shaped runtime on 127.0.0.10-13)
/// that tests, demos and benchmarks run against, and real faults to inject into it.
/// </summary>
internal sealed partial class LabCommands : ICommandGroup
{
    public int Order => 90;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var lab = new Command("lab", "The loopback lab: PostgreSQL + Patroni x3, etcd, pgBackRest, pgbouncer, haproxy, exporters, Prometheus, Alertmanager on 127.0.0.10-13.");
        var dir = new Option<string?>("--dir")
        {
            Description = $"Lab directory (default: ${LabPaths.DirEnvironmentVariable}, else {LabPaths.DefaultDir}).",
            Recursive = true,
        };
        lab.Options.Add(dir);

        var up = new Command("up", "Install missing packages, run ansible/lab.yml, wait for a leader, 2 streaming replicas, a full backup and every scrape target. Idempotent.");
        var ha = new Option<string>("--ha") { Description = "HA timing: fast (ttl 10, loop_wait 2, retry_timeout 4) or norm (Pigsty: 30/5/10/25).", DefaultValueFactory = _ => "fast" };
        var skipPackages = new Option<bool>("--skip-packages") { Description = "Do not check or install Debian packages." };
        up.Options.Add(ha);
        up.Options.Add(skipPackages);
        up.SetAction((parse, ct) => UpAsync(options, LabPaths.ResolveDir(parse.GetValue(dir)), parse.GetValue(ha) ?? "fast", parse.GetValue(skipPackages), parse.GetValue(options.Json), ct));
        lab.Subcommands.Add(up);

        var status = new Command("status", "Every lab component with pid, address and health; the cluster's leader and replicas. Exit 1 when something is unhealthy.");
        status.SetAction((parse, ct) => StatusAsync(options, LabPaths.ResolveDir(parse.GetValue(dir)), parse.GetValue(options.Json), ct));
        lab.Subcommands.Add(status);

        var down = new Command("down", "Stop every lab process by its pid file, unmount the WAL filesystems, check no listener is left.");
        var purge = new Option<bool>("--purge") { Description = "Also remove the lab directory (data, backups, logs)." };
        down.Options.Add(purge);
        down.SetAction((parse, ct) => DownAsync(options, LabPaths.ResolveDir(parse.GetValue(dir)), parse.GetValue(purge), parse.GetValue(options.Json), ct));
        lab.Subcommands.Add(down);

        AddFaultCommands(lab, options, dir);
        AddWorkloadCommand(lab, options, dir);
        yield return lab;
    }

    private static async Task<int> UpAsync(GlobalOptions options, string dir, string haPreset, bool skipPackages, bool json, CancellationToken ct)
    {
        RequireRoot("lab up");
        var up = new LabUp(options.Time);
        var result = await up.RunAsync(new LabUpOptions { Dir = dir, HaPreset = haPreset, SkipPackages = skipPackages }, stage =>
        {
            if (!json)
            {
                options.Out.WriteLine(FormattableString.Invariant($"[{(stage.Ok ? "ok" : "FAILED"),-6}] {stage.Name,-15} {stage.Duration.TotalSeconds,6:0.0} s  {stage.Detail}"));
            }
        }, ct).ConfigureAwait(false);
        if (json)
        {
            await CliOutput.WriteJsonAsync(options.Out, result).ConfigureAwait(false);
        }
        else if (result.Ok)
        {
            await options.Out.WriteLineAsync(FormattableString.Invariant($"lab up in {result.Total.TotalSeconds:0.0} s ({dir}); `pgra lab status` shows every component")).ConfigureAwait(false);
        }
        else
        {
            await options.Error.WriteLineAsync($"error: lab up failed: {result.Error}. Logs: {dir}/*/log, {dir}/infra/*/; rerun `pgra lab up` (idempotent).").ConfigureAwait(false);
        }

        return result.Ok ? ExitCodes.Ok : ExitCodes.Failure;
    }

    private static async Task<int> StatusAsync(GlobalOptions options, string dir, bool json, CancellationToken ct)
    {
        var report = await LabStatus.GetAsync(dir, options.Time, ct).ConfigureAwait(false);
        if (json)
        {
            await CliOutput.WriteJsonAsync(options.Out, report).ConfigureAwait(false);
            return report.Healthy ? ExitCodes.Ok : ExitCodes.Failure;
        }

        if (!report.Provisioned)
        {
            await options.Out.WriteLineAsync($"no lab in {dir} (run `pgra lab up`)").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        var console = Console(options.Out);
        var table = new Table().Border(TableBorder.Simple)
            .AddColumns("component", "kind", "pid", "process", "address", "health");
        foreach (var c in report.Components)
        {
            table.AddRow(Markup.Escape(c.Name), c.Kind, c.Pid?.ToString(CultureInfo.InvariantCulture) ?? "-", Markup.Escape(c.Process), c.Address,
                c.Healthy ? "[green]" + Markup.Escape(c.Health) + "[/]" : "[red]" + Markup.Escape(c.Health) + "[/]");
        }

        console.Write(table);
        foreach (var m in report.Members)
        {
            console.WriteLine($"  {m.Name,-10} {m.Role,-8} {m.State,-10} lag {m.Lag ?? "-"}");
        }

        console.WriteLine($"leader: {report.Leader ?? "none"}; streaming replicas: {report.StreamingReplicas}; active faults: {(report.ActiveFaults.Count == 0 ? "none" : string.Join(", ", report.ActiveFaults))}");
        console.WriteLine(report.Healthy ? "lab: healthy" : "lab: NOT healthy");
        return report.Healthy ? ExitCodes.Ok : ExitCodes.Failure;
    }

    private static async Task<int> DownAsync(GlobalOptions options, string dir, bool purge, bool json, CancellationToken ct)
    {
        RequireRoot("lab down");
        var result = await new LabDown(options.Time).RunAsync(dir, purge, ct).ConfigureAwait(false);
        if (json)
        {
            await CliOutput.WriteJsonAsync(options.Out, result).ConfigureAwait(false);
        }
        else
        {
            foreach (var s in result.Stopped)
            {
                await options.Out.WriteLineAsync($"stopped {s}").ConfigureAwait(false);
            }

            foreach (var u in result.Undone)
            {
                await options.Out.WriteLineAsync($"undid {u}").ConfigureAwait(false);
            }

            foreach (var p in result.Problems)
            {
                await options.Error.WriteLineAsync($"warning: {p}").ConfigureAwait(false);
            }

            if (result.Listening.Count > 0)
            {
                await options.Error.WriteLineAsync($"error: still listening on the lab's addresses: {string.Join(", ", result.Listening)}").ConfigureAwait(false);
            }

            await options.Out.WriteLineAsync(result.Ok ? $"lab down ({result.Stopped.Count} process(es) stopped, no listener left{(result.Purged ? ", directory removed" : "")})" : "lab down: incomplete").ConfigureAwait(false);
        }

        return result.Ok ? ExitCodes.Ok : ExitCodes.Failure;
    }

    private static void AddFaultCommands(Command lab, GlobalOptions options, Option<string?> dir)
    {
        var scenarioList = string.Join(Environment.NewLine, LabScenarios.All.Select(s => $"  {s.Name,-17} {s.Description}"));
        var inject = new Command("inject", "Inject a real fault into the running lab and record it (time, target, commands) in <dir>/faults." + Environment.NewLine + scenarioList);
        var scenario = new Argument<string>("scenario") { Description = "Scenario: " + string.Join(", ", LabScenarios.All.Select(s => s.Name)) };
        var member = new Option<string?>("--member") { Description = "Member to hit (default: the leader, or the first replica for replica scenarios)." };
        inject.Arguments.Add(scenario);
        inject.Options.Add(member);
        inject.SetAction((parse, ct) => InjectAsync(options, LabPaths.ResolveDir(parse.GetValue(dir)), parse.GetValue(scenario)!, parse.GetValue(member), parse.GetValue(options.Json), ct));
        lab.Subcommands.Add(inject);

        var heal = new Command("heal", "Undo an injected fault (all of them when no scenario is named) and wait for a healthy cluster.");
        var healScenario = new Argument<string?>("scenario") { Description = "Scenario to heal (default: every active one).", Arity = ArgumentArity.ZeroOrOne };
        heal.Arguments.Add(healScenario);
        heal.SetAction((parse, ct) => HealAsync(options, LabPaths.ResolveDir(parse.GetValue(dir)), parse.GetValue(healScenario), parse.GetValue(options.Json), ct));
        lab.Subcommands.Add(heal);

        var repair = new Command("repair", "Bring a lab that a drill or test left broken back to health: heal every recorded fault, thaw stopped processes, start stopped services, rebuild a replica that does not stream. Exit 1 when it is still not healthy.");
        repair.SetAction((parse, ct) => RepairAsync(options, LabPaths.ResolveDir(parse.GetValue(dir)), parse.GetValue(options.Json), ct));
        lab.Subcommands.Add(repair);
    }

    private static async Task<int> RepairAsync(GlobalOptions options, string dir, bool json, CancellationToken ct)
    {
        RequireRoot("lab repair");
        var manifest = await LabManifest.TryLoadAsync(dir, ct).ConfigureAwait(false)
            ?? throw new InputException($"no lab in {dir}", ["bring it up with `pgra lab up` (or pass --dir)"]);
        using var faults = new LabFaults(manifest, options.Time);
        var result = await faults.RepairAsync(TimeSpan.FromSeconds(150), ct).ConfigureAwait(false);
        if (json)
        {
            await CliOutput.WriteJsonAsync(options.Out, result).ConfigureAwait(false);
            return result.Ok ? ExitCodes.Ok : ExitCodes.Failure;
        }

        foreach (var step in result.Steps)
        {
            await options.Out.WriteLineAsync($"  {step.At:HH:mm:ss.fff}  {step.Command}  -> {step.Outcome}").ConfigureAwait(false);
        }

        await options.Out.WriteLineAsync(FormattableString.Invariant($"{(result.Ok ? "repaired" : "NOT repaired")} in {result.Duration.TotalSeconds:0.0} s: {result.Summary}")).ConfigureAwait(false);
        return result.Ok ? ExitCodes.Ok : ExitCodes.Failure;
    }

    private static async Task<int> InjectAsync(GlobalOptions options, string dir, string scenario, string? member, bool json, CancellationToken ct)
    {
        LabScenarios.Parse(scenario); // unknown scenario: exit 2 before touching anything
        RequireRoot("lab inject");
        var manifest = await LabFaults.RequireRunningAsync(dir, options.Time, ct).ConfigureAwait(false);
        using var faults = new LabFaults(manifest, options.Time);
        var result = await faults.InjectAsync(scenario, member, ct).ConfigureAwait(false);
        if (json)
        {
            await CliOutput.WriteJsonAsync(options.Out, result).ConfigureAwait(false);
        }
        else
        {
            foreach (var step in result.Steps)
            {
                await options.Out.WriteLineAsync($"  {step.At:HH:mm:ss.fff}  {step.Command}  -> {step.Outcome}").ConfigureAwait(false);
            }

            await options.Out.WriteLineAsync(FormattableString.Invariant($"injected {result.Scenario} on {result.Target} in {result.Duration.TotalSeconds:0.0} s: {result.Summary}")).ConfigureAwait(false);
            await options.Out.WriteLineAsync($"recorded in {LabFaultBook.JournalPath(manifest)}; undo with `pgra lab heal {result.Scenario}`").ConfigureAwait(false);
        }

        return result.Ok ? ExitCodes.Ok : ExitCodes.Failure;
    }

    private static async Task<int> HealAsync(GlobalOptions options, string dir, string? scenario, bool json, CancellationToken ct)
    {
        if (scenario is not null)
        {
            LabScenarios.Parse(scenario);
        }

        RequireRoot("lab heal");
        var manifest = await LabFaults.RequireRunningAsync(dir, options.Time, ct).ConfigureAwait(false);
        using var faults = new LabFaults(manifest, options.Time);
        var results = await faults.HealAsync(scenario, ct).ConfigureAwait(false);
        if (json)
        {
            await CliOutput.WriteJsonAsync(options.Out, results).ConfigureAwait(false);
        }
        else if (results.Count == 0)
        {
            await options.Out.WriteLineAsync(scenario is null ? "nothing to heal: no fault is active" : $"nothing to heal: {scenario} is not active").ConfigureAwait(false);
        }
        else
        {
            foreach (var r in results)
            {
                foreach (var step in r.Steps)
                {
                    await options.Out.WriteLineAsync($"  {step.At:HH:mm:ss.fff}  {step.Command}  -> {step.Outcome}").ConfigureAwait(false);
                }

                await options.Out.WriteLineAsync(FormattableString.Invariant($"{(r.Ok ? "healed" : "NOT healed")} {r.Scenario} on {r.Target} in {r.Duration.TotalSeconds:0.0} s: {r.Summary}")).ConfigureAwait(false);
            }
        }

        return results.All(r => r.Ok) ? ExitCodes.Ok : ExitCodes.Failure;
    }

    private static void AddWorkloadCommand(Command lab, GlobalOptions options, Option<string?> dir)
    {
        var workload = new Command("workload", "Run the steady writer (and reader) through haproxy for a while; print attempts, acknowledged writes, outages and lost acknowledged writes.");
        var duration = new Option<double>("--seconds") { Description = "How long to run.", DefaultValueFactory = _ => 30 };
        var interval = new Option<int>("--interval-ms") { Description = "Pause between writes.", DefaultValueFactory = _ => 50 };
        var noReader = new Option<bool>("--no-reader") { Description = "Writes only." };
        workload.Options.Add(duration);
        workload.Options.Add(interval);
        workload.Options.Add(noReader);
        workload.SetAction((parse, ct) => WorkloadAsync(options, LabPaths.ResolveDir(parse.GetValue(dir)), parse.GetValue(duration), parse.GetValue(interval), !parse.GetValue(noReader), parse.GetValue(options.Json), ct));
        lab.Subcommands.Add(workload);
    }

    private static async Task<int> WorkloadAsync(GlobalOptions options, string dir, double seconds, int intervalMs, bool reader, bool json, CancellationToken ct)
    {
        if (seconds <= 0 || intervalMs <= 0)
        {
            throw new InputException("--seconds and --interval-ms must be positive");
        }

        var manifest = await LabFaults.RequireRunningAsync(dir, options.Time, ct).ConfigureAwait(false);
        using var cluster = new LabCluster(manifest, options.Time);
        var workloadOptions = new LabWorkloadOptions
        {
            WriteConnectionString = cluster.PrimaryServiceConnectionString(),
            ReadConnectionString = reader ? cluster.ReplicaServiceConnectionString() : null,
            WriteInterval = TimeSpan.FromMilliseconds(intervalMs),
        };
        await using var run = await LabWorkload.StartAsync(workloadOptions, options.Time, ct).ConfigureAwait(false);
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(seconds), options.Time, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Ctrl-C: report what was seen so far
        }

        await run.StopAsync().ConfigureAwait(false);
        var report = await run.VerifyAsync(cluster.PrimaryServiceConnectionString(), CancellationToken.None).ConfigureAwait(false);
        if (json)
        {
            await CliOutput.WriteJsonAsync(options.Out, report).ConfigureAwait(false);
        }
        else
        {
            await options.Out.WriteLineAsync(FormattableString.Invariant(
                $"run {report.RunId}: {report.Attempts} write attempts, {report.Acknowledged} acknowledged, {report.Failed} failed; reads {report.Reads} ok, {report.FailedReads} failed")).ConfigureAwait(false);
            foreach (var o in report.Outages)
            {
                await options.Out.WriteLineAsync(FormattableString.Invariant(
                    $"  write outage {o.Duration.TotalSeconds:0.00} s from {o.LastAckBefore:HH:mm:ss.fff} to {o.FirstAckAfter:HH:mm:ss.fff} ({o.FailedAttempts} failed attempts; first error: {o.FirstError})")).ConfigureAwait(false);
            }

            await options.Out.WriteLineAsync(FormattableString.Invariant(
                $"longest write outage {report.LongestOutage.TotalSeconds:0.00} s{(report.EndedInOutage ? " (still failing at the end)" : "")}; lost acknowledged writes: {report.LostAcknowledged}")).ConfigureAwait(false);
        }

        return report.LostAcknowledged == 0 && !report.EndedInOutage ? ExitCodes.Ok : ExitCodes.Failure;
    }

    private static void RequireRoot(string verb)
    {
        if (Environment.UserName != "root")
        {
            throw new InputException($"pgra {verb} must run as root", ["the lab mounts filesystems, installs packages and runs services as their own users"]);
        }
    }

    private static IAnsiConsole Console(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 200;
        return console;
    }
}
