using System.Diagnostics;
using System.Globalization;
using PgRuntimeAgent.Lab;

namespace PgRuntimeAgent.Bench.Web;

/// <summary>
/// The daemon's footprint with its HTTP side on: <c>pgra run</c> on the lab's inventory (its settings have
/// <c>http.tokens</c>, so the web host runs beside the loop, and the lab's Prometheus scrapes <c>/metrics</c>), left
/// idle for <c>PGRA_FOOTPRINT_SECONDS</c> (default 600) after a 30 s warm-up; resident memory and CPU read from
/// /proc every 5 s. Needs the running lab.
/// </summary>
internal sealed class FootprintBenchmark : IBenchmark
{
    public string Name => "footprint";

    public string Description => "RSS and idle CPU of pgra run with the web host on, over 10 minutes on the lab (needs the lab)";

    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken)
    {
        if (await BenchLab.RunningAsync(output, "footprint", cancellationToken).ConfigureAwait(false) is not { } manifest)
        {
            return;
        }

        var seconds = double.TryParse(Environment.GetEnvironmentVariable("PGRA_FOOTPRINT_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s >= 10 ? s : 600;
        var root = FindRoot();
        var pgra = Path.Combine(root, "src", "Pgra", "bin", "Release", "net10.0", "pgra.dll");
        var start = new ProcessStartInfo("dotnet", [pgra, "run", "--inventory", manifest.Inventory])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = root,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        var drain = Task.WhenAll(process.StandardOutput.ReadToEndAsync(cancellationToken), process.StandardError.ReadToEndAsync(cancellationToken));
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            await Task.Delay(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            using (var console = await http.GetAsync(new Uri("http://127.0.0.1:8765/console/"), cancellationToken).ConfigureAwait(false))
            {
                await output.WriteLineAsync($"web host: GET /console/ -> {(int)console.StatusCode}").ConfigureAwait(false);
            }

            var ticksPerSecond = 100.0; // USER_HZ on Linux
            var (cpu0, _) = Read(process.Id);
            var clock = Stopwatch.StartNew();
            var rss = new List<long>();
            while (clock.Elapsed.TotalSeconds < seconds && !process.HasExited)
            {
                await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                rss.Add(Read(process.Id).RssKiB);
            }

            var (cpu1, last) = Read(process.Id);
            var cpuSeconds = (cpu1 - cpu0) / ticksPerSecond;
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"pgra run, web host on, idle {clock.Elapsed.TotalSeconds:0} s: RSS min {rss.Min() / 1024.0:0.0} MiB, mean {rss.Average() / 1024.0:0.0} MiB, max {rss.Max() / 1024.0:0.0} MiB, last {last / 1024.0:0.0} MiB; "
                + $"CPU {cpuSeconds:0.0} s = {100 * cpuSeconds / clock.Elapsed.TotalSeconds:0.00}% of one core")).ConfigureAwait(false);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            await drain.ConfigureAwait(false);
        }
    }

    /// <summary>utime + stime in ticks (/proc/PID/stat fields 14 and 15) and VmRSS in KiB.</summary>
    private static (long CpuTicks, long RssKiB) Read(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var cpu = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        var rssLine = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        var rss = long.Parse(rssLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        return (cpu, rss);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PgRuntimeAgent.sln")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
