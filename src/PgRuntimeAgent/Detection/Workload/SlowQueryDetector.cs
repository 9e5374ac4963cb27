using System.Globalization;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Detection.Workload;

/// <summary>
/// <c>slow-query</c>: a normalised statement (pg_stat_statements queryid, on the leader) got slower — its mean time
/// per call over the last <c>window_seconds</c> is at least <c>mean_ratio</c> times its mean before the window on the
/// same baseline — or it dominates the database's time: at least <c>dominant_share</c> of all statements' time over
/// the window while keeping at least <c>min_load</c> backends busy. Both need <c>min_calls</c> calls in the window and
/// a mean of at least <c>min_mean_ms</c>. A stats reset, a counter going backwards or a new leader starts a new baseline
/// (<see cref="StatementDeltas"/>), never a spike. One finding per queryid (subject <c>queryid N</c>).
/// </summary>
public sealed class SlowQueryDetector : IDetector
{
    public const string FindingCode = "slow-query";

    private static readonly ParameterSpec WindowSeconds = new("window_seconds", ParameterType.Number,
        "The recent window a statement's mean time is measured over (the baseline is what came before it).") { Default = "120", Minimum = 1, Unit = "seconds" };

    private static readonly ParameterSpec MeanRatio = new("mean_ratio", ParameterType.Number,
        "A statement is slower when its mean time over the window is at least this many times its mean before the window.") { Default = "2", Minimum = 1, Unit = "ratio" };

    private static readonly ParameterSpec MinMeanMs = new("min_mean_ms", ParameterType.Number,
        "Statements faster than this per call (mean over the window) are never reported.") { Default = "20", Minimum = 0, Unit = "milliseconds" };

    private static readonly ParameterSpec MinCalls = new("min_calls", ParameterType.Integer,
        "Calls a statement needs in the window to be judged.") { Default = "10", Minimum = 1, Unit = "calls" };

    private static readonly ParameterSpec DominantShare = new("dominant_share", ParameterType.Number,
        "A statement dominates when its share of all statements' time over the window is at least this.") { Default = "0.5", Minimum = 0, Maximum = 1, Unit = "ratio" };

    private static readonly ParameterSpec MinLoad = new("min_load", ParameterType.Number,
        "A dominating statement must also keep at least this many backends busy on average over the window (its time divided by the window).") { Default = "0.5", Minimum = 0, Unit = "backends" };

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCode,
        Order = 400,
        Severity = FindingSeverity.Warning,
        Summary = "A normalised statement's mean time rose past its baseline, or it dominates the database's time (pg_stat_statements on the leader).",
        Explanation = "A statement got slower (or took most of the database's time) and with it the latency its callers see.",
        ConsecutiveSnapshots = 3,
        MinimumSeconds = 30,
        RootCauseRank = 300,
        Thresholds = [WindowSeconds, MeanRatio, MinMeanMs, MinCalls, DominantShare, MinLoad],
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

        var t = Limits.Of(input.Settings);
        foreach (var queryId in view.Statements.Keys.Order(StringComparer.Ordinal))
        {
            Judgement? latest = null;
            var run = Persistence.Held(input, s =>
            {
                var j = Judge(StatementDeltas.AsOf(input, s), queryId, t);
                latest ??= j;
                return j is null ? null : [new FindingEvidence(s.TakenAt, "postgres", j.Leader, j.Describe())];
            }, input.Settings.PersistenceOf(Code));
            if (run is null || latest is null)
            {
                continue;
            }

            var j = latest;
            var finding = Persistence.ToFinding(input, run, Code, Described.Severity, [j.Leader],
                $"statement {queryId} on {j.Leader} {j.Describe()}", "queryid " + queryId);
            yield return finding with
            {
                Facts = new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    ["queryid"] = queryId,
                    ["query"] = j.Now.Query ?? "",
                    ["database"] = j.Now.Database ?? "",
                    ["calls"] = j.Now.Calls.ToString(CultureInfo.InvariantCulture),
                    ["mean_ms"] = StatementDeltas.Ms(j.Now.MeanMs),
                    ["mean_before_ms"] = j.Before is { Calls: > 0 } b ? StatementDeltas.Ms(b.MeanMs) : "",
                    ["share"] = j.Share.ToString("0.###", CultureInfo.InvariantCulture),
                    ["reason"] = j.Slower ? "slower" : "dominates",
                },
            };
        }
    }

    private sealed record Limits(double Window, double Ratio, double LeastMean, double LeastCalls, double Share, double Load)
    {
        public static Limits Of(DetectionSettings s) => new(
            s.Threshold(FindingCode, WindowSeconds.Name) ?? 120, s.Threshold(FindingCode, MeanRatio.Name) ?? 2, s.Threshold(FindingCode, MinMeanMs.Name) ?? 20,
            s.Threshold(FindingCode, MinCalls.Name) ?? 10, s.Threshold(FindingCode, DominantShare.Name) ?? 0.5, s.Threshold(FindingCode, MinLoad.Name) ?? 0.5);
    }

    private sealed record Judgement(string Leader, StatementDelta Now, StatementDelta? Before, double Share, bool Slower)
    {
        public string Describe()
        {
            var before = Before is { Calls: > 0 } b
                ? string.Create(CultureInfo.InvariantCulture, $" vs {StatementDeltas.Ms(b.MeanMs)} ms before ({b.Calls} calls)")
                : " (no earlier baseline)";
            return string.Create(CultureInfo.InvariantCulture,
                $"({Now.Query}): {Now.Calls} calls in {(Now.To - Now.From).TotalSeconds:0} s, mean {StatementDeltas.Ms(Now.MeanMs)} ms now{before}, {Share:P0} of the statements' time");
        }
    }

    private static Judgement? Judge(IReadOnlyList<ClusterSnapshot> newestFirst, string queryId, Limits t)
    {
        var (now, before) = StatementDeltas.Window(newestFirst, queryId, t.Window);
        if (now is null || now.Calls < t.LeastCalls || now.MeanMs < t.LeastMean || StatementDeltas.Read(newestFirst[0]) is not { } view)
        {
            return null;
        }

        var slower = before is { Calls: > 0 } b && b.MeanMs > 0 && now.MeanMs >= t.Ratio * b.MeanMs;
        var all = StatementDeltas.AllInWindow(newestFirst, t.Window).Sum(d => d.TotalMs);
        var share = all > 0 ? now.TotalMs / all : 0;
        var seconds = (now.To - now.From).TotalSeconds;
        var dominates = share >= t.Share && seconds > 0 && now.TotalMs / 1000.0 / seconds >= t.Load;
        return slower || dominates ? new Judgement(view.Leader, now, before, share, slower) : null;
    }
}
