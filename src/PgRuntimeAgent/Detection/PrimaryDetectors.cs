using System.Globalization;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Sensing.Snapshot.SnapshotFacts;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// <c>leader-missing</c>: Patroni answers but no member holds the leader key (the cluster is unlocked), or the key
/// holder is gone altogether (its REST API and PostgreSQL both refuse connections: the key expires within ttl).
/// The finding's member is the last known leader (the old primary).
/// </summary>
public sealed class LeaderMissingDetector : IDetector
{
    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCodes.LeaderMissing,
        Order = 10,
        Severity = FindingSeverity.Critical,
        Summary = "No member holds the leader key (the cluster is unlocked), or the key holder's Patroni API and PostgreSQL both refuse connections (its key expires within ttl).",
        Explanation = "The cluster had no leader: the leader's node or Patroni went away and its key expired (or was about to), "
            + "which is the case Patroni handles by itself.",
        ConsecutiveSnapshots = 2,
        MinimumSeconds = 1,
        RootCauseRank = 80,
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var run = Persistence.Held(input, Symptom, input.Settings.PersistenceOf(Code));
        if (run is null)
        {
            yield break;
        }

        var old = input.LastKnownLeader() ?? input.Current.Inventory.DeclaredPrimary;
        var current = KeyHolder(input.Current);
        var summary = current is null
            ? $"no member of {input.Current.Cluster} holds the leader key{(old is null ? "" : $" (last leader: {old})")}: writes are down until Patroni elects one"
            : $"leader {current} is gone (its Patroni API and PostgreSQL refuse connections); its key expires within ttl {input.Current.Inventory.TtlSeconds} s";
        yield return Persistence.ToFinding(input, run, Code, Described.Severity, old is null ? [] : [old], summary);
    }

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s)
    {
        if (!PatroniSees(s))
        {
            return null;
        }

        var holder = KeyHolder(s);
        if (holder is null)
        {
            var views = s.Patroni!.LeaderByView.Count == 0 ? "no view names a leader"
                : string.Join(", ", s.Patroni.LeaderByView.Select(kv => $"{kv.Key} sees {(kv.Value.Length == 0 ? "no leader" : kv.Value)}"));
            return [new FindingEvidence(s.TakenAt, "patroni", null, $"no leader key: {views}")];
        }

        if (RestRefused(s, holder) && SqlRefused(s, holder) && !Writable(s.FindMember(holder)))
        {
            return
            [
                new FindingEvidence(s.TakenAt, "patroni", holder, $"{holder} holds the key but its REST API does not answer: {RestError(s, holder)}"),
                new FindingEvidence(s.TakenAt, "postgres", holder, $"{holder}: no SQL session: {SqlError(s, holder)}"),
            ];
        }

        return null;
    }
}

/// <summary>
/// <c>primary-down-holding-lock</c>: the leader key holder's Patroni answers, but its PostgreSQL is not running, refuses
/// sessions, or is stuck read-only (in recovery) while the key is held: Patroni keeps retrying and does not fail over.
/// </summary>
public sealed class PrimaryDownHoldingLockDetector : IDetector
{
    /// <summary>
    /// A member seen taking the leader key from another (or from none) is promoting, not down, for this long. On a
    /// loaded host a promotion took over 3 s in CI, the agent fenced the new leader as "down" and lost what it had
    /// acknowledged meanwhile. Older key: <c>detection.promotion_grace_seconds</c>.
    /// </summary>
    private static readonly ParameterSpec PromotionGrace = new("promotion_grace_seconds", ParameterType.Number,
        "A member seen taking the leader key is promoting, not down, for this long.") { Default = "10", Minimum = 0, Unit = "seconds" };

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCodes.PrimaryDownHoldingLock,
        Order = 20,
        Severity = FindingSeverity.Critical,
        Summary = "The leader key holder's PostgreSQL is down, refuses sessions or is read-only while its Patroni keeps the key and retries (no failover).",
        Explanation = "The primary's PostgreSQL was down or read-only while its Patroni kept the leader key and retried, "
            + "so no replica was promoted.",
        ConsecutiveSnapshots = 2,
        MinimumSeconds = 2,
        RootCauseRank = 70,
        Thresholds = [PromotionGrace],
    };

    private static readonly HashSet<string> Up = new(StringComparer.Ordinal) { "running", "streaming" };

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
        if (run is null || Promoting(input, holder))
        {
            yield break;
        }

        var seconds = (input.Current.TakenAt - run[0].Snapshot.TakenAt).TotalSeconds;
        yield return Persistence.ToFinding(input, run, Code, Described.Severity, [holder],
            string.Create(CultureInfo.InvariantCulture,
                $"{holder} holds the leader key but its PostgreSQL cannot take writes ({run.Count} snapshots over {seconds:0.#} s); Patroni keeps the key while it retries"));
    }

    /// <summary>
    /// The holder took the key within <see cref="PromotionGrace"/> and has not been writable
    /// since: Patroni is promoting it. "Within" is measured from the last snapshot that showed another holder (or
    /// none), the earliest it can have taken the key; a holder whose taking of the key the history does not show is
    /// judged as before.
    /// </summary>
    private static bool Promoting(DetectionInput input, string holder)
    {
        foreach (var s in input.NewestFirst())
        {
            if (!string.Equals(KeyHolder(s), holder, StringComparison.Ordinal))
            {
                return (input.Current.TakenAt - s.TakenAt).TotalSeconds < input.Settings.Threshold(FindingCodes.PrimaryDownHoldingLock, PromotionGrace);
            }

            if (Writable(s.FindMember(holder)))
            {
                return false;
            }
        }

        return false;
    }

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, string holder)
    {
        if (!string.Equals(KeyHolder(s), holder, StringComparison.Ordinal))
        {
            return null;
        }

        var m = s.FindMember(holder);
        var view = s.Patroni?.Members.FirstOrDefault(v => v.Member == holder);
        if (m is null || view is not { Reachable: true } || Writable(m))
        {
            return null;
        }

        var evidence = new List<FindingEvidence>();
        if (m.PatroniState is { } state && !Up.Contains(state))
        {
            evidence.Add(new FindingEvidence(s.TakenAt, "patroni", holder, $"{holder} holds the key, Patroni state '{state}'"));
        }

        if (m.PostgresRunning == false && evidence.Count == 0)
        {
            evidence.Add(new FindingEvidence(s.TakenAt, "patroni", holder, $"{holder} holds the key, PostgreSQL not running"));
        }

        if (SqlRefused(s, holder))
        {
            evidence.Add(new FindingEvidence(s.TakenAt, "postgres", holder, $"{holder}: no SQL session: {SqlError(s, holder)}"));
        }
        else if (m.InRecovery == true)
        {
            evidence.Add(new FindingEvidence(s.TakenAt, "postgres", holder, $"{holder} holds the key but PostgreSQL is in recovery (read-only)"));
        }

        return evidence.Count == 0 ? null : evidence;
    }
}

/// <summary>
/// <c>primary-frozen</c>: the leader key holder does not answer in time: its SQL connections time out (a frozen
/// postmaster: Patroni still says "running" and keeps the key) and/or its Patroni API times out (a hung node or a
/// frozen Patroni whose key will expire while PostgreSQL may still take writes). Needs several consecutive snapshots
/// and a minimum duration, so one slow probe never fires it.
/// </summary>
public sealed class PrimaryFrozenDetector : IDetector
{
    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCodes.PrimaryFrozen,
        Order = 30,
        Severity = FindingSeverity.Critical,
        Summary = "The leader is frozen: its REST API and/or SQL time out while the leader key is still held (or its Patroni is gone while PostgreSQL takes writes).",
        Explanation = "The primary stopped answering (a frozen postmaster or node): connections time out, while Patroni either still "
            + "reports it running and keeps the key (no failover) or lets the key expire with PostgreSQL possibly still taking writes.",
        ConsecutiveSnapshots = 3,
        MinimumSeconds = 4,
        RootCauseRank = 50,

        // The frozen leader whose key expired is left deposed (or, thawed, writes the key from a stale cache): the freeze is why.
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

        var last = input.Current;
        var what = (RestTimedOut(last, holder), SqlTimedOut(last, holder)) switch
        {
            (true, true) => "its Patroni API and PostgreSQL both time out",
            (true, false) => "its Patroni API times out",
            (false, true) => "PostgreSQL connections time out while Patroni still reports it running",
            _ => "its Patroni is gone while PostgreSQL takes writes",
        };
        var seconds = (last.TakenAt - run[0].Snapshot.TakenAt).TotalSeconds;
        yield return Persistence.ToFinding(input, run, Code, Described.Severity, [holder],
            string.Create(CultureInfo.InvariantCulture, $"leader {holder} is frozen: {what} ({run.Count} snapshots over {seconds:0.#} s)"));
    }

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, string holder)
    {
        if (!string.Equals(KeyHolder(s), holder, StringComparison.Ordinal))
        {
            return null;
        }

        var evidence = new List<FindingEvidence>();
        if (RestTimedOut(s, holder))
        {
            evidence.Add(new FindingEvidence(s.TakenAt, "patroni", holder, $"{holder} REST API: {RestError(s, holder)}"));
        }

        if (SqlTimedOut(s, holder))
        {
            evidence.Add(new FindingEvidence(s.TakenAt, "postgres", holder, $"{holder} SQL: {SqlError(s, holder)}"));
        }

        // Patroni gone (its API refuses connections) under a PostgreSQL that still takes writes: nobody renews the key,
        // and when it expires a replica is promoted while this one keeps acknowledging writes (split brain).
        if (evidence.Count == 0 && RestRefused(s, holder) && Writable(s.FindMember(holder)))
        {
            evidence.Add(new FindingEvidence(s.TakenAt, "patroni", holder,
                $"{holder} REST API refuses connections ({RestError(s, holder)}) while its PostgreSQL takes writes: nobody renews the leader key"));
        }

        return evidence.Count == 0 ? null : evidence;
    }
}

/// <summary>
/// <c>primary-disk-full</c>: the leader logs ENOSPC ("No space left on device", SQLSTATE 53100) and cannot take writes,
/// or the filesystem holding its own data or WAL directory is at the free-ratio limit (metrics <c>fs_free_ratio</c>,
/// mapped by the member's paths; else the host sensor's df of those paths). Another member's full disk on a shared
/// machine never counts. Patroni never releases the key in this state.
/// </summary>
public sealed class PrimaryDiskFullDetector : IDetector
{
    /// <summary>How recent an ENOSPC log line of the leader must be to count. Older key: <c>detection.disk_full_log_window_seconds</c>.</summary>
    private static readonly ParameterSpec LogWindow = new("log_window_seconds", ParameterType.Number,
        "How recent an ENOSPC log line of the leader must be to count (seconds before the snapshot).") { Default = "120", Minimum = 0, Unit = "seconds" };

    /// <summary>The leader's lowest filesystem free ratio at or below this counts as full. Older key: <c>detection.disk_full_free_ratio</c>.</summary>
    private static readonly ParameterSpec FreeRatio = new("free_ratio", ParameterType.Number,
        "The leader's lowest filesystem free ratio (metrics fs_free_ratio, else df) at or below this counts as full.") { Default = "0.01", Minimum = 0, Maximum = 1, Unit = "ratio" };

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCodes.PrimaryDiskFull,
        Order = 40,
        Severity = FindingSeverity.Critical,
        Summary = "The leader's data or WAL filesystem is full (ENOSPC in the logs, filesystem free space at the limit) and it cannot take writes.",
        Explanation = "The primary ran out of space for WAL: PostgreSQL PANICs on ENOSPC, Patroni restarts it read-only and retries "
            + "the promotion forever while it keeps the leader key, so Patroni alone never fails over.",
        ConsecutiveSnapshots = 2,
        MinimumSeconds = 0,
        RootCauseRank = 40,
        Thresholds = [LogWindow, FreeRatio],
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var leader = KeyHolder(input.Current) ?? input.LastKnownLeader();
        if (leader is null)
        {
            yield break;
        }

        var settings = input.Settings;
        var run = Persistence.Held(input, s => Symptom(s, leader, settings), settings.PersistenceOf(Code));
        if (run is null)
        {
            yield break;
        }

        yield return Persistence.ToFinding(input, run, Code, Described.Severity, [leader],
            $"leader {leader} is out of disk space (No space left on device) and cannot take writes");
    }

    public static bool IsEnospc(LogEntry e) =>
        string.Equals(e.SqlState, "53100", StringComparison.Ordinal) || e.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase);

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, string leader, DetectionSettings settings)
    {
        var evidence = new List<FindingEvidence>();
        var m = s.FindMember(leader);
        var (free, where) = OwnFreeRatio(s, leader);
        var lowDisk = free is { } f && !double.IsNaN(f) && f <= settings.Threshold(FindingCodes.PrimaryDiskFull, FreeRatio);
        var enospc = Logs(s, leader, s.TakenAt.AddSeconds(-settings.Threshold(FindingCodes.PrimaryDiskFull, LogWindow))).Where(IsEnospc).ToList();
        if (enospc.Count == 0 && !lowDisk)
        {
            return null;
        }

        if (Writable(m) && !lowDisk)
        {
            return null; // ENOSPC in the window, but writes are back: the space was freed
        }

        foreach (var e in enospc.TakeLast(2))
        {
            evidence.Add(new FindingEvidence(e.Time, "logs", leader, $"{e.Severity.ToString().ToUpperInvariant()}: {Short(e.Message)}"));
        }

        if (lowDisk)
        {
            evidence.Add(new FindingEvidence(s.TakenAt, where.Source, leader, string.Create(CultureInfo.InvariantCulture, $"free ratio {free:0.####} of {where.What}")));
        }

        if (!Writable(m))
        {
            evidence.Add(new FindingEvidence(s.TakenAt, "postgres", leader,
                m?.InRecovery == true ? $"{leader} is read-only (in recovery)" : $"{leader}: no SQL session: {SqlError(s, leader)}"));
        }

        return evidence;
    }

    /// <summary>
    /// The free ratio of the member's own filesystems: metrics' <c>fs_free_ratio</c> (chosen by its data and WAL paths;
    /// <see cref="Sensing.Metrics.MetricReading.Basis"/> says which mount), else the lowest of the host sensor's df of
    /// those paths. Null when neither measured it.
    /// </summary>
    private static (double? Ratio, (string Source, string What) Where) OwnFreeRatio(ClusterSnapshot s, string member)
    {
        var reading = s.Metrics?.Find("fs_free_ratio");
        if (reading?.NumberFor(member) is { } ratio)
        {
            return (ratio, ("metrics", reading.Basis.TryGetValue(member, out var basis) ? basis : $"the lowest of {member}'s node filesystems (no mount recorded)"));
        }

        var fs = s.Hosts.FirstOrDefault(h => string.Equals(h.Member, member, StringComparison.Ordinal))?.Filesystems
            .Where(f => f.SizeBytes > 0).MinBy(f => f.FreeRatio);
        return fs is null ? (null, ("host", "")) : (fs.FreeRatio, ("host", $"mount {fs.Mount} holding {fs.Path}"));
    }
}

/// <summary>
/// <c>split-brain</c>: more than one member accepts writes (not in recovery), or more than one member claims the
/// leader role. The first member named is one that does NOT hold the leader key (the one to fence).
/// </summary>
public sealed class SplitBrainDetector : IDetector
{
    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCodes.SplitBrain,
        Order = 50,
        Severity = FindingSeverity.Critical,
        Summary = "More than one member claims to be primary (accepts writes or claims the leader role).",
        Explanation = "More than one member accepted writes at the same time: acknowledged writes on the member that loses are lost.",
        ConsecutiveSnapshots = 2,
        MinimumSeconds = 0,
        RootCauseRank = 60,
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var run = Persistence.Held(input, Symptom, input.Settings.PersistenceOf(Code));
        if (run is null)
        {
            yield break;
        }

        var holder = KeyHolder(input.Current);
        var claimants = Claimants(input.Current).OrderBy(n => string.Equals(n, holder, StringComparison.Ordinal) ? 1 : 0).ThenBy(n => n, StringComparer.Ordinal).ToList();
        yield return Persistence.ToFinding(input, run, Code, Described.Severity, claimants,
            $"{claimants.Count} members claim to be primary: {string.Join(", ", claimants)} (leader key: {holder ?? "none"})", subject: "cluster");
    }

    private static List<string> Claimants(ClusterSnapshot s)
    {
        var names = WritableMembers(s).Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var v in s.Patroni?.Members ?? [])
        {
            if (v.Node is { Role: Sensing.Patroni.PatroniRole.Leader })
            {
                names.Add(v.Member);
            }
        }

        return names.ToList();
    }

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s)
    {
        var claimants = Claimants(s);
        if (claimants.Count < 2)
        {
            return null;
        }

        var evidence = new List<FindingEvidence>();
        foreach (var name in claimants.Order(StringComparer.Ordinal))
        {
            var m = s.FindMember(name);
            var role = s.Patroni?.Members.FirstOrDefault(v => v.Member == name)?.Node?.RawRole;
            evidence.Add(new FindingEvidence(s.TakenAt, Writable(m) ? "postgres" : "patroni", name,
                $"{name}: {(Writable(m) ? "accepts writes (not in recovery)" : "not writable")}, Patroni role {role ?? "unknown"}, timeline {m?.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"}"));
        }

        return evidence;
    }
}
