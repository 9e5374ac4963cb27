using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// What <c>pgra detect</c> says about its snapshots. <see cref="Persisted"/>: findings under the real detection rules
/// (held over as many snapshots and seconds as the agent requires). <see cref="SingleSample"/>: with one snapshot,
/// the symptoms seen on it that the rules would not raise yet. <see cref="CouldNotSense"/>: one kind of probe (SQL,
/// Patroni API) timed out on every member in every sample - sensing itself was slow, which says nothing about the
/// members; a primary-frozen resting only on such timeouts is then not reported.
/// </summary>
public sealed record DetectVerdict(ClusterSnapshot Last, IReadOnlyList<Finding> Persisted, IReadOnlyList<Finding> SingleSample, string? CouldNotSense);

/// <summary>
/// Detection over a few snapshots taken on demand (<c>pgra detect</c>, a model's or console's question), not the
/// agent's running loop: the real rules, plus the symptoms one snapshot shows, minus what slow sensing explains.
/// </summary>
public static class OneOffDetection
{
    public static DetectVerdict Judge(string cluster, DetectionSettings settings, DetectionContext context, IReadOnlyList<ClusterSnapshot> snapshots)
    {
        IReadOnlyList<Finding> Run(DetectionSettings with, IEnumerable<ClusterSnapshot> stream)
        {
            var detector = new ClusterDetector(cluster, with, context);
            DetectionResult? result = null;
            foreach (var s in stream)
            {
                result = detector.Observe(s);
            }

            return result!.Active;
        }

        var persisted = Run(settings, snapshots);
        IReadOnlyList<Finding> single = [];
        if (snapshots.Count == 1)
        {
            var keys = persisted.Select(f => f.Key).ToHashSet(StringComparer.Ordinal);
            single = Run(OneShot(settings), snapshots).Where(f => !keys.Contains(f.Key)).ToList();
        }

        // A probe that timed out on every member says the agent was slow, not that one member froze.
        var sqlEverywhere = snapshots.All(x => x.Members.Count > 0 && x.Members.All(m => SnapshotFacts.SqlTimedOut(x, m.Name)));
        var restEverywhere = snapshots.All(x => x.Members.Count > 0 && x.Members.All(m => SnapshotFacts.RestTimedOut(x, m.Name)));
        string? couldNotSense = null;
        if (sqlEverywhere || restEverywhere)
        {
            var what = (sqlEverywhere, restEverywhere) switch
            {
                (true, true) => "SQL probes and Patroni API calls",
                (true, false) => "SQL probes",
                _ => "Patroni API calls",
            };
            couldNotSense = $"every member's {what} timed out{(snapshots.Count == 1 ? " in this sample" : " in every sample")} "
                + $"({string.Join(", ", snapshots[^1].Members.Select(m => m.Name))})";
            var last = snapshots[^1];
            bool ExplainedBySlowSensing(Finding f) => f.Code == FindingCodes.PrimaryFrozen && f.Member is { } holder
                && (!SnapshotFacts.SqlTimedOut(last, holder) || sqlEverywhere) && (!SnapshotFacts.RestTimedOut(last, holder) || restEverywhere);
            persisted = persisted.Where(f => !ExplainedBySlowSensing(f)).ToList();
            single = single.Where(f => !ExplainedBySlowSensing(f)).ToList();
        }

        return new DetectVerdict(snapshots[^1], persisted, single, couldNotSense);
    }

    /// <summary>With a single snapshot there is no history: the rules that show a symptom seen now (a single-sample symptom).</summary>
    /// <remarks>Every detector whose persistence can be set holds for one snapshot and no minimum time.</remarks>
    public static DetectionSettings OneShot(DetectionSettings s) =>
        Detectors.Descriptors.Where(d => d.PersistenceSettable).Aggregate(s, (acc, d) => acc.WithPersistence(d.Code, new HeldFor(1, 0)));
}
