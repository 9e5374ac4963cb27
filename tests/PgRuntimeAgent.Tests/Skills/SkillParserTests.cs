using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Tests.Skills;

public sealed class SkillParserTests
{
    // Line numbers below count from this layout: front matter lines 1-8, steps block content from line 12.
    private const string Front = """
        ---
        name: t
        description: A test skill.
        triggers:
          findings: [leader-missing]
        actions: [patroni.failover]
        cooldown: 10m
        ---
        # T

        ```yaml steps

        """;

    private static string WithSteps(string steps) => Front + steps + "```\n";

    private static IReadOnlyList<SkillDiagnostic> Diagnose(string text, string file = "t.md") => SkillParser.Parse(file, text).Diagnostics;

    private static SkillDiagnostic Single(IReadOnlyList<SkillDiagnostic> diagnostics, string code)
    {
        var matching = diagnostics.Where(d => d.Code == code).ToList();
        Assert.True(matching.Count == 1, $"expected one {code}, got:{Environment.NewLine}{string.Join(Environment.NewLine, diagnostics)}");
        return matching[0];
    }

    private static void AssertAt(SkillDiagnostic diagnostic, int line, int column)
    {
        Assert.Equal("t.md", diagnostic.File);
        Assert.True((line, column) == (diagnostic.Line, diagnostic.Column), $"expected {line}:{column}, got {diagnostic}");
    }

    [Fact]
    public void Parse_ValidSkill_ReadsFrontMatterAndSteps()
    {
        // The step passes made-up parameters to show how values are read: parsed without the catalogue's parameter lists.
        var result = SkillParser.Parse("t.md", WithSteps("""
            - id: leader_known
              title: Someone holds the key
              check: "leader"
              then: done
              else: stop_here
            - id: stop_here
              record: "no leader on {{ $cluster }}"
              kind: follow-up
              next: fail
            - id: done
              action: patroni.failover
              with:
                candidate: "{{ leader }}"
                force: false
                retries: 3
                note: "to {{ leader }} now"
              timeout: 1m

            """), SkillTestKit.AnyParameters);

        Assert.Empty(result.Diagnostics);
        var skill = result.Skill!;
        Assert.Equal("t", skill.Name);
        Assert.Equal(["leader-missing"], skill.Triggers.Findings);
        Assert.Equal(["patroni.failover"], skill.Actions);
        Assert.Equal(TimeSpan.FromMinutes(10), skill.Cooldown);
        Assert.Equal(["leader_known", "stop_here", "done"], skill.Steps.Select(s => s.Id));
        var check = skill.Steps[0];
        Assert.Equal(SkillStepKind.Check, check.Kind);
        Assert.Equal(new SkillLocation(12, 3), check.Location);
        Assert.Equal(new SkillLocation(14, 11), check.Condition!.Location);
        Assert.Equal(("done", "stop_here"), (check.Then, check.Else));
        Assert.Equal(SkillRecordKinds.FollowUp, skill.Steps[1].RecordKind);
        var action = skill.Steps[2];
        Assert.Equal(TimeSpan.FromMinutes(1), action.Timeout);
        var with = Assert.IsType<SkillObjectValue>(action.With);
        Assert.True(Assert.IsType<SkillTemplateValue>(with.Members[0].Value).Template.IsSingleExpression);
        Assert.Equal("false", Assert.IsType<SkillLiteralValue>(with.Members[1].Value).Json);
        Assert.Equal("3", Assert.IsType<SkillLiteralValue>(with.Members[2].Value).Json);
        Assert.False(Assert.IsType<SkillTemplateValue>(with.Members[3].Value).Template.IsSingleExpression);
        Assert.Equal(16, skill.Digest.Length);
    }

    [Fact]
    public void Parse_UnknownFrontMatterKey_ReportsKeyPosition()
    {
        var text = WithSteps("- id: a\n  check: \"leader\"\n").Replace("cooldown: 10m\n", "cooldown: 10m\ncolour: blue\n", StringComparison.Ordinal);
        var d = Single(Diagnose(text), SkillDiagnosticCodes.UnknownKey);
        AssertAt(d, 8, 1);
        Assert.Contains("colour", d.Message, StringComparison.Ordinal);
        Assert.StartsWith("t.md:8:1: error unknown-key:", d.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownStepKey_ReportsKeyPosition()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  check: \"leader\"\n  bogus: 1\n")), SkillDiagnosticCodes.UnknownKey);
        AssertAt(d, 14, 3);
        Assert.Contains("'bogus'", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_KeyOfAnotherStepKind_SaysWhereItBelongs()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  wait: \"leader\"\n  timeout: 5s\n  then: a\n")), SkillDiagnosticCodes.UnknownKey);
        AssertAt(d, 15, 3);
        Assert.Contains("check steps", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_InvestigateStep_TakesAQuestionTemplateAndATimeoutButNoActionKeys()
    {
        var skill = SkillTestKit.Parse(WithSteps("- id: ask\n  investigate: \"why is {{ leader }} slow?\"\n  timeout: 30s\n  on_fail: end\n"), "t.md");
        var step = Assert.Single(skill.Steps);
        Assert.Equal(SkillStepKind.Investigate, step.Kind);
        Assert.Equal("why is {{ leader }} slow?", step.Text!.Text);
        Assert.Equal(TimeSpan.FromSeconds(30), step.Timeout);

        var d = Single(Diagnose(WithSteps("- id: ask\n  investigate: \"why?\"\n  with: { a: 1 }\n")), SkillDiagnosticCodes.UnknownKey);
        AssertAt(d, 14, 3);
        Assert.Equal("'with' is not valid on an investigate step (it belongs to action steps)", d.Message);
        var bad = Single(Diagnose(WithSteps("- id: ask\n  investigate: \"why {{ members[ }}?\"\n")), SkillDiagnosticCodes.BadJmesPath);
        Assert.Equal(13, bad.Line);
    }

    [Fact]
    public void Parse_BadJmesPath_ReportsPositionInsideTheExpression()
    {
        // "  check: \"members[?name == 'x'\"": the expression starts at column 11 and ends early at its last character.
        var d = Single(Diagnose(WithSteps("- id: a\n  check: \"members[?name == 'x'\"\n")), SkillDiagnosticCodes.BadJmesPath);
        AssertAt(d, 13, 30);
        Assert.Contains("ends too early", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_BadJmesPathInTemplate_ReportsPositionInsideTheTemplate()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  record: \"leader is {{ leader.. }} now\"\n")), SkillDiagnosticCodes.BadJmesPath);
        AssertAt(d, 13, 32);
        Assert.Contains("near '.'", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_BadJmesPathInLiteralBlock_ReportsLineInsideTheBlock()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  check: |\n    leader != null &&\n      members[?name == 'x'\n")), SkillDiagnosticCodes.BadJmesPath);
        Assert.Equal(15, d.Line);
    }

    [Fact]
    public void Parse_UnknownJmesPathFunction_PointsAtTheFunction()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  check: \"length(lenght(members))\"\n")), SkillDiagnosticCodes.BadJmesPath);
        AssertAt(d, 13, 18);
        Assert.Contains("'lenght'", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownActionClass_ReportsTheStepValue()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  action: patroni.explode\n")), SkillDiagnosticCodes.UnknownAction);
        AssertAt(d, 13, 11);
    }

    [Fact]
    public void Parse_UnknownActionClassInFrontMatter_ReportsTheListEntry()
    {
        var text = WithSteps("- id: a\n  check: \"leader\"\n").Replace("actions: [patroni.failover]", "actions: [patroni.failover, foo.bar]", StringComparison.Ordinal);
        AssertAt(Single(Diagnose(text), SkillDiagnosticCodes.UnknownAction), 6, 29);
    }

    [Fact]
    public void Parse_ActionNotDeclaredInFrontMatter_IsAnError()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  action: patroni.switchover\n")), SkillDiagnosticCodes.ActionNotDeclared);
        AssertAt(d, 13, 11);
    }

    [Fact]
    public void Parse_FamilyWildcard_AllowsEveryClassOfTheFamily()
    {
        var text = WithSteps("- id: a\n  action: sql.analyze\n").Replace("actions: [patroni.failover]", "actions: [sql.*]", StringComparison.Ordinal);
        Assert.Empty(Diagnose(text));
    }

    [Fact]
    public void Parse_UnknownJumpTarget_ReportsTheTargetValue()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  check: \"leader\"\n  then: nowhere\n")), SkillDiagnosticCodes.UnknownStep);
        AssertAt(d, 14, 9);
        Assert.Contains("'nowhere'", d.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("- id: a\n  check: \"leader\"\n  then: a\n", "then", 14, 9)]
    [InlineData("- id: a\n  check: \"leader\"\n  else: a\n", "else", 14, 9)]
    [InlineData("- id: a\n  record: \"x\"\n  next: a\n", "next", 14, 9)]
    [InlineData("- id: a\n  wait: \"leader\"\n  timeout: 5s\n  on_fail: a\n", "on_fail", 15, 12)]
    public void Parse_StepThatJumpsToItself_IsAnErrorAtTheTarget(string steps, string key, int line, int column)
    {
        var d = Single(Diagnose(WithSteps(steps)), SkillDiagnosticCodes.BadStep);

        Assert.True(d.IsError);
        AssertAt(d, line, column);
        Assert.Contains($"step 'a' jumps to itself with '{key}: a'", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownStepInExpression_ReportsTheStepName()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  check: \"$steps.nope.value\"\n")), SkillDiagnosticCodes.UnknownStep);
        AssertAt(d, 13, 18);
    }

    [Fact]
    public void Parse_UnknownVariable_ReportsItsPosition()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  check: \"leader == $lead\"\n")), SkillDiagnosticCodes.UnknownVariable);
        AssertAt(d, 13, 21);
    }

    [Fact]
    public void Parse_VariableInsideRawString_IsNotAReference()
    {
        Assert.Empty(Diagnose(WithSteps("- id: a\n  check: \"leader != '$nothing'\"\n")));
    }

    [Fact]
    public void Parse_UndeclaredParameter_IsAnError()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  check: \"$params.to\"\n")), SkillDiagnosticCodes.UnknownParameter);
        AssertAt(d, 13, 19);
    }

    [Fact]
    public void Parse_UnknownFindingCode_ReportsTheListEntry()
    {
        var text = WithSteps("- id: a\n  check: \"leader\"\n").Replace("[leader-missing]", "[leader-missing, leader-gone]", StringComparison.Ordinal);
        var d = Single(Diagnose(text), SkillDiagnosticCodes.UnknownFinding);
        AssertAt(d, 5, 30);
        Assert.Contains("leader-gone", d.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("61 * * * *", "Minutes")]
    [InlineData("* * *", "")]
    [InlineData("0 0 30 2 *", "never fires")]
    [InlineData("H 3 * * *", "H (a hashed value) is not supported")] // found by the skill fuzz target (Cronos' MissingSeedException escaped)
    public void Parse_BadCron_ReportsTheSchedule(string cron, string expected)
    {
        var text = WithSteps("- id: a\n  check: \"leader\"\n").Replace("  findings: [leader-missing]\n", $"  findings: [leader-missing]\n  schedules: [\"{cron}\"]\n", StringComparison.Ordinal);
        var d = Single(Diagnose(text), SkillDiagnosticCodes.BadCron);
        AssertAt(d, 6, 15);
        Assert.Contains(expected, d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_GoodCronAndMacro_ComputeNextOccurrence()
    {
        var text = WithSteps("- id: a\n  check: \"leader\"\n").Replace("  findings: [leader-missing]\n", "  findings: [leader-missing]\n  schedules: [\"30 2 * * *\", \"@hourly\"]\n", StringComparison.Ordinal);
        var skill = SkillTestKit.Parse(text, "t.md");
        var from = new DateTimeOffset(2026, 11, 22, 10, 15, 0, TimeSpan.Zero);
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 2, 30, 0, TimeSpan.Zero), skill.Triggers.Schedules[0].NextAfter(from));
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 11, 0, 0, TimeSpan.Zero), skill.Triggers.Schedules[1].NextAfter(from));
    }

    [Fact]
    public void Parse_BadCooldown_ReportsTheValue()
    {
        var text = WithSteps("- id: a\n  check: \"leader\"\n").Replace("cooldown: 10m", "cooldown: 10x", StringComparison.Ordinal);
        AssertAt(Single(Diagnose(text), SkillDiagnosticCodes.BadDuration), 7, 11);
    }

    [Fact]
    public void Parse_BadStepTimeout_ReportsTheValue()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  wait: \"leader\"\n  timeout: soon\n")), SkillDiagnosticCodes.BadDuration);
        AssertAt(d, 14, 12);
    }

    [Fact]
    public void Parse_WaitWithoutTimeout_IsMissingKey()
    {
        AssertAt(Single(Diagnose(WithSteps("- id: a\n  wait: \"leader\"\n")), SkillDiagnosticCodes.MissingKey), 13, 3);
    }

    [Fact]
    public void Parse_MissingDescription_IsMissingKeyAtTheTop()
    {
        var text = WithSteps("- id: a\n  check: \"leader\"\n").Replace("description: A test skill.\n", "", StringComparison.Ordinal);
        AssertAt(Single(Diagnose(text), SkillDiagnosticCodes.MissingKey), 1, 1);
    }

    [Fact]
    public void Parse_DuplicateStepId_IsAnError()
    {
        AssertAt(Single(Diagnose(WithSteps("- id: a\n  check: \"leader\"\n- id: a\n  check: \"leader\"\n")), SkillDiagnosticCodes.DuplicateStep), 14, 3);
    }

    [Theory]
    [InlineData("Bad-Id")]
    [InlineData("end")]
    public void Parse_BadStepId_IsBadName(string id)
    {
        AssertAt(Single(Diagnose(WithSteps($"- id: {id}\n  check: \"leader\"\n")), SkillDiagnosticCodes.BadName), 12, 7);
    }

    [Fact]
    public void Parse_NameNotMatchingFile_IsBadName()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  check: \"leader\"\n"), "other.md"), SkillDiagnosticCodes.BadName);
        Assert.Equal((2, 7), (d.Line, d.Column));
    }

    [Fact]
    public void Parse_BadYamlInSteps_ReportsLineInTheMarkdownFile()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  check: \"leader\n  then: b\n")), SkillDiagnosticCodes.BadYaml);
        Assert.True(d.Line >= 13, d.ToString());
    }

    [Fact]
    public void Parse_UnquotedTemplate_ExplainsTheQuotes()
    {
        var text = WithSteps("- id: a\n  action: patroni.failover\n  with:\n    candidate: {{ leader }}\n");
        AssertAt(Single(Diagnose(text), SkillDiagnosticCodes.BadTemplate), 15, 16);
    }

    [Fact]
    public void Parse_ExpressionReadAsYamlTag_AsksForQuotes()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  check: !paused\n")), SkillDiagnosticCodes.BadValue);
        AssertAt(d, 13, 10);
        var yaml = Single(Diagnose(WithSteps("- id: a\n  check: !contains(members[].name, 'x')\n")), SkillDiagnosticCodes.BadYaml);
        Assert.Contains("double quotes", yaml.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ThenAndNext_IsBadStep()
    {
        Single(Diagnose(WithSteps("- id: a\n  check: \"leader\"\n  then: b\n  next: b\n- id: b\n  check: \"leader\"\n")), SkillDiagnosticCodes.BadStep);
    }

    [Fact]
    public void Parse_StepWithTwoKinds_IsBadStep()
    {
        AssertAt(Single(Diagnose(WithSteps("- id: a\n  check: \"leader\"\n  record: \"x\"\n")), SkillDiagnosticCodes.BadStep), 14, 3);
    }

    [Fact]
    public void Parse_NoStepsBlock_IsAWarningOnly()
    {
        var result = SkillParser.Parse("t.md", Front.Replace("```yaml steps\n", "", StringComparison.Ordinal));
        var d = Single(result.Diagnostics, SkillDiagnosticCodes.NoSteps);
        Assert.False(d.IsError);
        Assert.NotNull(result.Skill);
    }

    [Fact]
    public void Parse_UnreachableStep_IsAWarning()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  check: \"leader\"\n  next: end\n- id: b\n  check: \"leader\"\n")), SkillDiagnosticCodes.UnreachableStep);
        Assert.False(d.IsError);
        AssertAt(d, 15, 3);
    }

    [Fact]
    public void Parse_NoFrontMatter_IsBadFile()
    {
        AssertAt(Single(Diagnose("# just markdown\n"), SkillDiagnosticCodes.BadFile), 1, 1);
    }

    [Fact]
    public void Parse_CrLfLineEndings_ReportSamePositions()
    {
        var d = Single(Diagnose(WithSteps("- id: a\n  check: \"leader\"\n  bogus: 1\n").Replace("\n", "\r\n", StringComparison.Ordinal)), SkillDiagnosticCodes.UnknownKey);
        AssertAt(d, 14, 3);
    }

    [Fact]
    public void Parse_AutonomyCeiling_TakesTheLowerOfLevelAndClass()
    {
        var text = WithSteps("- id: a\n  check: \"leader\"\n").Replace("cooldown: 10m\n", "cooldown: 10m\nautonomy:\n  patroni.failover: 2\n", StringComparison.Ordinal);
        var skill = SkillTestKit.Parse(text, "t.md");
        Assert.Equal(2, skill.Autonomy!.CeilingFor("patroni.failover"));
        Assert.Null(skill.Autonomy.CeilingFor("patroni.switchover"));
        Assert.Equal(1, new SkillAutonomy(1, skill.Autonomy.Classes).CeilingFor("patroni.failover"));
    }

    [Fact]
    public void Parse_AutonomyOutOfRange_IsBadValue()
    {
        var text = WithSteps("- id: a\n  check: \"leader\"\n").Replace("cooldown: 10m\n", "cooldown: 10m\nautonomy: 7\n", StringComparison.Ordinal);
        AssertAt(Single(Diagnose(text), SkillDiagnosticCodes.BadValue), 8, 11);
    }

    [Theory]
    [InlineData("10m", 600)]
    [InlineData("1h30m", 5400)]
    [InlineData("500ms", 0.5)]
    [InlineData("2d", 172800)]
    public void Duration_Parses(string text, double seconds)
    {
        Assert.True(SkillDuration.TryParse(text, out var value));
        Assert.Equal(seconds, value.TotalSeconds);
        Assert.True(SkillDuration.TryParse(SkillDuration.Format(value), out var again));
        Assert.Equal(value, again);
    }

    [Theory]
    [InlineData("")]
    [InlineData("10")]
    [InlineData("m10")]
    [InlineData("10 m")]
    [InlineData("1.5h")]
    public void Duration_RejectsBadText(string text)
    {
        Assert.False(SkillDuration.TryParse(text, out _));
    }

    [Fact]
    public void Catalog_DuplicateSkillName_IsAnError()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-skills-");
        try
        {
            var sub = Directory.CreateDirectory(Path.Combine(dir.FullName, "more"));
            File.WriteAllText(Path.Combine(dir.FullName, "t.md"), WithSteps("- id: a\n  check: \"leader\"\n"));
            File.WriteAllText(Path.Combine(sub.FullName, "t.md"), WithSteps("- id: a\n  check: \"leader\"\n"));
            var catalog = SkillCatalog.FromFiles(dir.FullName, [Path.Combine(dir.FullName, "t.md"), Path.Combine(sub.FullName, "t.md")], null, dir.FullName);
            Assert.Single(catalog.Skills);
            var d = Single(catalog.Diagnostics, SkillDiagnosticCodes.DuplicateSkill);
            Assert.Equal(Path.Combine("more", "t.md"), d.File);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Catalog_TriggerLookups_FindSkills()
    {
        var catalog = SkillCatalog.Load(SkillTestKit.SkillsDirectory);
        Assert.Equal(["primary-failure"], catalog.ForFinding("primary-frozen").Select(s => s.Name));
        Assert.Equal(["replication-lag"], catalog.ForAlert("PostgresReplicationLag").Select(s => s.Name));
        var from = new DateTimeOffset(2026, 11, 22, 2, 0, 0, TimeSpan.Zero);
        var due = catalog.DueBetween(from, from.AddHours(1));
        Assert.Contains(due, d => d.Skill.Name == "backup-stale" && d.At == new DateTimeOffset(2026, 11, 22, 2, 30, 0, TimeSpan.Zero));
    }

    [Fact]
    public void Parse_StepsBuiltFromAliases_IsRefusedBeforeExpanding()
    {
        // Billion laughs in a step's 'with': reading the values expanded every alias (2.1 GB before this limit).
        var steps = "- id: go\n  action: patroni.failover\n  with:\n" + PgRuntimeAgent.Tests.Inventory.HostileInputTests.Laughs("    ", 9);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var result = SkillParser.Parse("t.md", WithSteps(steps));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        Assert.Null(result.Skill);
        var error = Single(result.Diagnostics, SkillDiagnosticCodes.BadYaml);
        Assert.Equal(19, error.Line); // l4: ten aliases of l3 (11,111 nodes each) pass 100,000
        Assert.StartsWith("steps block: aliases expand to more than 100,000 nodes (at *l3)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_FrontMatterNested20000Levels_ReportsTheDepthInsteadOfCrashing()
    {
        var text = "---\nname: t\ndescription: " + new string('[', 20_000) + new string(']', 20_000) + "\n---\n# T\n";

        var result = SkillParser.Parse("t.md", text);

        Assert.Null(result.Skill);
        var error = Single(result.Diagnostics, SkillDiagnosticCodes.BadYaml);
        Assert.Equal(3, error.Line);
        Assert.StartsWith("front matter: nesting deeper than 64 levels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_FrontMatterBuiltFromAliases_IsALocatedErrorBeforeExpanding()
    {
        // Billion laughs in the front matter: the same loader and limits as inventory and settings.
        var text = "---\nname: t\ndescription: A test skill.\nparameters:\n" + PgRuntimeAgent.Tests.Inventory.HostileInputTests.Laughs("  ", 9) + "---\n# T\n";

        var result = SkillParser.Parse("t.md", text);

        Assert.Null(result.Skill);
        var error = Single(result.Diagnostics, SkillDiagnosticCodes.BadYaml);
        Assert.Equal("t.md", error.File);
        Assert.Equal(9, error.Line); // l4, on line 9 of the markdown file: ten aliases of l3 (11,111 nodes each) pass 100,000
        Assert.StartsWith("front matter: aliases expand to more than 100,000 nodes (at *l3)", error.Message, StringComparison.Ordinal);
        Assert.Contains("Limits on input", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_FrontMatterNestedPastTheLimit_ReportsItsLineAndColumn()
    {
        var nested = string.Concat(Enumerable.Repeat("[", 65)) + string.Concat(Enumerable.Repeat("]", 65));
        var text = "---\nname: t\ndescription: A test skill.\nparameters:\n  deep: " + nested + "\n---\n# T\n";

        var error = Single(Diagnose(text), SkillDiagnosticCodes.BadYaml);

        // The root mapping and parameters' body are levels 1-2; the 63rd '[' (column 9 + 62) on line 5 is level 65.
        AssertAt(error, 5, 71);
        Assert.StartsWith("front matter: nesting deeper than 64 levels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_YamlSyntaxErrorInFrontMatter_ReportsTheLineOfTheMarkdownFile()
    {
        // A second ': ' in a plain value on 'description' (line 3 of the file, line 2 of the YAML).
        var text = "---\nname: t\ndescription: A test: skill.\ncooldown: 10m\n---\n# T\n";

        var error = Single(Diagnose(text), SkillDiagnosticCodes.BadYaml);

        Assert.Equal("t.md", error.File);
        Assert.StartsWith("front matter: YAML syntax error", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, error.Line);
    }

    [Fact]
    public void Parse_YamlSyntaxErrorInSteps_ReportsTheExactLineOfTheMarkdownFile()
    {
        // A second ': ' in a plain value on the step's third line, line 14 of the file.
        var d = Single(Diagnose(WithSteps("- id: a\n  check: \"leader\"\n  then: b: c\n")), SkillDiagnosticCodes.BadYaml);

        Assert.Equal(14, d.Line);
        Assert.StartsWith("steps block: YAML syntax error", d.Message, StringComparison.Ordinal);
    }
}
