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

    /// <summary>The finding that explains the others: highest severity, then most specific code, then earliest.</summary>
    public static Finding? Primary(IEnumerable<Finding> findings) =>
        findings.OrderByDescending(f => f.Severity).ThenBy(f => Rank(f.Code)).ThenBy(f => f.FirstSeen).FirstOrDefault();

    /// <summary>What the code means, for the root-cause paragraph ("" for a code no detector raises).</summary>
    public static string Explain(string code) => Detectors.Describe(code)?.Explanation ?? "";
}
