using System.Globalization;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Sensing.Snapshot.SnapshotFacts;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// <c>leader-not-renewing</c>: the key holder takes writes, its Patroni has missed at least two renewals of the
/// leader key's etcd lease, and no replica receives what it writes. Seen in the lab when the leader's postmaster
/// children froze (its walsenders and Patroni's own session with them): new sessions still commit, Patroni's REST API
/// still answers from its own thread, but its loop hangs on its PostgreSQL session, so the key expires and a replica
/// is promoted without any of the writes acknowledged since. Left alone, that ex-leader can also thaw after the
/// promotion and write the key back from its cache. Its REST API and SQL answer, so <c>primary-frozen</c> does not fire.
/// </summary>
public sealed class LeaderNotRenewingDetector : IDetector
{
    /// <summary>The finding code.</summary>
    public const string FindingCode = "leader-not-renewing";

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCode,
        Order = 150,
        Severity = FindingSeverity.Critical,
        Summary = "The leader takes writes no replica receives while its Patroni no longer renews the leader key (etcd lease running out).",
        Explanation = "The primary's Patroni stopped renewing the leader key while PostgreSQL kept acknowledging writes that never reached "
            + "a replica (its WAL senders were stuck): when the key expired a replica was promoted without them.",
        ConsecutiveSnapshots = 2,
        MinimumSeconds = 1,
        RootCauseRank = 52,

        // The leader whose Patroni stopped renewing is deposed once a replica is promoted: the stuck renewal is why.
        Explains = [FindingCodes.DeposedPrimary, FindingCodes.StaleLeader],
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var holder = KeyHolder(input.Current);
        if (holder is null)
        {
            yield break;
        }

        var run = Persistence.Held(input, s => Symptom(s, holder), input.Settings.PersistenceOf(Code));
        if (run is null)
        {
            yield break;
        }

        // Writes no replica receives: the holder's WAL moved over the run while no other member received any of it.
        var first = run[0].Snapshot;
        var last = input.Current;
        var walThen = Lsn.Parse(first.FindMember(holder)?.WalLsn);
        var walNow = Lsn.Parse(last.FindMember(holder)?.WalLsn);
        if (walThen is not { } from || walNow is not { } to || to <= from)
        {
            yield break;
        }

        var replicas = last.Members.Where(m => m.Name != holder).ToList();
        if (replicas.Count == 0 || replicas.Any(m => Received(last, m.Name) is { } now && (Received(first, m.Name) is not { } then || now > then)))
        {
            yield break;
        }

        var dcs = last.Patroni!.Dcs!;
        var received = replicas.Select(m => Received(last, m.Name)).OfType<long>().DefaultIfEmpty().Max();
        var lease = string.Create(CultureInfo.InvariantCulture, $"etcd lease: {dcs.LeaseRemainingSeconds} of {dcs.LeaseGrantedSeconds} s left");
        yield return Persistence.ToFinding(input, run, Code, Described.Severity, [holder],
            $"leader {holder} no longer renews the leader key ({lease}) while it acknowledges writes no replica receives "
            + $"(its WAL {Lsn.Format(from)} -> {Lsn.Format(to)}, replicas stuck at or before {Lsn.Format(received)}): every write until the key expires is lost at the failover");
    }

    private static long? Received(ClusterSnapshot s, string member) =>
        s.FindMember(member) is { } m ? Lsn.Parse(m.ReceiveLsn) ?? Lsn.Parse(m.ReplayLsn) : null;

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, string holder)
    {
        if (!string.Equals(KeyHolder(s), holder, StringComparison.Ordinal) || s.Patroni?.Dcs is not { RenewalOverdue: true } dcs
            || s.FindMember(holder) is not { } leader || !Writable(leader))
        {
            return null;
        }

        return
        [
            new FindingEvidence(s.TakenAt, "dcs", holder, string.Create(CultureInfo.InvariantCulture,
                $"etcd lease of {dcs.Key}: {dcs.LeaseRemainingSeconds} of {dcs.LeaseGrantedSeconds} s left (renewed every loop_wait while {holder}'s Patroni runs its loop)")),
            new FindingEvidence(s.TakenAt, "postgres", holder, $"{holder} takes writes (not in recovery), WAL at {leader.WalLsn ?? "?"}"),
        ];
    }
}
