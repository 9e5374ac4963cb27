using System.Globalization;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// <c>long-transaction</c>: something on a member holds the xmin horizon back: a client transaction or a prepared
/// transaction open longer than <c>max_age_seconds</c>, or a replication slot or a replica's hot_standby_feedback whose
/// xmin is more than <c>xid_age</c> transactions old. While it lasts, VACUUM cannot remove any row deleted or updated
/// since (tables and indexes bloat), and a transaction idle in transaction also keeps its locks. Judged on every member:
/// a replica's long query shows there, and through hot_standby_feedback on the primary as a replica holder. The
/// finding names the oldest holder (facts: <c>kind</c>, and <c>pid</c>/<c>backend_start</c>, <c>gid</c> or
/// <c>slot</c>).
/// </summary>
public sealed class LongTransactionDetector : IDetector
{
    /// <summary>The finding code.</summary>
    public const string FindingCode = "long-transaction";

    private static readonly ParameterSpec MaxAge = new("max_age_seconds", ParameterType.Number,
        "A client transaction or a prepared transaction open longer than this holds the xmin horizon too long.") { Default = "600", Minimum = 0, Unit = "seconds" };

    private static readonly ParameterSpec XidAge = new("xid_age", ParameterType.Integer,
        "A replication slot's or a replica's (hot_standby_feedback) xmin this many transactions old holds the horizon too long.")
    { Default = "10000000", Minimum = 1, Unit = "transactions" };

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCode,
        Order = 170,
        Severity = FindingSeverity.Warning,
        Summary = "A long-open transaction, prepared transaction, replication slot or replica feedback holds the xmin horizon back (vacuum cannot clean up).",
        Explanation = "A transaction (or a prepared transaction, a slot, a replica's feedback) stayed open for a long time and held the "
            + "xmin horizon: vacuum could not remove dead rows, and an idle transaction kept its locks.",
        ConsecutiveSnapshots = 2,
        MinimumSeconds = 0,
        RootCauseRank = 104,
        Thresholds = [MaxAge, XidAge],
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var maxAge = input.Settings.Threshold(Code, MaxAge);
        var xidAge = (long)input.Settings.Threshold(Code, XidAge);
        foreach (var pg in input.Current.Postgres.Where(p => p.Reachable))
        {
            var run = Persistence.Held(input, s => Symptom(s, pg.Member, maxAge, xidAge), input.Settings.PersistenceOf(Code));
            if (run is null || Oldest(input.Current, pg.Member, maxAge, xidAge) is not { } holder)
            {
                continue;
            }

            var finding = Persistence.ToFinding(input, run, Code, Described.Severity, [pg.Member],
                $"{Describe(holder)} holds the xmin horizon of {pg.Member}{Age(holder)}: vacuum cannot remove rows changed since");
            yield return finding with { Facts = Facts(holder, pg.Member) };
        }
    }

    /// <summary>The holders past the thresholds on <paramref name="member"/>, oldest first (transactions by time, then slots and replicas by xid age).</summary>
    internal static IReadOnlyList<XminHolder> Over(ClusterSnapshot s, string member, double maxAge, long xidAge) =>
        (s.Postgres.FirstOrDefault(p => p.Member == member && p.Reachable)?.XminHolders ?? [])
            .Where(h => h.Kind is XminHolderKinds.Backend or XminHolderKinds.Prepared ? h.AgeSeconds >= maxAge : h.XminAge >= xidAge)
            .OrderBy(h => h.Kind is XminHolderKinds.Backend or XminHolderKinds.Prepared ? 0 : 1)
            .ThenByDescending(h => h.AgeSeconds ?? 0)
            .ThenByDescending(h => h.XminAge ?? 0)
            .ToList();

    private static XminHolder? Oldest(ClusterSnapshot s, string member, double maxAge, long xidAge) => Over(s, member, maxAge, xidAge).FirstOrDefault();

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, string member, double maxAge, long xidAge)
    {
        var over = Over(s, member, maxAge, xidAge);
        return over.Count == 0
            ? null
            : over.Take(3).Select(h => new FindingEvidence(s.TakenAt, "postgres", member, $"{Describe(h)}{Age(h)}{(h.Query is { } q ? "; query: " + q : "")}")).ToList();
    }

    /// <summary>The holder in words.</summary>
    internal static string Describe(XminHolder h) => h.Kind switch
    {
        XminHolderKinds.Prepared => $"prepared transaction '{h.Gid}' (owner {h.User ?? "-"})",
        XminHolderKinds.Slot => $"replication slot {h.Slot} ({h.State ?? "?"})",
        XminHolderKinds.Replica => $"replica {h.Application ?? "?"} through hot_standby_feedback (walsender pid {Text(h.Pid)})",
        _ => $"pid {Text(h.Pid)} (user {h.User ?? "-"}, application '{h.Application ?? ""}', {h.State ?? "no state"}"
            + (h.StateAgeSeconds is { } st ? $" for {LockPileupDetector.Seconds(st)} s)" : ")"),
    };

    private static string Age(XminHolder h)
    {
        var parts = new List<string>();
        if (h.AgeSeconds is { } seconds)
        {
            parts.Add($"open {LockPileupDetector.Seconds(seconds)} s");
        }

        if (h.XminAge is { } xids)
        {
            parts.Add($"xmin {xids.ToString(CultureInfo.InvariantCulture)} transactions old");
        }

        return parts.Count == 0 ? "" : " (" + string.Join(", ", parts) + ")";
    }

    private static string Text(int? pid) => pid?.ToString(CultureInfo.InvariantCulture) ?? "?";

    private static Dictionary<string, string> Facts(XminHolder h, string member)
    {
        var facts = new Dictionary<string, string>(StringComparer.Ordinal) { ["member"] = member, ["kind"] = h.Kind };
        void Add(string name, string? value)
        {
            if (value is not null)
            {
                facts[name] = value;
            }
        }

        Add("pid", h.Pid?.ToString(CultureInfo.InvariantCulture));
        Add("backend_start", h.BackendStart);
        Add("user", h.User);
        Add("application", h.Application);
        Add("state", h.State);
        Add("gid", h.Gid);
        Add("slot", h.Slot);
        Add("query", h.Query);
        Add("age_seconds", h.AgeSeconds is { } a ? LockPileupDetector.Seconds(a) : null);
        Add("state_age_seconds", h.StateAgeSeconds is { } st ? LockPileupDetector.Seconds(st) : null);
        Add("xmin_age", h.XminAge?.ToString(CultureInfo.InvariantCulture));
        return facts;
    }
}
