using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Tests.Skills;

/// <summary>A step's <c>with:</c> is linted against its action's descriptor in the catalogue.</summary>
public sealed class SkillActionParameterLintTests
{
    // Line numbers below count from this layout: front matter lines 1-7, steps block content from line 11.
    private const string Front = """
        ---
        name: t
        description: A test skill.
        triggers:
          findings: [leader-missing]
        actions: [backup.run, sql.create_index, patroni.restart, patroni.pause]
        ---
        # T

        ```yaml steps

        """;

    private static IReadOnlyList<SkillDiagnostic> Diagnose(string steps) => SkillParser.Parse("t.md", Front + steps + "```\n").Diagnostics;

    private static readonly string[] ParameterCodes = [SkillDiagnosticCodes.UnknownParameter, SkillDiagnosticCodes.BadValue, SkillDiagnosticCodes.MissingKey];

    [Fact]
    public void Lint_ShippedSkills_EveryActionStepMatchesItsSchema()
    {
        var catalog = SkillCatalog.Load(SkillTestKit.SkillsDirectory);
        var steps = catalog.Skills.SelectMany(s => s.Steps).Where(s => s.ActionClass is not null).ToList();

        Assert.NotEmpty(steps);
        Assert.All(steps, s => Assert.True(SkillVocabulary.Default.Actions.ContainsKey(s.ActionClass!), $"{s.ActionClass} has no descriptor"));
        var problems = catalog.Diagnostics.Where(d => ParameterCodes.Contains(d.Code)).ToList();
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void Lint_ValidParameters_NoDiagnostics()
    {
        var diagnostics = Diagnose("""
            - id: backup
              action: backup.run
              with:
                member: "{{ leader }}"
                type: full
                timeout_seconds: 3600
            - id: restart
              action: patroni.restart
              with:
                member: "{{ leader }}"
            - id: index
              action: sql.create_index
              with:
                table: orders
                columns: "{{ 'a,b' }}"
                unique: true

            """);

        Assert.True(diagnostics.Count == 0, string.Join(Environment.NewLine, diagnostics));
    }

    [Fact]
    public void Lint_UnknownParameter_DiagnosticAtItsKey()
    {
        var d = Assert.Single(Diagnose("""
            - id: backup
              action: backup.run
              with:
                retention: 3

            """));

        Assert.Equal((SkillDiagnosticCodes.UnknownParameter, 14, 5), (d.Code, d.Line, d.Column));
        Assert.Contains("backup.run takes no parameter 'retention' (parameters: stanza, type, timeout_seconds, member)", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Lint_DisallowedLiteralValue_DiagnosticAtTheValue()
    {
        var d = Assert.Single(Diagnose("""
            - id: backup
              action: backup.run
              with:
                stanza: pg-test
                type: weekly

            """));

        Assert.Equal((SkillDiagnosticCodes.BadValue, 15, 11), (d.Code, d.Line, d.Column));
        Assert.Contains("type must be one of full, diff, incr, got 'weekly'", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Lint_WrongLiteralType_DiagnosticButNotForAnExpression()
    {
        var diagnostics = Diagnose("""
            - id: index
              action: sql.create_index
              with:
                table: orders
                columns: a
                unique: maybe
                timeout_seconds: "{{ `30` }}"

            """);

        var d = Assert.Single(diagnostics);
        Assert.Equal((SkillDiagnosticCodes.BadValue, 16, 13), (d.Code, d.Line, d.Column));
        Assert.Contains("unique must be true or false, got 'maybe'", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Lint_MissingRequiredParameterAndMember_DiagnosticsAtTheAction()
    {
        var diagnostics = Diagnose("""
            - id: index
              action: sql.create_index
              with:
                table: orders
            - id: restart
              action: patroni.restart

            """);

        Assert.Equal(2, diagnostics.Count);
        Assert.All(diagnostics, d => Assert.Equal(SkillDiagnosticCodes.MissingKey, d.Code));
        Assert.Equal((12, 11), (diagnostics[0].Line, diagnostics[0].Column));
        Assert.Contains("sql.create_index needs 'columns' under with:", diagnostics[0].Message, StringComparison.Ordinal);
        Assert.Equal((16, 11), (diagnostics[1].Line, diagnostics[1].Column));
        Assert.Contains("patroni.restart needs 'member' under with:", diagnostics[1].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Lint_MemberForAClusterWideAction_Diagnostic()
    {
        var d = Assert.Single(Diagnose("""
            - id: pause
              action: patroni.pause
              with:
                member: pg-test-1

            """));

        Assert.Equal((SkillDiagnosticCodes.UnknownParameter, 14, 5), (d.Code, d.Line, d.Column));
    }
}
