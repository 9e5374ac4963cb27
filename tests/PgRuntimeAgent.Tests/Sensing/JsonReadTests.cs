using System.Text.Json;
using PgRuntimeAgent.Sensing;

namespace PgRuntimeAgent.Tests.Sensing;

/// <summary>Escaped lone UTF-16 surrogates in a sensor's JSON: read as U+FFFD instead of failing every lookup.</summary>
public sealed class JsonReadTests
{
    [Theory]
    [InlineData("""{"a\uDBFF;b": 1, "name": "p"}""", """{"a\uFFFD;b": 1, "name": "p"}""")]
    [InlineData("""{"v": "x\uDC00y"}""", """{"v": "x\uFFFDy"}""")]
    [InlineData("""{"v": "\uD83D"}""", """{"v": "\uFFFD"}""")]
    [InlineData("""{"v": "\uD83D\uDE00"}""", """{"v": "\uD83D\uDE00"}""")]
    [InlineData("""{"v": "\\uD83D"}""", """{"v": "\\uD83D"}""")]
    [InlineData("""{"v": "\u0041\uZZZZ"}""", """{"v": "\u0041\uZZZZ"}""")]
    [InlineData("""{"v": "plain"}""", """{"v": "plain"}""")]
    public void WithoutLoneSurrogates_ReplacesOnlyUnpairedEscapes(string body, string expected)
    {
        Assert.Equal(expected, JsonRead.WithoutLoneSurrogates(body));
    }

    [Fact]
    public void Parse_LoneSurrogateInAPropertyName_OtherPropertiesStillRead()
    {
        using var doc = JsonRead.Parse("""{"members": [{"name": "p", "p\uDBFF;uDFFFmeline": 1, "role": "replica"}]}""", "GET /cluster");

        var member = doc.RootElement.GetProperty("members")[0];
        Assert.Equal("replica", member.Str("role"));
        Assert.Equal("p", member.Str("name"));
        Assert.Contains(member.EnumerateObject(), p => p.Name == "p\uFFFD;uDFFFmeline");
    }

    [Fact]
    public void Parse_LoneSurrogateInAValue_ReadAsReplacementCharacter()
    {
        using var doc = JsonRead.Parse("""{"state": "run\uD800ning"}""", "GET /patroni");

        Assert.Equal("run\uFFFDning", doc.RootElement.Str("state"));
        Assert.Throws<InvalidOperationException>(() => JsonDocument.Parse("""{"s": "\uD800"}""").RootElement.GetProperty("s").GetString());
    }
}
