using System.Globalization;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Sensing.Snapshot.SnapshotFacts;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// <c>deposed-primary</c>: etcd (read by the agent itself) gives the leader key to one member, and another member
/// accepts writes, or its Patroni still calls itself the leader, or it was the leader when last seen answering and now
/// times out (frozen: it can thaw and, with Patroni 3.0.2's stale cache, write the key back and demote the new leader,
/// whose acknowledged writes are then lost). Each such member is a hazard to fence at once: one snapshot is enough
/// while another member holds the key (two while nobody does). Nothing is said when etcd was not read (the views'
/// vote is not enough to fence on) or while Patroni is paused (maintenance: the operator owns leadership).
/// </summary>
public sealed class DeposedPrimaryDetector : IDetector
{
    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCodes.DeposedPrimary,
        Order = 120,
        Severity = FindingSeverity.Critical,
        Summary = "A member that does not hold the leader key (etcd, read by the agent) accepts writes, claims the leader role, or is a frozen ex-leader; one snapshot (two while nobody holds the key).",
        Explanation = "A member that no longer held the leader key in etcd could still take writes or take the key back "
            + "(a frozen or partitioned ex-leader): writes it acknowledges are lost, and if it retakes the key, the new leader's are.",
        ConsecutiveSnapshots = 1,
        MinimumSeconds = 0,
        RootCauseRank = 30,
        PersistenceSettable = false,
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var s = input.Current;
        if (s.Patroni is not { LeaderFromDcs: true, Paused: false } patroni)
        {
            yield break;
        }

        var holder = patroni.Leader;
        var deposedByAStaleLeader = StaleLeaderDetector.Observe(input)?.Newer;
        foreach (var member in s.Members.Select(m => m.Name).Where(n => !string.Equals(n, holder, StringComparison.Ordinal) && !string.Equals(n, deposedByAStaleLeader, StringComparison.Ordinal)))
        {
            var run = Persistence.Held(input, x => Symptom(input, x, member), holder is null ? 2 : 1, 0);
            if (run is null)
            {
                continue;
            }

            yield return Persistence.ToFinding(input, run, Code, Described.Severity, [member],
                $"{member} {run[^1].Evidence[0].Observation.Split(": ", 2)[^1]}; etcd gives the leader key to {holder ?? "nobody"}: fence {member} before it serves a write or takes the key back");
        }
    }

    private static IReadOnlyList<FindingEvidence>? Symptom(DetectionInput input, ClusterSnapshot s, string member)
    {
        if (s.Patroni is not { LeaderFromDcs: true, Paused: false } patroni || string.Equals(patroni.Leader, member, StringComparison.Ordinal))
        {
            return null;
        }

        var m = s.FindMember(member);
        var holder = patroni.Leader ?? "nobody";
        if (Writable(m))
        {
            return [new FindingEvidence(s.TakenAt, "postgres", member, string.Create(CultureInfo.InvariantCulture,
                $"{member}: accepts writes (not in recovery, timeline {m!.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"}, WAL {m.WalLsn ?? "?"}) without the leader key (etcd: {holder})"))];
        }

        var view = patroni.Members.FirstOrDefault(v => string.Equals(v.Member, member, StringComparison.Ordinal));
        if (view?.Node is { Role: PatroniRole.Leader } node)
        {
            return [new FindingEvidence(s.TakenAt, "patroni", member, $"{member}: its Patroni reports role {node.RawRole} without the leader key (etcd: {holder}): a stale leader")];
        }

        var frozen = (RestTimedOut(s, member), SqlTimedOut(s, member)) switch
        {
            (true, true) => "its Patroni API and PostgreSQL time out",
            (true, false) => "its Patroni API times out",
            (false, true) => "its PostgreSQL times out",
            _ => null,
        };
        if (frozen is null || patroni.Leader is null || !WasLeaderWhenLastSeen(input, s, member))
        {
            return null;
        }

        return [new FindingEvidence(s.TakenAt, "patroni", member, $"{member}: was the leader when last seen answering and is frozen ({frozen}): it can thaw and retake the key (etcd: {holder})")];
    }

    /// <summary>
    /// The member led the cluster the last time it answered: in the newest earlier snapshot where its Patroni or its
    /// PostgreSQL answered, it held the key or accepted writes; with no such snapshot, it is the last leader the
    /// sensing saw taking writes. A frozen replica is not a hazard (its Patroni's cache says replica).
    /// </summary>
    private static bool WasLeaderWhenLastSeen(DetectionInput input, ClusterSnapshot current, string member)
    {
        foreach (var h in input.NewestFirst().SkipWhile(x => !ReferenceEquals(x, current)).Skip(1))
        {
            var m = h.FindMember(member);
            if (m is null || (!m.Reachable && m.PostgresReachable != true))
            {
                continue;
            }

            return string.Equals(KeyHolder(h), member, StringComparison.Ordinal) || Writable(m);
        }

        return string.Equals(current.LastWritable?.Member, member, StringComparison.Ordinal);
    }
}

/// <summary>
/// <c>stale-leader</c>: etcd gives the leader key to a member on an older timeline than a member that held the key
/// after it (in the history) and is still on that newer timeline. This is Patroni 3.0.2 writing the key back from a
/// thawed ex-leader's stale cache: the newer leader demotes and pg_rewind discards its timeline with every write it
/// acknowledged. The hazard is the key holder, not the member that lost the key: fencing the holder releases the key
/// before the newer leader is rewound, and Patroni elects the member with the most WAL again. Fires on one snapshot
/// (the newer leader's Patroni demotes it within a loop). deposed-primary stays silent about the newer leader then.
/// </summary>
public sealed class StaleLeaderDetector : IDetector
{
    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCodes.StaleLeader,
        Order = 140,
        Severity = FindingSeverity.Critical,
        Summary = "The leader key holder took the key back on an older timeline than a member that held the key after it (Patroni's stale cache): the newer leader is about to be rewound onto it.",
        Explanation = "A member took the leader key back after another member had been promoted on a newer timeline (a thawed "
            + "ex-leader's Patroni writing the key from its stale cache): unless it is fenced at once, the newer leader is rewound onto the old "
            + "timeline and every write it acknowledged is discarded.",
        ConsecutiveSnapshots = 1,
        MinimumSeconds = 0,
        RootCauseRank = 20,
        PersistenceSettable = false,
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (Observe(input) is not { } o)
        {
            yield break;
        }

        var s = input.Current;
        yield return new Finding
        {
            Code = Code,
            Severity = Described.Severity,
            Cluster = s.Cluster,
            Members = [o.Holder, o.Newer],
            Subject = "member",
            Summary = string.Create(CultureInfo.InvariantCulture,
                $"{o.Holder} took the leader key back on timeline {o.HolderTimeline} while {o.Newer} is on timeline {o.NewerTimeline}: fence {o.Holder} before {o.Newer} is rewound onto the old timeline and its acknowledged writes are discarded"),
            Evidence =
            [
                new FindingEvidence(s.TakenAt, "etcd", o.Holder, string.Create(CultureInfo.InvariantCulture, $"etcd gives the leader key to {o.Holder} (timeline {o.HolderTimeline})")),
                new FindingEvidence(o.LostAt, "etcd", o.Holder, string.Create(CultureInfo.InvariantCulture, $"at {o.LostAt:HH:mm:ss.f} etcd gave the key to {o.LostTo}: {o.Holder} has taken it again since")),
                new FindingEvidence(s.TakenAt, "postgres", o.Newer, string.Create(CultureInfo.InvariantCulture, $"{o.Newer} is on timeline {o.NewerTimeline}, newer than {o.Holder}'s {o.HolderTimeline}")),
            ],
            FirstSeen = s.TakenAt,
            LastSeen = s.TakenAt,
        };
    }

    /// <summary>
    /// The holder's state the last time it said its timeline and role (now, or before it froze: a holder being fenced
    /// or frozen again answers nothing). A holder whose newest answer was "in recovery" is being promoted, not stale.
    /// </summary>
    private static MemberState? LastAnswered(DetectionInput input, string holder) =>
        input.NewestFirst().Select(x => x.FindMember(holder)).FirstOrDefault(m => m is { Timeline: not null, InRecovery: not null });

    /// <summary>The stale holder and the newer leader it deposed, or null.</summary>
    internal static (string Holder, long HolderTimeline, string Newer, long NewerTimeline, DateTimeOffset LostAt, string LostTo)? Observe(DetectionInput input)
    {
        var s = input.Current;
        if (s.Patroni is not { LeaderFromDcs: true, Paused: false, Leader: { } holder }
            || LastAnswered(input, holder) is not { InRecovery: false, Timeline: { } held }
            || SnapshotFacts.NewerTimelineThan(s, holder, held) is not { } newer)
        {
            return null;
        }

        // The holder took the key again: since it last held it, etcd showed another holder or none (a member that
        // has held the key all along, with a replica promoted outside Patroni on a newer timeline, is not stale:
        // deposed-primary names that replica). The newer member's own tenure may fall between two snapshots.
        foreach (var h in input.History.Reverse())
        {
            if (h.Patroni is { LeaderFromDcs: true } p && !string.Equals(p.Leader, holder, StringComparison.Ordinal))
            {
                return (holder, held, newer.Member, newer.Timeline, h.TakenAt, p.Leader ?? "nobody");
            }
        }

        return null;
    }
}

/// <summary>
/// <c>timeline-rollback</c>: the writable leader is on a lower timeline than one an earlier snapshot saw a writable
/// leader on: a leader took the key back and the newer timeline was discarded (pg_rewind), with every write its
/// leader acknowledged after the fork. The evidence names the discarded timeline, its leader, the last WAL position
/// seen on it and where it began (Patroni /history), so the post-mortem can state at least that much WAL as lost.
/// pg_rewind's "servers diverged at WAL location" log lines are added when the logs carry them.
/// </summary>
public sealed class TimelineRollbackDetector : IDetector
{
    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCodes.TimelineRollback,
        Order = 130,
        Severity = FindingSeverity.Critical,
        Summary = "The writable leader is on a lower timeline than one seen before: a newer timeline and its writes were discarded.",
        Explanation = "A leader took the key back after another member had been promoted: the newer timeline was discarded "
            + "(pg_rewind), and with it every write its leader acknowledged after the fork.",
        ConsecutiveSnapshots = 1,
        MinimumSeconds = 0,
        RootCauseRank = 10,
        PersistenceSettable = false,
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var s = input.Current;
        var leader = s.Leader is null ? null : s.FindMember(s.Leader);
        if (!Writable(leader) || (leader!.Timeline ?? s.Timeline) is not { } now)
        {
            yield break;
        }

        var lost = Discarded(input, now);
        if (lost is null)
        {
            yield break;
        }

        var (timeline, member, lsn, at, start) = lost.Value;
        var atLeast = Sensing.Lsn.Parse(lsn) is { } end && start is { } begin ? Math.Max(0, end - begin) : (long?)null;
        var evidence = new List<FindingEvidence>
        {
            new(at, "postgres", member, string.Create(CultureInfo.InvariantCulture,
                $"{member} led timeline {timeline} and took writes up to WAL {lsn} (last seen {at:HH:mm:ss.f})")),
            new(s.TakenAt, "postgres", s.Leader, string.Create(CultureInfo.InvariantCulture, $"{s.Leader} now takes writes on timeline {now}: timeline {timeline} was discarded")
                + (start is { } b ? string.Create(CultureInfo.InvariantCulture, $"; timeline {timeline} began at {Sensing.Lsn.Format(b)}, so at least {atLeast} bytes of its WAL are lost") : "; where it began is unknown")),
        };
        foreach (var e in Logs(s, null, s.TakenAt.AddMinutes(-5)).Where(e => e.Message.Contains("servers diverged at", StringComparison.OrdinalIgnoreCase)).TakeLast(2))
        {
            evidence.Add(new FindingEvidence(e.Time, "logs", e.Member, Short(e.Message)));
        }

        yield return new Finding
        {
            Code = Code,
            Severity = Described.Severity,
            Cluster = s.Cluster,
            Members = [member],
            Subject = "cluster",
            Summary = string.Create(CultureInfo.InvariantCulture, $"timeline went back from {timeline} to {now}: writes {member} acknowledged on timeline {timeline} (WAL up to {lsn}) were discarded")
                + (atLeast is { } n ? string.Create(CultureInfo.InvariantCulture, $", at least {n} bytes of WAL") : ""),
            Evidence = evidence,
            FirstSeen = s.TakenAt,
            LastSeen = s.TakenAt,
        };
    }

    /// <summary>The highest timeline above <paramref name="now"/> that an earlier snapshot saw a writable leader on: its leader, last LSN and start.</summary>
    internal static (long Timeline, string Member, string Lsn, DateTimeOffset At, long? Start)? Discarded(DetectionInput input, long now)
    {
        (long Timeline, string Member, string Lsn, DateTimeOffset At, long? Start)? best = null;
        foreach (var h in input.History)
        {
            var l = h.Leader is null ? null : h.FindMember(h.Leader);
            if (!Writable(l) || (l!.Timeline ?? h.Timeline) is not { } tl || tl <= now || l.WalLsn is null)
            {
                continue;
            }

            if (best is null || tl > best.Value.Timeline || (tl == best.Value.Timeline && h.TakenAt >= best.Value.At))
            {
                var start = h.Patroni?.History.FirstOrDefault(e => e.Timeline + 1 == tl)?.SwitchPosition ?? (best?.Timeline == tl ? best?.Start : null);
                best = (tl, l.Name, l.WalLsn, h.TakenAt, start);
            }
        }

        return best;
    }
}
