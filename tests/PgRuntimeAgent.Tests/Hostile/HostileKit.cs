using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Tests.Hostile;

/// <summary>Seeds, secrets and reporting shared by the hostile-input tests.</summary>
internal static partial class HostileKit
{
    public static string Root => TestPaths.Fixture("hostile");

    public static string SeedDir(string target) => Path.Combine(Root, "seeds", target);

    public static string CrashDir(string target) => Path.Combine(Root, "crashes", target);

    /// <summary>Where failing inputs are written for triage (git-ignored).</summary>
    public static string FailureDir(string target) => Path.Combine(TestPaths.RepoRoot, "artifacts", "hostile-failures", target);

    /// <summary>The file name each target's input is written under (the loaders pick the parser by it, not by content).</summary>
    public static string InputName(string target) => target switch
    {
        "inventory" => "hostile-inventory.yml",
        "settings" => "hostile-settings.pgra.yml",
        "skill" => "hostile-skill.md",
        "postgres-log" => "hostile-postgresql.log",
        "eval-case" => "hostile-case.yml",
        _ => "hostile-body.json",
    };

    public static IReadOnlyList<(string Name, byte[] Bytes)> Seeds(string target)
    {
        var dir = SeedDir(target);
        var files = Directory.GetFiles(dir).Order(StringComparer.Ordinal).ToArray();
        Assert.True(files.Length > 0, $"no seeds in {dir}");
        return files.Select(f => (Path.GetFileName(f), File.ReadAllBytes(f))).ToArray();
    }

    /// <summary>A count from the environment (the full run sets PGRA_MUTATIONS=10000), else the CI default.</summary>
    public static int Count(int ciDefault, double shareOfFullRun)
    {
        var raw = Environment.GetEnvironmentVariable("PGRA_MUTATIONS");
        return int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0
            ? Math.Max(ciDefault, (int)(n * shareOfFullRun))
            : ciDefault;
    }

    public static int BaseSeed(string target)
    {
        var raw = Environment.GetEnvironmentVariable("PGRA_MUTATION_SEED");
        var seed = int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) ? s : 20261202;
        return unchecked(seed + target.Length * 1_000_003 + target[0]);
    }

    /// <summary>Secret values written in a YAML seed (by key name and URL/conninfo passwords), or none when it does not parse.</summary>
    public static HashSet<string> SeedSecrets(byte[] seed)
    {
        try
        {
            return Inventory.SecretLeakTests.Collect(Encoding.UTF8.GetString(seed)).Secrets;
        }
        catch (Exception ex) when (ex is YamlDotNet.Core.YamlException or ArgumentOutOfRangeException or InvalidOperationException)
        {
            return [];
        }
    }

    /// <summary>
    /// Secret values that must not appear in <paramref name="output"/>: each candidate that is long enough to be
    /// distinctive and that the input holds, only on secret-looking lines (a value that is also ordinary text of the
    /// input, such as a password that equals a user name, may legitimately be printed as that text).
    /// </summary>
    public static IReadOnlyList<string> LeakedSecrets(string input, string output, string path, IEnumerable<string> candidates)
    {
        // Every YAML line break counts (a file with CR-only line endings is one "line" to Split('\n')).
        var plain = string.Join('\n', LineBreak().Split(input).Where(l => !SecretLine().IsMatch(l)));
        var leaked = new List<string>();
        foreach (var secret in candidates.Distinct(StringComparer.Ordinal))
        {
            // Only secrets of this input: a seed's secret that a mutation cut away, or a Pigsty default password the
            // loader filled in, may equal text that output prints for other reasons (the default domain p.pigsty).
            if (secret.Length < 6 || !input.Contains(secret, StringComparison.Ordinal) || plain.Contains(secret, StringComparison.Ordinal)
                || path.Contains(secret, StringComparison.Ordinal))
            {
                continue;
            }

            // The store's own rule (SecretStore.Redact): a value shorter than 12 characters is a secret only where it
            // stands alone; inside a longer word (the password 'pigsty' in the default domain p.pigsty) it is that word.
            var found = secret.Length >= 12
                ? output.Contains(secret, StringComparison.Ordinal)
                : PgRuntimeAgent.Secrets.SecretStore.ContainsStandalone(output, secret);
            if (found)
            {
                leaked.Add(secret);
            }
        }

        return leaked;
    }

    [GeneratedRegex("\r\n|\r|\n|\u0085|\u2028|\u2029")]
    private static partial Regex LineBreak();

    /// <summary>Lines whose key or value may carry a secret (a superset of SecretNames' rules: mangled keys count too).</summary>
    [GeneratedRegex(@"(?i)(pass|secret|token|key|://[^\s]*@|password\s*=)")]
    private static partial Regex SecretLine();

    /// <summary>The first line of an exception's message, with its type.</summary>
    public static string Brief(Exception ex)
    {
        var message = ex.Message.Split('\n')[0];
        if (message.Length > 200)
        {
            message = message[..200] + "...";
        }

        var frame = ex.StackTrace?.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("at ", StringComparison.Ordinal)) ?? "";
        return $"{ex.GetType().FullName}: {message} [{frame}]";
    }
}
