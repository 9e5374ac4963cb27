using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Sensing.Postgres;

/// <summary>
/// The index advisor's verdict on one statement, as carried on the snapshot (the leader's <c>index_advice</c> probe
/// rows): the candidate index, the plan cost without and with it (hypopg), or why it could not be checked.
/// </summary>
public sealed record IndexAdvice
{
    /// <summary>The probe name the advice travels under on the snapshot.</summary>
    public const string ProbeName = "index_advice";

    public required string QueryId { get; init; }
    public string? Database { get; init; }

    /// <summary>checked (costs compared), unchecked (hypopg missing: the candidate could not be tried), no-candidate, error.</summary>
    public required string Status { get; init; }

    public string? Schema { get; init; }
    public string? Table { get; init; }

    /// <summary>Candidate columns in index order, comma-separated.</summary>
    public string? Columns { get; init; }

    /// <summary>The candidate's CREATE INDEX (no name, no CONCURRENTLY: what hypopg was given).</summary>
    public string? Definition { get; init; }

    public double? CostBefore { get; init; }
    public double? CostAfter { get; init; }

    /// <summary>The plan with the hypothetical index used it.</summary>
    public bool UsesIndex { get; init; }

    /// <summary>custom (representative parameter values from pg_qualstats or pg_stats) or generic (the generic plan: a parameter had no value).</summary>
    public string? Plan { get; init; }

    /// <summary>Where a custom plan's parameter values came from: <c>pg_qualstats</c> (the values this statement was
    /// run with), <c>pg_stats</c> (the column's most common value or middle histogram bound), or both; null for a
    /// generic plan.</summary>
    public string? ValuesFrom { get; init; }

    public string? Reason { get; init; }
    public required DateTimeOffset AdvisedAt { get; init; }
    public double ElapsedMs { get; init; }

    /// <summary>The cost dropped to at most <paramref name="maxRatio"/> of the plan without the index, and the plan used it.</summary>
    public bool Qualifies(double maxRatio) => Status == "checked" && UsesIndex && CostBefore is > 0 && CostAfter is { } after && after <= CostBefore * maxRatio;

    public IReadOnlyDictionary<string, string?> ToRow() => new SortedDictionary<string, string?>(StringComparer.Ordinal)
    {
        ["queryid"] = QueryId,
        ["datname"] = Database,
        ["status"] = Status,
        ["schemaname"] = Schema,
        ["relname"] = Table,
        ["columns"] = Columns,
        ["definition"] = Definition,
        ["cost_before"] = CostBefore?.ToString(CultureInfo.InvariantCulture),
        ["cost_after"] = CostAfter?.ToString(CultureInfo.InvariantCulture),
        ["uses_index"] = UsesIndex ? "true" : "false",
        ["plan"] = Plan,
        ["values_from"] = ValuesFrom,
        ["reason"] = Reason,
        ["advised_at"] = AdvisedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
        ["elapsed_ms"] = ElapsedMs.ToString("0.#", CultureInfo.InvariantCulture),
    };

    public static IndexAdvice? FromRow(IReadOnlyDictionary<string, string?> row)
    {
        ArgumentNullException.ThrowIfNull(row);
        static double? D(string? s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
        if (row.GetValueOrDefault("queryid") is not { } id || row.GetValueOrDefault("status") is not { } status
            || !DateTimeOffset.TryParse(row.GetValueOrDefault("advised_at"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
        {
            return null;
        }

        return new IndexAdvice
        {
            QueryId = id,
            Database = row.GetValueOrDefault("datname"),
            Status = status,
            Schema = row.GetValueOrDefault("schemaname"),
            Table = row.GetValueOrDefault("relname"),
            Columns = row.GetValueOrDefault("columns"),
            Definition = row.GetValueOrDefault("definition"),
            CostBefore = D(row.GetValueOrDefault("cost_before")),
            CostAfter = D(row.GetValueOrDefault("cost_after")),
            UsesIndex = row.GetValueOrDefault("uses_index") == "true",
            Plan = row.GetValueOrDefault("plan"),
            ValuesFrom = row.GetValueOrDefault("values_from"),
            Reason = row.GetValueOrDefault("reason"),
            AdvisedAt = at,
            ElapsedMs = D(row.GetValueOrDefault("elapsed_ms")) ?? 0,
        };
    }
}

/// <summary>A sequential scan in a plan: the table, its filter, its cost, and the sort keys above it on the same table.</summary>
public sealed record SeqScanNode(string Schema, string Table, string Alias, string? Filter, double TotalCost, double Rows, IReadOnlyList<string> SortKeys);

/// <summary>An index candidate built from a plan: the table, the columns (equality first, then ORDER BY, else one range column) and the parameters bound to columns.</summary>
public sealed record IndexCandidate(string Schema, string Table, IReadOnlyList<string> Columns, IReadOnlyDictionary<int, string> ParameterColumns)
{
    /// <summary>What hypopg is given (and what sql.create_index builds, concurrently, under a name): every name quoted.</summary>
    public string Definition => $"CREATE INDEX ON {Quote(Schema)}.{Quote(Table)} USING btree ({string.Join(", ", Columns.Select(Quote))})";

    public static string Quote(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}

/// <summary>
/// The pure parts of the index advisor: reading EXPLAIN (FORMAT JSON, VERBOSE) plans, building a candidate index from
/// the costliest sequential scan, binding parameters to representative values, and the statements it will look at.
/// </summary>
public static partial class PlanReading
{
    /// <summary>The plan's total cost (the top node's "Total Cost").</summary>
    public static double TotalCost(string explainJson)
    {
        using var doc = JsonDocument.Parse(explainJson);
        return doc.RootElement[0].GetProperty("Plan").GetProperty("Total Cost").GetDouble();
    }

    /// <summary>Every sequential scan of a table in the plan, costliest first, with the sort keys of the Sort nodes above it that name its alias.</summary>
    public static IReadOnlyList<SeqScanNode> SeqScans(string explainJson)
    {
        using var doc = JsonDocument.Parse(explainJson);
        var found = new List<SeqScanNode>();
        Walk(doc.RootElement[0].GetProperty("Plan"), [], found);
        return found.OrderByDescending(s => s.TotalCost).ToList();
    }

    /// <summary>The plan uses an index whose name is hypopg's (<c>&lt;oid&gt;btree_...</c>).</summary>
    public static bool UsesHypotheticalIndex(string explainJson)
    {
        using var doc = JsonDocument.Parse(explainJson);
        return Uses(doc.RootElement[0].GetProperty("Plan"));

        static bool Uses(JsonElement node) =>
            (node.TryGetProperty("Index Name", out var name) && name.GetString() is { } n && n.StartsWith('<'))
            || (node.TryGetProperty("Plans", out var plans) && plans.EnumerateArray().Any(Uses));
    }

    /// <summary>
    /// The candidate for a sequential scan: columns compared for equality in its filter (in order), then the sort keys
    /// on the same table (an index that also delivers the order saves the sort); with neither, the first column
    /// compared by range. Null when the filter names no usable column.
    /// </summary>
    public static IndexCandidate? Candidate(SeqScanNode scan)
    {
        ArgumentNullException.ThrowIfNull(scan);
        var columns = new List<string>();
        var parameters = new Dictionary<int, string>();
        var ranges = new List<string>();
        foreach (Match m in Comparison().Matches(scan.Filter ?? ""))
        {
            if (m.Groups["alias"].Success && m.Groups["alias"].Value.Trim('"') != scan.Alias)
            {
                continue;
            }

            var column = Unquote(m.Groups["col"].Value);
            if (m.Groups["param"].Success)
            {
                parameters.TryAdd(int.Parse(m.Groups["param"].Value, CultureInfo.InvariantCulture), column);
            }

            var list = m.Groups["op"].Value == "=" ? columns : ranges;
            if (!list.Contains(column, StringComparer.Ordinal))
            {
                list.Add(column);
            }
        }

        var eq = columns.Count;
        if (eq > 0)
        {
            foreach (var key in scan.SortKeys)
            {
                var k = SortKey().Match(key);
                if (!k.Success || (k.Groups["alias"].Success && k.Groups["alias"].Value.Trim('"') != scan.Alias))
                {
                    break;
                }

                var column = Unquote(k.Groups["col"].Value);
                if (!columns.Contains(column, StringComparer.Ordinal))
                {
                    columns.Add(column);
                }
            }
        }
        else if (ranges.Count > 0)
        {
            columns.Add(ranges[0]);
        }

        return columns.Count == 0 ? null : new IndexCandidate(scan.Schema, scan.Table, columns, parameters);
    }

    /// <summary>
    /// The statements worth a look: a single SELECT with parameters or none (pg_stat_statements' normalised text), no
    /// semicolon, no locking clause. Anything else is never prepared.
    /// </summary>
    public static bool Advisable(string? query) =>
        query is not null && SelectStart().IsMatch(query) && !query.Contains(';', StringComparison.Ordinal) && !LockingClause().IsMatch(query);

    /// <summary>The highest $N in the text: how many parameters the prepared statement takes.</summary>
    public static int ParameterCount(string query) =>
        Parameter().Matches(query).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max();

    /// <summary>Values for LIMIT $n (10) and OFFSET $n (0): parameters no column binds.</summary>
    public static IReadOnlyDictionary<int, string> LimitValues(string query)
    {
        var values = new Dictionary<int, string>();
        foreach (Match m in LimitOffset().Matches(query))
        {
            values[int.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture)] = m.Groups["kw"].Value.Equals("limit", StringComparison.OrdinalIgnoreCase) ? "10" : "0";
        }

        return values;
    }

    /// <summary>
    /// A representative value of a column from pg_stats: its most common value, else the middle histogram bound
    /// (both as text, from their array literals). Null when pg_stats has neither.
    /// </summary>
    public static string? Representative(string? mostCommonVals, string? histogramBounds)
    {
        var mcv = ArrayElements(mostCommonVals);
        if (mcv.Count > 0)
        {
            return mcv[0];
        }

        var bounds = ArrayElements(histogramBounds);
        return bounds.Count > 0 ? bounds[bounds.Count / 2] : null;
    }

    /// <summary>
    /// The value of a constant as pg_qualstats deparses it (<c>42::integer</c>, <c>'k''3'::text</c>,
    /// <c>'2026-12-03'::date</c>): a number or a single-quoted string, with an optional cast, unquoted; null for
    /// anything else (an array, a function call, NULL), which is then not used.
    /// </summary>
    public static string? QualstatsValue(string? constant)
    {
        if (constant is null)
        {
            return null;
        }

        var m = QualstatsConstant().Match(constant.Trim());
        if (!m.Success)
        {
            return null;
        }

        return m.Groups["s"].Success ? m.Groups["s"].Value.Replace("''", "'", StringComparison.Ordinal) : m.Groups["n"].Value;
    }

    /// <summary>EXECUTE's argument list: each value a quoted literal (typed by the prepared statement), NULL where none.</summary>
    public static string Arguments(int count, IReadOnlyDictionary<int, string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return string.Join(", ", Enumerable.Range(1, count).Select(i => values.TryGetValue(i, out var v) ? "'" + v.Replace("'", "''", StringComparison.Ordinal) + "'" : "NULL"));
    }

    /// <summary>The elements of a one-dimensional PostgreSQL array literal (<c>{a,"b c",NULL}</c>), NULLs left out.</summary>
    public static IReadOnlyList<string> ArrayElements(string? literal)
    {
        var items = new List<string>();
        if (literal is null || literal.Length < 2 || literal[0] != '{' || literal[^1] != '}')
        {
            return items;
        }

        var sb = new StringBuilder();
        var quoted = false;
        var wasQuoted = false;
        for (var i = 1; i < literal.Length - 1; i++)
        {
            var c = literal[i];
            if (quoted)
            {
                if (c == '\\' && i + 1 < literal.Length - 1)
                {
                    sb.Append(literal[++i]);
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    sb.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = wasQuoted = true;
            }
            else if (c == ',')
            {
                Flush();
            }
            else
            {
                sb.Append(c);
            }
        }

        Flush();
        return items;

        void Flush()
        {
            var s = sb.ToString();
            if (wasQuoted || !s.Equals("NULL", StringComparison.OrdinalIgnoreCase))
            {
                items.Add(s);
            }

            sb.Clear();
            wasQuoted = false;
        }
    }

    private static void Walk(JsonElement node, IReadOnlyList<string> sortKeys, List<SeqScanNode> found)
    {
        var keys = sortKeys;
        if (node.TryGetProperty("Sort Key", out var sk))
        {
            keys = [.. sk.EnumerateArray().Select(k => k.GetString() ?? "")];
        }

        if (node.GetProperty("Node Type").GetString() == "Seq Scan" && node.TryGetProperty("Relation Name", out var rel))
        {
            var table = rel.GetString() ?? "";
            var schema = node.TryGetProperty("Schema", out var sch) ? sch.GetString() ?? "public" : "public";
            var alias = node.TryGetProperty("Alias", out var al) ? al.GetString() ?? table : table;
            var filter = node.TryGetProperty("Filter", out var f) ? f.GetString() : null;
            found.Add(new SeqScanNode(schema, table, alias, filter, node.GetProperty("Total Cost").GetDouble(),
                node.TryGetProperty("Plan Rows", out var r) ? r.GetDouble() : 0, keys));
        }

        if (node.TryGetProperty("Plans", out var plans))
        {
            foreach (var child in plans.EnumerateArray())
            {
                Walk(child, keys, found);
            }
        }
    }

    private static string Unquote(string name) => name.StartsWith('"') ? name[1..^1].Replace("\"\"", "\"", StringComparison.Ordinal) : name;

    // (alias.col = $1), (col = 42), ((alias.col)::text = $2), (col >= $3)
    [GeneratedRegex("""\(*(?:(?<alias>"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)\.)?(?<col>"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)\)?(?:::[a-z ]+)?\s*(?<op>=|<=|>=|<|>)\s*(?:\$(?<param>\d+)|'|\(?-?\d|\(?\$)""", RegexOptions.CultureInvariant)]
    private static partial Regex Comparison();

    [GeneratedRegex("""^(?:(?<alias>"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)\.)?(?<col>"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)(?: (?:DESC|ASC|NULLS FIRST|NULLS LAST))*$""", RegexOptions.CultureInvariant)]
    private static partial Regex SortKey();

    [GeneratedRegex("""^(?:'(?<s>(?:[^']|'')*)'|(?<n>-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?))(?:::[a-z_][a-z0-9_ ]*(?:\([0-9, ]+\))?)?$""", RegexOptions.CultureInvariant)]
    private static partial Regex QualstatsConstant();

    [GeneratedRegex(@"^\s*select\b", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex SelectStart();

    [GeneratedRegex(@"\bfor\s+(update|share|no\s+key\s+update|key\s+share)\b|\binto\b", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex LockingClause();

    [GeneratedRegex(@"\$(\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex Parameter();

    [GeneratedRegex(@"\b(?<kw>limit|offset)\s+\$(?<n>\d+)", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex LimitOffset();
}
