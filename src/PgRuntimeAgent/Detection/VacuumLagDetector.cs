using System.Globalization;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Sensing.Snapshot.SnapshotFacts;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// <c>vacuum-lag</c>: vacuum is not keeping up on the leader. Either a table carries at least <c>min_dead_rows</c> dead
/// tuples that are at least <c>dead_ratio</c> of its rows and has not been vacuumed for <c>min_vacuum_age_seconds</c>
/// (or never) — subject <c>schema.table</c> — or every autovacuum worker is busy (autovacuum_max_workers reached), so
/// tables queue for vacuum — subject <c>autovacuum</c>. Both must hold over the persistence window (minutes by default:
/// a bulk delete that autovacuum is about to handle is not a finding). Dead tuples that vacuum cannot remove because a
/// transaction holds the xmin horizon are <c>long-transaction</c>'s root cause, not this one's.
/// </summary>
public sealed class VacuumLagDetector : IDetector
{
    /// <summary>The finding code.</summary>
    public const string FindingCode = "vacuum-lag";

    private const string Workers = "autovacuum";

    private static readonly ParameterSpec MinDeadRows = new("min_dead_rows", ParameterType.Integer,
        "Dead tuples a table must carry before its vacuum lag counts.") { Default = "100000", Minimum = 1, Unit = "rows" };

    private static readonly ParameterSpec DeadRatio = new("dead_ratio", ParameterType.Number,
        "Dead tuples as a share of the table's rows (live + dead) from which it counts.") { Default = "0.2", Minimum = 0, Maximum = 1, Unit = "ratio" };

    private static readonly ParameterSpec MinVacuumAge = new("min_vacuum_age_seconds", ParameterType.Number,
        "Time since the table's last vacuum or autovacuum from which it counts (never vacuumed counts).") { Default = "3600", Minimum = 0, Unit = "seconds" };

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCode,
        Order = 230,
        Severity = FindingSeverity.Warning,
        Summary = "Vacuum is not keeping up: a table's dead tuples pile up without a recent vacuum, or every autovacuum worker is busy.",
        Explanation = "Autovacuum did not keep up with the write rate: dead tuples piled up (bloat, slower scans) or every worker was busy while tables waited.",
        ConsecutiveSnapshots = 3,
        MinimumSeconds = 120,
        RootCauseRank = 125,
        Thresholds = [MinDeadRows, DeadRatio, MinVacuumAge],
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

        var limits = new Limits(
            input.Settings.Threshold(Code, MinDeadRows.Name) ?? 100000,
            input.Settings.Threshold(Code, DeadRatio.Name) ?? 0.2,
            input.Settings.Threshold(Code, MinVacuumAge.Name) ?? 3600);
        var held = input.Settings.PersistenceOf(Code);
        foreach (var row in ProbeRows(input.Current, leader, "table_stats") ?? [])
        {
            var database = row.GetValueOrDefault("datname");
            if (row.GetValueOrDefault("schemaname") is not { } schema || row.GetValueOrDefault("relname") is not { } table
                || TableSymptom(input.Current, leader, database, schema, table, limits) is null)
            {
                continue;
            }

            var run = Persistence.Held(input, s => TableSymptom(s, leader, database, schema, table, limits), held);
            if (run is null)
            {
                continue;
            }

            var dead = Number(row, "n_dead_tup") ?? 0;
            var ratio = dead / Math.Max(1, dead + (Number(row, "n_live_tup") ?? 0));
            var finding = Persistence.ToFinding(input, run, Code, Described.Severity, [leader],
                string.Create(CultureInfo.InvariantCulture,
                    $"{InDatabase(database)}{schema}.{table} carries {dead:N0} dead tuples ({ratio:P0} of its rows) and {Age(Number(row, "vacuum_age_seconds"))}: vacuum is not keeping up"),
                subject: $"{InDatabase(database)}{schema}.{table}");
            var facts = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["schema"] = schema,
                ["table"] = table,
                ["dead_tuples"] = dead.ToString("0", CultureInfo.InvariantCulture),
                ["dead_ratio"] = ratio.ToString("0.###", CultureInfo.InvariantCulture),
            };
            if (database is not null)
            {
                facts["database"] = database;
            }

            yield return finding with { Facts = facts };
        }

        var busy = Persistence.Held(input, s => WorkersSymptom(s, leader), held);

        if (busy is not null && ProbeRows(input.Current, leader, "autovacuum")?.FirstOrDefault() is { } av)
        {
            var longest = av.GetValueOrDefault("longest_table") is { } t ? $" (the longest-running vacuum: {t})" : "";
            var finding = Persistence.ToFinding(input, busy, Code, Described.Severity, [leader],
                string.Create(CultureInfo.InvariantCulture,
                    $"every autovacuum worker on {leader} is busy ({Number(av, "workers"):0} of autovacuum_max_workers {Number(av, "max_workers"):0}); tables wait for vacuum{longest}"),
                subject: Workers);
            yield return finding with
            {
                Facts = new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    ["workers"] = (Number(av, "workers") ?? 0).ToString("0", CultureInfo.InvariantCulture),
                    ["max_workers"] = (Number(av, "max_workers") ?? 0).ToString("0", CultureInfo.InvariantCulture),
                },
            };
        }
    }

    private sealed record Limits(double MinDead, double Ratio, double MinAgeSeconds);

    private static string Age(double? seconds) => seconds is { } s
        ? string.Create(CultureInfo.InvariantCulture, $"was last vacuumed {s / 60:0} min ago")
        : "was never vacuumed";

    /// <summary>"db:" before a table of a named database (rows of per-database probes carry datname), else nothing.</summary>
    private static string InDatabase(string? database) => database is null ? "" : database + ":";

    private static IReadOnlyList<FindingEvidence>? TableSymptom(ClusterSnapshot s, string leader, string? database, string schema, string table, Limits limits)
    {
        var row = string.Equals(s.Leader, leader, StringComparison.Ordinal)
            ? ProbeRows(s, leader, "table_stats")?.FirstOrDefault(r =>
                r.GetValueOrDefault("datname") == database && r.GetValueOrDefault("schemaname") == schema && r.GetValueOrDefault("relname") == table)
            : null;
        if (row is null || Number(row, "n_dead_tup") is not { } dead || dead < limits.MinDead)
        {
            return null;
        }

        var live = Number(row, "n_live_tup") ?? 0;
        var ratio = dead / Math.Max(1, dead + live);
        var age = Number(row, "vacuum_age_seconds");
        if (ratio < limits.Ratio || age is { } a && a < limits.MinAgeSeconds)
        {
            return null;
        }

        return [new FindingEvidence(s.TakenAt, "postgres", leader, string.Create(CultureInfo.InvariantCulture,
            $"pg_stat_user_tables {InDatabase(database)}{schema}.{table}: n_dead_tup {dead:N0}, n_live_tup {live:N0} ({ratio:P0} dead); it {Age(age)}"))];
    }

    private static IReadOnlyList<FindingEvidence>? WorkersSymptom(ClusterSnapshot s, string leader)
    {
        var row = string.Equals(s.Leader, leader, StringComparison.Ordinal) ? ProbeRows(s, leader, "autovacuum")?.FirstOrDefault() : null;
        if (Number(row, "workers") is not { } workers || Number(row, "max_workers") is not { } max || max <= 0 || workers < max)
        {
            return null;
        }

        var oldest = Number(row, "longest_seconds") is { } longest ? string.Create(CultureInfo.InvariantCulture, $"; the oldest has run {longest / 60:0.#} min") : "";
        return [new FindingEvidence(s.TakenAt, "postgres", leader, string.Create(CultureInfo.InvariantCulture,
            $"pg_stat_activity: {workers:0} autovacuum workers running, autovacuum_max_workers {max:0}{oldest}"))];
    }
}
