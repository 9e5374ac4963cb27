using System.Diagnostics;
using System.Globalization;
using System.Text;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Bench.Inventory;

/// <summary>
/// Parses a generated Pigsty v4 inventory of 200 clusters and 600 members (plus infra, etcd, per-cluster users and
/// secrets, all.vars like the real templates) from disk into a validated topology; prints median and max time and
/// allocated bytes over several iterations.
/// </summary>
internal sealed class InventoryParseBenchmark : IBenchmark
{
    private const int Clusters = 200;
    private const int MembersPerCluster = 3;
    private const int Warmup = 3;
    private const int Iterations = 15;

    public string Name => "inventory";

    public string Description => $"parse + validate a generated {Clusters}-cluster, {Clusters * MembersPerCluster}-member inventory (InventoryLoader.Check)";

    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        var text = Generate(Clusters, MembersPerCluster);
        var path = Path.Combine(Path.GetTempPath(), $"pgra-bench-inventory-{Environment.ProcessId}.yml");
        await File.WriteAllTextAsync(path, text, cancellationToken).ConfigureAwait(false);
        try
        {
            InventoryReport? last = null;
            var times = new List<double>();
            var cpu = new List<double>();
            var allocations = new List<long>();
            using var process = Process.GetCurrentProcess();
            for (var i = 0; i < Warmup + Iterations; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                process.Refresh();
                var cpuBefore = process.TotalProcessorTime;
                var before = GC.GetAllocatedBytesForCurrentThread();
                var start = Stopwatch.GetTimestamp();
                last = InventoryLoader.Check(path, new SecretStore(), InventoryOverrides.None);
                var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                process.Refresh();
                if (i >= Warmup)
                {
                    times.Add(elapsed);
                    cpu.Add((process.TotalProcessorTime - cpuBefore).TotalMilliseconds);
                    allocations.Add(allocated);
                }
            }

            if (last is null || !last.IsValid)
            {
                await output.WriteLineAsync("error: the generated inventory did not validate: " + string.Join("; ", last?.Problems.Take(3) ?? [])).ConfigureAwait(false);
                return;
            }

            times.Sort();
            cpu.Sort();
            allocations.Sort();
            var t = last.Topology!;
            var inv = CultureInfo.InvariantCulture;
            await output.WriteLineAsync(string.Create(inv, $"  input: {text.Length / 1024.0:F0} KiB, {text.Count(c => c == '\n')} lines -> {t.Clusters.Count} clusters, {t.AllMembers.Count()} members, {t.Etcd.Count} etcd")).ConfigureAwait(false);
            await output.WriteLineAsync(string.Create(inv, $"  iterations: {Iterations} (after {Warmup} warm-up)")).ConfigureAwait(false);
            await output.WriteLineAsync(string.Create(inv, $"  wall ms: median {Median(times):F1}, min {times[0]:F1}, max {times[^1]:F1}")).ConfigureAwait(false);
            await output.WriteLineAsync(string.Create(inv, $"  cpu ms:  median {Median(cpu):F1}, min {cpu[0]:F1}, max {cpu[^1]:F1} (process CPU time; wall time also counts waiting for a busy machine)")).ConfigureAwait(false);
            if (File.Exists("/proc/loadavg"))
            {
                var load = (await File.ReadAllTextAsync("/proc/loadavg", cancellationToken).ConfigureAwait(false)).Split(' ')[0];
                await output.WriteLineAsync(string.Create(inv, $"  machine: {Environment.ProcessorCount} CPU(s), load average {load}")).ConfigureAwait(false);
            }
            await output.WriteLineAsync(string.Create(inv, $"  allocated: median {Median(allocations.Select(a => (double)a).ToList()) / 1048576.0:F1} MiB, max {allocations[^1] / 1048576.0:F1} MiB per parse")).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static double Median(List<double> sorted) =>
        sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;

    /// <summary>A Pigsty-4-shaped inventory: infra, 3-node etcd, <paramref name="clusters"/> pg groups, all.vars.</summary>
    internal static string Generate(int clusters, int members)
    {
        var sb = new StringBuilder(1 << 20);
        sb.AppendLine("---").AppendLine("all:").AppendLine("  children:");
        sb.AppendLine("    infra:").AppendLine("      hosts:").AppendLine("        10.0.0.10: { infra_seq: 1 }").AppendLine("      vars: { docker_enabled: true }");
        sb.AppendLine("    etcd:").AppendLine("      hosts:");
        for (var e = 1; e <= 3; e++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"        10.0.0.{10 + e}: {{ etcd_seq: {e} }}").AppendLine();
        }

        sb.AppendLine("      vars: { etcd_cluster: etcd }");
        for (var c = 1; c <= clusters; c++)
        {
            var name = $"pg-app{c:D3}";
            sb.Append(CultureInfo.InvariantCulture, $"    {name}:").AppendLine().AppendLine("      hosts:");
            for (var m = 1; m <= members; m++)
            {
                var ip = $"10.{1 + (c / 250)}.{c % 250}.{m}";
                var role = m == 1 ? "primary" : "replica";
                sb.Append(CultureInfo.InvariantCulture, $"        {ip}: {{ pg_seq: {m}, pg_role: {role}{(m == members ? ", pg_offline_query: true" : "")} }}").AppendLine();
            }

            sb.AppendLine("      vars:");
            sb.Append(CultureInfo.InvariantCulture, $"        pg_cluster: {name}").AppendLine();
            sb.Append(CultureInfo.InvariantCulture, $"        pg_users: [ {{ name: app{c}, password: App{c}.Secret-Pw, pgbouncer: true, roles: [ dbrole_readwrite ] }} ]").AppendLine();
            sb.Append(CultureInfo.InvariantCulture, $"        pg_databases: [ {{ name: app{c}, owner: app{c} }} ]").AppendLine();
            sb.AppendLine("        pg_vip_enabled: true");
            sb.Append(CultureInfo.InvariantCulture, $"        pg_vip_address: 10.{1 + (c / 250)}.{c % 250}.100/24").AppendLine();
            sb.AppendLine(c % 4 == 0 ? "        pg_rto: safe" : "        pg_rto: norm");
            sb.AppendLine("        pg_crontab: [ '00 01 * * * /pg/bin/pg-backup full' ]");
        }

        sb.AppendLine("  vars:");
        sb.AppendLine("    version: v4.5.0").AppendLine("    admin_ip: 10.0.0.10").AppendLine("    region: default").AppendLine("    pg_conf: oltp.yml");
        sb.AppendLine("    infra_portal: { home: { domain: i.pigsty } }");
        sb.AppendLine("    node_etc_hosts: [ '${admin_ip} i.pigsty sss.pigsty' ]");
        sb.AppendLine("    pgbackrest_method: minio");
        sb.AppendLine("    pgbackrest_repo:");
        sb.AppendLine("      local: { path: /pg/backup, retention_full_type: count, retention_full: 2 }");
        sb.AppendLine("      minio: { type: s3, s3_endpoint: sss.pigsty, s3_bucket: pgsql, s3_key: pgbackrest, s3_key_secret: S3User.Backup, cipher_pass: 'pgBR.${pg_cluster}', storage_port: 9000, path: /pgbackrest }");
        foreach (var (key, value) in new[] { ("grafana_admin_password", "Grafana.Pw-1"), ("pg_admin_password", "Dba.Pw-1"), ("pg_monitor_password", "Mon.Pw-1"), ("pg_replication_password", "Repl.Pw-1"), ("patroni_password", "Patroni.Pw-1"), ("haproxy_admin_password", "Hap.Pw-1"), ("minio_secret_key", "MinIO.Pw-1"), ("etcd_root_password", "Etcd.Pw-1") })
        {
            sb.Append(CultureInfo.InvariantCulture, $"    {key}: {value}").AppendLine();
        }

        return sb.ToString();
    }
}
