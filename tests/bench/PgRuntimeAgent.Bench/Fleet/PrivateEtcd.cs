using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Bench.Fleet;

/// <summary>
/// A single-member etcd this benchmark starts for itself: /usr/bin/etcd on 127.0.0.1 with free client and peer ports
/// and a temporary data directory, killed and removed on dispose. Never the lab's etcd.
/// </summary>
internal sealed partial class PrivateEtcd : IAsyncDisposable
{
    public const string Binary = "/usr/bin/etcd";

    private readonly Process _process;
    private readonly DirectoryInfo _dir;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };

    private PrivateEtcd(Process process, DirectoryInfo dir, Uri clientUrl)
    {
        _process = process;
        _dir = dir;
        ClientUrl = clientUrl;
    }

    /// <summary>The client URL (http://127.0.0.1:PORT/).</summary>
    public Uri ClientUrl { get; }

    /// <summary>etcd's version as it reports it (<c>GET /version</c>).</summary>
    public string Version { get; private set; } = "?";

    /// <summary>Where its data lives (a temporary directory).</summary>
    public string DataDir => _dir.FullName;

    /// <summary>CPU time etcd's process has used so far.</summary>
    public TimeSpan Cpu
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>Starts etcd and waits until it answers /health; null and why when it is missing or does not come up.</summary>
    public static async Task<(PrivateEtcd? Etcd, string? Why)> StartAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(Binary))
        {
            return (null, $"{Binary} not found");
        }

        var dir = Directory.CreateTempSubdirectory("pgra-bench-etcd-");
        var client = BenchEnvironment.FreeLoopbackPort();
        var peer = BenchEnvironment.FreeLoopbackPort();
        while (peer == client)
        {
            peer = BenchEnvironment.FreeLoopbackPort();
        }

        var clientUrl = $"http://127.0.0.1:{client.ToString(CultureInfo.InvariantCulture)}";
        var peerUrl = $"http://127.0.0.1:{peer.ToString(CultureInfo.InvariantCulture)}";
        var start = new ProcessStartInfo(Binary,
        [
            "--name", "pgra-bench", "--data-dir", Path.Combine(dir.FullName, "data"),
            "--listen-client-urls", clientUrl, "--advertise-client-urls", clientUrl,
            "--listen-peer-urls", peerUrl, "--initial-advertise-peer-urls", peerUrl,
            "--initial-cluster", $"pgra-bench={peerUrl}", "--initial-cluster-state", "new", "--initial-cluster-token", "pgra-bench",
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("ETCD", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }

        var log = new Queue<string>();
        void Keep(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (log)
            {
                log.Enqueue(line);
                while (log.Count > 20)
                {
                    log.Dequeue();
                }
            }
        }

        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var etcd = new PrivateEtcd(process, dir, new Uri(clientUrl + "/"));
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(20) && !process.HasExited)
        {
            try
            {
                var health = await etcd._http.GetStringAsync(new Uri(etcd.ClientUrl, "health"), cancellationToken).ConfigureAwait(false);
                if (health.Contains("\"true\"", StringComparison.Ordinal))
                {
                    var version = await etcd._http.GetStringAsync(new Uri(etcd.ClientUrl, "version"), cancellationToken).ConfigureAwait(false);
                    etcd.Version = ServerVersion().Match(version) is { Success: true } m ? m.Groups[1].Value : version;
                    return (etcd, null);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
        }

        string last;
        lock (log)
        {
            last = string.Join(" | ", log.TakeLast(3));
        }

        await etcd.DisposeAsync().ConfigureAwait(false);
        return (null, $"{Binary} did not become healthy within 20 s{(process.HasExited ? " (it exited)" : "")}: {last}");
    }

    /// <summary>
    /// The unary gRPC calls etcd has handled so far (its <c>grpc_server_handled_total</c>, every method: the JSON gateway's
    /// requests go through them); null when /metrics cannot be read.
    /// </summary>
    public async Task<long?> UnaryCallsAsync(CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = await _http.GetStringAsync(new Uri(ClientUrl, "metrics"), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }

        long sum = 0;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("grpc_server_handled_total{", StringComparison.Ordinal) && line.Contains("grpc_type=\"unary\"", StringComparison.Ordinal)
                && double.TryParse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
            {
                sum += (long)n;
            }
        }

        return sum;
    }

    /// <summary>POSTs a raw JSON body to the v3 gateway and returns the answer's text (the bench's own reads, e.g. to size an answer).</summary>
    public async Task<string> PostAsync(string path, string json, CancellationToken cancellationToken)
    {
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync(new Uri(ClientUrl, path), content, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException or System.ComponentModel.Win32Exception)
        {
        }
        finally
        {
            _process.Dispose();
        }

        try
        {
            _dir.Delete(recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    [GeneratedRegex("\"etcdserver\":\"([^\"]+)\"")]
    private static partial Regex ServerVersion();
}
