using System.Globalization;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Detection;

/// <summary>What the inventory says that a snapshot does not carry and some detectors need (the backup schedule).</summary>
public sealed record DetectionContext
{
    public BackupSchedule BackupSchedule { get; init; } = BackupSchedule.None;

    public static DetectionContext Empty { get; } = new();

    /// <summary>What the inventory says about <paramref name="cluster"/> (its backup schedule); empty for an unknown cluster.</summary>
    public static DetectionContext For(PgCluster? cluster) => cluster is null ? Empty : new() { BackupSchedule = cluster.BackupSchedule };
}

/// <summary>
/// Everything a detector may look at: the current snapshot and a bounded history of earlier snapshots of the same
/// cluster (oldest first, the current one excluded). Time comes from the snapshots' taken-at, never from a clock.
/// </summary>
public sealed record DetectionInput(ClusterSnapshot Current, IReadOnlyList<ClusterSnapshot> History, DetectionSettings Settings, DetectionContext Context)
{
    public static DetectionInput Of(ClusterSnapshot current, IReadOnlyList<ClusterSnapshot>? history = null, DetectionSettings? settings = null,
        DetectionContext? context = null) =>
        new(current, history ?? [], settings ?? DetectionSettings.Default, context ?? DetectionContext.Empty);

    /// <summary>The current snapshot, then the history from newest to oldest.</summary>
    public IEnumerable<ClusterSnapshot> NewestFirst()
    {
        yield return Current;
        for (var i = History.Count - 1; i >= 0; i--)
        {
            yield return History[i];
        }
    }

    /// <summary>The snapshot just before the current one, or null.</summary>
    public ClusterSnapshot? Previous => History.Count > 0 ? History[^1] : null;

    /// <summary>
    /// The last key holder the stream saw, kept by <see cref="ClusterDetector"/> however long ago (null: none yet).
    /// The bounded history forgets a leader after <see cref="DetectionSettings.HistorySize"/> snapshots without one.
    /// </summary>
    public string? RememberedLeader { get; init; }

    /// <summary>
    /// The leader in the most recent earlier snapshot that had one (the "old primary" while none holds the key), else
    /// the one the stream remembers: a cluster leaderless for longer than the history must not make the inventory's
    /// declared primary, a replica that never led, its "old primary".
    /// </summary>
    public string? LastKnownLeader() => NewestFirst().Select(SnapshotFacts.KeyHolder).FirstOrDefault(l => l is not null) ?? RememberedLeader;
}
