using System.Globalization;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Detection.Workload;

/// <summary>One statement's cumulative counters on one snapshot (the leader's <c>statements_top</c> row).</summary>
/// <param name="SumSquaresMs2">Σ time² over every call (ms²), from pg_stat_statements' mean and stddev; null when the probe did not give it.</param>
public sealed record StatementSample(string QueryId, string? Database, long Calls, double TotalMs, long Rows, long SharedBlocksHit, long SharedBlocksRead, string? Query,
    double? SumSquaresMs2 = null);

/// <summary>One table's cumulative scan counters on one snapshot (the leader's <c>table_scans</c> row).</summary>
/// <param name="Database">The database the row was read in (per-database probes tag their rows with <c>datname</c>), or null.</param>
public sealed record TableSample(string Schema, string Table, long LiveRows, long SeqScans, long SeqRowsRead, long IndexScans, string? Database = null);

/// <summary>What the leader's workload probes showed on one snapshot: who the leader was, when pg_stat_statements was reset, the counters.</summary>
public sealed record WorkloadView(DateTimeOffset TakenAt, string Leader, string? StatsReset, IReadOnlyDictionary<string, StatementSample> Statements,
    IReadOnlyList<TableSample> Tables, PostgresMemberObservation Observation);

/// <summary>A statement's work between two snapshots of one baseline: calls, time, mean time per call.</summary>
public sealed record StatementDelta(string QueryId, string? Query, string? Database, long Calls, double TotalMs, long Rows, long SharedBlocksRead,
    DateTimeOffset From, DateTimeOffset To, double? SumSquaresMs2 = null)
{
    /// <summary>Mean execution time per call over the interval (0 without calls).</summary>
    public double MeanMs => Calls > 0 ? TotalMs / Calls : 0;

    /// <summary>
    /// An estimate of the interval's 95th percentile: mean + 1.645 standard deviations of the interval's calls (from
    /// the sums of time and of time² pg_stat_statements keeps; it has no percentiles). Exact for normally distributed
    /// times, low for a long tail: a figure to compare before and after, not an SLO measurement. Null without the sums.
    /// </summary>
    public double? P95EstimateMs => Calls > 0 && SumSquaresMs2 is { } sq
        ? MeanMs + (1.645 * Math.Sqrt(Math.Max(0, (sq / Calls) - (MeanMs * MeanMs))))
        : null;
}

/// <summary>
/// Deltas of the cumulative pg_stat_statements and pg_stat_user_tables counters between snapshots, computed from the
/// detection history (pure). A counter only means something against the same baseline: a pg_stat_statements reset
/// (<c>stats_reset</c> changed), a counter that went backwards (the entry was evicted and came back, or reset for one
/// query), a statement missing from the top-N on a snapshot in between, or a new leader (another server's counters)
/// starts a new baseline. A new baseline is never a spike: the interval across it is simply not measured.
/// </summary>
public static class StatementDeltas
{
    /// <summary>The leader's workload view on <paramref name="s"/>: null without a writable leader or without its statements probe.</summary>
    public static WorkloadView? Read(ClusterSnapshot s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var leader = SnapshotFacts.KeyHolder(s) ?? s.Leader;
        if (leader is null || s.FindMember(leader) is not { InRecovery: false } || s.Postgres.FirstOrDefault(p => p.Member == leader) is not { } obs
            || obs.Probe("statements_top") is not { Status: "ok" } statements)
        {
            return null;
        }

        var byId = new Dictionary<string, StatementSample>(StringComparer.Ordinal);
        string? reset = null;
        foreach (var r in statements.Rows)
        {
            if (r.GetValueOrDefault("queryid") is not { Length: > 0 } id)
            {
                continue;
            }

            reset ??= r.GetValueOrDefault("stats_reset");
            byId[id] = new StatementSample(id, r.GetValueOrDefault("datname"), L(r, "calls"), D(r, "total_exec_ms"), L(r, "rows"), L(r, "shared_blks_hit"),
                L(r, "shared_blks_read"), r.GetValueOrDefault("query"), SnapshotFacts.Number(r, "sumsq_exec_ms2"));
        }

        var tables = obs.Probe("table_scans") is { Status: "ok" } t
            ? t.Rows.Select(r => new TableSample(r.GetValueOrDefault("schemaname") ?? "public", r.GetValueOrDefault("relname") ?? "", L(r, "n_live_tup"),
                L(r, "seq_scan"), L(r, "seq_tup_read"), L(r, "idx_scan"), r.GetValueOrDefault("datname"))).ToList()
            : [];
        return new WorkloadView(s.TakenAt, leader, reset, byId, tables, obs);
    }

    /// <summary>
    /// The views of the current baseline for <paramref name="queryId"/>, oldest first, ending with the current
    /// snapshot: walking back from it, the run stops at a snapshot without a view, with another leader or stats reset,
    /// without the statement, or where one of its counters is higher than the next snapshot's. Empty when the current
    /// snapshot has no view of the statement.
    /// </summary>
    public static IReadOnlyList<WorkloadView> Baseline(IReadOnlyList<ClusterSnapshot> newestFirst, string queryId)
    {
        ArgumentNullException.ThrowIfNull(newestFirst);
        var run = new List<WorkloadView>();
        foreach (var s in newestFirst)
        {
            var view = Read(s);
            if (view is null || !view.Statements.TryGetValue(queryId, out var sample))
            {
                break;
            }

            if (run.Count > 0)
            {
                var later = run[^1];
                var next = later.Statements[queryId];
                if (!string.Equals(view.Leader, later.Leader, StringComparison.Ordinal) || !string.Equals(view.StatsReset, later.StatsReset, StringComparison.Ordinal)
                    || sample.Calls > next.Calls || sample.TotalMs > next.TotalMs + 0.001)
                {
                    break;
                }
            }

            run.Add(view);
        }

        run.Reverse();
        return run;
    }

    /// <summary>The statement's work between two views of one baseline (<see cref="Baseline"/>).</summary>
    public static StatementDelta Between(WorkloadView from, WorkloadView to, string queryId)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        var a = from.Statements[queryId];
        var b = to.Statements[queryId];
        return new StatementDelta(queryId, b.Query, b.Database, b.Calls - a.Calls, Math.Max(0, b.TotalMs - a.TotalMs), b.Rows - a.Rows,
            b.SharedBlocksRead - a.SharedBlocksRead, from.TakenAt, to.TakenAt,
            a.SumSquaresMs2 is { } sa && b.SumSquaresMs2 is { } sb ? Math.Max(0, sb - sa) : null);
    }

    /// <summary>
    /// The statement over the last <paramref name="windowSeconds"/> ("now": from the oldest view of the baseline inside
    /// the window to the current one) and before it ("baseline": from the start of the baseline to the start of the
    /// window); either is null when the baseline does not reach back far enough.
    /// </summary>
    public static (StatementDelta? Now, StatementDelta? Before) Window(IReadOnlyList<ClusterSnapshot> newestFirst, string queryId, double windowSeconds)
    {
        var run = Baseline(newestFirst, queryId).ToList();
        if (run.Count < 2)
        {
            return (null, null);
        }

        var current = run[^1];
        var start = run.FindIndex(v => (current.TakenAt - v.TakenAt).TotalSeconds <= windowSeconds);
        start = start < 0 || start == run.Count - 1 ? run.Count - 2 : start;
        var now = Between(run[start], current, queryId);
        var before = start > 0 ? Between(run[0], run[start], queryId) : null;
        return (now, before);
    }

    /// <summary>Every statement's work over the window, for shares of total time (statements without a baseline there left out).</summary>
    public static IReadOnlyList<StatementDelta> AllInWindow(IReadOnlyList<ClusterSnapshot> newestFirst, double windowSeconds)
    {
        ArgumentNullException.ThrowIfNull(newestFirst);
        if (newestFirst.Count == 0 || Read(newestFirst[0]) is not { } current)
        {
            return [];
        }

        return current.Statements.Keys.Select(id => Window(newestFirst, id, windowSeconds).Now).OfType<StatementDelta>().ToList();
    }

    /// <summary>
    /// A table's sequential scans over the window (same leader throughout; counters that went backwards, a stats reset
    /// of the table, give null). Null when the table is not in the views.
    /// </summary>
    public static (long SeqScans, long SeqRowsRead, long LiveRows)? TableWindow(IReadOnlyList<ClusterSnapshot> newestFirst, string schema, string table, double windowSeconds,
        string? database = null)
    {
        ArgumentNullException.ThrowIfNull(newestFirst);
        TableSample? Find(WorkloadView v) => v.Tables.FirstOrDefault(t => t.Schema == schema && t.Table == table && (database is null || t.Database is null || t.Database == database));
        if (newestFirst.Count == 0 || Read(newestFirst[0]) is not { } current || Find(current) is not { } now)
        {
            return null;
        }

        TableSample? then = null;
        foreach (var s in newestFirst.Skip(1))
        {
            if (Read(s) is not { } v || v.Leader != current.Leader || Find(v) is not { } t || t.SeqScans > now.SeqScans || t.SeqRowsRead > now.SeqRowsRead)
            {
                break;
            }

            then = t;
            if ((current.TakenAt - v.TakenAt).TotalSeconds >= windowSeconds)
            {
                break;
            }
        }

        return then is null ? null : (now.SeqScans - then.SeqScans, now.SeqRowsRead - then.SeqRowsRead, now.LiveRows);
    }

    /// <summary>The snapshots of <paramref name="input"/> newest first, up to and including <paramref name="at"/> (the history as it was then).</summary>
    public static IReadOnlyList<ClusterSnapshot> AsOf(DetectionInput input, ClusterSnapshot at)
    {
        ArgumentNullException.ThrowIfNull(input);
        return input.NewestFirst().SkipWhile(s => !ReferenceEquals(s, at)).ToList();
    }

    public static string Ms(double ms) => ms.ToString(ms >= 100 ? "0" : "0.##", CultureInfo.InvariantCulture);

    private static long L(IReadOnlyDictionary<string, string?> r, string name) =>
        long.TryParse(r.GetValueOrDefault(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
        : double.TryParse(r.GetValueOrDefault(name), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? (long)d : 0;

    private static double D(IReadOnlyDictionary<string, string?> r, string name) =>
        double.TryParse(r.GetValueOrDefault(name), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : 0;
}
