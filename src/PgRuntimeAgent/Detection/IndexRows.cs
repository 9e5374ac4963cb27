using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// What the index detectors (<c>invalid-index</c>, <c>unused-index</c>, <c>duplicate-index</c>) share: finding one
/// index's row in a per-database probe, the <c>db:schema.index</c> subject, and the facts naming the index.
/// </summary>
internal static class IndexRows
{
    /// <summary>"db:" before an index of a named database (rows of per-database probes carry datname), else nothing.</summary>
    public static string InDatabase(string? database) => database is null ? "" : database + ":";

    /// <summary>The row of <paramref name="probe"/> on <paramref name="member"/> for one index, or null.</summary>
    public static IReadOnlyDictionary<string, string?>? Find(ClusterSnapshot s, string member, string probe, string? database, string schema, string index) =>
        SnapshotFacts.ProbeRows(s, member, probe)?.FirstOrDefault(r =>
            r.GetValueOrDefault("datname") == database && r.GetValueOrDefault("schemaname") == schema && r.GetValueOrDefault("indexrelname") == index);

    /// <summary>The facts naming the index: schema, index, and table and database when known.</summary>
    public static Dictionary<string, string> Facts(string schema, string index, string? table, string? database)
    {
        var facts = new Dictionary<string, string>(StringComparer.Ordinal) { ["schema"] = schema, ["index"] = index };
        if (table is not null)
        {
            facts["table"] = table;
        }

        if (database is not null)
        {
            facts["database"] = database;
        }

        return facts;
    }
}
