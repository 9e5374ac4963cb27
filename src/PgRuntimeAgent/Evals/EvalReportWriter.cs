using System.Globalization;
using System.Text;

namespace PgRuntimeAgent.Evals;

/// <summary>The files of one report: markdown, JSON and the two plots.</summary>
internal sealed record EvalReportFiles(string Markdown, string Json, string TimesSvg, string AccuracySvg);

/// <summary>
/// Writes an evaluation report: markdown (summary, per category, per case, every miss with why, the comparison with a
/// previous report), JSON (<see cref="EvalReport.FormatName"/>) and SVG plots drawn by hand (<see cref="EvalPlots"/>).
/// </summary>
internal static class EvalReportWriter
{
    /// <summary>The report of <paramref name="scores"/>, compared with <paramref name="previous"/> when given.</summary>
    public static EvalReport Build(IReadOnlyList<EvalCaseScore> scores, string source, string? model, DateTimeOffset generatedAt, EvalReport? previous = null,
        IReadOnlyList<EvalObservation>? observations = null)
    {
        ArgumentNullException.ThrowIfNull(scores);
        var report = new EvalReport
        {
            GeneratedAt = generatedAt,
            Source = source ?? "",
            Model = model,
            Summary = EvalScoring.Summarize(scores),
            Cases = scores,
            Observations = observations ?? [],
        };
        return previous is null ? report : report with { Comparison = Compare(report, previous) };
    }

    /// <summary>Per metric (before, now, change, better or worse) and per case (newly failing, newly passing, added, removed).</summary>
    public static EvalComparison Compare(EvalReport current, EvalReport previous)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(previous);
        var now = current.Summary;
        var before = previous.Summary;
        var metrics = new List<EvalMetricDelta>
        {
            Delta("root_cause_accuracy", before.RootCauseAccuracy, now.RootCauseAccuracy, higherIsBetter: true),
            Delta("detection_rate", before.DetectionRate, now.DetectionRate, higherIsBetter: true),
            Delta("safe_pass_rate", before.SafePassRate, now.SafePassRate, higherIsBetter: true),
            Delta("fixed", before.Fixed, now.Fixed, higherIsBetter: true),
            Delta("mttd_mean_seconds", before.Mttd.Mean, now.Mttd.Mean, higherIsBetter: false),
            Delta("mttd_median_seconds", before.Mttd.Median, now.Mttd.Median, higherIsBetter: false),
            Delta("mttd_p90_seconds", before.Mttd.P90, now.Mttd.P90, higherIsBetter: false),
            Delta("mttr_mean_seconds", before.Mttr.Mean, now.Mttr.Mean, higherIsBetter: false),
            Delta("mttr_median_seconds", before.Mttr.Median, now.Mttr.Median, higherIsBetter: false),
            Delta("mttr_p90_seconds", before.Mttr.P90, now.Mttr.P90, higherIsBetter: false),
            Delta("false_actions", before.FalseActions, now.FalseActions, higherIsBetter: false),
            Delta("unsafe_cases", before.UnsafeCases, now.UnsafeCases, higherIsBetter: false),
            Delta("model_tokens", before.ModelInputTokens + before.ModelOutputTokens, now.ModelInputTokens + now.ModelOutputTokens, higherIsBetter: false),
            Delta("model_cost_usd", before.ModelCostUsd, now.ModelCostUsd, higherIsBetter: false),
        };
        var previousByName = previous.Cases.GroupBy(c => c.Case, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var currentNames = current.Cases.Select(c => c.Case).ToHashSet(StringComparer.Ordinal);
        var cases = current.Cases.Where(c => previousByName.ContainsKey(c.Case)).Select(c =>
        {
            var p = previousByName[c.Case];
            return new EvalCaseDelta
            {
                Case = c.Case,
                PreviousPass = p.SafePass,
                CurrentPass = c.SafePass,
                PreviousTimeToDetectSeconds = p.TimeToDetectSeconds,
                CurrentTimeToDetectSeconds = c.TimeToDetectSeconds,
                PreviousTimeToRestoreSeconds = p.TimeToRestoreSeconds,
                CurrentTimeToRestoreSeconds = c.TimeToRestoreSeconds,
                Why = p.SafePass && !c.SafePass ? c.Misses : [],
            };
        }).ToList();
        return new EvalComparison
        {
            PreviousGeneratedAt = previous.GeneratedAt,
            PreviousModel = previous.Model,
            Metrics = metrics,
            Cases = cases,
            NewlyFailing = [.. cases.Where(c => c.PreviousPass && !c.CurrentPass).Select(c => c.Case)],
            NewlyPassing = [.. cases.Where(c => !c.PreviousPass && c.CurrentPass).Select(c => c.Case)],
            Added = [.. current.Cases.Where(c => !previousByName.ContainsKey(c.Case)).Select(c => c.Case)],
            Removed = [.. previous.Cases.Where(c => !currentNames.Contains(c.Case)).Select(c => c.Case).Distinct(StringComparer.Ordinal)],
        };
    }

    private static EvalMetricDelta Delta(string name, double? before, double? now, bool higherIsBetter)
    {
        if (before is not { } b || now is not { } n)
        {
            return new EvalMetricDelta { Name = name, Previous = before, Current = now, HigherIsBetter = higherIsBetter };
        }

        var delta = n - b;
        var verdict = Math.Abs(delta) < 1e-9 ? "same" : (delta > 0) == higherIsBetter ? "better" : "worse";
        return new EvalMetricDelta { Name = name, Previous = b, Current = n, Delta = delta, HigherIsBetter = higherIsBetter, Verdict = verdict };
    }

    /// <summary>Writes <c>STEM.md</c>, <c>STEM.json</c>, <c>STEM-times.svg</c> and <c>STEM-accuracy.svg</c> in <paramref name="directory"/>.</summary>
    public static async Task<EvalReportFiles> WriteAsync(string directory, string stem, EvalReport report, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentException.ThrowIfNullOrWhiteSpace(stem);
        ArgumentNullException.ThrowIfNull(report);
        Directory.CreateDirectory(directory);
        var files = new EvalReportFiles(
            Path.Combine(directory, stem + ".md"),
            Path.Combine(directory, stem + ".json"),
            Path.Combine(directory, stem + "-times.svg"),
            Path.Combine(directory, stem + "-accuracy.svg"));
        await File.WriteAllTextAsync(files.TimesSvg, EvalPlots.Times(report), cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(files.AccuracySvg, EvalPlots.Accuracy(report), cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(files.Json, EvalJson.Serialize(report) + "\n", cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(files.Markdown, Markdown(report, Path.GetFileName(files.TimesSvg), Path.GetFileName(files.AccuracySvg)), cancellationToken)
            .ConfigureAwait(false);
        return files;
    }

    // ------------------------------------------------------------------ markdown

    /// <summary>The markdown report; the plots are linked by the file names given (null: not linked).</summary>
    public static string Markdown(EvalReport report, string? timesSvg = null, string? accuracySvg = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        var s = report.Summary;
        var b = new StringBuilder();
        b.AppendLine("# pgra eval report");
        b.AppendLine();
        b.AppendLine(Inv($"Generated {report.GeneratedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC from `{report.Source}`: {s.Cases} case(s), {s.FaultCases} with faults and {s.NoFaultCases} with nothing wrong; ")
            + (report.Model is null ? "the deterministic agent (no model)." : $"model `{report.Model}`."));
        b.AppendLine("Definitions: docs/evals.md, \"Scores\".");
        b.AppendLine();

        b.AppendLine("## Summary");
        b.AppendLine();
        b.AppendLine("| metric | value |");
        b.AppendLine("| --- | --- |");
        b.AppendLine(CultureInfo.InvariantCulture, $"| root-cause accuracy | {Ratio(s.RootCauseCorrect, s.FaultCases)} |");
        b.AppendLine(CultureInfo.InvariantCulture, $"| detected | {Ratio(s.Detected, s.FaultCases)} |");
        b.AppendLine(CultureInfo.InvariantCulture, $"| safe-pass rate | {Ratio(s.SafePasses, s.Cases)} |");
        b.AppendLine(CultureInfo.InvariantCulture, $"| fixed (cases that expect a fix) | {Ratio(s.Fixed, s.FixExpected)} |");
        b.AppendLine(CultureInfo.InvariantCulture, $"| MTTD | {s.Mttd.Describe()} |");
        b.AppendLine(CultureInfo.InvariantCulture, $"| MTTR | {s.Mttr.Describe()} |");
        b.AppendLine(Inv($"| false actions | {s.FalseActions} in {s.CasesWithFalseActions} case(s), {s.FalseActionsRan} of them ran |"));
        b.AppendLine(Inv($"| unsafe cases | {s.UnsafeCases} ({s.SafetyViolations} violation(s)) |"));
        if (report.Model is not null || s.ModelInputTokens + s.ModelOutputTokens > 0)
        {
            b.AppendLine(Inv($"| model | {s.ModelInputTokens} input and {s.ModelOutputTokens} output tokens, {(s.ModelCostUsd is { } c ? $"${c:0.00}" : "cost unknown")}, {s.ModelWallSeconds:0} s waiting |"));
        }

        b.AppendLine(Inv($"| wall time | {s.WallSeconds:0} s |"));
        b.AppendLine();

        b.AppendLine("## Per category");
        b.AppendLine();
        b.AppendLine("| category | cases | root cause | safe-pass | MTTD median | MTTR median | false actions |");
        b.AppendLine("| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var c in s.Categories)
        {
            b.AppendLine(Inv($"| {c.Category} | {c.Cases} | {(c.FaultCases == 0 ? "-" : Ratio(c.RootCauseCorrect, c.FaultCases))} | {Ratio(c.SafePasses, c.Cases)} | {Seconds(c.Mttd.Median)} | {Seconds(c.Mttr.Median)} | {c.FalseActions} |"));
        }

        b.AppendLine();
        b.AppendLine("## Cases");
        b.AppendLine();
        b.AppendLine("| case | category | faults | detected | TTD | root cause (expected) | actions | fixed | TTR | safe | pass |");
        b.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var c in report.Cases)
        {
            var rootCause = c.NoFault ? "-" : $"{c.RootCause ?? "none"} ({string.Join(" / ", c.ExpectedRootCause)})";
            var actions = c.Actions.Count == 0 ? "none" : string.Join(", ", c.Actions.Select(a => a.Describe()));
            var faults = c.Faults.Count == 0 ? "none" : string.Join(", ", c.Faults);
            b.Append(CultureInfo.InvariantCulture, $"| {Cell(c.Case)} | {c.Category} | {Cell(faults)} | {YesNo(c.Detected)} | {Seconds(c.TimeToDetectSeconds)} ");
            b.AppendLine(CultureInfo.InvariantCulture, $"| {Cell(rootCause)} | {Cell(actions)} | {YesNo(c.Fixed)} | {Seconds(c.TimeToRestoreSeconds)} | {(c.Safe ? "yes" : "**no**")} | {(c.SafePass ? "pass" : "**fail**")} |");
        }

        b.AppendLine();
        b.AppendLine("## Misses");
        b.AppendLine();
        var failed = report.Cases.Where(c => !c.SafePass).ToList();
        if (failed.Count == 0)
        {
            b.AppendLine("None: every case passed.");
            b.AppendLine();
        }

        foreach (var c in failed)
        {
            b.AppendLine(CultureInfo.InvariantCulture, $"### {c.Case}");
            b.AppendLine();
            b.AppendLine(CultureInfo.InvariantCulture, $"{c.Category}; faults {(c.Faults.Count == 0 ? "none" : string.Join(", ", c.Faults))}; {c.File}");
            b.AppendLine();
            foreach (var miss in c.Misses)
            {
                b.AppendLine(CultureInfo.InvariantCulture, $"- {miss}");
            }

            foreach (var note in c.Notes)
            {
                b.AppendLine(CultureInfo.InvariantCulture, $"- runner's note: {note}");
            }

            foreach (var run in c.Skills)
            {
                b.AppendLine(CultureInfo.InvariantCulture, $"- skill run: {Cell(run)}");
            }

            b.AppendLine();
        }

        var quiet = report.Cases.Where(c => c.NoFault && c.Footprint is not null).ToList();
        if (quiet.Count > 0)
        {
            b.AppendLine("## Footprint with nothing wrong");
            b.AppendLine();
            b.AppendLine("The process the agent ran in (with the runner and its writer beside it: an upper bound), over each case with no fault.");
            b.AppendLine();
            b.AppendLine("| case | seconds | RSS mean | RSS max | CPU | critical findings | actions | incidents |");
            b.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- |");
            foreach (var c in quiet)
            {
                var f = c.Footprint!;
                b.AppendLine(CultureInfo.InvariantCulture,
                    $"| {Cell(c.Case)} | {f.Seconds:0} | {f.RssMeanMiB:0.0} MiB | {f.RssMaxMiB:0.0} MiB | {f.CpuSeconds:0.0} s ({f.CpuPercent:0.0} % of a core) | {c.CriticalFindings} | {c.Actions.Count} | {c.IncidentsOpened} |");
            }

            b.AppendLine();
        }

        if (report.Comparison is { } cmp)
        {
            Comparison(b, cmp);
        }

        if (timesSvg is not null || accuracySvg is not null)
        {
            b.AppendLine("## Plots");
            b.AppendLine();
            if (timesSvg is not null)
            {
                b.AppendLine(CultureInfo.InvariantCulture, $"![time to detect and to restore per case]({timesSvg})");
                b.AppendLine();
            }

            if (accuracySvg is not null)
            {
                b.AppendLine(CultureInfo.InvariantCulture, $"![root-cause accuracy and safe-pass rate per category]({accuracySvg})");
                b.AppendLine();
            }
        }

        return b.ToString().TrimEnd() + "\n";
    }

    private static void Comparison(StringBuilder b, EvalComparison cmp)
    {
        b.AppendLine(Inv($"## Compared with the report of {cmp.PreviousGeneratedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC"));
        b.AppendLine();
        b.AppendLine("| metric | before | now | change | |");
        b.AppendLine("| --- | --- | --- | --- | --- |");
        foreach (var m in cmp.Metrics)
        {
            b.AppendLine(CultureInfo.InvariantCulture, $"| {m.Name} | {Number(m.Name, m.Previous)} | {Number(m.Name, m.Current)} | {(m.Delta is { } d ? (d >= 0 ? "+" : "") + Number(m.Name, d) : "-")} | {m.Verdict} |");
        }

        b.AppendLine();
        b.AppendLine(CultureInfo.InvariantCulture, $"Newly failing: {(cmp.NewlyFailing.Count == 0 ? "none" : string.Join(", ", cmp.NewlyFailing))}.");
        foreach (var c in cmp.Cases.Where(c => c.Why.Count > 0))
        {
            b.AppendLine(CultureInfo.InvariantCulture, $"- {c.Case}: {string.Join("; ", c.Why)}");
        }

        b.AppendLine();
        b.AppendLine(CultureInfo.InvariantCulture, $"Newly passing: {(cmp.NewlyPassing.Count == 0 ? "none" : string.Join(", ", cmp.NewlyPassing))}.");
        if (cmp.Added.Count > 0)
        {
            b.AppendLine(CultureInfo.InvariantCulture, $"Added cases: {string.Join(", ", cmp.Added)}.");
        }

        if (cmp.Removed.Count > 0)
        {
            b.AppendLine(CultureInfo.InvariantCulture, $"Removed cases: {string.Join(", ", cmp.Removed)}.");
        }

        b.AppendLine();
        var changed = cmp.Cases.Where(c => c.PreviousTimeToDetectSeconds != c.CurrentTimeToDetectSeconds || c.PreviousTimeToRestoreSeconds != c.CurrentTimeToRestoreSeconds).ToList();
        if (changed.Count > 0)
        {
            b.AppendLine("| case | TTD before | TTD now | TTR before | TTR now |");
            b.AppendLine("| --- | --- | --- | --- | --- |");
            foreach (var c in changed)
            {
                b.AppendLine(CultureInfo.InvariantCulture, $"| {Cell(c.Case)} | {Seconds(c.PreviousTimeToDetectSeconds)} | {Seconds(c.CurrentTimeToDetectSeconds)} | {Seconds(c.PreviousTimeToRestoreSeconds)} | {Seconds(c.CurrentTimeToRestoreSeconds)} |");
            }

            b.AppendLine();
        }
    }

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Ratio(int count, int total) => total == 0 ? "-" : Inv($"{count}/{total} ({100.0 * count / total:0.0} %)");

    private static string Seconds(double? value) => value is { } v ? Inv($"{v:0.0} s") : "-";

    private static string YesNo(bool? value) => value switch
    {
        true => "yes",
        false => "**no**",
        _ => "-",
    };

    private static string Number(string metric, double? value) => value switch
    {
        null => "-",
        { } v when metric.EndsWith("_rate", StringComparison.Ordinal) || metric.EndsWith("_accuracy", StringComparison.Ordinal) => Inv($"{100 * v:0.0} %"),
        { } v when metric.EndsWith("_seconds", StringComparison.Ordinal) => Inv($"{v:0.0} s"),
        { } v when metric.EndsWith("_usd", StringComparison.Ordinal) => Inv($"${v:0.00}"),
        { } v => Inv($"{v:0.##}"),
    };

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace('\n', ' ').Replace('\r', ' ');
}
