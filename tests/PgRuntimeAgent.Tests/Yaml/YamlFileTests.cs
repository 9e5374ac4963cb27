using PgRuntimeAgent.Yaml;
using YamlDotNet.RepresentationModel;

namespace PgRuntimeAgent.Tests.Yaml;

/// <summary>The one YAML loader: located problems, also for YAML embedded in another file at some line.</summary>
public sealed class YamlFileTests
{
    [Fact]
    public void Parse_SyntaxError_ReportsLineAndColumnInTheText()
    {
        var problems = new List<YamlProblem>();

        var file = YamlFile.Parse("a: 1\nb: x: y\n", "/tmp/f.yml", "f.yml", problems);

        Assert.Null(file.Root);
        var problem = Assert.Single(problems);
        Assert.Equal(("f.yml", 2L), (problem.File, problem.Line));
        Assert.StartsWith("YAML syntax error", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EmbeddedText_ReportsTheLinesOfTheEnclosingFile()
    {
        var problems = new List<YamlProblem>();

        var file = YamlFile.Parse("a: 1\nb: x: y\n", "/tmp/s.md", "s.md", problems, firstLine: 10);

        Assert.Null(file.Root);
        Assert.Equal(11, Assert.Single(problems).Line);
    }

    [Fact]
    public void Parse_EmbeddedText_LimitPassed_ReportsTheLineOfTheEnclosingFile()
    {
        var problems = new List<YamlProblem>();
        var text = "a: 1\nb: " + new string('[', 70) + new string(']', 70) + "\n";

        YamlFile.Parse(text, "/tmp/s.md", "s.md", problems, firstLine: 5);

        var problem = Assert.Single(problems);
        Assert.Equal(6, problem.Line); // line 2 of the text
        Assert.StartsWith("nesting deeper than 64 levels", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Where_EmbeddedText_GivesTheLineOfTheEnclosingFile()
    {
        var problems = new List<YamlProblem>();

        var file = YamlFile.Parse("a: 1\nb: 2\n", "/tmp/s.md", "s.md", problems, firstLine: 3);

        Assert.Empty(problems);
        var b = YamlNodes.Get((YamlMappingNode)file.Root!, "b")!;
        Assert.Equal("s.md:4:4", file.Where(b));
        Assert.Equal(4, file.Problem(b, null, "m", null).Line);
    }
}
