using System.Diagnostics;
using System.Globalization;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Bench.Sensing;

/// <summary>
/// Snapshot latency of the lab cluster (when the lab runs) with the queries and database time each snapshot costs a
/// member, and a simulated fleet of 200 clusters x 3 members whose Patroni and Prometheus endpoints are served by an
/// in-process fake on loopback (<see cref="FakeFleet"/>). Prints times and memory.
/// </summary>
internal sealed class SnapshotBenchmark : IBenchmark
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
        var sensing = new SensingSettings { TimeoutSeconds = 5, MaxParallelism = 16, Disabled = [SensorNames.Postgres], LogsMaxEntries = 50 };
        using var fleet = await FakeFleet.StartAsync(clusters, sensing, etcd: null, cancellationToken).ConfigureAwait(false);

        GC.Collect();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var sw = Stopwatch.StartNew();
        var snapshots = await fleet.Service.TakeAllAsync(cancellationToken).ConfigureAwait(false);
        sw.Stop();
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var complete = snapshots.Count(FakeFleet.Complete);
        var durations = snapshots.Select(s => s.DurationMs).Order().ToList();
        var json = snapshots.Sum(s => (long)SnapshotJson.Serialize(s, indented: false).Length);
        using var process = Process.GetCurrentProcess();
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"fleet: {clusters} clusters x 3 members in {sw.Elapsed.TotalSeconds:0.00} s on {Environment.ProcessorCount} cores (max_parallelism {sensing.MaxParallelism}; target < 10 s); {complete}/{clusters} complete")).ConfigureAwait(false);
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"  per snapshot: p50 {durations[durations.Count / 2]:0.0} ms, p90 {durations[(int)(durations.Count * 0.9)]:0.0} ms, max {durations[^1]:0.0} ms; HTTP requests served: {fleet.Requests}")).ConfigureAwait(false);
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"  memory: allocated {allocated / 1048576.0:0.0} MiB, heap now {GC.GetTotalMemory(false) / 1048576.0:0.0} MiB, peak working set {process.PeakWorkingSet64 / 1048576.0:0.0} MiB; snapshots as JSON {json / 1048576.0:0.0} MiB")).ConfigureAwait(false);
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
        var root = BenchEnvironment.RepoRoot();
        var path = root is null ? null : Path.Combine(root, "inventory", "lab.yml");
        return path is not null && File.Exists(path) ? path : null;
    }
}
