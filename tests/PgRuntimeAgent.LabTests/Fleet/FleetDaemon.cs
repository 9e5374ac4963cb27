using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace PgRuntimeAgent.LabTests.Fleet;

/// <summary>A real <c>pgra run</c> process on the lab's inventory with settings of its own, its output kept.</summary>
internal sealed class FleetDaemon : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private FleetDaemon(string id, string settingsPath, Process process)
    {
        Id = id;
        SettingsPath = settingsPath;
        _process = process;
    }

    public string Id { get; }

    public string SettingsPath { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Writes <paramref name="settings"/> to <c>DIR/ID.pgra.yml</c> and starts <c>pgra run</c> with the repository's skills.</summary>
    public static FleetDaemon Start(LabInfo lab, string dir, string id, string settings)
    {
        var path = Path.Combine(dir, id + ".pgra.yml");
        File.WriteAllText(path, settings);
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = RepoPaths.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "pgra.dll"), "-i", lab.InventoryPath, "--settings", path, "run", "--skills", RepoPaths.Skills })
        {
            info.ArgumentList.Add(arg);
        }

        var daemon = new FleetDaemon(id, path, Process.Start(info)!);
        daemon._process.OutputDataReceived += (_, e) => daemon.Append(e.Data);
        daemon._process.ErrorDataReceived += (_, e) => daemon.Append(e.Data);
        daemon._process.BeginOutputReadLine();
        daemon._process.BeginErrorReadLine();
        return daemon;
    }

    /// <summary>The lab's settings file without the named top-level sections (the caller appends its own), ending with a newline.</summary>
    public static string LabSettings(LabInfo lab, params string[] without)
    {
        var kept = new List<string>();
        var skipping = false;
        foreach (var line in File.ReadAllText(lab.SettingsPath).Split('\n'))
        {
            if (line.Length > 0 && !char.IsWhiteSpace(line[0]) && !line.StartsWith('#'))
            {
                skipping = without.Any(s => line.StartsWith(s + ":", StringComparison.Ordinal));
            }

            if (!skipping)
            {
                kept.Add(line);
            }
        }

        return string.Join('\n', kept).TrimEnd() + "\n";
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public string Output()
    {
        lock (_output)
        {
            return _output.ToString();
        }
    }

    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public async Task StopAsync()
    {
        if (_process.HasExited)
        {
            return;
        }

        Signal("CONT");
        Signal("TERM");
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>Polls etcd until <paramref name="cluster"/>'s owner matches; null when it did not within <paramref name="timeout"/>.</summary>
    public static async Task<PgRuntimeAgent.Fleet.ClusterOwner?> WaitOwnerAsync(PgRuntimeAgent.Fleet.FleetSettings settings, IReadOnlyList<Uri> etcd, string cluster,
        Func<PgRuntimeAgent.Fleet.ClusterOwner?, bool> match, TimeSpan timeout)
    {
        var ct = TestContext.Current.CancellationToken;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            var owner = (await PgRuntimeAgent.Fleet.FleetView.ReadAsync(settings, etcd, ct)).Owners.FirstOrDefault(o => o.Cluster == cluster);
            if (match(owner))
            {
                return owner;
            }

            await Task.Delay(200, ct);
        }

        return null;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="why"/> after <paramref name="timeout"/>.</summary>
    public static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> why)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < timeout, why());
            await Task.Delay(200, TestContext.Current.CancellationToken);
        }
    }

    public void Dispose() => _process.Dispose();
}
