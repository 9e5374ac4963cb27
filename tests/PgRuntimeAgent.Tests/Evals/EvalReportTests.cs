using System.Text.Json;
using System.Xml.Linq;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Evals;

namespace PgRuntimeAgent.Tests.Evals;

/// <summary>The report: JSON that round-trips under a stable format name, markdown with every miss, well-formed SVG, and the comparison.</summary>
public sealed class EvalReportTests
{
    private static readonly DateTimeOffset Generated = new(2025, 6, 2, 8, 30, 0, TimeSpan.Zero);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Three cases: a passing fix, a wrong root cause, and a quiet case; names with characters XML and markdown escape.</summary>
    private static List<EvalCaseScore> Scores()
    {
        var good = EvalScoring.Score(EvalScoringTests.Case(EvalScoringTests.DiskFullCase, "disk-full-fast"), EvalScoringTests.FastFix() with { Case = "disk-full-fast" });
        var wrong = EvalScoring.Score(EvalScoringTests.Case(EvalScoringTests.DiskFullCase, "disk-full-norm"),
            EvalScoringTests.FastFix() with { Case = "disk-full-norm", Findings = [EvalScoringTests.Finding("leader-missing", 12)] });
        var quiet = EvalScoring.Score(EvalScoringTests.Case(EvalScoringTests.QuietCase, "noise-pgbench"), new EvalObservation
        {
            Case = "noise-pgbench",
            Cluster = "pg-test",
            StartedAt = EvalScoringTests.T0,
            EndedAt = EvalScoringTests.T0.AddSeconds(120),
            Model = new EvalModelUsage { Name = "small", InputTokens = 1200, OutputTokens = 300, CostUsd = 0.01, WallSeconds = 4.2 },
        });
        return [good, wrong with { Case = "disk-full-norm <&> | \"x\"" }, quiet];
    }

    private static EvalReport Report(EvalReport? previous = null) => EvalReportWriter.Build(Scores(), "evals/", "small", Generated, previous);

    [Fact]
    public void Json_RoundTrips_WithTheFormatNameAndSnakeCaseKeys()
    {
        var report = Report();

        var json = EvalJson.Serialize(report);
        var back = EvalJson.Deserialize(json, "report.json");

        Assert.Equal(json, EvalJson.Serialize(back));
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("pgra.eval/v1", root.GetProperty("format").GetString());
        Assert.Equal("2025-06-02T08:30:00+00:00", root.GetProperty("generated_at").GetString());
        Assert.Equal(2.0 / 3, root.GetProperty("summary").GetProperty("safe_pass_rate").GetDouble(), 6);
        Assert.Equal(0.5, root.GetProperty("summary").GetProperty("root_cause_accuracy").GetDouble());
        var first = root.GetProperty("cases")[0];
        Assert.Equal("disk-full-fast", first.GetProperty("case").GetString());
        Assert.Equal(6, first.GetProperty("time_to_detect_seconds").GetDouble());
        Assert.True(first.GetProperty("safe_pass").GetBoolean());
        Assert.Equal("member.fence", first.GetProperty("actions")[0].GetProperty("kind").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("comparison").ValueKind);
        Assert.Equal("leader-missing", back.Cases[1].RootCause);
        Assert.Equal(report.Summary.Categories.Select(c => c.Category), back.Summary.Categories.Select(c => c.Category));
    }

    [Fact]
    public void Json_NotAReport_IsAnInputError()
    {
        var notJson = Assert.Throws<InputException>(() => EvalJson.Deserialize("{ nope", "old.json"));
        Assert.StartsWith("old.json is not JSON", notJson.Message, StringComparison.Ordinal);

        var otherFormat = Assert.Throws<InputException>(() => EvalJson.Deserialize("""{ "format": "pgra.catalog/v1" }""", "old.json"));
        Assert.Equal("old.json is not a pgra.eval/v1 report (format: pgra.catalog/v1)", otherFormat.Message);

        var damaged = Assert.Throws<InputException>(() => EvalJson.Deserialize("""{ "format": "pgra.eval/v1", "generated_at": 3 }""", "old.json"));
        Assert.StartsWith("old.json is a damaged pgra.eval/v1 report", damaged.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compare_GivesDeltasAndNewlyFailingAndPassingCases()
    {
        var before = Report();
        var scores = Scores();
        scores[0] = scores[0] with { SafePass = false, Misses = ["root cause named leader-missing, expected primary-disk-full"], TimeToDetectSeconds = 9 };
        scores[1] = scores[1] with { SafePass = true, Misses = [] };
        scores.RemoveAt(2);
        scores.Add(scores[0] with { Case = "brand-new" });

        var now = EvalReportWriter.Build(scores, "evals/", "small", Generated.AddDays(1), EvalJson.Deserialize(EvalJson.Serialize(before), "before.json"));
        var cmp = now.Comparison!;

        Assert.Equal(Generated, cmp.PreviousGeneratedAt);
        Assert.Equal(["disk-full-fast"], cmp.NewlyFailing);
        Assert.Equal(["disk-full-norm <&> | \"x\""], cmp.NewlyPassing);
        Assert.Equal(["brand-new"], cmp.Added);
        Assert.Equal(["noise-pgbench"], cmp.Removed);
        var failing = cmp.Cases.Single(c => c.Case == "disk-full-fast");
        Assert.Equal(["root cause named leader-missing, expected primary-disk-full"], failing.Why);
        Assert.Equal((6.0, 9.0), (failing.PreviousTimeToDetectSeconds!.Value, failing.CurrentTimeToDetectSeconds!.Value));
        var rate = cmp.Metrics.Single(m => m.Name == "safe_pass_rate");
        Assert.Equal(2.0 / 3, rate.Previous!.Value, 6);
        Assert.Equal(1.0 / 3, rate.Current!.Value, 6);
        Assert.Equal("worse", rate.Verdict);
        var mttd = cmp.Metrics.Single(m => m.Name == "mttd_mean_seconds");
        Assert.Equal("worse", mttd.Verdict);
        Assert.Equal("better", cmp.Metrics.Single(m => m.Name == "root_cause_accuracy").Verdict);
        Assert.Equal("same", cmp.Metrics.Single(m => m.Name == "detection_rate").Verdict);
        Assert.Equal("better", cmp.Metrics.Single(m => m.Name == "model_tokens").Verdict);

        var markdown = EvalReportWriter.Markdown(now);
        Assert.Contains("## Compared with the report of 2025-06-02 08:30:00 UTC", markdown, StringComparison.Ordinal);
        Assert.Contains("| safe_pass_rate | 66.7 % | 33.3 % | -33.3 % | worse |", markdown, StringComparison.Ordinal);
        Assert.Contains("Newly failing: disk-full-fast.", markdown, StringComparison.Ordinal);
        Assert.Contains("- disk-full-fast: root cause named leader-missing, expected primary-disk-full", markdown, StringComparison.Ordinal);
        Assert.Contains("| disk-full-fast | 6.0 s | 9.0 s | 25.0 s | 25.0 s |", markdown, StringComparison.Ordinal);
    }

    [Fact]
    public void Markdown_HasTheSummaryTheCasesAndEveryMissWithWhy()
    {
        var markdown = EvalReportWriter.Markdown(Report(), "r-times.svg", "r-accuracy.svg");

        Assert.StartsWith("# pgra eval report\n", markdown, StringComparison.Ordinal);
        Assert.Contains("3 case(s), 2 with faults and 1 with nothing wrong; model `small`.", markdown, StringComparison.Ordinal);
        Assert.Contains("| root-cause accuracy | 1/2 (50.0 %) |", markdown, StringComparison.Ordinal);
        Assert.Contains("| safe-pass rate | 2/3 (66.7 %) |", markdown, StringComparison.Ordinal);
        Assert.Contains("| MTTD | mean 9.0 s, median 9.0 s, p90 12.0 s (n=2) |", markdown, StringComparison.Ordinal);
        Assert.Contains("| model | 1200 input and 300 output tokens, $0.01, 4 s waiting |", markdown, StringComparison.Ordinal);
        Assert.Contains("| gray-failure | 2 | 1/2 (50.0 %) | 1/2 (50.0 %) | 9.0 s | 25.0 s | 0 |", markdown, StringComparison.Ordinal);
        Assert.Contains("| disk-full-fast | gray-failure | disk-full@leader | yes | 6.0 s | primary-disk-full (primary-disk-full) | member.fence@pg-test-1 (succeeded), "
            + "patroni.failover@pg-test-2 (succeeded), inventory.propose_patch (recommended) | yes | 25.0 s | yes | pass |", markdown, StringComparison.Ordinal);
        Assert.Contains("| disk-full-norm <&> \\| \"x\" |", markdown, StringComparison.Ordinal);
        Assert.Contains("### disk-full-norm <&> | \"x\"\n\ngray-failure; faults disk-full@leader; evals/disk-full-norm.yml\n\n- root cause named leader-missing, expected primary-disk-full\n",
            markdown, StringComparison.Ordinal);
        Assert.Contains("![time to detect and to restore per case](r-times.svg)", markdown, StringComparison.Ordinal);
        Assert.DoesNotContain("### disk-full-fast", markdown, StringComparison.Ordinal);
    }

    [Fact]
    public void Svg_BothPlots_AreWellFormedWithABarPerMeasure()
    {
        var report = Report();

        var times = XDocument.Parse(EvalPlots.Times(report));
        var accuracy = XDocument.Parse(EvalPlots.Accuracy(report));

        XNamespace svg = "http://www.w3.org/2000/svg";
        Assert.Equal(svg + "svg", times.Root!.Name);
        var texts = times.Descendants(svg + "text").Select(t => t.Value).ToList();
        Assert.Contains("disk-full-norm <&> | \"x\"", texts);
        Assert.Contains("6.0 s", texts);
        Assert.Contains("25.0 s", texts);
        Assert.Contains("no fault: stayed quiet", texts);
        Assert.Contains("12.0 s", texts);
        // Background and legend (3 rects), and a bar per detection (2) and per restoration (2).
        Assert.Equal(7, times.Descendants(svg + "rect").Count());
        var accuracyTexts = accuracy.Descendants(svg + "text").Select(t => t.Value).ToList();
        Assert.Contains("all cases", accuracyTexts);
        Assert.Contains("gray-failure (2)", accuracyTexts);
        Assert.Contains("50.0 %", accuracyTexts);
        Assert.Contains("no fault case", accuracyTexts);
    }

    [Fact]
    public void NiceMax_RoundsUpToOneTwoOrFive()
    {
        Assert.Equal([1.0, 10.0, 20.0, 50.0, 100.0, 200.0], new[] { 0.0, 9.0, 11.0, 50.0, 51.0, 101.0 }.Select(EvalPlots.NiceMax));
    }

    [Fact]
    public async Task WriteAsync_WritesMarkdownJsonAndBothPlots()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-eval-report-").FullName;
        try
        {
            var files = await EvalReportWriter.WriteAsync(dir, "2025-06-02", Report(), Ct);

            Assert.Equal(Path.Combine(dir, "2025-06-02.md"), files.Markdown);
            Assert.Contains("(2025-06-02-times.svg)", await File.ReadAllTextAsync(files.Markdown, Ct), StringComparison.Ordinal);
            Assert.Equal("pgra.eval/v1", EvalJson.Deserialize(await File.ReadAllTextAsync(files.Json, Ct), files.Json).Format);
            XDocument.Parse(await File.ReadAllTextAsync(files.TimesSvg, Ct));
            XDocument.Parse(await File.ReadAllTextAsync(files.AccuracySvg, Ct));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
