using System.Text.RegularExpressions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Policy;
using YamlDotNet.RepresentationModel;

namespace PgRuntimeAgent.Tests.Policy;

/// <summary>AGENT.md's machine-checkable defaults and the policy code say the same thing.</summary>
public sealed partial class AgentOrdersTests
{
    private static YamlMappingNode DefaultsBlock()
    {
        var text = File.ReadAllText(Path.Combine(PgRuntimeAgent.Tests.Journal.CliDeployment.RepoRoot(), "AGENT.md"));
        var block = DefaultsRegex().Match(text);
        Assert.True(block.Success, "AGENT.md has no ```yaml block after 'The machine-checkable defaults'");
        var yaml = new YamlStream();
        yaml.Load(new StringReader(block.Groups[1].Value));
        return (YamlMappingNode)((YamlMappingNode)yaml.Documents[0].RootNode)["policy"];
    }

    private static string Scalar(YamlMappingNode map, string key) => ((YamlScalarNode)map[key]).Value!;

    [Fact]
    public void Defaults_InAgentMd_MatchPolicySettings()
    {
        var doc = DefaultsBlock();
        var code = new PolicySettings();

        Assert.Equal(code.DefaultLevel.ToString(System.Globalization.CultureInfo.InvariantCulture), Scalar(doc, "default_level"));
        Assert.Equal(code.DefaultCooldownSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), Scalar(doc, "default_cooldown_seconds"));
        Assert.Equal(code.ApprovalTtlMinutes, double.Parse(Scalar(doc, "approval_ttl_minutes"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(code.MaxStateAgeSeconds, double.Parse(Scalar(doc, "max_state_age_seconds"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(code.FourEyes ? "true" : "false", Scalar(doc, "four_eyes"));
        Assert.Equal(code.DryRun ? "true" : "false", Scalar(doc, "dry_run"));
        Assert.Equal(code.Forbidden, ((YamlSequenceNode)doc["forbidden"]).Select(n => ((YamlScalarNode)n).Value!));
        Assert.Empty(code.Classes);
        Assert.Empty((YamlMappingNode)doc["classes"]);
        Assert.Empty(code.SshCommands);
        Assert.Empty(code.AnsiblePlaybooks);
    }

    [Fact]
    public void Defaults_EveryClassWithoutConfig_OnlyRecommends()
    {
        var gate = new PolicyGate(new PolicySettings(), null!, TimeProvider.System);

        Assert.Equal(AutonomyLevel.Recommend, gate.LevelFor("pg-test", "patroni.failover"));
        Assert.True(gate.IsForbidden("sql.drop_database"));
        Assert.False(gate.IsForbidden("sql.create_index"));
    }

    [GeneratedRegex(@"## The machine-checkable defaults.*?```yaml\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex DefaultsRegex();
}
