using System.Globalization;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Sensing.Snapshot.SnapshotFacts;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// <c>duplicate-index</c> (info): a b-tree index on the leader whose keys repeat another valid index of the same table
/// (<c>duplicate</c>) or are a leading prefix of one (<c>prefix</c>: the wider index serves the same lookups), with the
/// same operator classes, collations and order, and neither partial nor on expressions. Unique, primary-key and
/// constraint indexes are never the one reported; of two identical indexes only the newer is. Indexes under
/// <c>min_size_bytes</c> are not reported. One finding per index (subject <c>db:schema.index</c>); facts: database,
/// schema, index, table, covered_by, kind, size_bytes. Nothing drops it on its own: the <c>index-hygiene</c> skill's
/// report proposes the drop for an operator to approve.
/// </summary>
public sealed class DuplicateIndexDetector : IDetector
{
    /// <summary>The finding code.</summary>
    public const string FindingCode = "duplicate-index";

    private const string Probe = "indexes_duplicate";

    private static readonly ParameterSpec MinSize = new("min_size_bytes", ParameterType.Integer,
        "Duplicate indexes smaller than this are not reported.") { Default = "1048576", Minimum = 0, Unit = "bytes" };

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCode,
        Order = 260,
        Severity = FindingSeverity.Info,
        Summary = "An index repeats another index of the same table, or is a leading prefix of one.",
        Explanation = "Two indexes served the same lookups: the redundant one costs every write, disk and cache for nothing.",
        ConsecutiveSnapshots = 3,
        MinimumSeconds = 60,
        RootCauseRank = 175,
        Thresholds = [MinSize],
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

        var minSize = input.Settings.Threshold(Code, MinSize.Name) ?? 1048576;
        var held = input.Settings.PersistenceOf(Code);
        foreach (var row in rows.Where(r => Number(r, "size_bytes") is { } size && size >= minSize))
        {
            if (row.GetValueOrDefault("schemaname") is not { } schema || row.GetValueOrDefault("indexrelname") is not { } index
                || row.GetValueOrDefault("covered_by") is not { } cover)
            {
                continue;
            }

            var database = row.GetValueOrDefault("datname");
            var run = Persistence.Held(input, s => Symptom(s, leader, database, schema, index), held);
            if (run is null)
            {
                continue;
            }

            var table = row.GetValueOrDefault("relname");
            var kind = row.GetValueOrDefault("kind") ?? "duplicate";
            var size = (long)(Number(row, "size_bytes") ?? 0);
            var where = IndexRows.InDatabase(database);
            var how = kind == "prefix" ? $"is a leading prefix of {schema}.{cover}" : $"repeats {schema}.{cover}";
            var finding = Persistence.ToFinding(input, run, Code, Described.Severity, [leader],
                $"index {where}{schema}.{index}{(table is null ? "" : $" on {schema}.{table}")} ({Bytes(size)}) {how}: a candidate to drop after review",
                subject: $"{where}{schema}.{index}");
            var facts = IndexRows.Facts(schema, index, table, database);
            facts["covered_by"] = cover;
            facts["kind"] = kind;
            facts["size_bytes"] = size.ToString(CultureInfo.InvariantCulture);
            yield return finding with { Facts = facts };
        }
    }

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, string leader, string? database, string schema, string index)
    {
        var row = string.Equals(s.Leader, leader, StringComparison.Ordinal) ? IndexRows.Find(s, leader, Probe, database, schema, index) : null;
        if (row is null)
        {
            return null;
        }

        return [new FindingEvidence(s.TakenAt, "postgres", leader,
            $"pg_index: {IndexRows.InDatabase(database)}{schema}.{index} keys {(row.GetValueOrDefault("kind") == "prefix" ? "are a leading prefix of" : "repeat")} {schema}.{row.GetValueOrDefault("covered_by")}")];
    }
}
