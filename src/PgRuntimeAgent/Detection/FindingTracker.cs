namespace PgRuntimeAgent.Detection;

/// <summary>What changed in one <see cref="FindingTracker.Update"/>.</summary>
/// <param name="Active">Every finding still active after the update (raised ones included), with first/last seen.</param>
/// <param name="Raised">Findings seen for the first time (their <see cref="Finding.DetectedAt"/> is this update's time).</param>
/// <param name="Cleared">Findings that were absent for <c>clear_after</c> consecutive updates: over.</param>
public sealed record TrackerUpdate(IReadOnlyList<Finding> Active, IReadOnlyList<Finding> Raised, IReadOnlyList<Finding> Cleared);

/// <summary>
/// Carries findings across snapshots: the same <see cref="Finding.Key"/> is the same finding, whose first seen stays
/// the earliest observation, last seen moves with each snapshot it holds on, and which clears only after it has been
/// absent from <c>clear_after</c> consecutive snapshots (so a flapping symptom is one finding, not many).
/// Deterministic: the same sequence of updates gives the same results.
/// </summary>
public sealed class FindingTracker(int clearAfter = 2)
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];

    private sealed class Entry
    {
        public required Finding Finding { get; set; }

        public int Missed { get; set; }
    }

    public IReadOnlyList<Finding> Active => _order.Select(k => _entries[k].Finding).ToList();

    /// <summary>Forgets every finding (none is reported cleared): what follows starts afresh.</summary>
    public void Clear()
    {
        _entries.Clear();
        _order.Clear();
    }

    public TrackerUpdate Update(DateTimeOffset at, IReadOnlyList<Finding> findings)
    {
        ArgumentNullException.ThrowIfNull(findings);
        var raised = new List<Finding>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var f in findings)
        {
            if (!seen.Add(f.Key))
            {
                continue; // one finding per key per snapshot
            }

            if (_entries.TryGetValue(f.Key, out var entry))
            {
                var first = entry.Finding.FirstSeen < f.FirstSeen ? entry.Finding.FirstSeen : f.FirstSeen;
                entry.Finding = f with { FirstSeen = first, DetectedAt = entry.Finding.DetectedAt, LastSeen = at > f.LastSeen ? at : f.LastSeen };
                entry.Missed = 0;
            }
            else
            {
                var created = f with { DetectedAt = at, LastSeen = at > f.LastSeen ? at : f.LastSeen };
                _entries[f.Key] = new Entry { Finding = created };
                _order.Add(f.Key);
                raised.Add(created);
            }
        }

        var cleared = new List<Finding>();
        foreach (var key in _order.ToList())
        {
            if (seen.Contains(key))
            {
                continue;
            }

            var entry = _entries[key];
            entry.Missed++;
            if (entry.Missed >= Math.Max(1, clearAfter))
            {
                cleared.Add(entry.Finding);
                _entries.Remove(key);
                _order.Remove(key);
            }
        }

        return new TrackerUpdate(Active, raised, cleared);
    }
}
