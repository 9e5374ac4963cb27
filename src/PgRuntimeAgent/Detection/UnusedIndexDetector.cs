using System.Globalization;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Sensing.Snapshot.SnapshotFacts;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// <c>unused-index</c> (info): an index no member has scanned since its statistics began. Judged on every member the
/// snapshot knows, replicas included (a replica may serve the reads that use it): each must report the index with
/// <c>idx_scan = 0</c> over a statistics window of at least <c>min_stats_age_seconds</c>; a member that did not answer,
/// or whose window is shorter (a stats reset, a restart), proves nothing and there is no finding. Unique, primary-key
/// and constraint indexes are never candidates (the probe leaves them out), nor indexes under <c>min_size_bytes</c>.
/// One finding per index (subject <c>db:schema.index</c>); facts: database, schema, index, table, size_bytes. Nothing
/// drops it on its own: the <c>index-hygiene</c> skill's report proposes the drop for an operator to approve.
/// </summary>
public sealed class UnusedIndexDetector : IDetector
{
    /// <summary>The finding code.</summary>
    public const string FindingCode = "unused-index";

    private const string Probe = "indexes_unused";

    private static readonly ParameterSpec MinSize = new("min_size_bytes", ParameterType.Integer,
        "Indexes smaller than this are not reported.") { Default = "10485760", Minimum = 0, Unit = "bytes" };

    private static readonly ParameterSpec MinStatsAge = new("min_stats_age_seconds", ParameterType.Number,
        "How long every member's index statistics must cover (since the last stats reset or restart) before zero scans count.") { Default = "604800", Minimum = 0, Unit = "seconds" };

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCode,
        Order = 250,
        Severity = FindingSeverity.Info,
        Summary = "An index no member (leader or replica) has scanned over a statistics window of at least a week.",
        Explanation = "An index nothing reads, on any member, still costs every write and its disk and cache share; it can be dropped after an operator looked.",
        ConsecutiveSnapshots = 3,
        MinimumSeconds = 60,
        RootCauseRank = 170,
        Thresholds = [MinSize, MinStatsAge],
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var leader = input.Current.Leader;
        if (leader is null || ProbeRows(input.Current, leader, Probe) is not { } rows)
        {
            yield break;
        }

        var minSize = input.Settings.Threshold(Code, MinSize.Name) ?? 10485760;
        var minAge = input.Settings.Threshold(Code, MinStatsAge.Name) ?? 604800;
        var held = input.Settings.PersistenceOf(Code);
        foreach (var row in rows.Where(r => Number(r, "size_bytes") is { } size && size >= minSize))
        {
            if (row.GetValueOrDefault("schemaname") is not { } schema || row.GetValueOrDefault("indexrelname") is not { } index)
            {
                continue;
            }

            var database = row.GetValueOrDefault("datname");
            var run = Persistence.Held(input, s => Symptom(s, database, schema, index, minAge), held);
            if (run is null)
            {
                continue;
            }

            var table = row.GetValueOrDefault("relname");
            var size = (long)(Number(row, "size_bytes") ?? 0);
            var members = input.Current.Members.Select(m => m.Name).ToList();
            var where = IndexRows.InDatabase(database);
            var days = members.Select(m => StatsAge(input.Current, m, database, schema, index) ?? 0).Min() / 86400;
            var finding = Persistence.ToFinding(input, run, Code, Described.Severity, members,
                string.Create(CultureInfo.InvariantCulture,
                    $"index {where}{schema}.{index}{(table is null ? "" : $" on {schema}.{table}")} ({Bytes(size)}) was not scanned on any of {members.Count} member(s) for at least {days:0.#} days: a candidate to drop after review"),
                subject: $"{where}{schema}.{index}");
            var facts = IndexRows.Facts(schema, index, table, database);
            facts["size_bytes"] = size.ToString(CultureInfo.InvariantCulture);
            yield return finding with { Facts = facts };
        }
    }

    private static IReadOnlyDictionary<string, string?>? Row(ClusterSnapshot s, string member, string? database, string schema, string index) =>
        IndexRows.Find(s, member, Probe, database, schema, index);

    private static double? StatsAge(ClusterSnapshot s, string member, string? database, string schema, string index) =>
        Number(Row(s, member, database, schema, index), "stats_age_seconds");

    /// <summary>One observation per member when every member reports the index unscanned over a long enough window; else null.</summary>
    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, string? database, string schema, string index, double minAge)
    {
        if (s.Members.Count == 0)
        {
            return null;
        }

        var evidence = new List<FindingEvidence>();
        foreach (var member in s.Members.Select(m => m.Name))
        {
            var row = Row(s, member, database, schema, index);
            if (row is null || Number(row, "idx_scan") is not 0 || Number(row, "stats_age_seconds") is not { } age || age < minAge)
            {
                return null;
            }

            evidence.Add(new FindingEvidence(s.TakenAt, "postgres", member, string.Create(CultureInfo.InvariantCulture,
                $"pg_stat_user_indexes on {member}: {IndexRows.InDatabase(database)}{schema}.{index} idx_scan 0 over {age / 86400:0.#} days of statistics")));
        }

        return evidence;
    }
}
