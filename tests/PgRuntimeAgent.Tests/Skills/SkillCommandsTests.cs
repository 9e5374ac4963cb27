using System.Text.Json;
using PgRuntimeAgent.Cli.Commands;

namespace PgRuntimeAgent.Tests.Skills;

public sealed class SkillCommandsTests
{
    private static string Skills => SkillTestKit.SkillsDirectory;

    /// <summary>The skill files shipped in skills/, by name (the commands must list every one).</summary>
    private static List<string> ShippedFiles() =>
        [.. Directory.GetFiles(Skills, "*.md").Select(f => Path.GetFileNameWithoutExtension(f)!).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task List_Json_ListsEveryShippedSkill()
    {
        var result = await CliRunner.RunAsync("skills", "list", "--skills", Skills, "--json");

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Out);
        var names = doc.RootElement.EnumerateArray().Select(e => e.GetProperty("name").GetString()!).ToList();
        Assert.Equal(ShippedFiles(), names);
        Assert.Contains("deposed-primary", names);
        var primary = doc.RootElement.EnumerateArray().Single(e => e.GetProperty("name").GetString() == "primary-failure");
        Assert.Equal("10m", primary.GetProperty("cooldown").GetString());
        Assert.Equal(["member.fence", "patroni.failover"], primary.GetProperty("actions").EnumerateArray().Select(a => a.GetString()));
        Assert.Contains("primary-frozen", primary.GetProperty("triggers").GetProperty("findings").EnumerateArray().Select(a => a.GetString()));
    }

    [Fact]
    public async Task List_Table_ShowsTriggersAndActions()
    {
        var result = await CliRunner.RunAsync("skills", "list", "--skills", Skills);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("finding primary-frozen", result.Out, StringComparison.Ordinal);
        Assert.Contains("cron 30 2 * * *", result.Out, StringComparison.Ordinal);
        Assert.Contains($"{ShippedFiles().Count} skill(s)", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_PrintsHeaderAndProse()
    {
        var result = await CliRunner.RunAsync("skills", "show", "primary-failure", "--skills", Skills);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Actions      member.fence, patroni.failover", result.Out, StringComparison.Ordinal);
        Assert.Contains("Why fence before failing over", result.Out, StringComparison.Ordinal);
        Assert.Contains("old_primary (check) -> lag_limit (check)", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_Json_HasStepsAndBody()
    {
        var result = await CliRunner.RunAsync("skills", "show", "planned-switchover", "--skills", Skills, "--json");

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Out);
        Assert.Equal("leader", doc.RootElement.GetProperty("steps")[0].GetProperty("id").GetString());
        Assert.Contains("# Planned switchover", doc.RootElement.GetProperty("body").GetString(), StringComparison.Ordinal);
        Assert.True(doc.RootElement.GetProperty("parameters").TryGetProperty("to", out _));
    }

    [Fact]
    public async Task Show_UnknownSkill_IsUsageError()
    {
        var result = await CliRunner.RunAsync("skills", "show", "no-such-skill", "--skills", Skills);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no skill named 'no-such-skill'", result.Error, StringComparison.Ordinal);
        Assert.Contains("primary-failure", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lint_ShippedSkills_ExitsZero()
    {
        var result = await CliRunner.RunAsync("skills", "lint", "--skills", Skills);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains($"{ShippedFiles().Count} skill file(s) checked: 0 error(s), 0 warning(s)", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lint_BrokenFile_PrintsFileLineColumnAndExitsOne()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-lint-");
        try
        {
            var path = Path.Combine(dir.FullName, "broken.md");
            await File.WriteAllTextAsync(path, """
                ---
                name: broken
                description: Broken on purpose.
                actions: [patroni.failover]
                ---
                ```yaml steps
                - id: a
                  check: "members[?name == 'x'"
                ```
                """, TestContext.Current.CancellationToken);

            var text = await CliRunner.RunAsync("skills", "lint", path);
            var json = await CliRunner.RunAsync("skills", "lint", path, "--json");

            Assert.Equal(1, text.ExitCode);
            Assert.Contains("broken.md:8:30: error bad-jmespath:", text.Out, StringComparison.Ordinal);
            Assert.Contains("1 skill file(s) checked: 1 error(s), 0 warning(s)", text.Out, StringComparison.Ordinal);
            Assert.Equal(1, json.ExitCode);
            using var doc = JsonDocument.Parse(json.Out);
            var d = doc.RootElement.GetProperty("diagnostics")[0];
            Assert.Equal((8, 30, "bad-jmespath"), (d.GetProperty("line").GetInt32(), d.GetProperty("column").GetInt32(), d.GetProperty("code").GetString()));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Run_DryRunOverSnapshotFile_PrintsThePlan()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, SnapshotBuilder.Healthy().FrozenLeader().Build().GetRawText(), TestContext.Current.CancellationToken);

            var text = await CliRunner.RunAsync("skills", "run", "primary-failure", "--cluster", "pg-test", "--dry-run", "--snapshot", file,
                "--finding", "primary-frozen", "--member", "pg-test-1", "--skills", Skills);
            var json = await CliRunner.RunAsync("skills", "run", "primary-failure", "--cluster", "pg-test", "--dry-run", "--snapshot", file,
                "--finding", "primary-frozen", "--member", "pg-test-1", "--skills", Skills, "--json");

            Assert.Equal(0, text.ExitCode);
            Assert.Contains("(dry run): completed", text.Out, StringComparison.Ordinal);
            Assert.Contains("""member.fence; {"member":"pg-test-1"}""", text.Out, StringComparison.Ordinal);
            Assert.Contains("""patroni.failover; {"candidate":"pg-test-3","leader":"pg-test-1"}""", text.Out, StringComparison.Ordinal);
            using var doc = JsonDocument.Parse(json.Out);
            Assert.Equal("completed", doc.RootElement.GetProperty("status").GetString());
            var steps = doc.RootElement.GetProperty("steps").EnumerateArray().ToList();
            Assert.Equal("planned", steps.Single(s => s.GetProperty("stepId").GetString() == "failover").GetProperty("status").GetString());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Run_WithParameter_PassesIt()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, SnapshotBuilder.Healthy().Build().GetRawText(), TestContext.Current.CancellationToken);

            var result = await CliRunner.RunAsync("skills", "run", "planned-switchover", "-c", "pg-test", "--dry-run", "--snapshot", file,
                "--param", "to=pg-test-2", "--skills", Skills);

            Assert.Equal(0, result.ExitCode);
            Assert.Contains("""{"leader":"pg-test-1","candidate":"pg-test-2"}""", result.Out, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("--param", "nope=1", "bad --param")]
    [InlineData("--finding", "leader-gone", "unknown finding code 'leader-gone'")]
    public async Task Run_BadInput_IsUsageError(string option, string value, string expected)
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, "{}", TestContext.Current.CancellationToken);

            var result = await CliRunner.RunAsync("skills", "run", "planned-switchover", "-c", "pg-test", "--dry-run", "--snapshot", file, option, value, "--skills", Skills);

            Assert.Equal(2, result.ExitCode);
            Assert.Contains(expected, result.Error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Run_SnapshotWithoutDryRunOrLiveOnAnUnknownCluster_IsRefusedBeforeAnythingIsSensed()
    {
        var noDryRun = await CliRunner.RunAsync("skills", "run", "primary-failure", "-c", "pg-test", "--snapshot", "x.json", "--skills", Skills);
        var unknown = await CliRunner.RunAsync("-i", Path.Combine(TestPaths.RepoRoot, "inventory", "lab.yml"), "skills", "run", "primary-failure", "-c", "pg-nope", "--skills", Skills);

        Assert.Equal(2, noDryRun.ExitCode);
        Assert.Contains("a saved snapshot can only be dry-run", noDryRun.Error, StringComparison.Ordinal);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("unknown cluster 'pg-nope'", unknown.Error, StringComparison.Ordinal);
        Assert.Contains("pg-test", unknown.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ "schema_version": 1, "cluster": "pg-test", "leader": "pg-test-1" }""", "not a snapshot this pgra can read")]
    [InlineData("""{ "schema_version": 99, "cluster": "pg-test", "taken_at": "2026-11-22T10:00:00+00:00", "inventory": {} }""", "newer than this pgra understands")]
    [InlineData("""[1, 2]""", "must be a JSON object")]
    public async Task Run_SnapshotThatDetectRejects_IsRejectedTheSameWay(string content, string message)
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, content, TestContext.Current.CancellationToken);

            var detect = await CliRunner.RunAsync("detect", "pg-test", "--snapshot", file, "-i", "/nonexistent/pigsty.yml");
            var run = await CliRunner.RunAsync("skills", "run", "primary-failure", "-c", "pg-test", "--dry-run", "--snapshot", file, "--skills", Skills);

            Assert.Equal(2, detect.ExitCode);
            Assert.Equal(2, run.ExitCode);
            Assert.Contains(message, detect.Error, StringComparison.Ordinal);
            Assert.Contains(message, run.Error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Run_SnapshotOfAnotherCluster_IsRejected()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, SnapshotBuilder.Healthy().Build().GetRawText(), TestContext.Current.CancellationToken);

            var run = await CliRunner.RunAsync("skills", "run", "primary-failure", "-c", "pg-other", "--dry-run", "--snapshot", file, "--skills", Skills);

            Assert.Equal(2, run.ExitCode);
            Assert.Contains("is a snapshot of pg-test, not pg-other", run.Error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Run_SnapshotNotJson_ReportsWhere()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, "{\n  \"leader\": ,\n}", TestContext.Current.CancellationToken);

            var result = await CliRunner.RunAsync("skills", "run", "primary-failure", "-c", "pg-test", "--dry-run", "--snapshot", file, "--skills", Skills);

            Assert.Equal(2, result.ExitCode);
            Assert.Contains(":2:", result.Error, StringComparison.Ordinal);
            Assert.Contains("not valid JSON", result.Error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void ResolveDirectory_PrefersExplicitThenLocalThenAboveTheBinary()
    {
        var root = Directory.CreateTempSubdirectory("pgra-resolve-");
        try
        {
            var cwd = Directory.CreateDirectory(Path.Combine(root.FullName, "cwd"));
            var bin = Directory.CreateDirectory(Path.Combine(root.FullName, "app", "bin", "Release"));
            var above = Directory.CreateDirectory(Path.Combine(root.FullName, "app", "skills"));
            File.WriteAllText(Path.Combine(above.FullName, "x.md"), "---\n---\n");

            Assert.Equal(above.FullName, SkillCommands.ResolveDirectory(null, cwd.FullName, bin.FullName));
            var local = Directory.CreateDirectory(Path.Combine(cwd.FullName, "skills"));
            Assert.Equal(local.FullName, SkillCommands.ResolveDirectory(null, cwd.FullName, bin.FullName));
            Assert.Equal(above.FullName, SkillCommands.ResolveDirectory("../app/skills", cwd.FullName, bin.FullName));
            var error = Assert.Throws<InputException>(() => SkillCommands.ResolveDirectory("missing", cwd.FullName, bin.FullName));
            Assert.Contains("skills directory not found", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }
}
