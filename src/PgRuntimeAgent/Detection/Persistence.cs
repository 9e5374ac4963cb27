using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Detection;

/// <summary>One snapshot on which a symptom held, with what was observed.</summary>
public sealed record SymptomObservation(ClusterSnapshot Snapshot, IReadOnlyList<FindingEvidence> Evidence);

/// <summary>
/// "Held for N consecutive snapshots and at least S seconds": the guard every gray-failure detector uses so that a
/// single slow probe or a snapshot taken mid-switchover never fires.
/// </summary>
public static class Persistence
{
    /// <summary>Evidence lines kept per finding: the first observation of the run and the latest ones.</summary>
    public const int MaxEvidence = 12;

    /// <summary>The run on which <paramref name="symptom"/> held for <paramref name="held"/> (see the other overload); null when it did not.</summary>
    public static IReadOnlyList<SymptomObservation>? Held(DetectionInput input, Func<ClusterSnapshot, IReadOnlyList<FindingEvidence>?> symptom, HeldFor held) =>
        Held(input, symptom, held.Consecutive, held.Seconds);

    /// <summary>
    /// The run of consecutive snapshots, ending with the current one, on which <paramref name="symptom"/> returned
    /// observations (oldest first); null when the run is shorter than <paramref name="consecutive"/> snapshots or spans
    /// less than <paramref name="seconds"/>.
    /// </summary>
    public static IReadOnlyList<SymptomObservation>? Held(DetectionInput input, Func<ClusterSnapshot, IReadOnlyList<FindingEvidence>?> symptom,
        int consecutive, double seconds)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(symptom);
        var run = new List<SymptomObservation>();
        foreach (var snapshot in input.NewestFirst())
        {
            var evidence = symptom(snapshot);
            if (evidence is null)
            {
                break;
            }

            run.Add(new SymptomObservation(snapshot, evidence));
        }

        if (run.Count == 0 || run.Count < Math.Max(1, consecutive))
        {
            return null;
        }

        var span = (input.Current.TakenAt - run[^1].Snapshot.TakenAt).TotalSeconds;
        if (span < seconds)
        {
            return null;
        }

        run.Reverse();
        return run;
    }

    /// <summary>The evidence of a run, bounded: every line of the first observation and of the latest ones, time-ordered.</summary>
    public static IReadOnlyList<FindingEvidence> Evidence(IReadOnlyList<SymptomObservation> run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var all = run.SelectMany(o => o.Evidence).Distinct().ToList();
        if (all.Count <= MaxEvidence)
        {
            return all.OrderBy(e => e.At).ToList();
        }

        var first = run[0].Evidence.Distinct().Take(MaxEvidence / 3).ToList();
        var rest = all.Except(first).TakeLast(MaxEvidence - first.Count);
        return first.Concat(rest).OrderBy(e => e.At).ToList();
    }

    /// <summary>The earliest time in the run's evidence (a log line may predate the first snapshot that showed it).</summary>
    public static DateTimeOffset FirstSeen(IReadOnlyList<SymptomObservation> run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var first = run[0].Snapshot.TakenAt;
        var earliest = run.SelectMany(o => o.Evidence).Select(e => e.At).DefaultIfEmpty(first).Min();
        return earliest < first ? earliest : first;
    }

    /// <summary>A finding from a held run: evidence and first/last seen filled in.</summary>
    public static Finding ToFinding(DetectionInput input, IReadOnlyList<SymptomObservation> run, string code, FindingSeverity severity,
        IReadOnlyList<string> members, string summary, string? subject = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new Finding
        {
            Code = code,
            Severity = severity,
            Cluster = input.Current.Cluster,
            Members = members,
            Subject = subject,
            Summary = summary,
            Evidence = Evidence(run),
            FirstSeen = FirstSeen(run),
            LastSeen = input.Current.TakenAt,
        };
    }
}
