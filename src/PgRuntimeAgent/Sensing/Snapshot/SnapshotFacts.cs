using System.Globalization;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Logs;

namespace PgRuntimeAgent.Sensing.Snapshot;

/// <summary>Facts read off one snapshot, shared by the detectors, the guardrails and the post-mortem. Pure.</summary>
public static class SnapshotFacts
{
    /// <summary>Patroni answered with a cluster view on at least one member (so "no leader" is an observation, not blindness).</summary>
    public static bool PatroniSees(ClusterSnapshot s) => s.Patroni is { } p && p.Members.Any(v => v.Cluster is not null);

    /// <summary>The holder of the Patroni leader key as the views agree, or null.</summary>
    public static string? KeyHolder(ClusterSnapshot s) => s.Patroni?.Leader;

    /// <summary>The member accepts writes: a SQL session opened and it is not in recovery.</summary>
    public static bool Writable(MemberState? m) => m is { InRecovery: false, PostgresReachable: true };

    /// <summary>The leader key holder accepts writes.</summary>
    public static bool LeaderWritable(ClusterSnapshot s) =>
        s.Leader is { } leader && Writable(s.FindMember(leader));

    /// <summary>Members that accept writes.</summary>
    public static IReadOnlyList<MemberState> WritableMembers(ClusterSnapshot s) => s.Members.Where(Writable).ToList();

    public static string? Reason(ClusterSnapshot s, string sensor, string member) =>
        s.SensorDetails.FirstOrDefault(d => d.Sensor == sensor && string.Equals(d.Target, member, StringComparison.Ordinal))?.Reason;

    public static SensorHealth? HealthOf(ClusterSnapshot s, string sensor, string member) =>
        s.SensorDetails.FirstOrDefault(d => d.Sensor == sensor && string.Equals(d.Target, member, StringComparison.Ordinal))?.Health;

    public static bool TimedOut(string? reason) => reason is not null && reason.Contains("timed out", StringComparison.OrdinalIgnoreCase);

    /// <summary>The member's Patroni REST API did not answer and at least one call timed out.</summary>
    public static bool RestTimedOut(ClusterSnapshot s, string member)
    {
        var view = s.Patroni?.Members.FirstOrDefault(v => v.Member == member);
        var reason = Reason(s, SensorNames.Patroni, member) ?? (view is null ? null : string.Join("; ", view.Errors));
        return view is { Reachable: false } && TimedOut(reason);
    }

    /// <summary>The member's Patroni REST API did not answer, for another reason than a timeout (refused, reset).</summary>
    public static bool RestRefused(ClusterSnapshot s, string member)
    {
        var view = s.Patroni?.Members.FirstOrDefault(v => v.Member == member);
        var reason = Reason(s, SensorNames.Patroni, member) ?? (view is null ? null : string.Join("; ", view.Errors));
        return view is { Reachable: false } && !TimedOut(reason);
    }

    /// <summary>No SQL session could be opened on the member because connecting timed out.</summary>
    public static bool SqlTimedOut(ClusterSnapshot s, string member)
    {
        var pg = s.Postgres.FirstOrDefault(p => p.Member == member);
        if (pg is null || pg.Reachable)
        {
            return false;
        }

        return TimedOut(pg.Error ?? Reason(s, SensorNames.Postgres, member));
    }

    /// <summary>No SQL session could be opened on the member, for another reason than a timeout (refused, starting up).</summary>
    public static bool SqlRefused(ClusterSnapshot s, string member)
    {
        var pg = s.Postgres.FirstOrDefault(p => p.Member == member);
        return pg is { Reachable: false } && !TimedOut(pg.Error ?? Reason(s, SensorNames.Postgres, member));
    }

    /// <summary>The Postgres sensor's error (or health reason) for the member, shortened.</summary>
    public static string SqlError(ClusterSnapshot s, string member)
    {
        var pg = s.Postgres.FirstOrDefault(p => p.Member == member);
        return Short(pg?.Error ?? Reason(s, SensorNames.Postgres, member) ?? "no SQL session");
    }

    public static string RestError(ClusterSnapshot s, string member)
    {
        var view = s.Patroni?.Members.FirstOrDefault(v => v.Member == member);
        return Short(Reason(s, SensorNames.Patroni, member) ?? (view is null ? "no Patroni view" : string.Join("; ", view.Errors)));
    }

    /// <summary>Log entries of the member at or after <paramref name="since"/>, oldest first.</summary>
    public static IEnumerable<LogEntry> Logs(ClusterSnapshot s, string? member, DateTimeOffset since) =>
        (s.Logs?.Entries ?? []).Where(e => (member is null || string.Equals(e.Member, member, StringComparison.Ordinal)) && e.Time >= since)
            .OrderBy(e => e.Time);

    /// <summary>
    /// etcd (read by the agent) gives the key to a member that runs as a primary (out of recovery: not one being
    /// promoted) on a known timeline lower than another member's that still answers: that member, its timeline and the
    /// holder's. Timelines only grow with promotions, so the holder is on a leadership older than the other member's.
    /// </summary>
    public static (string Member, long Timeline, long HolderTimeline)? NewerTimelineThanHolder(ClusterSnapshot s)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (s.Patroni is not { LeaderFromDcs: true, Leader: { } holder } || s.FindMember(holder) is not { InRecovery: false, Timeline: { } held })
        {
            return null;
        }

        return NewerTimelineThan(s, holder, held);
    }

    /// <summary>The member other than <paramref name="holder"/> that answers on the highest timeline above <paramref name="held"/>, or null.</summary>
    public static (string Member, long Timeline, long HolderTimeline)? NewerTimelineThan(ClusterSnapshot s, string holder, long held)
    {
        ArgumentNullException.ThrowIfNull(s);
        var newer = s.Members
            .Where(m => !string.Equals(m.Name, holder, StringComparison.Ordinal) && m.Timeline > held && (m.Reachable || m.PostgresReachable == true))
            .MaxBy(m => m.Timeline);
        return newer is null ? null : (newer.Name, newer.Timeline!.Value, held);
    }

    /// <summary>
    /// Why <paramref name="holder"/> serves but is failing all the same, or null: it holds the key, its Patroni has missed
    /// two renewals of the key's etcd lease, and no other member has received its latest WAL (every write it
    /// acknowledges until the key expires is lost at the failover).
    /// </summary>
    public static string? NotRenewingUnreplicated(ClusterSnapshot s, string holder)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (!string.Equals(KeyHolder(s), holder, StringComparison.Ordinal) || s.Patroni?.Dcs is not { RenewalOverdue: true } dcs
            || Lsn.Parse(s.FindMember(holder)?.WalLsn) is not { } wal)
        {
            return null;
        }

        var others = s.Members.Where(m => m.Name != holder).ToList();
        var received = others.Select(m => Lsn.Parse(m.ReceiveLsn) ?? Lsn.Parse(m.ReplayLsn)).ToList();
        return others.Count > 0 && received.All(r => r is null || r < wal)
            ? string.Create(CultureInfo.InvariantCulture,
                $"{holder} holds the key but its Patroni no longer renews it (etcd lease: {dcs.LeaseRemainingSeconds} of {dcs.LeaseGrantedSeconds} s left) and no replica has its WAL up to {Lsn.Format(wal)}")
            : null;
    }

    /// <summary>The rows of one probe on one member, or null when the probe did not run or failed there.</summary>
    public static IReadOnlyList<IReadOnlyDictionary<string, string?>>? ProbeRows(ClusterSnapshot s, string member, string probe)
    {
        ArgumentNullException.ThrowIfNull(s);
        return s.Postgres.FirstOrDefault(p => string.Equals(p.Member, member, StringComparison.Ordinal))?.Probe(probe) is { Status: "ok" } result
            ? result.Rows
            : null;
    }

    /// <summary>A probe row's value as a number (invariant culture), or null.</summary>
    public static double? Number(IReadOnlyDictionary<string, string?>? row, string column) =>
        row?.GetValueOrDefault(column) is { } text && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;

    /// <summary>A setting of the member as the <c>settings</c> probe read it (pg_settings.setting, in its base unit), or null.</summary>
    public static double? Setting(ClusterSnapshot s, string member, string name) =>
        ProbeRows(s, member, "settings")?.FirstOrDefault(r => string.Equals(r.GetValueOrDefault("name"), name, StringComparison.Ordinal)) is { } row
            ? Number(row, "setting")
            : null;

    public static string Short(string text, int max = 240)
    {
        ArgumentNullException.ThrowIfNull(text);
        var line = text.ReplaceLineEndings(" ");
        return line.Length <= max ? line : line[..max] + "...";
    }

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.##} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.##} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };
}
