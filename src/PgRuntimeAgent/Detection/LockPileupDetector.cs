using System.Globalization;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// <c>lock-pileup</c>: on one member, at least <c>min_waiters</c> sessions have queued longer than <c>wait_seconds</c>
/// behind one head blocker (a session that blocks others and waits on nobody). Typical: a client left a transaction
/// idle after an UPDATE, or a migration's ALTER TABLE queues behind a long query and every later query queues behind it.
/// Judged on every member (a hot standby's queries can queue behind replay's locks too). Warning; critical from
/// <c>critical_waiters</c> sessions (a pool is being drained). Facts name the head blocker so a skill can end exactly
/// that session (<c>pid</c> with <c>backend_start</c>).
/// </summary>
public sealed class LockPileupDetector : IDetector
{
    /// <summary>The finding code.</summary>
    public const string FindingCode = "lock-pileup";

    private static readonly ParameterSpec MinWaiters = new("min_waiters", ParameterType.Integer,
        "Sessions queued (directly or transitively) behind one head blocker for it to count as a pile-up.") { Default = "3", Minimum = 1, Unit = "sessions" };

    private static readonly ParameterSpec WaitSeconds = new("wait_seconds", ParameterType.Number,
        "The longest wait behind the head blocker must exceed this (a lock wait of a moment is normal).") { Default = "5", Minimum = 0, Unit = "seconds" };

    private static readonly ParameterSpec CriticalWaiters = new("critical_waiters", ParameterType.Integer,
        "From this many queued sessions the finding is critical (a connection pool is being drained).") { Default = "20", Minimum = 1, Unit = "sessions" };

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCode,
        Order = 160,
        Severity = FindingSeverity.Warning,
        Summary = "Sessions queue behind one head blocker (a session that holds a lock and waits on nobody, often idle in transaction).",
        Explanation = "One session held a lock (often idle in transaction after a write) and the sessions that needed the same rows or "
            + "table queued behind it, tying up connections until it ended.",
        ConsecutiveSnapshots = 2,
        MinimumSeconds = 5,
        RootCauseRank = 102,
        Thresholds = [MinWaiters, WaitSeconds, CriticalWaiters],
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var minWaiters = (int)input.Settings.Threshold(Code, MinWaiters);
        var wait = input.Settings.Threshold(Code, WaitSeconds);
        var critical = (int)input.Settings.Threshold(Code, CriticalWaiters);
        foreach (var pg in input.Current.Postgres.Where(p => p.Reachable))
        {
            var run = Persistence.Held(input, s => Symptom(s, pg.Member, minWaiters, wait), input.Settings.PersistenceOf(Code));
            if (run is null || Worst(input.Current, pg.Member, minWaiters, wait) is not { } head)
            {
                continue;
            }

            var finding = Persistence.ToFinding(input, run, Code, head.Waiters >= critical ? FindingSeverity.Critical : Described.Severity, [pg.Member],
                $"{head.Waiters} session(s) on {pg.Member} queue behind {Describe(head)}; the longest has waited {Seconds(head.LongestWaitSeconds)} s");
            yield return finding with { Facts = Facts(head, pg.Member) };
        }
    }

    /// <summary>The head blocker with the most sessions queued behind it past the thresholds, or null.</summary>
    internal static LockHead? Worst(ClusterSnapshot s, string member, int minWaiters, double wait) =>
        s.Postgres.FirstOrDefault(p => p.Member == member && p.Reachable)?.LockHeads
            .Where(h => h.Waiters >= minWaiters && h.LongestWaitSeconds > wait)
            .OrderByDescending(h => h.Waiters).ThenByDescending(h => h.LongestWaitSeconds)
            .FirstOrDefault();

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, string member, int minWaiters, double wait) =>
        Worst(s, member, minWaiters, wait) is { } head
            ? [new FindingEvidence(s.TakenAt, "postgres", member, string.Create(CultureInfo.InvariantCulture,
                $"{head.Waiters} waiting ({head.DirectWaiters} directly, longest {Seconds(head.LongestWaitSeconds)} s) behind {Describe(head)}; query: {head.Query ?? "-"}"))]
            : null;

    /// <summary>The head blocker in words: pid, user, application, state and for how long.</summary>
    internal static string Describe(LockHead head)
    {
        if (head.Pid == 0)
        {
            return "a prepared transaction (pid 0 in pg_blocking_pids: see pg_prepared_xacts)";
        }

        var state = head.State ?? "no state";
        var since = head.StateAgeSeconds is { } st ? $" for {Seconds(st)} s" : "";
        var xact = head.TransactionAgeSeconds is { } x ? $", transaction open {Seconds(x)} s" : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"pid {head.Pid} (user {head.User ?? "-"}, application '{head.Application ?? ""}', {state}{since}{xact})");
    }

    private static Dictionary<string, string> Facts(LockHead head, string member)
    {
        var facts = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["member"] = member,
            ["pid"] = head.Pid.ToString(CultureInfo.InvariantCulture),
            ["waiters"] = head.Waiters.ToString(CultureInfo.InvariantCulture),
            ["direct_waiters"] = head.DirectWaiters.ToString(CultureInfo.InvariantCulture),
            ["longest_wait_seconds"] = Seconds(head.LongestWaitSeconds),
            ["prepared"] = head.Pid == 0 ? "true" : "false",
        };
        Add(facts, "backend_start", head.BackendStart);
        Add(facts, "user", head.User);
        Add(facts, "application", head.Application);
        Add(facts, "state", head.State);
        Add(facts, "backend_type", head.BackendType);
        Add(facts, "query", head.Query);
        if (head.TransactionAgeSeconds is { } x)
        {
            facts["xact_age_seconds"] = Seconds(x);
        }

        if (head.StateAgeSeconds is { } st)
        {
            facts["state_age_seconds"] = Seconds(st);
        }

        return facts;
    }

    private static void Add(Dictionary<string, string> facts, string name, string? value)
    {
        if (value is not null)
        {
            facts[name] = value;
        }
    }

    internal static string Seconds(double? seconds) => seconds is { } s ? Math.Round(s).ToString("0", CultureInfo.InvariantCulture) : "?";
}
