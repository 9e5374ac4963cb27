using System.Globalization;
using System.Text;

namespace PgRuntimeAgent.Lab.Safety;

/// <summary>The safety suite's report over many runs: per shape and target, the figures docs/safety.md quotes.</summary>
internal static class SafetySummary
{
    public static string Render(IReadOnlyList<SafetyRunReport> reports, double splitBrainLimit)
    {
        ArgumentNullException.ThrowIfNull(reports);
        var b = new StringBuilder();
        b.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"{"shape",-30} {"on",-8} {"runs",5} {"failed",7} {"acked",8} {"lost",6} {"tail",6} {"after",6} {"split max",10} {"writable p50",13} {"writable max",13}"));
        foreach (var g in reports.GroupBy(r => (Shape: r.Fault.Shape + (r.Fault.Synchronous ? " (sync)" : ""), r.Fault.OnLeader)).OrderBy(g => g.Key.Shape, StringComparer.Ordinal).ThenBy(g => g.Key.OnLeader))
        {
            var writable = g.Select(r => r.TimeToWritableSeconds).OfType<double>().Order().ToList();
            b.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{g.Key.Shape,-30} {(g.Key.OnLeader ? "leader" : "replica"),-8} {g.Count(),5} {g.Count(r => r.Violations(splitBrainLimit).Count > 0),7} {g.Sum(r => r.Acknowledged),8} {g.Sum(r => r.Lost),6} {g.Sum(r => r.LostAsyncTail),6} {g.Sum(r => r.LostAfterPromotion),6} {g.Max(r => r.SplitBrainSeconds),9:0.0}s {(writable.Count == 0 ? "-" : $"{writable[writable.Count / 2]:0.0}s"),13} {(writable.Count == 0 ? "-" : $"{writable[^1]:0.0}s"),13}"));
        }

        var failed = reports.Count(r => r.Violations(splitBrainLimit).Count > 0);
        b.Append(string.Create(CultureInfo.InvariantCulture,
            $"{reports.Count} faults, {failed} with violations; acked {reports.Sum(r => r.Acknowledged)}, lost {reports.Sum(r => r.Lost)} (async tail {reports.Sum(r => r.LostAsyncTail)}, after promotion {reports.Sum(r => r.LostAfterPromotion)}); "
            + $"key handed back in {reports.Count(r => r.KeyHandedBack)}; post-mortem under-reported in {reports.Count(r => r.UnderReported)}; host load average {(reports.Count == 0 ? 0 : reports.Average(r => r.HostLoad)):0.0}"));
        return b.ToString();
    }
}
