using System.Globalization;

namespace PgRuntimeAgent.Lab.Safety;

/// <summary>
/// Injects a <see cref="SafetyFault"/> by hand, as an outside operator would: signals by pid (Patroni from its pid
/// file, the postmaster from <c>postmaster.pid</c>, its children from /proc) and a fill file written by another
/// process on the member's WAL filesystem. <see cref="ReleaseAsync"/> thaws what it froze and removes the fill file;
/// what was killed stays dead for the agent (or the suite's repair) to deal with. A member is cut from etcd by
/// stopping its relay to etcd (the loopback lab's Patroni reaches etcd through it).
/// </summary>
internal sealed class SafetyInjector(LabManifest lab)
{
    private readonly List<int> _frozen = [];
    private string? _fillFile;
    private CancellationTokenSource? _slowStop;
    private Task? _slow;

    public string Target { get; private set; } = "?";

    /// <summary>What was done, command by command (for the run's report).</summary>
    public List<string> Log { get; } = [];

    public async Task InjectAsync(SafetyFault fault, LabMember target, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(fault);
        ArgumentNullException.ThrowIfNull(target);
        Target = target.Name;
        var patroni = LabProcesses.ReadPidFile(Path.Combine(lab.RunDir, $"{target.Name}-patroni.pid"));
        var postmaster = Postmaster(target);
        var children = postmaster is { } pm ? LabProcesses.ChildrenOf(pm) : [];
        var bouncer = LabProcesses.ReadPidFile(Path.Combine(lab.RunDir, $"{target.Name}-pgbouncer.pid"));
        IReadOnlyList<int> Pids(params int?[] pids) => pids.OfType<int>().Where(p => LabProcesses.IsAlive(p)).ToList();

        switch (fault.Shape)
        {
            case "freeze-postmaster-group":
                await FreezeAsync([.. Pids(postmaster), .. children], cancellationToken).ConfigureAwait(false);
                break;
            case "freeze-postmaster":
                await FreezeAsync(Pids(postmaster), cancellationToken).ConfigureAwait(false);
                break;
            case "freeze-children":
                await FreezeAsync(children, cancellationToken).ConfigureAwait(false);
                break;
            case "freeze-patroni":
                await FreezeAsync(Pids(patroni), cancellationToken).ConfigureAwait(false);
                break;
            case "freeze-patroni-and-postmaster":
                await FreezeAsync([.. Pids(patroni, postmaster), .. children], cancellationToken).ConfigureAwait(false);
                break;
            case "freeze-node":
                await FreezeAsync([.. Pids(patroni, postmaster, bouncer), .. children], cancellationToken).ConfigureAwait(false);
                break;
            case "kill-postmaster":
                await SignalAsync(Pids(postmaster), "KILL", cancellationToken).ConfigureAwait(false);
                break;
            case "kill-patroni":
                await SignalAsync(Pids(patroni), "KILL", cancellationToken).ConfigureAwait(false);
                break;
            case "kill-patroni-and-postmaster":
                await SignalAsync([.. Pids(patroni, postmaster), .. children], "KILL", cancellationToken).ConfigureAwait(false);
                break;
            case "disk-full":
                await FillAsync(target, cancellationToken).ConfigureAwait(false);
                break;
            case "cut-etcd":
                var relay = LabProcesses.ReadPidFile(Path.Combine(lab.RunDir, $"{target.Name}-etcd-relay.pid"))
                    ?? throw new InvalidOperationException($"{target.Name} has no etcd relay running ({lab.RunDir}/{target.Name}-etcd-relay.pid): `pgra lab up` again to add it");
                await FreezeAsync(Pids(relay), cancellationToken).ConfigureAwait(false);
                break;
            case "slow-postmaster-group":
                StartSlow(() => Pids(Postmaster(target)).Concat(Postmaster(target) is { } p ? LabProcesses.ChildrenOf(p) : []).ToList());
                break;
            case "slow-node":
                StartSlow(() => Pids(patroni, Postmaster(target)).Concat(Postmaster(target) is { } p ? LabProcesses.ChildrenOf(p) : []).ToList());
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(fault), fault.Shape, "unknown fault shape");
        }
    }

    /// <summary>Thaws every process it froze or slowed (that still exists) and removes the fill file.</summary>
    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        if (_slow is { } slow)
        {
            await _slowStop!.CancelAsync().ConfigureAwait(false);
            await slow.ConfigureAwait(false);
            _slowStop.Dispose();
            _slow = null;
        }

        if (_frozen.Count > 0)
        {
            var alive = _frozen.Where(p => LabProcesses.IsAlive(p)).ToList();
            await SignalAsync(alive, "CONT", cancellationToken).ConfigureAwait(false);
            _frozen.Clear();
        }

        if (_fillFile is { } f)
        {
            File.Delete(f);
            Log.Add($"rm {f}");
            _fillFile = null;
        }
    }

    private static int? Postmaster(LabMember m)
    {
        var file = Path.Combine(m.DataDir, "postmaster.pid");
        try
        {
            var first = File.ReadLines(file).FirstOrDefault();
            return int.TryParse(first, NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid) && LabProcesses.IsAlive(pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// Stops the processes <paramref name="pids"/> names (read again every cycle: new backends are slowed too) for
    /// 150 ms of every 200 ms until released. Every pid ever stopped is thawed on release.
    /// </summary>
    private void StartSlow(Func<IReadOnlyList<int>> pids)
    {
        _slowStop = new CancellationTokenSource();
        var stop = _slowStop.Token;
        var cycles = 0;
        _slow = Task.Run(async () =>
        {
            var seen = new HashSet<int>();
            while (!stop.IsCancellationRequested)
            {
                var now = pids();
                seen.UnionWith(now);
                await LabProcesses.SignalAllAsync(now, "STOP", CancellationToken.None).ConfigureAwait(false);
                await Pause(150).ConfigureAwait(false);
                await LabProcesses.SignalAllAsync(now, "CONT", CancellationToken.None).ConfigureAwait(false);
                cycles++;
                await Pause(50).ConfigureAwait(false);
            }

            _frozen.AddRange(seen);
            Log.Add($"slowed {string.Join(' ', seen.Order())} (SIGSTOP 150 ms of every 200 ms) for {cycles} cycles");
        }, CancellationToken.None);

        async Task Pause(int ms)
        {
            try
            {
                await Task.Delay(ms, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Released: the loop thaws and ends.
            }
        }
    }

    private async Task FreezeAsync(IReadOnlyList<int> pids, CancellationToken cancellationToken)
    {
        await SignalAsync(pids, "STOP", cancellationToken).ConfigureAwait(false);
        _frozen.AddRange(pids);
    }

    private async Task SignalAsync(IReadOnlyList<int> pids, string signal, CancellationToken cancellationToken)
    {
        var ok = await LabProcesses.SignalAllAsync(pids, signal, cancellationToken).ConfigureAwait(false);
        Log.Add($"kill -{signal} {string.Join(' ', pids)}: {(ok ? "ok" : "failed")}");
    }

    private async Task FillAsync(LabMember m, CancellationToken cancellationToken)
    {
        var file = Path.Combine(m.WalMount, "pgra-safety-fill");
        var free = new DriveInfo(m.WalMount).AvailableFreeSpace;
        var result = await LabShell.RunAsync("fallocate", ["-l", free.ToString(CultureInfo.InvariantCulture), file], TimeSpan.FromSeconds(20), cancellationToken).ConfigureAwait(false);
        if (!result.Ok)
        {
            // fallocate can fall short by the metadata it needs: fill what is left with dd.
            await LabShell.RunAsync("dd", ["if=/dev/zero", $"of={file}", "bs=1M", "oflag=append", "conv=notrunc"], TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        }

        _fillFile = file;
        Log.Add($"fallocate {free} bytes at {file}: {(result.Ok ? "ok" : "short, topped up with dd")}");
    }
}
