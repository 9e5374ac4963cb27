using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Host;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Bench.Sensing;

/// <summary>
/// Snapshot latency of the lab cluster (when the lab runs) with the queries and database time each snapshot costs a
/// member, and a simulated fleet of 200 clusters x 3 members whose Patroni and Prometheus endpoints are served by an
/// in-process fake on loopback. Prints times and memory.
/// </summary>
internal sealed partial class SnapshotBenchmark : IBenchmark
{
    public string Name => "sensing";

    public string Description => "snapshot latency: the lab cluster, and a fake fleet of 200 clusters x 3 members on loopback";

    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken)
    {
        await LabAsync(output, cancellationToken).ConfigureAwait(false);
        await FleetAsync(output, clusters: 200, cancellationToken).ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ the lab

    private static async Task LabAsync(TextWriter output, CancellationToken cancellationToken)
    {
        var inventory = FindInventory();
        if (inventory is null || !await AnswersAsync("http://127.0.0.11:8008/cluster", cancellationToken).ConfigureAwait(false))
        {
            await output.WriteLineAsync("lab: not running (pgra lab up); lab latency skipped").ConfigureAwait(false);
            return;
        }

        var secrets = new SecretStore();
        var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => e.Value as string, StringComparer.Ordinal);
        var settings = SettingsLoader.Load(null, inventory, secrets, env);
        var topology = InventoryLoader.Load(inventory, secrets, InventoryOverrides.From(settings));
        using var service = new SnapshotService(topology, settings.Sensing, settings.Endpoints, secrets);
        var cluster = topology.Clusters[0];
        await service.TakeAsync(cluster, cancellationToken).ConfigureAwait(false); // warm-up: JIT, pools
        var times = new List<double>();
        ClusterSnapshot? last = null;
        for (var i = 0; i < 10; i++)
        {
            last = await service.TakeAsync(cluster, cancellationToken).ConfigureAwait(false);
            times.Add(last.DurationMs);
        }

        times.Sort();
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"lab {cluster.Name}: 10 snapshots, p50 {times[4]:0.0} ms, p90 {times[8]:0.0} ms, max {times[^1]:0.0} ms")).ConfigureAwait(false);
        foreach (var s in last!.SensorDetails)
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"  {s.Sensor,-9} {s.Target ?? "-",-26} {s.Health,-8} {s.ElapsedMs,7:0.0} ms")).ConfigureAwait(false);
        }

        foreach (var pg in last.Postgres)
        {
            var over = pg.Probes.Where(p => p.OverBudget).Select(p => $"{p.Name} {p.ElapsedMs:0.0}/{p.BudgetMs} ms").ToList();
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"  postgres cost per snapshot on {pg.Member}: {pg.Queries} queries, {pg.DbTimeMs:0.0} ms DB time{(over.Count == 0 ? "" : "; over budget: " + string.Join(", ", over))}")).ConfigureAwait(false);
        }

        await output.WriteLineAsync($"  metrics: {last.Metrics?.Queries ?? 0} HTTP queries per snapshot; patroni: {cluster.Members.Count * 4} requests").ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ the fleet

    private static async Task FleetAsync(TextWriter output, int clusters, CancellationToken cancellationToken)
    {
        var secrets = new SecretStore();
        var list = Enumerable.Range(1, clusters).Select(c => FleetCluster($"pg-f{c:000}", secrets)).ToList();
        var topology = new Topology
        {
            SourcePath = "(simulated fleet)",
            Generation = PigstyGeneration.V4,
            Clusters = list,
            Infra = new InfraEndpoints(),
        };
        var info = File.Exists(Fixture("recorded", "pgbackrest-2.45", "info.json")) ? await File.ReadAllTextAsync(Fixture("recorded", "pgbackrest-2.45", "info.json"), cancellationToken).ConfigureAwait(false) : "[]";
        using var fake = new FleetFake(topology);
        var settings = new AgentSettings
        {
            Sensing = new SensingSettings { TimeoutSeconds = 5, MaxParallelism = 16, Disabled = [SensorNames.Postgres], LogsMaxEntries = 50 },
        };
        var overrides = new SensingOverrides
        {
            PatroniUrl = m => new Uri(fake.BaseUrl, $"m/{m.Name}/"),
            MetricsUrl = fake.BaseUrl,
            LogsKind = LogsKind.Files,
            FileAccess = (_, _) => new NoFiles(),
            LocalRunner = new InfoRunner(info),
            SshRunner = new InfoRunner(info),
        };
        using var service = new SnapshotService(topology, settings.Sensing, settings.Endpoints, secrets, null, overrides);

        GC.Collect();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var sw = Stopwatch.StartNew();
        var snapshots = await service.TakeAllAsync(cancellationToken).ConfigureAwait(false);
        sw.Stop();
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var complete = snapshots.Count(s => s.Leader is not null && s.HealthOf(SensorNames.Patroni) == SensorHealth.Ok && s.HealthOf(SensorNames.Metrics) == SensorHealth.Ok);
        var durations = snapshots.Select(s => s.DurationMs).Order().ToList();
        var json = snapshots.Sum(s => (long)SnapshotJson.Serialize(s, indented: false).Length);
        using var process = Process.GetCurrentProcess();
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"fleet: {clusters} clusters x 3 members in {sw.Elapsed.TotalSeconds:0.00} s on {Environment.ProcessorCount} cores (max_parallelism {settings.Sensing.MaxParallelism}; target < 10 s); {complete}/{clusters} complete")).ConfigureAwait(false);
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"  per snapshot: p50 {durations[durations.Count / 2]:0.0} ms, p90 {durations[(int)(durations.Count * 0.9)]:0.0} ms, max {durations[^1]:0.0} ms; HTTP requests served: {fake.Requests}")).ConfigureAwait(false);
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"  memory: allocated {allocated / 1048576.0:0.0} MiB, heap now {GC.GetTotalMemory(false) / 1048576.0:0.0} MiB, peak working set {process.PeakWorkingSet64 / 1048576.0:0.0} MiB; snapshots as JSON {json / 1048576.0:0.0} MiB")).ConfigureAwait(false);
    }

    private static PgCluster FleetCluster(string name, SecretStore secrets) => new()
    {
        Name = name,
        Members = Enumerable.Range(1, 3).Select(i => new PgMember
        {
            Name = $"{name}-{i}",
            Cluster = name,
            Seq = i,
            Ip = "127.0.0.1",
            DeclaredRole = i == 1 ? DeclaredRole.Primary : DeclaredRole.Replica,
            Ports = new MemberPorts(),
        }).ToList(),
        Ha = new HaSettings(),
        Backup = new BackupSettings { Stanza = name },
        Credentials = new ClusterCredentials { PatroniPassword = secrets.Add($"{name}/patroni", "Patroni.API", "bench") },
    };

    /// <summary>Serves /m/&lt;member&gt;/{patroni,cluster,history,config} and the Prometheus API for every fleet cluster.</summary>
    private sealed partial class FleetFake : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Topology _topology;
        private int _requests;

        public FleetFake(Topology topology)
        {
            _topology = topology;
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            BaseUrl = new Uri($"http://127.0.0.1:{port}/");
            _listener.Prefixes.Add(BaseUrl.ToString());
            _listener.Start();
            for (var i = 0; i < Environment.ProcessorCount * 4; i++)
            {
                _ = Task.Run(LoopAsync);
            }
        }

        public Uri BaseUrl { get; }

        public int Requests => _requests;

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext ctx;
                try
                {
                    ctx = await _listener.GetContextAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                Interlocked.Increment(ref _requests);
                var (status, body) = Answer(ctx.Request.Url!);
                var bytes = Encoding.UTF8.GetBytes(body);
                ctx.Response.StatusCode = status;
                ctx.Response.ContentType = "application/json";
                ctx.Response.ContentLength64 = bytes.Length;
                try
                {
                    await ctx.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
                    ctx.Response.Close();
                }
                catch (HttpListenerException)
                {
                }
            }
        }

        private (int, string) Answer(Uri url)
        {
            var path = url.AbsolutePath;
            if (path.StartsWith("/m/", StringComparison.Ordinal))
            {
                var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
                var member = parts[1];
                var cluster = member[..member.LastIndexOf('-')];
                var leader = $"{cluster}-1";
                return parts[2] switch
                {
                    "patroni" => (200, member == leader
                        ? $$$"""{"state":"running","role":"primary","server_version":150018,"xlog":{"location":67108864},"timeline":2,"replication":[{"application_name":"{{{cluster}}}-2","state":"streaming","sync_state":"async"},{"application_name":"{{{cluster}}}-3","state":"streaming","sync_state":"async"}],"patroni":{"version":"3.3.0","scope":"{{{cluster}}}"}}"""
                        : """{"state":"running","role":"replica","server_version":150018,"xlog":{"received_location":67108864,"replayed_location":67100000},"timeline":2,"patroni":{"version":"3.3.0"}}"""),
                    "cluster" => (200, $$"""{"members":[{"name":"{{cluster}}-1","role":"leader","state":"running","timeline":2},{"name":"{{cluster}}-2","role":"replica","state":"streaming","timeline":2,"lag":8864},{"name":"{{cluster}}-3","role":"replica","state":"streaming","timeline":2,"lag":"unknown"}]}"""),
                    "history" => (200, """[[1,50331808,"no recovery target specified","2026-11-22T17:55:20+00:00","x"]]"""),
                    "config" => (200, """{"ttl":30,"loop_wait":5,"retry_timeout":10,"maximum_lag_on_failover":1048576,"postgresql":{"parameters":{"max_connections":100}}}"""),
                    _ => (404, "{}"),
                };
            }

            if (path == "/api/v1/alerts")
            {
                return (200, """{"status":"success","data":{"alerts":[]}}""");
            }

            if (path == "/api/v1/query")
            {
                var query = System.Web.HttpUtility.ParseQueryString(url.Query)["query"] ?? "";
                var cls = Cls().Match(query) is { Success: true } m ? m.Groups[1].Value
                    : Ins().Match(query) is { Success: true } n ? n.Groups[1].Value : null;
                var cluster = cls is null ? null : _topology.FindCluster(cls);
                var result = cluster is null ? "" : string.Join(",", cluster.Members.Select(x =>
                    $$"""{"metric":{"cls":"{{cluster.Name}}","ins":"{{x.Name}}"},"value":[1795370460.5,"{{(x.Seq == 1 ? "0" : "1")}}"]}"""));
                return (200, $$$"""{"status":"success","data":{"resultType":"vector","result":[{{{result}}}]}}""");
            }

            return (404, "{}");
        }

        [GeneratedRegex("cls=\\\"([^\\\"]+)\\\"")]
        private static partial Regex Cls();

        [GeneratedRegex("ins=~\\\"([a-z0-9-]+?)-1\\|")]
        private static partial Regex Ins();

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
        }
    }

    private sealed class NoFiles : IFileAccess
    {
        public Task<IReadOnlyList<FileStat>> ListAsync(string pattern, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<FileStat>>([]);

        public Task<byte[]> ReadRangeAsync(string path, long offset, int length, CancellationToken cancellationToken) => Task.FromResult(Array.Empty<byte>());
    }

    /// <summary>Answers <c>pgbackrest info</c> with the recorded output, renamed to the asked stanza.</summary>
    private sealed partial class InfoRunner(string info) : ICommandRunner
    {
        public Task<ShellResult> RunAsync(string host, string command, CancellationToken cancellationToken)
        {
            var stanza = Stanza().Match(command).Groups[1].Value;
            return Task.FromResult(new ShellResult(0, info.Replace("\"name\":\"pg-test\"", $"\"name\":\"{stanza}\"", StringComparison.Ordinal), ""));
        }

        [GeneratedRegex("--stanza=([a-z0-9-]+)")]
        private static partial Regex Stanza();
    }

    private static async Task<bool> AnswersAsync(string url, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            using var response = await http.GetAsync(new Uri(url), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException)
        {
            return false;
        }
    }

    private static string? FindInventory()
    {
        var root = RepoRoot();
        var path = root is null ? null : Path.Combine(root, "inventory", "lab.yml");
        return path is not null && File.Exists(path) ? path : null;
    }

    private static string Fixture(params string[] parts) => Path.Combine([RepoRoot() ?? ".", "tests", "fixtures", .. parts]);

    private static string? RepoRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            var dir = new DirectoryInfo(start);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PgRuntimeAgent.sln")))
            {
                dir = dir.Parent;
            }

            if (dir is not null)
            {
                return dir.FullName;
            }
        }

        return null;
    }
}
