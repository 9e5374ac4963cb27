using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Detection;

/// <summary>The outcome of detecting on one snapshot of a stream.</summary>
/// <param name="Findings">What the detectors returned for this snapshot (before tracking).</param>
/// <param name="Active">Findings active after this snapshot (tracked: first/last seen, detected at).</param>
/// <param name="Raised">New findings (a skill trigger, an incident's first symptom).</param>
/// <param name="Cleared">Findings that ended with this snapshot.</param>
public sealed record DetectionResult(
    ClusterSnapshot Snapshot,
    IReadOnlyList<Finding> Findings,
    IReadOnlyList<Finding> Active,
    IReadOnlyList<Finding> Raised,
    IReadOnlyList<Finding> Cleared);

/// <summary>
/// Detection on the snapshot stream of one cluster: keeps the bounded history the detectors judge durations on and a
/// <see cref="FindingTracker"/>. The same snapshots in the same order give the same results (replay relies on it).
/// Not thread-safe: one instance per cluster, fed by one loop.
/// </summary>
public sealed class ClusterDetector
{
    private readonly List<ClusterSnapshot> _history = [];
    private string? _lastLeader;
    private readonly IReadOnlyList<IDetector> _detectors;

    public ClusterDetector(string cluster, DetectionSettings? settings = null, DetectionContext? context = null, IReadOnlyList<IDetector>? detectors = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(cluster);
        Cluster = cluster;
        Settings = settings ?? DetectionSettings.Default;
        Context = context ?? DetectionContext.Empty;
        _detectors = detectors ?? Detectors.All;
        Tracker = new FindingTracker(Settings.ClearAfter);
    }

    public string Cluster { get; }

    public DetectionSettings Settings { get; }

    public DetectionContext Context { get; }

    public FindingTracker Tracker { get; }

    /// <summary>Earlier snapshots kept (oldest first), at most <see cref="DetectionSettings.HistorySize"/>.</summary>
    public IReadOnlyList<ClusterSnapshot> History => _history;

    /// <summary>
    /// Forgets the snapshots, the remembered leader and the findings seen so far. An agent that takes a cluster back
    /// after another owned it calls this: a symptom it saw before it lost the cluster must not count as part of a run
    /// now (a detector that needs two snapshots would otherwise hold on one fresh observation and a stale one).
    /// </summary>
    public void Reset()
    {
        _history.Clear();
        _lastLeader = null;
        Tracker.Clear();
    }

    /// <summary>Detects on <paramref name="snapshot"/> (the next of the stream) and moves it into the history.</summary>
    public DetectionResult Observe(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (!string.Equals(snapshot.Cluster, Cluster, StringComparison.Ordinal))
        {
            throw new ArgumentException($"snapshot of {snapshot.Cluster} fed to the detector of {Cluster}", nameof(snapshot));
        }

        var history = _history.Where(h => h.TakenAt < snapshot.TakenAt).ToList();
        var findings = Detectors.Run(new DetectionInput(snapshot, history, Settings, Context) { RememberedLeader = _lastLeader }, _detectors);
        var update = Tracker.Update(snapshot.TakenAt, findings);
        _history.Add(snapshot);
        _lastLeader = SnapshotFacts.KeyHolder(snapshot) ?? _lastLeader;
        var keep = Math.Max(1, Settings.HistorySize);
        if (_history.Count > keep)
        {
            _history.RemoveRange(0, _history.Count - keep);
        }

        return new DetectionResult(snapshot, findings, update.Active, update.Raised, update.Cleared);
    }
}
