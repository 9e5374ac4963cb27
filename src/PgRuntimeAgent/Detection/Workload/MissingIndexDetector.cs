using System.Globalization;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Detection.Workload;

/// <summary>
/// <c>missing-index</c>: a hot statement of the leader (at least <c>min_calls</c> calls over the last
/// <c>window_seconds</c> with a mean of at least <c>min_mean_ms</c>) reads a large table (at least <c>min_table_rows</c>
/// live rows) that was sequentially scanned over the window, and the index advisor's latest advice for the statement
/// (the snapshot's <c>index_advice</c> probe) found a candidate index the plan uses and that cuts its cost to at most
/// <c>max_cost_ratio</c> of the plan without it. Facts: what <c>sql.create_index</c> needs and what the skill verifies.
/// </summary>
public sealed class MissingIndexDetector : IDetector
{
    public const string FindingCode = "missing-index";

    private static readonly ParameterSpec WindowSeconds = new("window_seconds", ParameterType.Number,
        "The recent window a statement's calls and its table's sequential scans are counted over.") { Default = "120", Minimum = 1, Unit = "seconds" };

    private static readonly ParameterSpec MinCalls = new("min_calls", ParameterType.Integer,
        "Calls a statement needs in the window to be hot.") { Default = "10", Minimum = 1, Unit = "calls" };

    private static readonly ParameterSpec MinMeanMs = new("min_mean_ms", ParameterType.Number,
        "Mean time per call over the window a hot statement needs.") { Default = "5", Minimum = 0, Unit = "milliseconds" };

    private static readonly ParameterSpec MinTableRows = new("min_table_rows", ParameterType.Integer,
        "Live rows a sequentially scanned table needs to count as large.") { Default = "100000", Minimum = 0, Unit = "rows" };

    private static readonly ParameterSpec MaxCostRatio = new("max_cost_ratio", ParameterType.Number,
        "The candidate index must bring the plan's cost down to at most this fraction of the cost without it.") { Default = "0.5", Minimum = 0, Maximum = 1, Unit = "ratio" };

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCode,
        Order = 410,
        Severity = FindingSeverity.Warning,
        Summary = "A hot statement sequentially scans a large table and a hypothetical index (hypopg) cuts its plan cost by at least half.",
        Explanation = "A frequent statement read a large table sequentially for want of an index, costing each call a full scan.",
        ConsecutiveSnapshots = 2,
        MinimumSeconds = 20,
        RootCauseRank = 290,
        Thresholds = [WindowSeconds, MinCalls, MinMeanMs, MinTableRows, MaxCostRatio],
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (StatementDeltas.Read(input.Current) is not { } view)
        {
            yield break;
        }

        var s = input.Settings;
        var t = new Limits(s.Threshold(Code, WindowSeconds.Name) ?? 120, s.Threshold(Code, MinCalls.Name) ?? 10, s.Threshold(Code, MinMeanMs.Name) ?? 5,
            s.Threshold(Code, MinTableRows.Name) ?? 100000, s.Threshold(Code, MaxCostRatio.Name) ?? 0.5);
        foreach (var queryId in view.Statements.Keys.Order(StringComparer.Ordinal))
        {
            Judgement? latest = null;
            var run = Persistence.Held(input, snap =>
            {
                var j = Judge(StatementDeltas.AsOf(input, snap), queryId, t);
                latest ??= j;
                return j is null ? null : [new FindingEvidence(snap.TakenAt, "postgres", j.Leader, j.Describe())];
            }, input.Settings.PersistenceOf(Code));
            if (run is null || latest is null)
            {
                continue;
            }

            var j = latest;
            var a = j.Advice;
            var finding = Persistence.ToFinding(input, run, Code, Described.Severity, [j.Leader],
                $"statement {queryId} on {j.Leader} scans {a.Schema}.{a.Table} sequentially; {a.Definition} would cut its plan cost {Cost(a.CostBefore)} -> {Cost(a.CostAfter)}",
                "queryid " + queryId);
            yield return finding with
            {
                Facts = new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    ["queryid"] = queryId,
                    ["query"] = j.Now.Query ?? "",
                    ["database"] = a.Database ?? j.Now.Database ?? "",
                    ["schema"] = a.Schema ?? "public",
                    ["table"] = a.Table ?? "",
                    ["columns"] = a.Columns ?? "",
                    ["candidate"] = a.Definition ?? "",
                    ["index"] = IndexName(a),
                    ["mean_ms"] = StatementDeltas.Ms(j.Now.MeanMs),
                    ["p95_ms"] = j.Now.P95EstimateMs is { } p95 ? StatementDeltas.Ms(p95) : "",
                    ["calls"] = j.Now.Calls.ToString(CultureInfo.InvariantCulture),
                    ["cost_before"] = Cost(a.CostBefore),
                    ["cost_after"] = Cost(a.CostAfter),
                    ["table_rows"] = j.LiveRows.ToString(CultureInfo.InvariantCulture),
                },
            };
        }
    }

    /// <summary>The name sql.create_index gives the candidate by default (<c>&lt;table&gt;_&lt;columns&gt;_idx</c>, cut to 63 bytes).</summary>
    private static string IndexName(IndexAdvice a) =>
        PgRuntimeAgent.Acting.Sql.SqlActions.DefaultIndexName(a.Table ?? "", (a.Columns ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static string Cost(double? cost) => cost?.ToString("0.##", CultureInfo.InvariantCulture) ?? "?";

    private sealed record Limits(double Window, double MinCalls, double MinMean, double MinRows, double MaxRatio);

    private sealed record Judgement(string Leader, StatementDelta Now, IndexAdvice Advice, long SeqScans, long LiveRows)
    {
        public string Describe() => string.Create(CultureInfo.InvariantCulture,
            $"statement {Now.QueryId} ({Now.Query}): {Now.Calls} calls, mean {StatementDeltas.Ms(Now.MeanMs)} ms; {Advice.Schema}.{Advice.Table} ({LiveRows} live rows) "
            + $"seq-scanned {SeqScans} times in {(Now.To - Now.From).TotalSeconds:0} s; advisor ({Advice.Plan} plan, {Advice.AdvisedAt:HH:mm:ss}): {Advice.Definition} cost {Cost(Advice.CostBefore)} -> {Cost(Advice.CostAfter)}");
    }

    private static Judgement? Judge(IReadOnlyList<ClusterSnapshot> newestFirst, string queryId, Limits t)
    {
        var (now, _) = StatementDeltas.Window(newestFirst, queryId, t.Window);
        if (now is null || now.Calls < t.MinCalls || now.MeanMs < t.MinMean || StatementDeltas.Read(newestFirst[0]) is not { } view)
        {
            return null;
        }

        var advice = view.Observation.Probe(IndexAdvice.ProbeName)?.Rows.Select(IndexAdvice.FromRow)
            .FirstOrDefault(a => a is not null && a.QueryId == queryId);
        if (advice is null || !advice.Qualifies(t.MaxRatio) || advice.Schema is null || advice.Table is null
            || StatementDeltas.TableWindow(newestFirst, advice.Schema, advice.Table, t.Window, advice.Database) is not { } table
            || table.SeqScans <= 0 || table.LiveRows < t.MinRows)
        {
            return null;
        }

        return new Judgement(view.Leader, now, advice, table.SeqScans, table.LiveRows);
    }
}
