using PgRuntimeAgent.Detection;

namespace PgRuntimeAgent.Incidents;

/// <summary>
/// Which finding explains an incident best, and what each code means to a reader of a post-mortem: both come from the
/// detectors' descriptors (root-cause rank and explanation).
/// </summary>
public static class RootCause
{
    private static readonly Lazy<IReadOnlyList<string>> Ranked = new(() =>
        [.. Detectors.All.Select((d, i) => (d.Descriptor, i)).OrderBy(x => x.Descriptor.RootCauseRank).ThenBy(x => x.i).Select(x => x.Descriptor.Code)]);

    /// <summary>Most specific first: a full disk or a freeze explains "the key holder cannot serve", which explains "no leader".</summary>
    public static IReadOnlyList<string> Priority => Ranked.Value;

    public static int Rank(string code)
    {
        var list = Priority;
        for (var i = 0; i < list.Count; i++)
        {
            if (string.Equals(list[i], code, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return list.Count;
    }

    /// <summary>
    /// The finding that explains the others: highest severity, then most specific code, then earliest; then, while
    /// another finding on the same member (or a cluster-wide one) is declared by its detector to explain the one chosen
    /// (<c>config-broken</c> explains the lost leader of the member that cannot start), that cause instead.
    /// </summary>
    public static Finding? Primary(IEnumerable<Finding> findings) =>
        Primary(findings, f => f.Code, f => f.Severity, f => f.Member, f => f.FirstSeen);

    /// <summary><see cref="Primary(IEnumerable{Finding})"/> over anything that has a code, a severity, a member and a time.</summary>
    public static T? Primary<T>(IEnumerable<T> items, Func<T, string> code, Func<T, FindingSeverity> severity, Func<T, string?> member, Func<T, DateTimeOffset> at)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(items);
        var list = items.ToList();
        var chosen = list.OrderByDescending(severity).ThenBy(f => Rank(code(f))).ThenBy(at).FirstOrDefault();
        var visited = new HashSet<string>(StringComparer.Ordinal);
        while (chosen is not null && visited.Add(code(chosen)))
        {
            var symptom = chosen;
            var cause = list.Where(f => !ReferenceEquals(f, symptom) && Explains(code(f), code(symptom))
                    && (member(symptom) is null || string.Equals(member(f), member(symptom), StringComparison.Ordinal)))
                .OrderBy(f => Rank(code(f))).ThenBy(at).FirstOrDefault();
            if (cause is null)
            {
                break;
            }

            chosen = cause;
        }

        return chosen;
    }

    /// <summary>Whether the detector of <paramref name="cause"/> declares it explains <paramref name="symptom"/>.</summary>
    public static bool Explains(string cause, string symptom) =>
        Detectors.Describe(cause)?.Explains.Contains(symptom, StringComparer.Ordinal) == true;

    /// <summary>What the code means, for the root-cause paragraph ("" for a code no detector raises).</summary>
    public static string Explain(string code) => Detectors.Describe(code)?.Explanation ?? "";
}
