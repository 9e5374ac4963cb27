using System.Text.Json;
using PgRuntimeAgent.Evals;

namespace PgRuntimeAgent.Tests.Evals;

/// <summary><c>pgra eval check</c> as an operator runs it.</summary>
public sealed class EvalCommandsTests
{
    private static string EvalsDirectory => Path.Combine(TestPaths.RepoRoot, "evals");

    private static int ShippedCount => Directory.GetFiles(EvalsDirectory, "*.yml").Length;

    [Fact]
    public async Task Check_ShippedCases_ExitZeroWithOneLinePerCase()
    {
        var result = await CliRunner.RunAsync("eval", "check", "--cases", EvalsDirectory);

        Assert.Equal(0, result.ExitCode);
        var lines = result.Out.TrimEnd().Split('\n');
        Assert.Equal(ShippedCount + 1, lines.Length);
        Assert.Equal($"{ShippedCount} case file(s) checked: {ShippedCount} case(s) load, 0 error(s), 0 warning(s)", lines[^1]);
        var diskFull = Assert.Single(lines, l => l.StartsWith("disk-full-norm ", StringComparison.Ordinal));
        Assert.Matches(@"^disk-full-norm +gray-failure +disk-full@leader +root cause: primary-disk-full +actions: member\.fence@disk-full +limit 150 s$", diskFull);
        Assert.Contains(lines, l => l.StartsWith("noise-idle ", StringComparison.Ordinal) && l.Contains("root cause: -", StringComparison.Ordinal) && l.Contains("actions: none", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("lock-pileup@leader, primary-crash@leader+20s", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Check_Json_ListsTheCasesInSnakeCase()
    {
        var result = await CliRunner.RunAsync("eval", "check", "--cases", EvalsDirectory, "--json");

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Out);
        var root = doc.RootElement;
        Assert.Equal(ShippedCount, root.GetProperty("files").GetInt32());
        Assert.Equal(0, root.GetProperty("errors").GetInt32());
        Assert.Equal(0, root.GetProperty("problems").GetArrayLength());
        var cases = root.GetProperty("cases").EnumerateArray().ToList();
        Assert.Equal(ShippedCount, cases.Count);
        var freeze = cases.Single(c => c.GetProperty("name").GetString() == "primary-freeze-norm");
        Assert.Equal("norm", freeze.GetProperty("timing").GetString());
        Assert.Equal("primary-freeze", freeze.GetProperty("faults")[0].GetProperty("scenario").GetString());
        Assert.Equal(3, freeze.GetProperty("autonomy").GetProperty("classes").GetProperty("member.fence").GetInt32());
        Assert.Equal(["primary-frozen", "leader-not-renewing"], freeze.GetProperty("expect").GetProperty("root_cause").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(120, freeze.GetProperty("limits").GetProperty("time_limit_seconds").GetDouble());
    }

    [Fact]
    public async Task Check_BrokenCase_ExitsOneWithEveryProblemAtFileLineColumn()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-eval-cli-").FullName;
        try
        {
            File.Copy(Path.Combine(EvalsDirectory, "disk-full-fast.yml"), Path.Combine(dir, "disk-full-fast.yml"));
            var broken = File.ReadAllText(Path.Combine(EvalsDirectory, "connection-storm.yml"))
                .Replace("connection-saturation", "connection-saturaton", StringComparison.Ordinal)
                .Replace("category: workload", "categroy: workload", StringComparison.Ordinal);
            File.WriteAllText(Path.Combine(dir, "connection-storm.yml"), broken);

            var result = await CliRunner.RunAsync("eval", "check", "--cases", dir);

            Assert.Equal(1, result.ExitCode);
            var file = Path.Combine(dir, "connection-storm.yml");
            Assert.Contains($"error: {file}:4:1: categroy: unknown key 'categroy' in a case; did you mean 'category'?", result.Out, StringComparison.Ordinal);
            Assert.Contains($"error: {file}:9:16: expect.root_cause[0]: unknown finding code 'connection-saturaton'; did you mean 'connection-saturation'?", result.Out, StringComparison.Ordinal);
            Assert.Contains("disk-full-fast ", result.Out, StringComparison.Ordinal);
            Assert.EndsWith("2 case file(s) checked: 1 case(s) load, 3 error(s), 0 warning(s)\n", result.Out.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Check_Glob_ChecksOnlyTheMatchingCases()
    {
        var result = await CliRunner.RunAsync("eval", "check", "--cases", Path.Combine(EvalsDirectory, "primary-freeze-*.yml"));

        Assert.Equal(0, result.ExitCode);
        Assert.EndsWith("3 case file(s) checked: 3 case(s) load, 0 error(s), 0 warning(s)\n", result.Out.ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_NothingThere_IsAUsageError()
    {
        var result = await CliRunner.RunAsync("eval", "check", "--cases", Path.Combine(EvalsDirectory, "no-such-case.yml"));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("error: no case file or directory", result.Error, StringComparison.Ordinal);
        Assert.Contains("--cases", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rescore_ScoresAReportsObservationsAgainstTheCasesAsTheyAreNow()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-eval-rescore-").FullName;
        try
        {
            // A report whose one case passed; then the case's expectation changes and the same observation fails it.
            var cases = Path.Combine(dir, "cases");
            Directory.CreateDirectory(cases);
            File.WriteAllText(Path.Combine(cases, "case.yml"), EvalScoringTests.DiskFullCase);
            var observation = EvalScoringTests.FastFix();
            var evalCase = Assert.Single(EvalCaseLoader.LoadAll(cases, dir).Cases);
            var report = EvalReportWriter.Build([EvalScoring.Score(evalCase, observation with { Case = evalCase.Name })], cases, null,
                new DateTimeOffset(2026, 12, 4, 0, 0, 0, TimeSpan.Zero), null, [observation with { Case = evalCase.Name }]);
            await EvalReportWriter.WriteAsync(dir, "run", report, TestContext.Current.CancellationToken);
            Assert.True(report.Cases[0].SafePass, string.Join("; ", report.Cases[0].Misses));
            File.WriteAllText(Path.Combine(cases, "case.yml"), EvalScoringTests.DiskFullCase.Replace("primary-disk-full", "primary-frozen", StringComparison.Ordinal));

            var result = await CliRunner.RunAsync("eval", "rescore", Path.Combine(dir, "run.json"), "--name", "again");

            Assert.Equal(0, result.ExitCode);
            Assert.Contains("root cause 0%", result.Out, StringComparison.Ordinal);
            var again = EvalJson.Deserialize(File.ReadAllText(Path.Combine(dir, "again.json")), "again.json");
            Assert.False(again.Cases[0].RootCauseCorrect);
            Assert.Single(again.Observations);
            Assert.Contains(evalCase.Name, again.Comparison!.NewlyFailing.Select(n => n.Split(':')[0]));

            var none = await CliRunner.RunAsync("eval", "rescore", Path.Combine(dir, "missing.json"));
            Assert.NotEqual(0, none.ExitCode);
            Assert.Contains("no such file", none.Error, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Rescore_With_ARerunsObservationReplacesTheSameCase_AndIsNotedAsARerun()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-eval-rescore-with-").FullName;
        try
        {
            var cases = Path.Combine(dir, "cases");
            Directory.CreateDirectory(cases);
            File.WriteAllText(Path.Combine(cases, "case.yml"), EvalScoringTests.DiskFullCase);
            var evalCase = Assert.Single(EvalCaseLoader.LoadAll(cases, dir).Cases);
            var at = new DateTimeOffset(2026, 12, 4, 0, 0, 0, TimeSpan.Zero);

            // The first run missed the root cause; the rerun of that case named it.
            var missed = EvalScoringTests.FastFix() with { Case = evalCase.Name, Findings = [EvalScoringTests.Finding("leader-missing", 12)] };
            var first = EvalReportWriter.Build([EvalScoring.Score(evalCase, missed)], cases, null, at, null, [missed]);
            await EvalReportWriter.WriteAsync(dir, "first", first, TestContext.Current.CancellationToken);
            var good = EvalScoringTests.FastFix() with { Case = evalCase.Name };
            var rerun = EvalReportWriter.Build([EvalScoring.Score(evalCase, good)], cases, null, at.AddHours(1), null, [good]);
            await EvalReportWriter.WriteAsync(dir, "rerun", rerun, TestContext.Current.CancellationToken);

            var result = await CliRunner.RunAsync("eval", "rescore", Path.Combine(dir, "first.json"), "--with", Path.Combine(dir, "rerun.json"), "--name", "merged");

            Assert.Equal(0, result.ExitCode);
            var merged = EvalJson.Deserialize(File.ReadAllText(Path.Combine(dir, "merged.json")), "merged.json");
            var observation = Assert.Single(merged.Observations);
            Assert.Contains("from a later run: rerun.json (2026-12-04 01:00Z)", observation.Notes);
            Assert.True(merged.Cases[0].SafePass, string.Join("; ", merged.Cases[0].Misses));

            var missing = await CliRunner.RunAsync("eval", "rescore", Path.Combine(dir, "first.json"), "--with", Path.Combine(dir, "nope.json"));
            Assert.NotEqual(0, missing.ExitCode);
            Assert.Contains("nope.json: no such file", missing.Error, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Run_SkipOfAnUnknownCase_IsRefusedBeforeTheLabIsTouched_ListingTheCases()
    {
        var result = await CliRunner.RunAsync("eval", "run", "--cases", EvalsDirectory, "--skip", "noise-soak", "--skip", "no-such-case", "--lab-dir", "/nonexistent");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--skip no-such-case: no such case", result.Error, StringComparison.Ordinal);
        Assert.Contains("noise-soak", result.Error, StringComparison.Ordinal);
    }
}
