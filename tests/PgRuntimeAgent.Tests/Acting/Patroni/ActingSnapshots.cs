using System.Collections.Concurrent;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Tests.Sensing;

namespace PgRuntimeAgent.Tests.Acting.Patroni;

/// <summary>Hand-built snapshots of pg-test (leader, replicas, tags, lag) for the actuators' rules.</summary>
internal static class ActingSnapshots
{
    public const long LeaderWal = 0x3_0000_0000;

    public static MemberState Leader(string name = "pg-test-1", long timeline = 7) => new()
    {
        Name = name,
        DeclaredRole = DeclaredRole.Primary,
        PatroniRole = PatroniRole.Leader,
        PatroniRawRole = "leader",
        PatroniState = "running",
        Reachable = true,
        PostgresRunning = true,
        PostgresReachable = true,
        InRecovery = false,
        Timeline = timeline,
        WalLsn = Lsn.Format(LeaderWal),
    };

    /// <summary>A streaming replica; <paramref name="replayBehind"/> bytes of WAL not replayed (Patroni's lag stays <paramref name="patroniLag"/>).</summary>
    public static MemberState Replica(string name, long? patroniLag = 0, long replayBehind = 0, bool streaming = true, long timeline = 7, bool lagUnknown = false) => new()
    {
        Name = name,
        DeclaredRole = DeclaredRole.Replica,
        PatroniRole = PatroniRole.Replica,
        PatroniRawRole = "replica",
        PatroniState = "running",
        Reachable = true,
        PostgresRunning = true,
        PostgresReachable = true,
        InRecovery = true,
        Timeline = timeline,
        ReplayLsn = Lsn.Format(LeaderWal - replayBehind),
        LagBytes = lagUnknown ? null : patroniLag,
        LagUnknown = lagUnknown,
        Streaming = streaming,
    };

    /// <summary>A snapshot of pg-test with these members; <paramref name="tags"/> per member as Patroni's /cluster shows them.</summary>
    public static ClusterSnapshot Snapshot(string? leader, IReadOnlyList<MemberState> members, IReadOnlyDictionary<string, Dictionary<string, string>>? tags = null,
        long? maximumLag = 1_048_576, long? timeline = 7, IReadOnlyList<DriftItem>? drift = null, bool paused = false)
    {
        var cluster = SensingFixtures.Cluster();
        var view = new PatroniClusterView
        {
            Leader = leader,
            Paused = paused,
            Members = members.Select(m => new PatroniClusterMember
            {
                Name = m.Name,
                Role = m.PatroniRole,
                State = m.PatroniState,
                LagBytes = m.LagBytes,
                LagUnknown = m.LagUnknown,
                Tags = tags?.GetValueOrDefault(m.Name) ?? new Dictionary<string, string>(),
            }).ToList(),
        };
        return new ClusterSnapshot
        {
            Cluster = "pg-test",
            TakenAt = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero),
            Inventory = InventoryView.From(cluster, "/tmp/test-inventory.yml"),
            Members = members,
            Leader = leader,
            LeaderSource = leader is null ? null : "patroni",
            Timeline = timeline,
            Patroni = new PatroniObservation
            {
                Members = members.Select(m => new PatroniMemberView
                {
                    Member = m.Name,
                    ApiUrl = $"http://127.0.0.1{m.Name[^1]}:8008/",
                    Reachable = m.Reachable,
                    Cluster = m.Reachable ? view : null,
                    Node = m.Reachable ? new PatroniNodeStatus { State = m.PatroniState, Role = m.PatroniRole, Paused = paused } : null,
                }).ToList(),
                Leader = leader,
                Timeline = timeline,
                Config = new PatroniDynamicConfig { MaximumLagOnFailoverBytes = maximumLag, LoopWaitSeconds = 2, Paused = paused },
                Paused = paused,
            },
            Sensors = [new SensorStatus(SensorNames.Patroni, null, SensorHealth.Ok, null, 1)],
            Drift = drift ?? [],
        };
    }

    public static ClusterSnapshot Healthy(long lag2 = 0, long lag3 = 0) =>
        Snapshot("pg-test-1", [Leader(), Replica("pg-test-2", lag2), Replica("pg-test-3", lag3)]);
}

/// <summary>Sensing that answers scripted snapshots in order (the last one repeats), and counts the calls.</summary>
internal sealed class ScriptedSensing(Topology topology, params ClusterSnapshot[] snapshots) : IClusterSensing
{
    private readonly ConcurrentQueue<ClusterSnapshot> _queue = new(snapshots);
    private ClusterSnapshot? _last;

    public Topology Topology => topology;

    public int Calls;

    public void Enqueue(params ClusterSnapshot[] more)
    {
        foreach (var s in more)
        {
            _queue.Enqueue(s);
        }
    }

    public Task<ClusterSnapshot> SenseAsync(string cluster, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Calls);
        if (_queue.TryDequeue(out var next))
        {
            _last = next;
        }

        return Task.FromResult(_last ?? throw new InvalidOperationException("no snapshot scripted"));
    }
}

/// <summary>An HTTP handler that records requests and answers from a function (no network).</summary>
internal sealed class RecordingHandler(Func<HttpRequestMessage, string, (int Status, string Body)> answer) : HttpMessageHandler
{
    public ConcurrentQueue<(string Method, Uri Url, string Body, string? Authorization)> Requests { get; } = new();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
        Requests.Enqueue((request.Method.Method, request.RequestUri!, body, request.Headers.Authorization?.ToString()));
        var (status, text) = answer(request, body);
        return new HttpResponseMessage((System.Net.HttpStatusCode)status) { Content = new StringContent(text) };
    }
}
