using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PgRuntimeAgent.Bench.Sensing;
using PgRuntimeAgent.Fleet;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Dcs;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Bench.Fleet;

/// <summary>
/// The sense cycle of a simulated fleet of 200 and 1,000 clusters x 3 members, as <c>pgra run</c> senses it: the
/// agent's loop runs one loop per cluster, all started together, each taking a snapshot through the real
/// <see cref="SnapshotService"/> (no bound but the HTTP pool's connections per server). Patroni and Prometheus are the
/// in-process fake of <see cref="FakeFleet"/>; the etcd leader-key read goes to a private etcd this benchmark starts
/// (when /usr/bin/etcd exists), which also serves a <see cref="ClusterLeases"/> round for 1,000 clusters. Prints wall
/// and CPU time per cycle, requests per cycle and memory per 100 clusters.
/// </summary>
internal sealed partial class FleetBenchmark : IBenchmark
{
    private const int WarmUpCycles = 1;
    private const int MeasuredCycles = 3;
    private const double GoalSeconds = 10;
    private const int LeaseClusters = 1000;
    private static readonly int[] Sizes = [200, 1000];

    public string Name => "fleet";

    public string Description => "sense-cycle time, CPU and memory of a simulated fleet of 200 and 1,000 clusters x 3 members "
        + "(Patroni and Prometheus faked in-process on loopback, SQL probes off), and a ClusterLeases round for 1,000 clusters on a private etcd";

    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken)
    {
        // As pgra run does (AgentRuntime.ReserveThreads): at least 32 pool threads ready.
        ThreadPool.GetMinThreads(out var worker, out var io);
        ThreadPool.SetMinThreads(Math.Max(worker, 32), Math.Max(io, 32));
        try
        {
            await RunFleetAsync(output, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ThreadPool.SetMinThreads(worker, io);
        }
    }

    private static async Task RunFleetAsync(TextWriter output, CancellationToken cancellationToken)
    {

        await Line(output, $"machine: {Environment.ProcessorCount} cores, load average {LoadAverage()} at start (other work on the host shares the cores); "
            + $".NET {Environment.Version}, {(GCSettings.IsServerGC ? "server" : "workstation")} GC as pgra run").ConfigureAwait(false);
        var (etcd, why) = await PrivateEtcd.StartAsync(cancellationToken).ConfigureAwait(false);
        await using (etcd)
        {
            await Line(output, etcd is null
                ? $"etcd: skipped ({why}); the snapshots make no leader-key read and the lease round is not measured"
                : $"etcd: a private etcd {etcd.Version} this benchmark started (single member, 127.0.0.1, data in {etcd.DataDir}, disk-backed; killed at the end)").ConfigureAwait(false);
            await Line(output, "real: SnapshotService with every sensor's client, parser and the fusion; the HTTP client pool over loopback TCP; "
                + (etcd is null ? "nothing else" : "the leader-key reads (range + lease time-to-live per cluster) to the private etcd, with keys /pg/CLUSTER/leader on a 30 s lease kept alive")).ConfigureAwait(false);
            await Line(output, "simulated: Patroni REST of every member and the Prometheus API, by an in-process fake on loopback (fixed healthy answers, no query cost, "
                + "every metric found by its first candidate query, where a Prometheus missing series gets more queries; "
                + "Patroni of all members on one port, so the pool's 16 connections per server are shared by all 3 x N members where production has 16 per member host); "
                + "logs: no files; pgbackrest info: recorded output, no process; SQL probes off (no PostgreSQL, no real Patroni); no network latency. "
                + "Only sensing: no detection, journal or skills. Process CPU includes the fake's own serving.").ConfigureAwait(false);

            var results = new List<SizeResult>();
            foreach (var size in Sizes)
            {
                results.Add(await SenseAsync(output, size, etcd, cancellationToken).ConfigureAwait(false));
            }

            if (results.Count >= 2)
            {
                var (small, large) = (results[0], results[^1]);
                var per100 = 100.0 / (large.Clusters - small.Clusters);
                await Line(output, $"marginal cost per 100 clusters ({small.Clusters:N0} -> {large.Clusters:N0}): managed heap {Mib((large.Heap - small.Heap) * per100)}, "
                    + $"working set {Mib((large.WorkingSet - small.WorkingSet) * per100)}, CPU {(large.CpuMedianMs - small.CpuMedianMs) * per100:N0} ms per cycle").ConfigureAwait(false);
            }

            if (etcd is null)
            {
                await Line(output, $"leases: skipped ({why})").ConfigureAwait(false);
            }
            else
            {
                await LeasesAsync(output, etcd, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private sealed record SizeResult(int Clusters, long Heap, long WorkingSet, double CpuMedianMs);

    private sealed record Cycle(double WallMs, double CpuMs, double EtcdCpuMs, long Patroni, long Prometheus, long? Etcd, int Complete, long Allocated, double SnapshotP50, double SnapshotMax,
        string Incomplete);

    // ------------------------------------------------------------------ sensing

    private static async Task<SizeResult> SenseAsync(TextWriter output, int clusters, PrivateEtcd? etcd, CancellationToken cancellationToken)
    {
        var sensing = new SensingSettings { Disabled = [SensorNames.Postgres] }; // the defaults otherwise: timeout 2 s per sensor
        using var keepAlive = new CancellationTokenSource();
        var lease = etcd is null ? null : await LeaderKeysAsync(etcd, clusters, cancellationToken).ConfigureAwait(false);
        var renewing = lease is null ? Task.CompletedTask : KeepAliveAsync(etcd!, lease.Value, keepAlive.Token);
        try
        {
            using var fleet = await FakeFleet.StartAsync(clusters, sensing, etcd is null ? null : [etcd.ClientUrl], cancellationToken).ConfigureAwait(false);
            var names = fleet.Topology.Clusters;
            var cycles = new List<Cycle>();
            ClusterSnapshot[] last = [];
            IReadOnlyList<Uri> warmUpRequests = [];
            for (var i = 0; i < WarmUpCycles + MeasuredCycles; i++)
            {
                fleet.Record(i == 0);
                var (patroni, prometheus) = (fleet.PatroniRequests, fleet.PrometheusRequests);
                var calls = etcd is null ? null : await etcd.UnaryCallsAsync(cancellationToken).ConfigureAwait(false);
                var etcdCpu = etcd?.Cpu ?? TimeSpan.Zero;
                var allocated = GC.GetTotalAllocatedBytes(precise: true);
                var cpu = ProcessCpu();
                var clock = Stopwatch.StartNew();

                // The agent's loop: one loop per cluster, all started together (AgentLoop.RunAsync), each one snapshot per tick.
                last = await Task.WhenAll(names.Select(c => fleet.Service.TakeAsync(c, cancellationToken))).ConfigureAwait(false);

                clock.Stop();
                var cpuMs = (ProcessCpu() - cpu).TotalMilliseconds;
                if (i == 0)
                {
                    warmUpRequests = fleet.Recorded();
                    fleet.Record(false);
                }

                var allocatedBytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
                var etcdCpuMs = ((etcd?.Cpu ?? TimeSpan.Zero) - etcdCpu).TotalMilliseconds;
                var callsAfter = etcd is null ? null : await etcd.UnaryCallsAsync(cancellationToken).ConfigureAwait(false);
                var durations = last.Select(s => s.DurationMs).Order().ToList();
                var cycle = new Cycle(clock.Elapsed.TotalMilliseconds, cpuMs, etcdCpuMs, fleet.PatroniRequests - patroni, fleet.PrometheusRequests - prometheus,
                    calls is { } a && callsAfter is { } b ? b - a : null, last.Count(FakeFleet.Complete), allocatedBytes, durations[durations.Count / 2], durations[^1],
                    Incomplete(last));
                if (i >= WarmUpCycles)
                {
                    cycles.Add(cycle);
                }
                else
                {
                    await Line(output, $"{clusters:N0} clusters: warm-up cycle {Secs(cycle.WallMs)}, {cycle.Complete:N0}/{clusters:N0} complete{cycle.Incomplete} (not counted)").ConfigureAwait(false);
                }
            }

            // Memory with the last snapshot of every cluster held, as the loop holds it.
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            var heap = GC.GetTotalMemory(forceFullCollection: false);
            using var self = Process.GetCurrentProcess();
            var workingSet = self.WorkingSet64;
            GC.KeepAlive(last);

            var walls = cycles.Select(c => c.WallMs).Order().ToList();
            var cpus = cycles.Select(c => c.CpuMs).Order().ToList();
            var per100 = 100.0 / clusters;
            await Line(output, $"{clusters:N0} clusters x 3 members, {MeasuredCycles} sense cycles (all {clusters:N0} snapshots started together, as the agent's loop):").ConfigureAwait(false);
            await Line(output, $"  wall per cycle: min {Secs(walls[0])}, median {Secs(Median(walls))}, max {Secs(walls[^1])}; "
                + $"per snapshot (last cycle): p50 {cycles[^1].SnapshotP50:N0} ms, max {cycles[^1].SnapshotMax:N0} ms; "
                + $"complete snapshots: {string.Join(", ", cycles.Select(c => $"{c.Complete:N0}"))} of {clusters:N0}").ConfigureAwait(false);
            foreach (var (c, n) in cycles.Select((c, n) => (c, n + 1)).Where(x => x.c.Complete < clusters))
            {
                await Line(output, $"  cycle {n}: {clusters - c.Complete:N0} incomplete{c.Incomplete}").ConfigureAwait(false);
            }

            await Line(output, $"  process CPU per cycle: min {Secs(cpus[0])}, median {Secs(Median(cpus))}, max {Secs(cpus[^1])} "
                + $"(= {Median(cpus) / Median(walls):0.00} cores busy; this process: agent code plus the fake serving); "
                + $"{Median(cpus) * per100:N0} ms CPU per 100 clusters per cycle"
                + (etcd is null ? "" : $"; the private etcd's own CPU: {Median(cycles.Select(c => c.EtcdCpuMs).Order().ToList()):N0} ms per cycle")).ConfigureAwait(false);
            await Line(output, $"  requests per cycle: {Median(cycles.Select(c => (double)c.Patroni).Order().ToList()):N0} Patroni (fake), "
                + $"{Median(cycles.Select(c => (double)c.Prometheus).Order().ToList()):N0} Prometheus (fake)"
                + (etcd is null ? "" : cycles.All(c => c.Etcd is not null)
                    ? $", {Median(cycles.Select(c => (double)c.Etcd!.Value).Order().ToList()):N0} etcd gRPC calls (real, its grpc_server_handled_total)"
                    : ", etcd calls unknown (its /metrics did not answer)")
                + $"; allocated {Mib(Median(cycles.Select(c => (double)c.Allocated).Order().ToList()))} per cycle").ConfigureAwait(false);
            await Line(output, $"  memory after the cycles, last snapshot of each cluster held: managed heap {Mib(heap)} ({Mib(heap * per100)} per 100 clusters), "
                + $"working set {Mib(workingSet)} ({Mib(workingSet * per100)} per 100 clusters; whole process: runtime, JIT code, the fake, earlier sizes' freed pages)").ConfigureAwait(false);
            var met = walls[^1] <= GoalSeconds * 1000 && cycles.All(c => c.Complete == clusters);
            await Line(output, clusters >= 1000
                ? $"  goal: a cycle of 1,000 clusters within {GoalSeconds:0} s (the default sensing.interval_seconds), every snapshot complete: {(met ? "met" : "NOT met")} (slowest cycle {Secs(walls[^1])})"
                : $"  (the {GoalSeconds:0} s goal is for 1,000 clusters; this size: slowest cycle {Secs(walls[^1])})").ConfigureAwait(false);

            // How much of the process CPU bare HTTP costs: the warm-up cycle's requests to the fake again, with a plain HttpClient.
            var replay = await ReplayAsync(warmUpRequests, cancellationToken).ConfigureAwait(false);
            var perCycle = Median(cycles.Select(c => (double)(c.Patroni + c.Prometheus)).Order().ToList());
            var bare = warmUpRequests.Count == 0 ? 0 : replay.CpuMs / warmUpRequests.Count * perCycle;
            await Line(output, $"  the warm-up's {warmUpRequests.Count:N0} fake requests replayed with a bare HttpClient (all at once, 16 connections per server, no parsing): "
                + $"{Secs(replay.WallMs)} wall, {Secs(replay.CpuMs)} CPU for client and fake server, {Secs(bare)} scaled to a cycle's {perCycle:N0}; "
                + $"so the agent's own work above bare HTTP is about {Secs(Math.Max(0, Median(cpus) - bare))} CPU per cycle, "
                + $"{Math.Max(0, Median(cpus) - bare) * per100:N0} ms per 100 clusters").ConfigureAwait(false);

            // For comparison: pgra sense of every cluster (TakeAllAsync), at most max_parallelism snapshots at once.
            var all = Stopwatch.StartNew();
            var taken = await fleet.Service.TakeAllAsync(cancellationToken).ConfigureAwait(false);
            all.Stop();
            await Line(output, $"  for comparison, SnapshotService.TakeAllAsync (pgra sense of every cluster, max_parallelism {sensing.MaxParallelism}): "
                + $"{Secs(all.Elapsed.TotalMilliseconds)} for one pass, {taken.Count(FakeFleet.Complete):N0}/{clusters:N0} complete").ConfigureAwait(false);
            return new SizeResult(clusters, heap, workingSet, Median(cpus));
        }
        finally
        {
            await keepAlive.CancelAsync().ConfigureAwait(false);
            await renewing.ConfigureAwait(false);
            if (etcd is not null && lease is { } id)
            {
                // Revoking the lease deletes the leader keys with it.
                await etcd.PostAsync("v3/lease/revoke", $$"""{"ID":"{{id.ToString(CultureInfo.InvariantCulture)}}"}""", cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Puts /pg/CLUSTER/leader = CLUSTER-1 for every fleet cluster on one 30 s lease (as Patroni's leader keys are); returns the lease.</summary>
    private static async Task<long?> LeaderKeysAsync(PrivateEtcd etcd, int clusters, CancellationToken cancellationToken)
    {
        var gateway = new EtcdGateway([etcd.ClientUrl]);
        var (_, grant, errors) = await gateway.PostAsync("v3/lease/grant", new JsonObject { ["TTL"] = 30 }, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        if (grant is not { } g || EtcdGateway.Number(g, "ID") is not { } lease)
        {
            throw new InvalidOperationException($"the private etcd granted no lease: {errors}");
        }

        var options = new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Enumerable.Range(1, clusters), options, async (i, ct) =>
        {
            var name = FakeFleet.ClusterName(i);
            var body = new JsonObject { ["key"] = EtcdGateway.B64($"/pg/{name}/leader"), ["value"] = EtcdGateway.B64($"{name}-1"), ["lease"] = lease.ToString(CultureInfo.InvariantCulture) };
            var (_, put, putErrors) = await gateway.PostAsync("v3/kv/put", body, TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
            if (put is null)
            {
                throw new InvalidOperationException($"the private etcd refused a leader key: {putErrors}");
            }
        }).ConfigureAwait(false);
        return lease;
    }

    private static async Task KeepAliveAsync(PrivateEtcd etcd, long lease, CancellationToken stop)
    {
        var gateway = new EtcdGateway([etcd.ClientUrl]);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(5), stop).ConfigureAwait(false);
                await gateway.PostAsync("v3/lease/keepalive", new JsonObject { ["ID"] = lease.ToString(CultureInfo.InvariantCulture) }, TimeSpan.FromSeconds(2), stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
        }
    }

    // ------------------------------------------------------------------ leases

    private static async Task LeasesAsync(TextWriter output, PrivateEtcd etcd, CancellationToken cancellationToken)
    {
        var settings = new FleetSettings { AgentId = "bench-a", LeaseTtlSeconds = 10, Prefix = "/pgra/" };
        var names = Enumerable.Range(1, LeaseClusters).Select(FakeFleet.ClusterName).ToList();
        var leases = new ClusterLeases(settings, [etcd.ClientUrl], names, TimeProvider.System);
        await Line(output, $"leases: the real ClusterLeases of one agent over {LeaseClusters:N0} clusters, against the private etcd (lease_ttl_seconds {settings.LeaseTtlSeconds}: a round every {settings.LeaseTtlSeconds / 3.0:0.0} s):").ConfigureAwait(false);

        var first = await MeasureAsync(etcd, () => leases.RoundAsync(cancellationToken), cancellationToken).ConfigureAwait(false);
        await Line(output, $"  first round (take a lease, register, take all {LeaseClusters:N0} free clusters one transaction each): {Secs(first.WallMs)}, "
            + $"{first.Calls?.ToString("N0", CultureInfo.InvariantCulture) ?? "?"} etcd calls, agent CPU {first.CpuMs:N0} ms, etcd CPU {first.EtcdCpuMs:N0} ms; "
            + $"owns {leases.Owned().Count:N0}{(leases.Problem is { } p ? $"; problem: {p}" : "")}").ConfigureAwait(false);

        var steady = new List<Measured>();
        for (var i = 0; i < MeasuredCycles; i++)
        {
            steady.Add(await MeasureAsync(etcd, () => leases.RoundAsync(cancellationToken), cancellationToken).ConfigureAwait(false));
        }

        var walls = steady.Select(s => s.WallMs).Order().ToList();
        var owners = await etcd.PostAsync("v3/kv/range",
            $$"""{"key":"{{EtcdGateway.B64(settings.Prefix + "owners/")}}","range_end":"{{EtcdGateway.PrefixEnd(settings.Prefix + "owners/")}}"}""", cancellationToken).ConfigureAwait(false);
        await Line(output, $"  steady round (keepalive, agents/ and owners/ range reads, nothing to take), {MeasuredCycles} rounds: wall min {walls[0]:N1} ms, median {Median(walls):N1} ms, max {walls[^1]:N1} ms; "
            + $"{Median(steady.Select(s => (double)(s.Calls ?? -1)).Order().ToList()):N0} unary etcd calls (+ the keepalive, a stream etcd does not count as one), agent CPU {Median(steady.Select(s => s.CpuMs).Order().ToList()):N0} ms, "
            + $"etcd CPU {Median(steady.Select(s => s.EtcdCpuMs).Order().ToList()):N0} ms per round; owners/ answer {owners.Length / 1024.0:N0} KiB "
            + $"({owners.Length / (double)LeaseClusters:N0} bytes per cluster)").ConfigureAwait(false);

        var confirms = new List<double>();
        var confirmed = 0;
        foreach (var name in names.Take(100))
        {
            var clock = Stopwatch.StartNew();
            var result = await leases.ConfirmAsync(name, cancellationToken).ConfigureAwait(false);
            confirms.Add(clock.Elapsed.TotalMilliseconds);
            confirmed += result.Held ? 1 : 0;
        }

        confirms.Sort();
        await Line(output, $"  the fence before an action intent (ConfirmAsync, one transaction), 100 in a row: p50 {Median(confirms):N1} ms, max {confirms[^1]:N1} ms; {confirmed}/100 confirmed").ConfigureAwait(false);

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var release = await MeasureAsync(etcd, () => leases.ReleaseAllAsync(limit.Token), cancellationToken).ConfigureAwait(false);
        await Line(output, $"  clean stop (give back {LeaseClusters:N0} owner keys one transaction each, revoke the lease): {Secs(release.WallMs)}, "
            + $"{release.Calls?.ToString("N0", CultureInfo.InvariantCulture) ?? "?"} etcd calls; owns {leases.Owned().Count} after").ConfigureAwait(false);
    }

    private sealed record Measured(double WallMs, double CpuMs, double EtcdCpuMs, long? Calls);

    private static async Task<Measured> MeasureAsync(PrivateEtcd etcd, Func<Task> work, CancellationToken cancellationToken)
    {
        var calls = await etcd.UnaryCallsAsync(cancellationToken).ConfigureAwait(false);
        var etcdCpu = etcd.Cpu;
        var cpu = ProcessCpu();
        var clock = Stopwatch.StartNew();
        await work().ConfigureAwait(false);
        clock.Stop();
        var cpuMs = (ProcessCpu() - cpu).TotalMilliseconds;
        var etcdCpuMs = (etcd.Cpu - etcdCpu).TotalMilliseconds;
        var after = await etcd.UnaryCallsAsync(cancellationToken).ConfigureAwait(false);
        return new Measured(clock.Elapsed.TotalMilliseconds, cpuMs, etcdCpuMs, calls is { } a && after is { } b ? b - a : null);
    }

    private static async Task<(double WallMs, double CpuMs)> ReplayAsync(IReadOnlyList<Uri> urls, CancellationToken cancellationToken)
    {
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 16, UseProxy = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };
        async Task GetAsync(Uri url)
        {
            using var response = await http.GetAsync(url, cancellationToken).ConfigureAwait(false);
            _ = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }

        await Task.WhenAll(urls.Take(64).Select(GetAsync)).ConfigureAwait(false); // open the connections, JIT
        var cpu = ProcessCpu();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(urls.Select(GetAsync)).ConfigureAwait(false);
        return (clock.Elapsed.TotalMilliseconds, (ProcessCpu() - cpu).TotalMilliseconds);
    }

    /// <summary>Why snapshots were incomplete: the Patroni and Prometheus parts that were not ok, by first reason (names folded).</summary>
    private static string Incomplete(ClusterSnapshot[] snapshots)
    {
        var bad = snapshots.Where(s => !FakeFleet.Complete(s)).ToList();
        if (bad.Count == 0)
        {
            return "";
        }

        var reasons = bad.SelectMany(s => s.SensorDetails.Where(d => d.Health != SensorHealth.Ok && (d.Sensor == SensorNames.Patroni || d.Sensor == SensorNames.Metrics)))
            .GroupBy(d => $"{d.Sensor} {d.Health.ToString().ToLowerInvariant()}: {Names().Replace((d.Reason ?? "no reason").Split(';')[0], m => m.Groups[1].Success ? "MEMBER" : "CLUSTER")}",
                StringComparer.Ordinal)
            .OrderByDescending(g => g.Count()).Take(3).Select(g => $"{g.Key} (x{g.Count():N0})");
        return $" ({bad.Count(s => s.Leader is null):N0} without a leader; {string.Join("; ", reasons)})";
    }

    [GeneratedRegex("pg-f[0-9]+(-[0-9]+)?")]
    private static partial Regex Names();

    // ------------------------------------------------------------------ helpers

    private static TimeSpan ProcessCpu()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    private static double Median(List<double> sorted) => sorted.Count == 0 ? 0
        : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;

    private static string Secs(double ms) => string.Create(CultureInfo.InvariantCulture, $"{ms / 1000:0.00} s");

    private static string Mib(double bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576:0.0} MiB");

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static Task Line(TextWriter output, string text) => output.WriteLineAsync(text); // InvariantGlobalization: numbers print the same everywhere
}
