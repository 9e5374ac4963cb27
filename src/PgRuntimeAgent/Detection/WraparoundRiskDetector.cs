using System.Globalization;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Sensing.Snapshot.SnapshotFacts;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// <c>wraparound-risk</c>: a database's oldest unfrozen transaction ID (age(datfrozenxid)) or multixact ID
/// (mxid_age(datminmxid)) has used a large share of the 2^31 IDs PostgreSQL can tell apart. At about 2^31 minus three
/// million it refuses new transactions until the database is vacuumed in single-user mode: an outage of hours on a large
/// database. Read on the leader (the counters are the cluster's, replicas show the same). Warning from threshold
/// <c>warning_ratio</c> of 2^31, critical from <c>critical_ratio</c>; the evidence sets the age against
/// autovacuum_freeze_max_age, past which anti-wraparound autovacuum should already be working on it.
/// </summary>
public sealed class WraparoundRiskDetector : IDetector
{
    /// <summary>The finding code.</summary>
    public const string FindingCode = "wraparound-risk";

    /// <summary>IDs PostgreSQL can tell apart before wraparound.</summary>
    public const double WrapLimit = 2147483648d;

    private static readonly ParameterSpec WarningRatio = new("warning_ratio", ParameterType.Number,
        "Share of the 2^31 transaction (or multixact) IDs a database's oldest unfrozen ID may use before a warning.")
    { Default = "0.5", Minimum = 0.01, Maximum = 1, Unit = "ratio" };

    private static readonly ParameterSpec CriticalRatio = new("critical_ratio", ParameterType.Number,
        "Share of the 2^31 IDs from which the finding is critical (PostgreSQL stops taking writes near 1.0).")
    { Default = "0.75", Minimum = 0.01, Maximum = 1, Unit = "ratio" };

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCode,
        Order = 220,
        Severity = FindingSeverity.Warning,
        Summary = "A database's oldest unfrozen transaction or multixact ID nears wraparound (age against 2^31 and autovacuum_freeze_max_age).",
        Explanation = "Vacuum did not freeze old rows fast enough: the database's transaction ID age climbed towards 2^31, where PostgreSQL "
            + "stops taking writes to protect the data.",
        ConsecutiveSnapshots = 2,
        MinimumSeconds = 0,
        RootCauseRank = 115,
        Thresholds = [WarningRatio, CriticalRatio],
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var leader = input.Current.Leader;
        if (leader is null)
        {
            yield break;
        }

        var warning = input.Settings.Threshold(Code, WarningRatio.Name) ?? 0.5;
        var critical = input.Settings.Threshold(Code, CriticalRatio.Name) ?? 0.75;
        var worst = Worst(input.Current, leader);
        if (worst is null)
        {
            yield break;
        }

        var run = Persistence.Held(input, s => Symptom(s, leader, worst.Value.Database, worst.Value.Kind, warning), input.Settings.PersistenceOf(Code));
        if (run is null)
        {
            yield break;
        }

        var (database, kind, age) = worst.Value;
        var ratio = age / WrapLimit;
        var finding = Persistence.ToFinding(input, run, Code, ratio >= critical ? FindingSeverity.Critical : Described.Severity, [leader],
            string.Create(CultureInfo.InvariantCulture,
                $"database {database}: {KindName(kind)} age {age:N0} is {ratio:P0} of the 2^31 limit (PostgreSQL stops writes near 100%); vacuum (freeze) it"),
            subject: database);
        yield return finding with
        {
            Facts = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["database"] = database,
                ["kind"] = kind,
                ["age"] = age.ToString("0", CultureInfo.InvariantCulture),
                ["ratio"] = ratio.ToString("0.###", CultureInfo.InvariantCulture),
            },
        };
    }

    private static string KindName(string kind) => kind == "xid" ? "transaction ID" : "multixact ID";

    /// <summary>The database and ID kind with the highest age on <paramref name="member"/>.</summary>
    private static (string Database, string Kind, double Age)? Worst(ClusterSnapshot s, string member)
    {
        var rows = ProbeRows(s, member, "xid_age");
        if (rows is null)
        {
            return null;
        }

        (string, string, double)? worst = null;
        foreach (var row in rows)
        {
            if (row.GetValueOrDefault("datname") is not { } db)
            {
                continue;
            }

            foreach (var (kind, column) in new[] { ("xid", "xid_age"), ("multixact", "mxid_age") })
            {
                if (Number(row, column) is { } age && (worst is null || age > worst.Value.Item3))
                {
                    worst = (db, kind, age);
                }
            }
        }

        return worst;
    }

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, string leader, string database, string kind, double warning)
    {
        if (!string.Equals(s.Leader, leader, StringComparison.Ordinal)
            || ProbeRows(s, leader, "xid_age")?.FirstOrDefault(r => r.GetValueOrDefault("datname") == database) is not { } row
            || Number(row, kind == "xid" ? "xid_age" : "mxid_age") is not { } age || age < warning * WrapLimit)
        {
            return null;
        }

        var freezeMax = Setting(s, leader, kind == "xid" ? "autovacuum_freeze_max_age" : "autovacuum_multixact_freeze_max_age");
        var against = freezeMax is { } f && f > 0
            ? string.Create(CultureInfo.InvariantCulture, $", {age / f:0.#}x {(kind == "xid" ? "autovacuum_freeze_max_age" : "autovacuum_multixact_freeze_max_age")} ({f:N0}): anti-wraparound autovacuum is not keeping up")
            : "";
        return
        [
            new FindingEvidence(s.TakenAt, "postgres", leader, string.Create(CultureInfo.InvariantCulture,
                $"pg_database {database}: {KindName(kind)} age {age:N0} = {age / WrapLimit:P1} of 2^31{against}")),
        ];
    }
}
