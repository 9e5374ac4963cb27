using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Sensing.Snapshot.SnapshotFacts;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// <c>invalid-index</c>: an index on the leader is marked invalid (pg_index.indisvalid false) and no build of it is
/// running. That is what a failed or cancelled <c>CREATE INDEX CONCURRENTLY</c> (or <c>REINDEX CONCURRENTLY</c>)
/// leaves: the planner never uses it, yet every write still maintains it. An index whose concurrent build is in
/// progress (pg_stat_progress_create_index) is invalid too until it finishes, and is never reported. One finding per
/// index (subject <c>schema.index</c>); facts: schema, index, table.
/// </summary>
public sealed class InvalidIndexDetector : IDetector
{
    /// <summary>The finding code.</summary>
    public const string FindingCode = "invalid-index";

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCode,
        Order = 240,
        Severity = FindingSeverity.Warning,
        Summary = "An index is invalid (a failed or cancelled CREATE INDEX CONCURRENTLY) and no build of it is running.",
        Explanation = "A concurrent index build failed or was cancelled and left an invalid index: unused by the planner, still paid for on every write.",
        ConsecutiveSnapshots = 3,
        MinimumSeconds = 30,
        RootCauseRank = 160,
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var leader = input.Current.Leader;
        if (leader is null || ProbeRows(input.Current, leader, "indexes_invalid") is not { } rows)
        {
            yield break;
        }

        foreach (var row in rows.Where(r => !Building(r)))
        {
            if (row.GetValueOrDefault("schemaname") is not { } schema || row.GetValueOrDefault("indexrelname") is not { } index)
            {
                continue;
            }

            var table = row.GetValueOrDefault("relname");
            var database = row.GetValueOrDefault("datname");
            var run = Persistence.Held(input, s => Symptom(s, leader, database, schema, index), input.Settings.PersistenceOf(Code));
            if (run is null)
            {
                continue;
            }

            var where = IndexRows.InDatabase(database);
            var finding = Persistence.ToFinding(input, run, Code, Described.Severity, [leader],
                $"index {where}{schema}.{index}{(table is null ? "" : $" on {schema}.{table}")} is invalid (a failed or cancelled concurrent build) and no build of it runs: drop it, or rebuild it with REINDEX INDEX CONCURRENTLY",
                subject: $"{where}{schema}.{index}");
            yield return finding with { Facts = IndexRows.Facts(schema, index, table, database) };
        }
    }

    private static bool Building(IReadOnlyDictionary<string, string?> row) =>
        !string.Equals(row.GetValueOrDefault("building"), "false", StringComparison.Ordinal);

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, string leader, string? database, string schema, string index)
    {
        var row = string.Equals(s.Leader, leader, StringComparison.Ordinal) ? IndexRows.Find(s, leader, "indexes_invalid", database, schema, index) : null;
        if (row is null || Building(row))
        {
            return null;
        }

        var size = Number(row, "size_bytes") is { } bytes ? $", {Bytes((long)bytes)}" : "";
        return [new FindingEvidence(s.TakenAt, "postgres", leader, $"pg_index: {IndexRows.InDatabase(database)}{schema}.{index} indisvalid = false{size}; no CREATE INDEX in progress for it")];
    }
}
