using System.Globalization;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Acting.Patroni;

/// <summary>What the rules say about one member as a new leader.</summary>
/// <param name="LagBytes">The lag the rules use (see <see cref="CandidateRules.EffectiveLag"/>); null when unknown.</param>
/// <param name="Problems">Why it is not eligible; empty when it is.</param>
/// <param name="Notes">Facts that do not disqualify it (a tag that matters only for an automatic choice...).</param>
internal sealed record CandidateEvaluation(string Member, bool Eligible, long? LagBytes, IReadOnlyList<string> Problems, IReadOnlyList<string> Notes)
{
    public string Describe() => Eligible
        ? $"{Member}: eligible, lag {CandidateRules.Bytes(LagBytes)}{(Notes.Count > 0 ? " (" + string.Join("; ", Notes) + ")" : "")}"
        : $"{Member}: not eligible: {string.Join("; ", Problems)}";
}

/// <summary>How strict the rules are.</summary>
internal enum CandidatePurpose
{
    /// <summary>pgra picks the member for a switchover: every rule, tags included.</summary>
    AutomaticSwitchover,

    /// <summary>An operator named the member for a switchover: the leader must be streaming to it; tags other than nofailover are notes.</summary>
    NamedSwitchover,

    /// <summary>A failover to a named member: the leader may be gone, so streaming is not required.</summary>
    Failover,
}

/// <summary>
/// The rules a new leader must pass, as pure functions of a snapshot: it is not the leader, its Patroni answers and
/// calls its PostgreSQL running, the leader streams to it, it is on the leader's timeline, it is not tagged
/// <c>nofailover</c> (nor <c>noloadbalance</c> when pgra chooses), and its lag is known and within
/// <c>maximum_lag_on_failover</c>. Among eligible members the smallest lag wins, then the inventory order.
/// </summary>
internal static class CandidateRules
{
    /// <summary>Patroni's maximum_lag_on_failover as the cluster runs it (/config), else the inventory's pg_rpo, else 1 MiB.</summary>
    public static long LagLimit(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return snapshot.Patroni?.Config?.MaximumLagOnFailoverBytes is > 0 and var fromPatroni ? fromPatroni
            : snapshot.Inventory.MaximumLagOnFailoverBytes > 0 ? snapshot.Inventory.MaximumLagOnFailoverBytes
            : 1_048_576;
    }

    /// <summary>The lag a candidate must stay within: <see cref="SnapshotFusion.FailoverLag"/> (0 for the leader, null when unknown).</summary>
    public static long? EffectiveLag(ClusterSnapshot snapshot, MemberState member) => SnapshotFusion.FailoverLag(snapshot, member);

    /// <summary>Patroni tags of a member (nofailover, noloadbalance, ...), from the cluster views, else its own /patroni.</summary>
    public static IReadOnlyDictionary<string, string> Tags(ClusterSnapshot snapshot, string member)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var views = snapshot.Patroni?.Members ?? [];
        foreach (var view in views.OrderByDescending(v => string.Equals(v.Member, snapshot.Leader, StringComparison.Ordinal)))
        {
            var entry = view.Cluster?.Members.FirstOrDefault(m => string.Equals(m.Name, member, StringComparison.Ordinal));
            if (entry is not null)
            {
                return entry.Tags;
            }
        }

        return views.FirstOrDefault(v => string.Equals(v.Member, member, StringComparison.Ordinal))?.Node?.Tags
            ?? new Dictionary<string, string>(StringComparer.Ordinal);
    }

    public static bool Tagged(IReadOnlyDictionary<string, string> tags, string tag) =>
        tags.TryGetValue(tag, out var value) && value is "true" or "True" or "TRUE" or "yes" or "on" or "1";

    /// <summary>Every member except the leader, evaluated for <paramref name="purpose"/>.</summary>
    public static IReadOnlyList<CandidateEvaluation> EvaluateAll(ClusterSnapshot snapshot, CandidatePurpose purpose)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return snapshot.Members
            .Where(m => !string.Equals(m.Name, snapshot.Leader, StringComparison.Ordinal))
            .Select(m => Evaluate(snapshot, m.Name, purpose))
            .ToList();
    }

    /// <summary>One member, evaluated for <paramref name="purpose"/>.</summary>
    public static CandidateEvaluation Evaluate(ClusterSnapshot snapshot, string name, CandidatePurpose purpose)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var problems = new List<string>();
        var notes = new List<string>();
        var member = snapshot.FindMember(name);
        if (member is null)
        {
            return new CandidateEvaluation(name, false, null, [$"{name} is not a member of {snapshot.Cluster}"], []);
        }

        var leader = snapshot.Leader is null ? null : snapshot.FindMember(snapshot.Leader);
        if (string.Equals(name, snapshot.Leader, StringComparison.Ordinal))
        {
            problems.Add("it is the leader");
        }

        if (member.DeclaredRole is null)
        {
            problems.Add("the inventory does not describe it");
        }

        if (!member.Reachable)
        {
            problems.Add("its Patroni API does not answer");
        }
        else if (member.PatroniState is not ("running" or "streaming"))
        {
            problems.Add($"Patroni state is {member.PatroniState ?? "unknown"}");
        }

        if (member.PostgresRunning != true)
        {
            problems.Add("PostgreSQL is not running");
        }

        if (purpose != CandidatePurpose.Failover && leader is not null && member.Streaming != true)
        {
            problems.Add($"{leader.Name} is not streaming WAL to it");
        }

        if (leader?.Timeline is { } tl && member.Timeline is { } mt && mt != tl)
        {
            problems.Add($"it is on timeline {mt}, the leader on {tl}");
        }

        var tags = Tags(snapshot, name);
        if (member.NoFailover || Tagged(tags, "nofailover"))
        {
            problems.Add("tagged nofailover");
        }

        if (Tagged(tags, "noloadbalance"))
        {
            if (purpose == CandidatePurpose.AutomaticSwitchover)
            {
                problems.Add("tagged noloadbalance");
            }
            else
            {
                notes.Add("tagged noloadbalance");
            }
        }

        var limit = LagLimit(snapshot);
        var lag = EffectiveLag(snapshot, member);
        if (!problems.Contains("it is the leader"))
        {
            if (lag is null)
            {
                problems.Add("its lag is unknown");
            }
            else if (lag > limit)
            {
                problems.Add($"it lags {Bytes(lag)}, past maximum_lag_on_failover {Bytes(limit)}");
            }
        }

        return new CandidateEvaluation(name, problems.Count == 0, lag, problems, notes);
    }

    /// <summary>The member pgra picks for a switchover: eligible, smallest lag, then inventory order. Null when none is.</summary>
    public static CandidateEvaluation? Choose(ClusterSnapshot snapshot, IReadOnlyList<CandidateEvaluation> evaluations)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(evaluations);
        var order = snapshot.Inventory.Members.Select((m, i) => (m.Name, i)).ToDictionary(x => x.Name, x => x.i, StringComparer.Ordinal);
        return evaluations
            .Where(e => e.Eligible)
            .OrderBy(e => e.LagBytes ?? long.MaxValue)
            .ThenBy(e => order.GetValueOrDefault(e.Member, int.MaxValue))
            .ThenBy(e => e.Member, StringComparer.Ordinal)
            .FirstOrDefault();
    }

    public static string Bytes(long? value) => value is null ? "unknown" : value.Value.ToString(CultureInfo.InvariantCulture) + " bytes";

    /// <summary>The Patroni role of <paramref name="member"/> in <paramref name="snapshot"/> in words, for messages.</summary>
    public static string RoleOf(ClusterSnapshot snapshot, string member)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var m = snapshot.FindMember(member);
        return m is null ? "absent" : m.PatroniRole == PatroniRole.Unknown ? (m.Reachable ? "unknown role" : "unreachable") : $"{m.PatroniRawRole ?? m.PatroniRole.ToString().ToLowerInvariant()}/{m.PatroniState ?? "?"}";
    }
}
