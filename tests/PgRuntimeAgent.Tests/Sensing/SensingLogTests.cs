using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Host;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Tests.Telemetry;

namespace PgRuntimeAgent.Tests.Sensing;

/// <summary>
/// Sensing's logs, with Patroni answered in process by a fake handler (recorded Patroni 3.0.2 answers) and every other
/// sensor disabled: nothing leaves the process.
/// </summary>
public sealed class SensingLogTests
{
    private const string Leaked = "Leaky.Pa55word.In.An.Error";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TakeAsync_PatroniDownTwiceThenBack_LogsOneWarningThenTheRecovery()
    {
        var patroni = new FakePatroni { Down = true };
        var logs = new LogRecorder();
        using var service = Service(patroni, logs, out var secrets);

        await service.TakeAsync("pg-test", Ct);
        await service.TakeAsync("pg-test", Ct);

        var unhealthy = logs.Single(2000, LogLevel.Warning);
        Assert.Contains("Sensor patroni on pg-test turned Unknown", unhealthy.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Leaked, unhealthy.Everything, StringComparison.Ordinal);
        Assert.Empty(logs.WithId(2001));

        patroni.Down = false;
        var snapshot = await service.TakeAsync("pg-test", Ct);

        Assert.Equal(SensorHealth.Ok, snapshot.Sensors.Single(s => s.Sensor == SensorNames.Patroni).Health);
        var recovered = logs.Single(2001, LogLevel.Information);
        Assert.Contains("recovered (was Unknown)", recovered.Message, StringComparison.Ordinal);
        Assert.Single(logs.WithId(2000));
        Assert.Equal(3, logs.WithId(2006).Count(l => l.Level == LogLevel.Debug));
        Assert.DoesNotContain(logs.Logs, l => secrets.Values.Any(v => l.Everything.Contains(v, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task TakeAsync_MemberHangsPastItsDeadlineThenAnswers_LogsTheDeadlineAndItsEnd()
    {
        var patroni = new FakePatroni { Hung = "2" };
        var logs = new LogRecorder();
        using var service = Service(patroni, logs, out _);

        await service.TakeAsync("pg-test", Ct);

        var hit = logs.Single(2003, LogLevel.Warning);
        Assert.Contains("Member pg-test-2 of pg-test hit its patroni probe deadline", hit.Message, StringComparison.Ordinal);
        Assert.Empty(logs.WithId(2004));

        patroni.Hung = null;
        await service.TakeAsync("pg-test", Ct);

        var cleared = logs.Single(2004, LogLevel.Information);
        Assert.Contains("pg-test-2", cleared.Message, StringComparison.Ordinal);
        Assert.Single(logs.WithId(2003));
    }

    [Fact]
    public async Task TakeAsync_SnapshotLongerThanTheInterval_LogsASlowSnapshot()
    {
        var logs = new LogRecorder();
        using var service = Service(new FakePatroni(), logs, out _, new SteppingClock(), timeoutSeconds: 60);

        await service.TakeAsync("pg-test", Ct);

        var slow = logs.Single(2002, LogLevel.Warning);
        Assert.Contains("longer than the sensing interval of 200 ms", slow.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TakeAsync_SensorFailsWithABug_LogsTheInternalErrorRedacted()
    {
        var logs = new LogRecorder();
        using var service = Service(new FakePatroni(), logs, out _, backupRunner: new BuggyRunner());

        var snapshot = await service.TakeAsync("pg-test", Ct);

        Assert.Equal(SensorHealth.Unknown, snapshot.Sensors.Single(s => s.Sensor == SensorNames.Backup).Health);
        var crashed = logs.Single(2005, LogLevel.Error);
        Assert.Contains("Internal error in the backup sensor on pg-test: NotSupportedException", crashed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(logs.Logs, l => l.Everything.Contains(Leaked, StringComparison.Ordinal));
    }

    private static SnapshotService Service(FakePatroni patroni, LogRecorder logs, out SecretStore secrets, TimeProvider? time = null, double timeoutSeconds = 0.2,
        ICommandRunner? backupRunner = null)
    {
        secrets = new SecretStore();
        var topology = SensingFixtures.Topology(SensingFixtures.Cluster(secrets: secrets));
        var settings = new AgentSettings
        {
            Sensing = new SensingSettings
            {
                TimeoutSeconds = timeoutSeconds,
                IntervalSeconds = 0.2,
                Disabled = backupRunner is null
                    ? [SensorNames.Metrics, SensorNames.Logs, SensorNames.Backup, SensorNames.Postgres, SensorNames.Host]
                    : [SensorNames.Metrics, SensorNames.Logs, SensorNames.Postgres, SensorNames.Host],
                Pgbackrest = new PgBackRestSettings { RunAs = null },
            },
        };
        var overrides = new SensingOverrides
        {
            HttpHandler = patroni,
            PatroniUrl = m => new Uri($"http://patroni-{m.Seq}.invalid:8008/"),
            EtcdEndpoints = [],
            LocalRunner = backupRunner,
            SshRunner = backupRunner,
        };
        return new SnapshotService(topology, settings.Sensing, settings.Endpoints, secrets, time, overrides, logs.CreateLogger<SnapshotService>());
    }

    /// <summary>A command runner that fails as a bug would (an exception no sensor expects), its message holding a password.</summary>
    private sealed class BuggyRunner : ICommandRunner
    {
        public Task<ShellResult> RunAsync(string host, string command, CancellationToken cancellationToken) =>
            Task.FromException<ShellResult>(new NotSupportedException($"a bug holding password={Leaked}"));
    }

    /// <summary>A clock whose every timestamp is one second after the last (timers and wall time are the system's).</summary>
    private sealed class SteppingClock : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Add(ref _ticks, TimeSpan.TicksPerSecond);
    }

    /// <summary>Patroni of three members in process: down (refused, its error carrying a password), hung until the caller gives up, or answering.</summary>
    private sealed class FakePatroni : HttpMessageHandler
    {
        private readonly string _cluster = SensingFixtures.Recorded("patroni-3.0.2", "cluster-leader.json");
        private readonly string _config = SensingFixtures.Recorded("patroni-3.0.2", "config-leader.json");
        private readonly string _leader = SensingFixtures.Recorded("patroni-3.0.2", "patroni-leader.json");
        private readonly string _replica = SensingFixtures.Recorded("patroni-3.0.2", "patroni-replica.json");

        public volatile bool Down;


        /// <summary>The seq of the member that never answers (null: none).</summary>
        public volatile string? Hung;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Down)
            {
                throw new HttpRequestException($"Connection refused (password={Leaked})");
            }

            var host = request.RequestUri!.Host;
            if (Hung is { } hung && host == $"patroni-{hung}.invalid")
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            }

            var body = request.RequestUri.AbsolutePath switch
            {
                "/patroni" => host == "patroni-3.invalid" ? _leader : _replica,
                "/cluster" => _cluster,
                "/history" => "[]",
                "/config" => _config,
                _ => null,
            };
            return new HttpResponseMessage(body is null ? HttpStatusCode.NotFound : HttpStatusCode.OK)
            {
                Content = new StringContent(body ?? "{}", Encoding.UTF8, "application/json"),
                RequestMessage = request,
            };
        }
    }
}
