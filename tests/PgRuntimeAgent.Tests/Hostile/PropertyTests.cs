using System.Globalization;
using System.Text;
using System.Text.Json;
using CsCheck;
using PgRuntimeAgent.Cli;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Tests.Hostile;

/// <summary>
/// Property-based tests (CsCheck): generated Pigsty inventories, settings files and skills are read, the CLI's JSON and
/// table writers print valid JSON and no secret, and what was written comes back (topology, values, steps). Secrets are
/// random strings, big numbers and booleans: a secret such as <c>true</c> must not break the JSON the CLI prints.
/// Iterations are modest (each property runs in a few seconds); CsCheck_Seed reproduces a failure it prints,
/// CsCheck_Iter raises the count.
/// </summary>
public sealed class PropertyTests
{
    private const string SecretAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_!%^*+=~()[]{}<>?/|:;,'\"#&@ ";
    private const string UrlSafe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    /// <summary>A secret as YAML writes it and as text; booleans are not searchable in output (true/false are everywhere).</summary>
    internal sealed record GenSecret(string Yaml, string Text, bool Searchable)
    {
        public override string ToString() => Yaml;
    }

    internal sealed record GenMember(string Ip, int Seq, string Role);

    internal sealed record GenCluster(string Name, int PgPort, int PatroniPort, GenMember[] Members, GenSecret UserPassword, GenSecret? AdminOverride, string? DsnSecret);

    internal sealed record GenInventory(GenCluster[] Clusters, string[] EtcdIps, GenSecret[] GlobalSecrets)
    {
        public IEnumerable<GenSecret> Secrets() =>
            GlobalSecrets.Concat(Clusters.SelectMany(c => new[] { c.UserPassword, c.AdminOverride }.OfType<GenSecret>()))
                .Concat(Clusters.Where(c => c.DsnSecret is not null).Select(c => new GenSecret(c.DsnSecret!, c.DsnSecret!, true)));

        public string Yaml()
        {
            var sb = new StringBuilder("all:\n  children:\n    etcd:\n      hosts:\n");
            for (var i = 0; i < EtcdIps.Length; i++)
            {
                sb.Append(CultureInfo.InvariantCulture, $"        {EtcdIps[i]}: {{ etcd_seq: {i + 1} }}\n");
            }

            sb.Append("      vars: { etcd_cluster: etcd }\n");
            foreach (var c in Clusters)
            {
                sb.Append(CultureInfo.InvariantCulture, $"    {c.Name}:\n      hosts:\n");
                foreach (var m in c.Members)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"        {m.Ip}: {{ pg_seq: {m.Seq}, pg_role: {m.Role} }}\n");
                }

                sb.Append(CultureInfo.InvariantCulture, $"      vars:\n        pg_cluster: {c.Name}\n        pg_port: {c.PgPort}\n        patroni_port: {c.PatroniPort}\n");
                sb.Append(CultureInfo.InvariantCulture, $"        pg_users:\n          - {{ name: dbuser_{c.Name.Replace('-', '_')}, password: {c.UserPassword.Yaml}, pgbouncer: true }}\n");
                if (c.AdminOverride is { } admin)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"        pg_admin_password: {admin.Yaml}\n");
                }

                if (c.DsnSecret is { } dsn)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"        app_dsn: \"postgres://dbuser_app:{dsn}@{c.Members[0].Ip}:{c.PgPort}/app\"\n");
                }
            }

            sb.Append(CultureInfo.InvariantCulture, $"  vars:\n    version: v4.5.0\n    admin_ip: {EtcdIps[0]}\n");
            string[] keys = ["pg_admin_password", "pg_monitor_password", "pg_replication_password", "patroni_password"];
            for (var i = 0; i < keys.Length; i++)
            {
                sb.Append(CultureInfo.InvariantCulture, $"    {keys[i]}: {GlobalSecrets[i].Yaml}\n");
            }

            return sb.ToString();
        }
    }

    private static Gen<string> Chars(string alphabet, int min, int max) =>
        Gen.Int[0, alphabet.Length - 1].Select(i => alphabet[i]).Array[min, max].Select(a => new string(a));

    internal static readonly Gen<GenSecret> SecretGen = Gen.OneOf<GenSecret>(
        Chars(SecretAlphabet, 8, 24).Select(s => new GenSecret(DoubleQuoted(s), s, true)),
        Chars(SecretAlphabet, 8, 24).Select(s => new GenSecret(SingleQuoted(s), s, true)),
        Gen.Long[100_000_000L, 999_999_999_999_999L].Select(n => new GenSecret(n.ToString(CultureInfo.InvariantCulture), n.ToString(CultureInfo.InvariantCulture), true)),
        Gen.Int[1_000_000, 9_999_999].Select(n => $"{n.ToString(CultureInfo.InvariantCulture)}.{(n % 997).ToString(CultureInfo.InvariantCulture)}").Select(f => new GenSecret(f, f, true)),
        Gen.OneOf("true", "false", "yes", "no", "True", "FALSE", "on").Select(b => new GenSecret(b, b, false)));

    private static readonly Gen<GenInventory> InventoryGen =
        from octet in Gen.Int[0, 255]
        from baseB in Gen.Int[0, 255]
        from baseC in Gen.Int[1, 200]
        from names in Chars("abcdefghijklmnopqrstuvwxyz0123456789", 1, 10).Array[1, 4]
        from sizes in Gen.Int[1, 3].Array[4]
        from pgPorts in Gen.Int[1024, 65535].Array[4]
        from patroniPorts in Gen.Int[1024, 65535].Array[4]
        from roles in Gen.OneOf("replica", "offline").Array[12]
        from userSecrets in SecretGen.Array[4]
        from adminOverrides in Gen.Bool.Array[4]
        from adminSecrets in SecretGen.Array[4]
        from dsnSecrets in Chars(UrlSafe, 8, 16).Array[4]
        from withDsn in Gen.Bool.Array[4]
        from etcdCount in Gen.OneOf(1, 3)
        from globals in SecretGen.Array[4]
        select new GenInventory(
            names.Select((n, i) => new GenCluster(
                $"pg-{n}{i.ToString(CultureInfo.InvariantCulture)}",
                pgPorts[i],
                patroniPorts[i],
                Enumerable.Range(0, sizes[i]).Select(j => new GenMember(
                    $"127.{octet.ToString(CultureInfo.InvariantCulture)}.{((baseB + i) % 256).ToString(CultureInfo.InvariantCulture)}.{(baseC + (j * 7)).ToString(CultureInfo.InvariantCulture)}",
                    j + 1,
                    j == 0 ? "primary" : roles[(i * 3) + j])).ToArray(),
                userSecrets[i],
                adminOverrides[i] ? adminSecrets[i] : null,
                withDsn[i] ? dsnSecrets[i] : null)).ToArray(),
            Enumerable.Range(1, etcdCount).Select(k => $"127.{octet.ToString(CultureInfo.InvariantCulture)}.{((baseB + names.Length) % 256).ToString(CultureInfo.InvariantCulture)}.{k.ToString(CultureInfo.InvariantCulture)}").ToArray(),
            globals);

    [Fact]
    public void GeneratedInventory_JsonWriterRoundTripsTopologyAndHoldsNoSecret()
    {
        using var dir = new TempDir();
        InventoryGen.Sample(
            inv =>
            {
                var path = dir.Write("inventory.yml", inv.Yaml());
                var store = new SecretStore();
                var report = InventoryLoader.Check(path, store, InventoryOverrides.None);
                Assert.True(report.IsValid, "generated inventory refused:\n" + string.Join('\n', report.Problems) + "\n" + inv.Yaml());
                var json = JsonSerializer.Serialize(InventoryJson.Show(report.Topology!, null, "defaults", InventoryOverrides.None), CliOutput.Json);
                AssertTopology(inv, json, "InventoryJson.Show (before redaction)");
                AssertNoSecret(inv.Secrets(), json, "InventoryJson.Show (before redaction)");
                var printed = store.Redact(json);
                AssertTopology(inv, printed, "inventory show --json as printed (redacted)");
            },
            iter: 150,
            threads: 1,
            print: inv => inv.Yaml());
    }

    [Fact]
    public void GeneratedInventory_CliShowAndCheck_PrintValidJsonAndNoSecret()
    {
        using var dir = new TempDir();
        var settings = dir.Write("empty.pgra.yml", "# defaults\n");
        InventoryGen.Sample(
            inv =>
            {
                var path = dir.Write("inventory.yml", inv.Yaml());
                var show = Cli("inventory", "show", "--json", "-i", path, "--settings", settings);
                Assert.True(show.ExitCode == 0, $"inventory show --json exited {show.ExitCode}: {show.Error}");
                AssertTopology(inv, show.Out, "pgra inventory show --json");
                AssertNoSecret(inv.Secrets(), show.All, "pgra inventory show --json");

                var table = Cli("inventory", "show", "-i", path, "--settings", settings);
                Assert.True(table.ExitCode == 0, $"inventory show exited {table.ExitCode}: {table.Error}");
                foreach (var c in inv.Clusters)
                {
                    Assert.Contains(c.Name, table.Out, StringComparison.Ordinal);
                    Assert.All(c.Members, m => Assert.Contains(m.Ip, table.Out, StringComparison.Ordinal));
                }

                AssertNoSecret(inv.Secrets(), table.All, "pgra inventory show (table)");

                var check = Cli("inventory", "check", "--json", "-i", path, "--settings", settings);
                Assert.True(check.ExitCode == 0, $"inventory check --json exited {check.ExitCode}: {check.Error}");
                using (var doc = ParseJson(check.Out, "pgra inventory check --json"))
                {
                    Assert.True(doc.RootElement.GetProperty("valid").GetBoolean());
                }

                AssertNoSecret(inv.Secrets(), check.All, "pgra inventory check --json");
            },
            iter: 30,
            threads: 1,
            print: inv => inv.Yaml());
    }

    internal sealed record GenSettings(double Interval, int Level, int FailoverLevel, GenSecret PatroniPassword, GenSecret MonitorPassword, string ConnSecret, string WebhookToken)
    {
        public string Yaml() => $$"""
            sensing:
              interval_seconds: {{Interval.ToString(CultureInfo.InvariantCulture)}}
            policy:
              default_level: {{Level.ToString(CultureInfo.InvariantCulture)}}
              classes: { patroni.failover: {{FailoverLevel.ToString(CultureInfo.InvariantCulture)}} }
            credentials:
              patroni_password: {{PatroniPassword.Yaml}}
              monitor_password: {{MonitorPassword.Yaml}}
            journal:
              connection_string: "host=127.0.0.1 user=pgra password={{ConnSecret}} dbname=pgra"
            notify:
              webhook_url: https://hooks.example.invalid/services/{{WebhookToken}}
            """ + "\n";

        public IEnumerable<GenSecret> Secrets() => [PatroniPassword, MonitorPassword, new(ConnSecret, ConnSecret, true), new(WebhookToken, WebhookToken, true)];
    }

    private static readonly Gen<GenSettings> SettingsGen =
        from interval in Gen.Int[1, 3600]
        from level in Gen.Int[0, 5]
        from failover in Gen.Int[0, 5]
        from patroni in SecretGen
        from monitor in SecretGen
        from conn in Chars(UrlSafe, 8, 20)
        from token in Chars(UrlSafe, 12, 32)
        select new GenSettings(interval, level, failover, patroni, monitor, conn, token);

    [Fact]
    public void GeneratedSettings_BindTheirValuesAndThePrintedJsonHoldsNoSecret()
    {
        using var dir = new TempDir();
        var inventory = dir.Write("inventory.yml", File.ReadAllText(Path.Combine(HostileKit.SeedDir("inventory"), "minimal.yml")));
        SettingsGen.Sample(
            s =>
            {
                var path = dir.Write("agent.pgra.yml", s.Yaml());
                var store = new SecretStore();
                var settings = SettingsLoader.Load(path, inventory, store, new Dictionary<string, string?>(StringComparer.Ordinal));
                Assert.Equal(s.Interval, settings.Sensing.IntervalSeconds);
                Assert.Equal(s.Level, settings.Policy.DefaultLevel);
                Assert.Equal(s.FailoverLevel, settings.Policy.Classes["patroni.failover"]);
                Assert.Equal(s.PatroniPassword.Text, store.Reveal(settings.Credentials.PatroniPassword!));

                var show = Cli("inventory", "show", "--json", "-i", inventory, "--settings", path);
                Assert.True(show.ExitCode == 0, $"inventory show --json exited {show.ExitCode}: {show.Error}");
                ParseJson(show.Out, "pgra inventory show --json --settings").Dispose();
                AssertNoSecret(s.Secrets(), show.All, "pgra inventory show --json --settings");
                var check = Cli("inventory", "check", "--json", "-i", inventory, "--settings", path);
                ParseJson(check.Out, "pgra inventory check --json --settings").Dispose();
                AssertNoSecret(s.Secrets(), check.All, "pgra inventory check --json --settings");
            },
            iter: 30,
            threads: 1,
            print: s => s.Yaml());
    }

    internal sealed record GenSkill(string Name, string Description, string[] Findings, (string Text, TimeSpan Value) Cooldown, string[] Records, bool WithCheck)
    {
        public string Markdown()
        {
            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"---\nname: {Name}\ndescription: {Description}\ntriggers:\n  findings: [{string.Join(", ", Findings)}]\nactions: [patroni.restart]\ncooldown: {Cooldown.Text}\n---\n");
            sb.Append(CultureInfo.InvariantCulture, $"# {Name}\n\nProse for operators: {Description}\n\n```yaml steps\n");
            if (WithCheck)
            {
                sb.Append("- id: leader\n  check: \"leader\"\n");
            }

            for (var i = 0; i < Records.Length; i++)
            {
                sb.Append(CultureInfo.InvariantCulture, $"- id: note_{i}\n  record: \"{Records[i]}\"\n");
            }

            sb.Append("```\n");
            return sb.ToString();
        }
    }

    private static readonly Gen<GenSkill> SkillGen =
        from first in Chars("abcdefghijklmnopqrstuvwxyz", 1, 1)
        from rest in Chars("abcdefghijklmnopqrstuvwxyz0123456789-", 0, 20)
        from words in Chars("abcdefghijklmnopqrstuvwxyz ,.()", 5, 80)
        from findings in Gen.Shuffle(new[] { "replication-lag", "replication-broken", "backup-stale", "archive-failing", "primary-frozen", "leader-missing" }, 1, 4)
        from cooldown in Gen.OneOf(("30s", TimeSpan.FromSeconds(30)), ("5m", TimeSpan.FromMinutes(5)), ("15m", TimeSpan.FromMinutes(15)), ("1h", TimeSpan.FromHours(1)), ("6h", TimeSpan.FromHours(6)))
        from records in Chars("abcdefghijklmnopqrstuvwxyz0123456789 ,.:;()-", 1, 60).Array[1, 6]
        from withCheck in Gen.Bool
        select new GenSkill(first + rest, "x" + words.Trim(), findings, cooldown, records, withCheck);

    [Fact]
    public void GeneratedSkill_ParsesAndKeepsNameCooldownAndSteps_WhateverTheLineEndings()
    {
        SkillGen.Sample(
            s =>
            {
                var text = s.Markdown();
                var result = SkillParser.Parse(s.Name + ".md", text);
                Assert.False(result.HasErrors, string.Join('\n', result.Diagnostics) + "\n" + text);
                var skill = result.Skill!;
                Assert.Equal(s.Name, skill.Name);
                Assert.Equal(s.Cooldown.Value, skill.Cooldown);
                Assert.Equal(s.Findings, skill.Triggers.Findings);
                Assert.Equal(s.Records.Length + (s.WithCheck ? 1 : 0), skill.Steps.Count);

                // The same skill saved by another editor (BOM, CRLF) is the same skill.
                var crlf = SkillParser.Parse(s.Name + ".md", "\uFEFF" + text.Replace("\n", "\r\n", StringComparison.Ordinal));
                Assert.False(crlf.HasErrors, string.Join('\n', crlf.Diagnostics));
                Assert.Equal(skill.Digest, crlf.Skill!.Digest);
                Assert.Equal(skill.Steps.Select(x => x.Id), crlf.Skill.Steps.Select(x => x.Id));
            },
            iter: 200,
            threads: 1,
            print: s => s.Markdown());
    }

    // ------------------------------------------------------------------ helpers

    private static void AssertTopology(GenInventory inv, string json, string what)
    {
        using var doc = ParseJson(json, what);
        var clusters = doc.RootElement.GetProperty("clusters").EnumerateArray().ToArray();
        Assert.Equal(inv.Clusters.Select(c => c.Name).Order(StringComparer.Ordinal), clusters.Select(c => c.GetProperty("name").GetString()!).Order(StringComparer.Ordinal));
        foreach (var c in inv.Clusters)
        {
            var printed = clusters.Single(x => x.GetProperty("name").GetString() == c.Name);
            var members = printed.GetProperty("members").EnumerateArray()
                .Select(m => (Ip: m.GetProperty("ip").GetString()!, Seq: m.GetProperty("seq").GetInt32(), Role: m.GetProperty("role").GetString()!, Postgres: m.GetProperty("ports").GetProperty("postgres").GetInt32()))
                .OrderBy(m => m.Seq)
                .ToArray();
            Assert.Equal(c.Members.Select(m => (m.Ip, m.Seq, m.Role, c.PgPort)), members);
            foreach (var credential in printed.GetProperty("credentials").EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Object))
            {
                Assert.Equal(SecretRef.Mask, credential.Value.GetProperty("value").GetString());
            }
        }
    }

    private static void AssertNoSecret(IEnumerable<GenSecret> secrets, string output, string what)
    {
        foreach (var secret in secrets.Where(s => s.Searchable))
        {
            var encoded = JsonEncodedText.Encode(secret.Text).ToString();
            Assert.False(
                output.Contains(secret.Text, StringComparison.Ordinal) || output.Contains(encoded, StringComparison.Ordinal),
                $"{what}: secret value {secret.Yaml} appears in the output");
        }
    }

    private static JsonDocument ParseJson(string json, string what)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            Assert.Fail($"{what} printed invalid JSON ({ex.Message}); a secret such as true/false/yes masked inside the JSON breaks it:\n{json}");
            throw; // not reached: Assert.Fail throws
        }
    }

    /// <summary>The CLI in-process (the property callbacks are synchronous).</summary>
    private static CliRunner.Result Cli(params string[] args) => CliRunner.RunAsync(args).GetAwaiter().GetResult();

    private static string DoubleQuoted(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static string SingleQuoted(string s) => "'" + s.Replace("'", "''", StringComparison.Ordinal) + "'";

    private sealed class TempDir : IDisposable
    {
        private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("pgra-prop-");

        public string Write(string name, string text)
        {
            var path = Path.Combine(_dir.FullName, name);
            File.WriteAllText(path, text);
            return path;
        }

        public void Dispose() => _dir.Delete(recursive: true);
    }
}
