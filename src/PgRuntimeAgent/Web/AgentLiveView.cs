using System.Threading.Channels;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Web;

/// <summary>
/// What the web host sees of the agent's running loop (<c>pgra run</c>): the detection of the last snapshot the loop
/// took of each cluster (the API's <c>/clusters</c> routes answer from it instead of sensing again) and its events
/// (fanned out to every <c>/events</c> stream, each through its own bounded buffer). Under <c>pgra serve</c> there is
/// none.
/// </summary>
internal sealed class AgentLiveView : IAgentObserver
{
    private readonly Func<string, DetectionResult?> _latest;
    private readonly object _gate = new();
    private EventSubscription[] _subscribers = [];
    private readonly Dictionary<string, Queue<ClusterSample>> _history = new(StringComparer.Ordinal);

    /// <summary>How far back <see cref="History"/> reaches (the console's lag chart shows the last hour).</summary>
    public static TimeSpan HistoryWindow { get; } = TimeSpan.FromMinutes(60);

    /// <summary>The most samples kept per cluster, whatever the sense interval (one a second for an hour).</summary>
    public const int HistoryCapacity = 3600;

    public AgentLiveView(IReadOnlyList<string> clusters, Func<string, DetectionResult?> latest)
    {
        ArgumentNullException.ThrowIfNull(clusters);
        ArgumentNullException.ThrowIfNull(latest);
        Clusters = clusters;
        _latest = latest;
    }

    /// <summary>A view of <paramref name="loop"/>, listening to its events from now on.</summary>
    public static AgentLiveView Attach(AgentLoop loop, IReadOnlyList<string> clusters)
    {
        ArgumentNullException.ThrowIfNull(loop);
        var view = new AgentLiveView(clusters, loop.LatestOf);
        loop.AddObserver(view);
        return view;
    }

    /// <summary>The clusters the loop watches.</summary>
    public IReadOnlyList<string> Clusters { get; }

    /// <summary>The last snapshot's detection of <paramref name="cluster"/> (null: none yet, or not watched).</summary>
    public DetectionResult? Latest(string cluster) => _latest(cluster);

    /// <summary>Listeners now (tests, health).</summary>
    public int Subscribers => Volatile.Read(ref _subscribers).Length;

    /// <summary>A stream of the events from now on, buffered up to <paramref name="capacity"/>; the oldest are dropped (and counted) when its reader lags.</summary>
    public EventSubscription Subscribe(int capacity)
    {
        var subscription = new EventSubscription(this, capacity);
        lock (_gate)
        {
            _subscribers = [.. _subscribers, subscription];
        }

        return subscription;
    }

    private void Record(ClusterSnapshot snapshot)
    {
        var sample = ClusterSample.Of(snapshot);
        lock (_gate)
        {
            if (!_history.TryGetValue(snapshot.Cluster, out var q))
            {
                _history[snapshot.Cluster] = q = new Queue<ClusterSample>();
            }

            if (q.Count > 0 && q.Last().At >= sample.At)
            {
                return;
            }

            q.Enqueue(sample);
            while (q.Count > HistoryCapacity || (q.Count > 0 && q.Peek().At < sample.At - HistoryWindow))
            {
                q.Dequeue();
            }
        }
    }

    internal void Remove(EventSubscription subscription)
    {
        lock (_gate)
        {
            _subscribers = [.. _subscribers.Where(s => !ReferenceEquals(s, subscription))];
        }
    }

    /// <summary>
    /// The samples of <paramref name="cluster"/> taken since <paramref name="since"/>, oldest first: one per snapshot
    /// the loop took (leader, writable, timeline, each member's role and lag), kept in memory for
    /// <see cref="HistoryWindow"/>; a restart of the agent starts it again.
    /// </summary>
    public IReadOnlyList<ClusterSample> History(string cluster, DateTimeOffset since)
    {
        lock (_gate)
        {
            return _history.TryGetValue(cluster, out var q) ? [.. q.Where(s => s.At >= since)] : [];
        }
    }

    /// <summary>Called on the loop's tasks: hands the event to every buffer without waiting.</summary>
    public void OnEvent(AgentEvent agentEvent)
    {
        ArgumentNullException.ThrowIfNull(agentEvent);
        if (agentEvent.Name == AgentEventNames.Snapshot && agentEvent.Cluster is { } cluster && _latest(cluster)?.Snapshot is { } snapshot)
        {
            Record(snapshot);
        }

        foreach (var s in Volatile.Read(ref _subscribers))
        {
            s.Offer(agentEvent);
        }
    }
}

/// <summary>One listener's bounded buffer of agent events; dispose to stop listening.</summary>
internal sealed class EventSubscription : IDisposable
{
    private readonly AgentLiveView _view;
    private readonly Channel<AgentEvent> _channel;
    private long _dropped;

    internal EventSubscription(AgentLiveView view, int capacity)
    {
        _view = view;
        _channel = Channel.CreateBounded<AgentEvent>(
            new BoundedChannelOptions(Math.Max(1, capacity)) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = false },
            _ => Interlocked.Increment(ref _dropped));
    }

    public ChannelReader<AgentEvent> Reader => _channel.Reader;

    /// <summary>Events dropped since the last call (the reader lagged), and resets the count.</summary>
    public long TakeDropped() => Interlocked.Exchange(ref _dropped, 0);

    internal void Offer(AgentEvent agentEvent) => _channel.Writer.TryWrite(agentEvent);

    public void Dispose()
    {
        _view.Remove(this);
        _channel.Writer.TryComplete();
    }
}

/// <summary>One point of a cluster's recent history: who led, whether it took writes, each member's role and lag.</summary>
internal sealed record ClusterSample(DateTimeOffset At, string? Leader, bool Writable, long? Timeline, IReadOnlyList<MemberSample> Members)
{
    public static ClusterSample Of(ClusterSnapshot s) => new(s.TakenAt, s.Leader, SnapshotFacts.LeaderWritable(s), s.Timeline,
        [.. s.Members.Select(m => new MemberSample(m.Name, RoleOf(m), m.Name == s.Leader ? null : m.LagBytes))]);

    private static string RoleOf(MemberState m) =>
        !m.Reachable && m.PatroniRole == PatroniRole.Unknown ? "unreachable" : m.PatroniRawRole ?? System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(m.PatroniRole.ToString());
}

/// <summary>A member in a <see cref="ClusterSample"/>: its role (leader, replica, standby-leader, down...) and lag in bytes (null: the leader, or unknown).</summary>
internal sealed record MemberSample(string Name, string Role, long? LagBytes);
