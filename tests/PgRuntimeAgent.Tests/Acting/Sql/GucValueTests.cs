using PgRuntimeAgent.Acting.Sql;

namespace PgRuntimeAgent.Tests.Acting.Sql;

public sealed class GucValueTests
{
    private static LiveSetting Setting(string setting, string? unit, string type) => new("x", setting, unit, type, "user", false, "default");

    [Theory]
    [InlineData("1024", "8kB", "integer", "8MB", true)]
    [InlineData("8192", "8kB", "integer", "64MB", true)]
    [InlineData("8192", "kB", "integer", "8MB", true)]
    [InlineData("4096", "kB", "integer", "8MB", false)]
    [InlineData("4096", "kB", "integer", "4096", true)]
    [InlineData("300", "s", "integer", "5min", true)]
    [InlineData("1000", "ms", "integer", "1s", true)]
    [InlineData("60", "s", "integer", "60s", true)]
    [InlineData("-1", "ms", "integer", "-1", true)]
    [InlineData("0.9", null, "real", "0.9", true)]
    [InlineData("0.9", null, "real", "0.5", false)]
    [InlineData("on", null, "bool", "true", true)]
    [InlineData("on", null, "bool", "yes", true)]
    [InlineData("off", null, "bool", "0", true)]
    [InlineData("off", null, "bool", "on", false)]
    [InlineData("replica", null, "enum", "REPLICA", true)]
    [InlineData("pg_stat_statements", null, "string", "pg_stat_statements", true)]
    [InlineData("pg_stat_statements", null, "string", "'pg_stat_statements'", true)]
    [InlineData("1024", "8kB", "integer", "8 parsecs", false)]
    [InlineData("300", "s", "integer", "5MB", false)]
    public void Matches_OperatorValueAgainstPgSettings(string setting, string? unit, string type, string expected, bool matches)
    {
        Assert.Equal(matches, GucValue.Matches(Setting(setting, unit, type), expected));
    }

    [Fact]
    public void Bool_AmbiguousOrUnknown_Null()
    {
        Assert.Null(GucValue.Bool("o"));
        Assert.Null(GucValue.Bool("maybe"));
        Assert.False(GucValue.Bool("of"));
        Assert.True(GucValue.Bool("t"));
    }
}
