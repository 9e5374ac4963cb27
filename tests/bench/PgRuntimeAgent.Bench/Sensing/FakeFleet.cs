using System.Collections.Concurrent;
using System.Net;
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
/// A simulated fleet of N clusters x 3 members for the sensing and fleet benchmarks. What is real: the
/// <see cref="SnapshotService"/> (every sensor's client, parser and the fusion), the HTTP client pool and loopback TCP.
/// What is simulated: every member's Patroni REST API and the Prometheus API, answered by one in-process fake
/// (<see cref="Server"/>: fixed healthy answers, Patroni on one loopback port, Prometheus on another); logs (no files);
/// <c>pgbackrest info</c> (recorded output, no process started). The SQL probes are off: there is no PostgreSQL. The
/// etcd leader-key read is skipped unless etcd endpoints are given.
/// </summary>
internal sealed partial class FakeFleet : IDisposable
{
    private readonly Server _server;

    private FakeFleet(Topology topology, Server server, SnapshotService service, SensingSettings sensing)
    {
        Topology = topology;
        _server = server;
        Service = service;
        Sensing = sensing;
    }

    public Topology Topology { get; }

    /// <summary>The real snapshot service, pointed at the fake.</summary>
    public SnapshotService Service { get; }

    public SensingSettings Sensing { get; }

    /// <summary>HTTP requests the fake answered for the members' Patroni APIs, so far.</summary>
    public long PatroniRequests => Interlocked.Read(ref _server.Patroni);

    /// <summary>HTTP requests the fake answered for the Prometheus API, so far.</summary>
    public long PrometheusRequests => Interlocked.Read(ref _server.Prometheus);

    /// <summary>Every HTTP request the fake answered, so far (unknown paths included).</summary>
    public long Requests => PatroniRequests + PrometheusRequests + Interlocked.Read(ref _server.Other);

    /// <summary>Starts (true) or stops keeping the URL of every request the fake answers (see <see cref="Recorded"/>).</summary>
    public void Record(bool on) => _server.Recording = on ? new ConcurrentQueue<Uri>() : null;

    /// <summary>The URLs the fake answered while recording (to replay the same requests with a bare HTTP client).</summary>
    public IReadOnlyList<Uri> Recorded() => _server.Recording?.ToList() ?? [];

    /// <summary>The name of the fleet's cluster number <paramref name="i"/> (1-based).</summary>
    public static string ClusterName(int i) => $"pg-f{i:0000}";

    /// <summary>
    /// Starts the fake and a snapshot service for <paramref name="clusters"/> clusters. <paramref name="etcd"/>: etcd
    /// client URLs for the leader-key read (keys <c>/pg/CLUSTER/leader</c>); null: the read is skipped.
    /// </summary>
    public static async Task<FakeFleet> StartAsync(int clusters, SensingSettings sensing, IReadOnlyList<Uri>? etcd, CancellationToken cancellationToken)
    {
        var secrets = new SecretStore();
        var topology = new Topology
        {
            SourcePath = "(simulated fleet)",
            Generation = PigstyGeneration.V4,
            Clusters = Enumerable.Range(1, clusters).Select(c => Cluster(ClusterName(c), secrets)).ToList(),
            Infra = new InfraEndpoints(),
        };
        var recorded = BenchEnvironment.Fixture("recorded", "pgbackrest-2.45", "info.json");
        var info = File.Exists(recorded) ? await File.ReadAllTextAsync(recorded, cancellationToken).ConfigureAwait(false) : "[]";
        var server = new Server(topology);
        var overrides = new SensingOverrides
        {
            PatroniUrl = m => new Uri(server.PatroniUrl, $"m/{m.Name}/"),
            MetricsUrl = server.MetricsUrl,
            LogsKind = LogsKind.Files,
            FileAccess = (_, _) => new NoFiles(),
            LocalRunner = new InfoRunner(info),
            SshRunner = new InfoRunner(info),
            EtcdEndpoints = etcd,
        };
        var service = new SnapshotService(topology, sensing, new AgentSettings().Endpoints, secrets, null, overrides);
        return new FakeFleet(topology, server, service, sensing);
    }

    /// <summary>True when the snapshot has a leader and both Patroni and Prometheus answered in full.</summary>
    public static bool Complete(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return snapshot.Leader is not null && snapshot.HealthOf(SensorNames.Patroni) == SensorHealth.Ok && snapshot.HealthOf(SensorNames.Metrics) == SensorHealth.Ok;
    }

    public void Dispose()
    {
        Service.Dispose();
        _server.Dispose();
    }

    private static PgCluster Cluster(string name, SecretStore secrets) => new()
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

    /// <summary>
    /// Serves /m/&lt;member&gt;/{patroni,cluster,history,config} on one loopback port and the Prometheus API on another,
    /// for every fleet cluster: member 1 leads, the others stream. Counts what it answers.
    /// </summary>
    private sealed partial class Server : IDisposable
    {
        public long Patroni;
        public long Prometheus;
        public long Other;
        public ConcurrentQueue<Uri>? Recording;

        private readonly HttpListener _listener = new();
        private readonly Topology _topology;

        public Server(Topology topology)
        {
            _topology = topology;
            PatroniUrl = new Uri($"http://127.0.0.1:{BenchEnvironment.FreeLoopbackPort()}/");
            MetricsUrl = new Uri($"http://127.0.0.1:{BenchEnvironment.FreeLoopbackPort()}/");
            _listener.Prefixes.Add(PatroniUrl.ToString());
            _listener.Prefixes.Add(MetricsUrl.ToString());
            _listener.Start();
            for (var i = 0; i < Environment.ProcessorCount * 4; i++)
            {
                _ = Task.Run(LoopAsync);
            }
        }

        public Uri PatroniUrl { get; }

        public Uri MetricsUrl { get; }

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

                Recording?.Enqueue(ctx.Request.Url!);
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
                Interlocked.Increment(ref Patroni);
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
                Interlocked.Increment(ref Prometheus);
                return (200, """{"status":"success","data":{"alerts":[]}}""");
            }

            if (path == "/api/v1/query")
            {
                Interlocked.Increment(ref Prometheus);
                var query = System.Web.HttpUtility.ParseQueryString(url.Query)["query"] ?? "";
                var cls = Cls().Match(query) is { Success: true } m ? m.Groups[1].Value
                    : Ins().Match(query) is { Success: true } n ? n.Groups[1].Value : null;
                var cluster = cls is null ? null : _topology.FindCluster(cls);
                var result = cluster is null ? "" : string.Join(",", cluster.Members.Select(x =>
                    $$"""{"metric":{"cls":"{{cluster.Name}}","ins":"{{x.Name}}"},"value":[1795370460.5,"{{(x.Seq == 1 ? "0" : "1")}}"]}"""));
                return (200, $$$"""{"status":"success","data":{"resultType":"vector","result":[{{{result}}}]}}""");
            }

            Interlocked.Increment(ref Other);
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
}
