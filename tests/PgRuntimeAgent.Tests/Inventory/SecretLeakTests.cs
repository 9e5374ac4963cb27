using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace PgRuntimeAgent.Tests.Inventory;

/// <summary>
/// Runs every inventory verb on every fixture, with and without --json, and scans stdout and stderr for every secret
/// value of that fixture. Secrets are collected here independently of the loader (by key name and URL user info).
/// </summary>
public sealed partial class SecretLeakTests
{
    public static TheoryData<string> Fixtures => InventoryTestKit.Fixtures();

    private static readonly string[][] Verbs =
    [
        ["inventory", "show"],
        ["inventory", "show", "--json"],
        ["inventory", "check"],
        ["inventory", "check", "--json"],
    ];

    [Theory]
    [MemberData(nameof(Fixtures))]
    public async Task EveryVerb_EveryFixture_PrintsNoSecretValue(string fixture)
    {
        var path = InventoryTestKit.FixturePath(fixture);
        var (secrets, plain) = Collect(File.ReadAllText(path));
        Assert.NotEmpty(secrets);

        foreach (var verb in Verbs)
        {
            var result = await CliRunner.RunAsync([.. verb, "-i", path]);
            Assert.True(result.ExitCode == 0, $"{string.Join(' ', verb)} on {fixture} exited {result.ExitCode}: {result.Error}");
            AssertNoSecret(result.All + path, secrets, plain, $"{string.Join(' ', verb)} {fixture}", path);
        }
    }

    [Fact]
    public async Task EveryVerb_LabInventoryWithSettingsCredentials_PrintsNoSecretValue()
    {
        var inventory = Path.Combine(InventoryTestKit.RepoRoot, "inventory", "pigsty-sample.yml");
        using var settings = new TempFile("""
            credentials:
              patroni_password: Settings.Patroni-Secret
              monitor_password: Mon.Settings.Secret
            journal:
              connection_string: "host=10.0.0.1 user=agent password=Journal.Conn.Secret"
            """);
        var (secrets, plain) = Collect(File.ReadAllText(inventory));
        secrets.UnionWith(["Settings.Patroni-Secret", "Mon.Settings.Secret", "Journal.Conn.Secret"]);

        foreach (var verb in Verbs)
        {
            var result = await CliRunner.RunAsync([.. verb, "-i", inventory, "--settings", settings.Path]);
            Assert.Equal(0, result.ExitCode);
            AssertNoSecret(result.All, secrets, plain, string.Join(' ', verb), inventory);
            if (verb.Length == 2 && verb[1] == "show")
            {
                Assert.Contains($"****** (from {settings.Path}:2 (credentials.patroni_password))", result.Out, StringComparison.Ordinal);
            }
        }
    }

    private static void AssertNoSecret(string output, HashSet<string> secrets, string plain, string what, string path)
    {
        foreach (var secret in secrets)
        {
            // Strict when the value is distinctive; when it is also an ordinary word of the file (the password
            // "test" of cluster "pg-test"), only a standalone occurrence is a leak.
            var distinctive = secret.Length >= 6 && !plain.Contains(secret, StringComparison.Ordinal) && !path.Contains(secret, StringComparison.Ordinal);
            var leaked = distinctive
                ? output.Contains(secret, StringComparison.Ordinal)
                : Regex.IsMatch(output, $@"(?<![A-Za-z0-9_./-]){Regex.Escape(secret)}(?![A-Za-z0-9_/-]|\.[A-Za-z0-9])");
            Assert.False(leaked, $"{what}: secret value '{secret}' appears in the output");
        }
    }

    /// <summary>Secret values of a YAML inventory, and the text of every other scalar (for the standalone rule).</summary>
    internal static (HashSet<string> Secrets, string Plain) Collect(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var secrets = new HashSet<string>(StringComparer.Ordinal);
        var plain = new List<string>();
        Walk(stream.Documents[0].RootNode, null, secrets, plain);
        secrets.RemoveWhere(s => s.Length < 3);
        return (secrets, string.Join("\n", plain));
    }

    private static void Walk(YamlNode node, string? key, HashSet<string> secrets, List<string> plain)
    {
        switch (node)
        {
            case YamlMappingNode m:
                foreach (var (k, v) in m.Children)
                {
                    var name = (k as YamlScalarNode)?.Value ?? "";
                    plain.Add(name);
                    Walk(v, name, secrets, plain);
                }

                break;
            case YamlSequenceNode s:
                foreach (var item in s.Children)
                {
                    Walk(item, null, secrets, plain);
                }

                break;
            case YamlScalarNode scalar when scalar.Value is { Length: > 0 } value:
                if (key is not null && SecretKey().IsMatch(key) && !key.EndsWith("_encryption", StringComparison.Ordinal))
                {
                    secrets.Add(value);
                }
                else
                {
                    plain.Add(value);
                    foreach (Match match in UrlPassword().Matches(value))
                    {
                        secrets.Add(match.Groups[1].Value);
                    }
                }

                break;
        }
    }

    [GeneratedRegex("(?i)password|passwd|secret|cipher_pass|access_key|^s3_key$|token")]
    private static partial Regex SecretKey();

    [GeneratedRegex(@"://[^:/@\s]+:([^@\s/]+)@")]
    private static partial Regex UrlPassword();
}
