using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Reads;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Host;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Tests.Sensing;

namespace PgRuntimeAgent.Tests.Reads;

/// <summary>
/// A pg-test cluster behind loopback fakes: three Patroni APIs (recorded 3.0.2 answers), a Prometheus API that
/// answers any query with a chosen number of series, a pgBackRest that prints the recorded info, a log file per
/// member, a SQLite journal in a temporary directory, and PostgreSQL on a closed port.
/// </summary>
internal sealed class ReadsKit : IAsyncDisposable
{
    public static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1795370436 + 600);

    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-reads-").FullName;

    private ReadsKit(List<LoopbackHttpServer> patroni, LoopbackHttpServer metrics, SecretStore secrets, Topology topology)
    {
        Patroni = patroni;
        Metrics = metrics;
        Secrets = secrets;
        Topology = topology;
    }

    public List<LoopbackHttpServer> Patroni { get; }

    public LoopbackHttpServer Metrics { get; }

    public SecretStore Secrets { get; }

    public Topology Topology { get; }

    public string JournalPath => Path.Combine(_dir, "journal.db");

    public string LogFile(string member) => Path.Combine(_dir, member + "-patroni.log");

    /// <summary>Series each metrics query answers with.</summary>
    public int SeriesCount { get; set; } = 3;

    /// <summary>The history every Patroni serves.</summary>
    public string History { get; set; } = "[]";

    /// <summary>Extra text in every /config document (a secret a test wants to see masked).</summary>
    public string ConfigExtra { get; set; } = "";

    public static ReadsKit Start()
    {
        var clusterBody = SensingFixtures.Recorded("patroni-3.0.2", "cluster-leader.json");
        var config = SensingFixtures.Recorded("patroni-3.0.2", "config-leader.json");
        var secrets = new SecretStore();
        var topology = SensingFixtures.Topology(SensingFixtures.Cluster(secrets: secrets));
        ReadsKit? kit = null;
        var servers = new List<LoopbackHttpServer>();
        for (var i = 0; i < 3; i++)
        {
            var node = SensingFixtures.Recorded("patroni-3.0.2", i == 2 ? "patroni-leader.json" : "patroni-replica.json");
            servers.Add(new LoopbackHttpServer(r => r.Url!.AbsolutePath switch
            {
                "/patroni" => new LoopbackHttpServer.Reply(200, node),
                "/cluster" => new LoopbackHttpServer.Reply(200, clusterBody),
                "/history" => new LoopbackHttpServer.Reply(200, kit!.History),
                "/config" => new LoopbackHttpServer.Reply(200, kit!.ConfigExtra.Length == 0 ? config : config.TrimEnd()[..^1] + "," + kit.ConfigExtra + "}"),
                _ => new LoopbackHttpServer.Reply(404, "{}"),
            }));
        }

        var metrics = new LoopbackHttpServer(r => r.Url!.AbsolutePath switch
        {
            "/api/v1/alerts" => new LoopbackHttpServer.Reply(200, """{"status":"success","data":{"alerts":[]}}"""),
            "/api/v1/query_range" => new LoopbackHttpServer.Reply(200, Answer("matrix", kit!.SeriesCount)),
            _ => new LoopbackHttpServer.Reply(200, Answer("vector", kit!.SeriesCount)),
        });
        kit = new ReadsKit(servers, metrics, secrets, topology);
        return kit;
    }

    /// <summary>A query answer with <paramref name="count"/> series (ins label pg-test-000..), two samples each for a matrix.</summary>
    private static string Answer(string type, int count)
    {
        var series = Enumerable.Range(0, count).Select(i =>
        {
            var labels = "{\"cls\":\"pg-test\",\"ins\":\"pg-test-" + i.ToString("000", CultureInfo.InvariantCulture) + "\"}";
            return type == "vector"
                ? "{\"metric\":" + labels + ",\"value\":[1795370000,\"1\"]}"
                : "{\"metric\":" + labels + ",\"values\":[[1795370000,\"1\"],[1795370060,\"0\"]]}";
        });
        return "{\"status\":\"success\",\"data\":{\"resultType\":\"" + type + "\",\"result\":[" + string.Join(",", series) + "]}}";
    }

    /// <summary>Writes <paramref name="lines"/> Patroni log lines per member, one a minute back from <see cref="Now"/>, every fifth a WARNING.</summary>
    public async Task WriteLogsAsync(int lines)
    {
        foreach (var member in Topology.Clusters[0].Members)
        {
            var text = Enumerable.Range(0, lines).Reverse().Select(i =>
            {
                var at = TimeZoneInfo.ConvertTime(Now.AddMinutes(-i), TimeZoneInfo.Local);
                var level = i % 5 == 0 ? "WARNING" : "INFO";
                return string.Create(CultureInfo.InvariantCulture, $"{at:yyyy-MM-dd HH:mm:ss},000 {level}: line {i} of {member.Name}");
            });
            await File.WriteAllLinesAsync(LogFile(member.Name), text, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>A read context over the fakes: what the CLI builds from a workspace, with the sensing seams pointed at them.</summary>
    public ReadContext Context(string? metricsUrl = "", string? journalPath = null, PgRuntimeAgent.Fleet.FleetSettings? fleet = null)
    {
        var settings = new AgentSettings
        {
            Sensing = new SensingSettings
            {
                TimeoutSeconds = 2,
                Pgbackrest = new PgBackRestSettings { RunAs = null },
                LogFiles = Topology.Clusters[0].Members.ToDictionary(m => m.Name, m => new MemberLogFiles { Patroni = LogFile(m.Name) }, StringComparer.Ordinal),
            },
            Journal = new JournalSettings { Path = journalPath ?? JournalPath },
        };
        var closedPort = ClosedPort();
        var overrides = new SensingOverrides
        {
            PatroniUrl = m => Patroni[m.Seq - 1].BaseUrl,
            PostgresAddress = _ => ("127.0.0.1", closedPort),
            MetricsUrl = metricsUrl == "" ? Metrics.BaseUrl : metricsUrl is null ? null : new Uri(metricsUrl),
            LogsKind = LogsKind.Files,
            FileAccess = (_, _) => LocalFileAccess.Instance,
            LocalRunner = new FixedRunner(new ShellResult(0, SensingFixtures.Recorded("pgbackrest-2.45", "info.json"), "")),
            SshRunner = new FixedRunner(null),
        };
        return new ReadContext(Topology, settings.Sensing, settings.Endpoints, settings.Journal, Secrets, new ClockOnly(Now), _dir, overrides)
        {
            Fleet = fleet ?? new PgRuntimeAgent.Fleet.FleetSettings(),
            FleetEtcd = [new Uri($"http://127.0.0.1:{closedPort.ToString(System.Globalization.CultureInfo.InvariantCulture)}/")],
        };
    }

    /// <summary>Runs a read and returns its envelope.</summary>
    public async Task<JsonObject> ReadAsync(string name, string? member = null, params (string Key, string Value)[] parameters)
    {
        await using var context = Context();
        return await ReadCatalog.RunAsync(context, name, new ReadRequest
        {
            Cluster = "pg-test",
            Member = member,
            Parameters = parameters.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal),
        }, TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in Patroni)
        {
            await s.DisposeAsync();
        }

        await Metrics.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private static int ClosedPort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>Real timers, a fixed wall clock.</summary>
    private sealed class ClockOnly(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private sealed class FixedRunner(ShellResult? result) : ICommandRunner
    {
        public Task<ShellResult> RunAsync(string host, string command, CancellationToken cancellationToken) =>
            result is null ? Task.FromException<ShellResult>(new SocketException(111)) : Task.FromResult(result);
    }
}
