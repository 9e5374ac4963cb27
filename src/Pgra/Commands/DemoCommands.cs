using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Lab;
using PgRuntimeAgent.Web;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary>
/// <c>pgra demo</c>: the whole story on one machine. Brings the loopback lab up, starts the agent in-process (allowed
/// to fence and fail over alone), runs a steady writer through haproxy, injects a primary failure, shows what the
/// agent detects and does as it happens, prints the post-mortem and what the writer measured (write outage, lost
/// acknowledged writes). The lab stays up for exploration unless <c>--down</c>.
/// </summary>
internal sealed class DemoCommands : ICommandGroup
{
    public static IReadOnlyList<string> Scenarios { get; } = ["primary-crash", "primary-freeze", "disk-full"];

    public int Order => 21;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var scenario = new Option<string>("--scenario")
        {
            Description = "The failure to inject on the leader: primary-crash (Patroni fails over; the agent verifies and explains), primary-freeze or disk-full (the agent fences and fails over).",
            DefaultValueFactory = _ => "primary-crash",
        };
        scenario.AcceptOnlyFromAmong([.. Scenarios]);
        var down = new Option<bool>("--down") { Description = "Bring the lab down at the end (default: leave it up to explore)." };
        var dir = new Option<string?>("--dir") { Description = $"Lab directory (default: ${LabPaths.DirEnvironmentVariable}, else {LabPaths.DefaultDir})." };
        var ha = new Option<string>("--ha") { Description = "Lab HA timing: fast (ttl 10) or norm (Pigsty's 30/5/10/25).", DefaultValueFactory = _ => "fast" };
        var autonomy = new Option<int>("--autonomy")
        {
            Description = "Autonomy level for patroni.failover and member.fence (irreversible, with their loss bounded by prechecks: 3 acts alone when reacting, 2 waits for 'pgra approve', 1 recommends).",
            DefaultValueFactory = _ => 3,
        };
        var cap = new Option<double>("--wait") { Description = "Seconds to wait for writes to come back after the fault.", DefaultValueFactory = _ => 120 };
        var skipPackages = new Option<bool>("--skip-packages") { Description = "Do not check or install Debian packages when bringing the lab up." };
        var demo = new Command("demo", "Bring the lab up, start the agent, run a workload, inject a primary failure, show detection and actions live, print the post-mortem and the measured outage.")
        {
            scenario, down, dir, ha, autonomy, cap, skipPackages,
        };
        demo.SetAction((parse, ct) => RunAsync(options, new DemoArguments(parse.GetValue(scenario)!, parse.GetValue(down), LabPaths.ResolveDir(parse.GetValue(dir)),
            parse.GetValue(ha) ?? "fast", parse.GetValue(autonomy), parse.GetValue(cap), parse.GetValue(skipPackages)), ct));
        return [demo];
    }

    private sealed record DemoArguments(string Scenario, bool Down, string Dir, string Ha, int Autonomy, double WaitSeconds, bool SkipPackages);

    private static async Task<int> RunAsync(GlobalOptions options, DemoArguments a, CancellationToken ct)
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InputException("pgra demo runs the loopback lab, which needs root (it runs PostgreSQL as postgres, mounts the WAL filesystems and injects faults)",
                ["run it as root (for example with sudo)"]);
        }

        if (a.Autonomy is < 0 or > 5)
        {
            throw new InputException($"--autonomy must be 0 to 5, got {a.Autonomy}");
        }

        var o = options.Out;
        var time = options.Time;
        await Section(o, $"1. The lab ({a.Dir})").ConfigureAwait(false);
        var up = await new LabUp(time).RunAsync(new LabUpOptions { Dir = a.Dir, HaPreset = a.Ha, SkipPackages = a.SkipPackages },
            s => o.WriteLine(FormattableString.Invariant($"   [{(s.Ok ? "ok" : "FAILED"),-6}] {s.Name,-15} {s.Duration.TotalSeconds,6:0.0} s  {s.Detail}")), ct).ConfigureAwait(false);
        if (!up.Ok)
        {
            await options.Error.WriteLineAsync($"error: the lab did not come up: {up.Error}. `pgra lab status` shows what runs; rerun `pgra demo` (lab up is idempotent).").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        var manifest = await LabManifest.TryLoadAsync(a.Dir, ct).ConfigureAwait(false)
            ?? throw new InputException($"no lab manifest in {a.Dir} after lab up");
        await PutLeaderBackAsync(manifest, o, time, ct).ConfigureAwait(false);

        var workspace = Workspace.Load(manifest.Inventory, manifest.Settings, Workspace.ProcessEnvironment(), Directory.GetCurrentDirectory(),
            Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
        var classes = new Dictionary<string, int>(workspace.Settings.Policy.Classes, StringComparer.Ordinal)
        {
            ["patroni.failover"] = a.Autonomy,
            ["member.fence"] = a.Autonomy,
        };
        var settings = workspace.Settings with
        {
            Sensing = workspace.Settings.Sensing with { IntervalSeconds = Math.Min(workspace.Settings.Sensing.IntervalSeconds, 1) },
            Policy = workspace.Settings.Policy with { Classes = classes },
            Detection = FaultDrill.LoopbackDetection(workspace.Settings.Detection),
            Notify = workspace.Settings.Notify with { Stdout = false },
        };
        var skillsDir = SkillCommands.ResolveDirectory(settings.Agent.SkillsDir, Directory.GetCurrentDirectory(), AppContext.BaseDirectory);

        await Section(o, "2. The agent").ConfigureAwait(false);
        var view = new LiveView(o);
        await using var agent = await AgentRuntime.CreateAsync(workspace with { Settings = settings }, new AgentRuntimeOptions
        {
            SkillsDirectory = skillsDir,
            Time = time,
            Logging = NullLoggerFactory.Instance,
            Observers = [view],
        }, ct).ConfigureAwait(false);
        await o.WriteLineAsync($"   watching {string.Join(", ", agent.Clusters)} every {agent.Interval.TotalSeconds:0.#} s; skills: {string.Join(", ", agent.Skills.Skills.Select(s => s.Name))}").ConfigureAwait(false);
        await o.WriteLineAsync($"   autonomy {a.Autonomy} for patroni.failover and member.fence (3 acts alone when reacting to a finding); journal {agent.Journal.Location}").ConfigureAwait(false);
        await using var web = await StartConsoleAsync(workspace with { Settings = settings }, agent, skillsDir, time, o, ct).ConfigureAwait(false);
        var console = web is null ? null : new Uri(web.Address, "console/");

        await Section(o, $"3. Workload, then {a.Scenario} on the leader (live)").ConfigureAwait(false);
        var drill = new FaultDrill(manifest, time);
        var result = await drill.RunAsync(new FaultDrillOptions
        {
            Scenario = a.Scenario,
            Cap = TimeSpan.FromSeconds(Math.Max(10, a.WaitSeconds)),
            AfterInject = a.Autonomy == 2
                ? (ctx, _) => o.WriteLineAsync("   the agent will ask before it acts: approve "
                    + (console is null ? "" : $"on {console}#/approvals, or ") + "with `pgra approve ID -i " + manifest.Inventory + "` in another shell")
                : null,
        }, agent, line => o.WriteLine("   " + Clock(time) + " " + line), ct).ConfigureAwait(false);

        await Section(o, "4. Post-mortem").ConfigureAwait(false);
        if (result.PostMortem is { } pm)
        {
            await o.WriteLineAsync(PostMortemWriter.Markdown(pm)).ConfigureAwait(false);
            var file = result.Events.LastOrDefault(e => e.Name == AgentEventNames.IncidentResolved)?.Details.GetValueOrDefault("postmortem_file");
            await o.WriteLineAsync(file is null ? $"   (pgra postmortem {pm.Incident} -i {manifest.Inventory})" : $"   written to {file}").ConfigureAwait(false);
        }
        else
        {
            await o.WriteLineAsync("   no incident was recorded for this fault: " + string.Join("; ", result.Notes)).ConfigureAwait(false);
        }

        await Section(o, "5. What the writer measured").ConfigureAwait(false);
        await o.WriteLineAsync("   " + result.Describe()).ConfigureAwait(false);
        if (result.PostMortem?.Outage.Seconds is { } estimated && result.OutageSeconds is { } measured)
        {
            await o.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"   write outage: measured by the writer {measured:0.0} s, estimated by the post-mortem from snapshots and logs {estimated:0.0} s")).ConfigureAwait(false);
        }

        foreach (var note in result.Notes)
        {
            await o.WriteLineAsync("   note: " + note).ConfigureAwait(false);
        }

        if (a.Down)
        {
            await Section(o, "6. Lab down").ConfigureAwait(false);
            var downResult = await new LabDown(time).RunAsync(a.Dir, purge: false, ct).ConfigureAwait(false);
            await o.WriteLineAsync(downResult.Ok ? "   the lab is down" : "   lab down: " + string.Join("; ", downResult.Problems)).ConfigureAwait(false);
        }
        else
        {
            await o.WriteLineAsync($"\nThe lab is still up: `pgra status -i {manifest.Inventory}`, `pgra incidents -i {manifest.Inventory}`, `pgra lab down` when done.").ConfigureAwait(false);
        }

        return result.Restored ? ExitCodes.Ok : ExitCodes.Failure;
    }

    /// <summary>Starts from the inventory's primary as leader, so the post-mortem tells one story (no drift incident before the fault).</summary>
    private static async Task PutLeaderBackAsync(LabManifest manifest, TextWriter o, TimeProvider time, CancellationToken ct)
    {
        using var cluster = new LabCluster(manifest, time);
        var declared = manifest.Members.FirstOrDefault(m => m.DeclaredRole == "primary");
        var leader = await cluster.LeaderAsync(ct).ConfigureAwait(false);
        if (declared is null || leader is null || leader.Name == declared.Name)
        {
            return;
        }

        await o.WriteLineAsync($"   the leader is {leader.Name}, the inventory says {declared.Name}: switching over back first").ConfigureAwait(false);
        var (ok, _) = await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(90), ct).ConfigureAwait(false);
        var body = $$"""{"leader":"{{leader.Name}}","candidate":"{{declared.Name}}"}""";
        var (status, answer) = await cluster.SendAsync(HttpMethod.Post, leader, "/switchover", body, ct, TimeSpan.FromSeconds(40)).ConfigureAwait(false);
        await o.WriteLineAsync($"   POST /switchover: HTTP {status}: {answer.Trim()}").ConfigureAwait(false);
        (ok, var health) = await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(90), ct).ConfigureAwait(false);
        await o.WriteLineAsync("   " + (ok ? "healthy: " : "NOT healthy: ") + health.Describe()).ConfigureAwait(false);
    }

    /// <summary>The web console beside the demo's agent when the settings have tokens (the lab's do); none if the port is taken.</summary>
    private static async Task<AgentWebHost?> StartConsoleAsync(Workspace workspace, AgentRuntime agent, string skillsDir, TimeProvider time, TextWriter o, CancellationToken ct)
    {
        try
        {
            var web = await AgentWebHosting.StartAsync(workspace, agent.Acting, skillsDir, agent, time, NullLoggerFactory.Instance, ct).ConfigureAwait(false);
            if (web is not null)
            {
                var signIn = workspace.Settings.Http.Tokens.FirstOrDefault(t => t.Role == WebRole.Approver)?.Name;
                await o.WriteLineAsync($"   console: {new Uri(web.Address, "console/")}" + (signIn is null ? "" : $" (sign in with the token of '{signIn}' in http.tokens)")).ConfigureAwait(false);
            }

            return web;
        }
        catch (InputException ex)
        {
            await o.WriteLineAsync("   no console: " + ex.Message).ConfigureAwait(false);
            return null;
        }
    }

    private static Task Section(TextWriter o, string title) => o.WriteLineAsync($"\n== {title}");

    private static string Clock(TimeProvider time) => time.GetUtcNow().UtcDateTime.ToString("HH:mm:ss.f", CultureInfo.InvariantCulture) + "Z";

    /// <summary>Prints what the agent sees and does; snapshots only when the leader or its writability changes.</summary>
    private sealed class LiveView(TextWriter o) : IAgentObserver
    {
        private readonly Lock _gate = new();
        private string? _last;

        public void OnEvent(AgentEvent e)
        {
            lock (_gate)
            {
                if (e.Name == AgentEventNames.Snapshot)
                {
                    var shape = $"{e.Details.GetValueOrDefault("leader")}/{e.Details.GetValueOrDefault("writable")}";
                    if (shape == _last)
                    {
                        return;
                    }

                    _last = shape;
                }

                if (e.Name is AgentEventNames.Started or AgentEventNames.Stopped)
                {
                    return;
                }

                o.WriteLine("   " + e.ToLine());
            }
        }
    }
}
