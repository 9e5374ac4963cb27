using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Lab;

internal sealed record LabDownResult(bool Ok, IReadOnlyList<string> Stopped, IReadOnlyList<string> Listening, IReadOnlyList<string> Problems, bool Purged)
{
    /// <summary>What the faults still recorded as active had left on disk and was undone (scenario: command: outcome).</summary>
    public IReadOnlyList<string> Undone { get; init; } = [];
}

/// <summary>
/// <c>pgra lab down</c>: stops every process the lab started, by pid file (never by name), unmounts the WAL
/// filesystems and checks that nothing listens on the lab's addresses any more. <c>--purge</c> removes the directory.
/// </summary>
internal sealed class LabDown(TimeProvider time, ILogger? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    public async Task<LabDownResult> RunAsync(string dir, bool purge, CancellationToken cancellationToken)
    {
        var stopped = new List<string>();
        var problems = new List<string>();
        var undone = new List<string>();
        var manifest = await LabManifest.TryLoadAsync(dir, cancellationToken).ConfigureAwait(false);
        var ips = new HashSet<string>(StringComparer.Ordinal);
        if (manifest is not null)
        {
            ips.Add(manifest.InfraIp);
            foreach (var m in manifest.Members)
            {
                ips.Add(m.Ip);
            }

            // Fault helpers first (they hold sessions), then the edge (haproxy, pgbouncer, exporters, monitoring),
            // then Patroni (which stops PostgreSQL), leftover postmasters, pg-meta, and etcd last.
            await StopHoldersAsync(manifest, stopped, cancellationToken).ConfigureAwait(false);
            string[] order = ["haproxy", "pgbouncer", "pg_exporter", "node_exporter", "sshd", "prometheus", "alertmanager"];
            foreach (var kind in order)
            {
                await StopAsync(manifest, manifest.Services.Where(s => s.Kind == kind).ToList(), TimeSpan.FromSeconds(10), stopped, problems, cancellationToken).ConfigureAwait(false);
            }

            // Replicas' Patroni first, the leader's last: the leader's shutdown checkpoint is its own last WAL, and
            // run/last-leader makes the next `lab up` start it first, so no member that is behind it takes over.
            var leader = await LastLeaderAsync(manifest, cancellationToken).ConfigureAwait(false);
            var patronis = manifest.Services.Where(s => s.Kind == "patroni").ToList();
            await StopAsync(manifest, patronis.Where(s => s.Member != leader).ToList(), TimeSpan.FromSeconds(30), stopped, problems, cancellationToken).ConfigureAwait(false);
            await StopAsync(manifest, patronis.Where(s => s.Member == leader).ToList(), TimeSpan.FromSeconds(30), stopped, problems, cancellationToken).ConfigureAwait(false);
            await StopPostmastersAsync(manifest, stopped, problems, cancellationToken).ConfigureAwait(false);
            // pg-meta (the journal's PostgreSQL, no Patroni) with its stop signal: INT, a fast shutdown that leaves a
            // clean data directory whoever is still connected (TERM would wait for every client to leave).
            await StopAsync(manifest, manifest.Services.Where(s => s.Kind == "meta_postgres").ToList(), TimeSpan.FromSeconds(30), stopped, problems, cancellationToken).ConfigureAwait(false);
            // The members' relays to etcd after Patroni (its shutdown still talks to etcd through them), before etcd.
            await StopAsync(manifest, manifest.Services.Where(s => s.Kind == "etcd_relay").ToList(), TimeSpan.FromSeconds(10), stopped, problems, cancellationToken).ConfigureAwait(false);
            await StopAsync(manifest, manifest.Services.Where(s => s.Kind == "etcd").ToList(), TimeSpan.FromSeconds(10), stopped, problems, cancellationToken).ConfigureAwait(false);
            await StopStraysAsync(manifest, stopped, problems, cancellationToken).ConfigureAwait(false);

            // Before the unmount: a disk-full fault's fill files live on the WAL filesystems.
            undone.AddRange(LabFaultBook.ClearActive(manifest, "lab down", time));
            foreach (var member in manifest.Members)
            {
                await UnmountAsync(member.WalMount, problems, cancellationToken).ConfigureAwait(false);
            }
        }
        else if (Directory.Exists(dir))
        {
            problems.Add($"{Path.Combine(dir, LabManifest.FileName)} is missing: nothing is known to stop");
        }

        var listening = LabProcesses.ListeningOn(ips);
        var purged = false;
        if (purge && Directory.Exists(dir))
        {
            if (manifest is not null && manifest.Members.Any(m => IsMountPoint(m.WalMount)))
            {
                problems.Add("a WAL filesystem is still mounted: not removing the lab directory");
            }
            else
            {
                Directory.Delete(dir, recursive: true);
                purged = true;
            }
        }

        foreach (var problem in problems)
        {
            Log.DownProblem(_logger, dir, LogRedaction.Text(problem));
        }

        Log.Down(_logger, dir, stopped.Count, listening.Count, purged);
        return new LabDownResult(problems.Count == 0 && listening.Count == 0, stopped, listening, problems, purged) { Undone = undone };
    }

    /// <summary>The current leader, written to run/last-leader (kept from an earlier down when none leads now).</summary>
    private async Task<string?> LastLeaderAsync(LabManifest manifest, CancellationToken cancellationToken)
    {
        var path = Path.Combine(manifest.RunDir, "last-leader");
        using var cluster = new LabCluster(manifest, time);
        var leader = (await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false))?.Name;
        if (leader is not null && Directory.Exists(manifest.RunDir))
        {
            await File.WriteAllTextAsync(path, leader + "\n", cancellationToken).ConfigureAwait(false);
            return leader;
        }

        return File.Exists(path) ? (await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)).Trim() : null;
    }

    private async Task StopAsync(LabManifest manifest, IReadOnlyList<LabService> services, TimeSpan grace, List<string> stopped, List<string> problems, CancellationToken cancellationToken)
    {
        var targets = new List<(LabService Service, int Pid)>();
        foreach (var service in services)
        {
            var pidFile = manifest.PidFile(service);
            var pid = LabProcesses.ReadPidFile(pidFile);
            if (pid is null)
            {
                continue;
            }

            if (!LabProcesses.IsAlive(pid.Value, service.User))
            {
                TryDelete(pidFile);
                continue;
            }

            targets.Add((service, pid.Value));
        }

        foreach (var (service, pid) in targets)
        {
            await LabProcesses.SignalAsync(pid, service.StopSignal ?? "TERM", cancellationToken).ConfigureAwait(false);
            await LabProcesses.SignalAsync(pid, "CONT", cancellationToken).ConfigureAwait(false); // a frozen process must run to exit
        }

        if (!await LabProcesses.WaitGoneAsync(targets.Select(t => t.Pid), grace, time, cancellationToken).ConfigureAwait(false))
        {
            foreach (var (service, pid) in targets.Where(t => LabProcesses.IsAlive(t.Pid, t.Service.User)))
            {
                await LabProcesses.SignalAsync(pid, "KILL", cancellationToken).ConfigureAwait(false);
                problems.Add($"{service.Name} (pid {pid}) did not stop within {grace.TotalSeconds:0} s: killed");
            }

            await LabProcesses.WaitGoneAsync(targets.Select(t => t.Pid), TimeSpan.FromSeconds(5), time, cancellationToken).ConfigureAwait(false);
            problems.RemoveAll(p => p.EndsWith(": killed", StringComparison.Ordinal)); // killed is stopped
        }

        foreach (var (service, pid) in targets)
        {
            stopped.Add($"{service.Name} (pid {pid})");
            TryDelete(manifest.PidFile(service));
        }
    }

    /// <summary>Postmasters that outlived Patroni (postmaster.pid), and their children.</summary>
    private async Task StopPostmastersAsync(LabManifest manifest, List<string> stopped, List<string> problems, CancellationToken cancellationToken)
    {
        foreach (var member in manifest.Members)
        {
            var pid = LabProcesses.ReadPidFile(Path.Combine(member.DataDir, "postmaster.pid"));
            if (pid is null || !LabProcesses.IsAlive(pid.Value, "postgres"))
            {
                continue;
            }

            await LabProcesses.SignalAsync(pid.Value, "INT", cancellationToken).ConfigureAwait(false); // fast shutdown
            await LabProcesses.SignalAsync(pid.Value, "CONT", cancellationToken).ConfigureAwait(false);
            foreach (var child in LabProcesses.ChildrenOf(pid.Value))
            {
                await LabProcesses.SignalAsync(child, "CONT", cancellationToken).ConfigureAwait(false);
            }

            if (!await LabProcesses.WaitGoneAsync([pid.Value], TimeSpan.FromSeconds(15), time, cancellationToken).ConfigureAwait(false))
            {
                var children = LabProcesses.ChildrenOf(pid.Value);
                await LabProcesses.SignalAsync(pid.Value, "KILL", cancellationToken).ConfigureAwait(false);
                foreach (var child in children)
                {
                    await LabProcesses.SignalAsync(child, "KILL", cancellationToken).ConfigureAwait(false);
                }

                await LabProcesses.WaitGoneAsync([pid.Value, .. children], TimeSpan.FromSeconds(5), time, cancellationToken).ConfigureAwait(false);
            }

            stopped.Add($"{member.Name}-postgres (pid {pid})");
            if (LabProcesses.IsAlive(pid.Value))
            {
                problems.Add($"{member.Name}: postmaster {pid} is still alive");
            }
        }
    }

    /// <summary>
    /// Processes that still run from the lab directory although no pid file names them (a service started twice by a
    /// race, a member's postgres orphaned by a killed Patroni): TERM, then KILL after 10 s. Each is reported.
    /// </summary>
    private async Task StopStraysAsync(LabManifest manifest, List<string> stopped, List<string> problems, CancellationToken cancellationToken)
    {
        var strays = LabProcesses.Mentioning(manifest.Dir.TrimEnd('/') + "/");
        if (strays.Count == 0)
        {
            return;
        }

        var described = strays.ToDictionary(pid => pid, pid => LabProcesses.CommandLine(pid));
        await LabProcesses.SignalAllAsync(strays, "TERM", cancellationToken).ConfigureAwait(false);
        await LabProcesses.SignalAllAsync(strays, "CONT", cancellationToken).ConfigureAwait(false);
        if (!await LabProcesses.WaitGoneAsync(strays, TimeSpan.FromSeconds(10), time, cancellationToken).ConfigureAwait(false))
        {
            await LabProcesses.SignalAllAsync(strays.Where(pid => LabProcesses.IsAlive(pid)).ToList(), "KILL", cancellationToken).ConfigureAwait(false);
            await LabProcesses.WaitGoneAsync(strays, TimeSpan.FromSeconds(5), time, cancellationToken).ConfigureAwait(false);
        }

        foreach (var (pid, commandLine) in described)
        {
            stopped.Add($"stray (pid {pid}: {Shorten(commandLine)})");
            if (LabProcesses.IsAlive(pid))
            {
                problems.Add($"stray process {pid} ({Shorten(commandLine)}) is still alive");
            }
        }
    }

    private static string Shorten(string commandLine) => commandLine.Length <= 100 ? commandLine : commandLine[..97] + "...";

    private async Task StopHoldersAsync(LabManifest manifest, List<string> stopped, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(manifest.FaultsDir))
        {
            return;
        }

        foreach (var pidFile in Directory.EnumerateFiles(manifest.FaultsDir, "hold-*.pid"))
        {
            var pid = LabProcesses.ReadPidFile(pidFile);
            if (pid is not null && LabProcesses.IsAlive(pid.Value) && LabProcesses.CommandLine(pid.Value).Contains("pgra-lab-hold", StringComparison.Ordinal))
            {
                await LabProcesses.SignalAsync(pid.Value, "KILL", cancellationToken).ConfigureAwait(false);
                stopped.Add($"{Path.GetFileNameWithoutExtension(pidFile)} (pid {pid})");
            }

            TryDelete(pidFile);
        }
    }

    private static async Task UnmountAsync(string mountPoint, List<string> problems, CancellationToken cancellationToken)
    {
        if (!IsMountPoint(mountPoint))
        {
            return;
        }

        var result = await LabShell.RunAsync("umount", [mountPoint], TimeSpan.FromSeconds(20), cancellationToken).ConfigureAwait(false);
        if (!result.Ok)
        {
            problems.Add($"umount {mountPoint} failed: {result.Tail(2)}");
        }
    }

    /// <summary>True when <paramref name="path"/> is a mount point in /proc/self/mounts.</summary>
    public static bool IsMountPoint(string path)
    {
        var full = Path.GetFullPath(path).TrimEnd('/');
        return File.ReadLines("/proc/self/mounts")
            .Select(l => l.Split(' '))
            .Any(cols => cols.Length > 1 && string.Equals(cols[1].Replace("\\040", " ", StringComparison.Ordinal), full, StringComparison.Ordinal));
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
