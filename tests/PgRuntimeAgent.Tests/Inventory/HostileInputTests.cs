using System.Diagnostics;
using System.Text;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Yaml;

namespace PgRuntimeAgent.Tests.Inventory;

/// <summary>Hostile and broken inventories: a located error or a warning, never a crash, a hang or a wrong answer.</summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>An inventory whose all.vars.x is a flow list nested <paramref name="levels"/> deep (~3 bytes a level).</summary>
    private static string Nested(int levels) =>
        "all:\n  vars:\n    x: " + new string('[', levels) + "1" + new string(']', levels) + "\n";

    /// <summary>
    /// A chain of merge keys, each mapping merging the one before it: <c>m2: &amp;m2 { &lt;&lt;: *m1, k2: v }</c>.
    /// </summary>
    private static string MergeChain(int links)
    {
        var sb = new StringBuilder("all:\n  vars:\n    m1: &m1 { k1: v }\n");
        for (var i = 2; i <= links; i++)
        {
            sb.Append("    m").Append(i).Append(": &m").Append(i).Append(" { <<: *m").Append(i - 1).Append(", k").Append(i).Append(": v }\n");
        }

        return sb.ToString();
    }

    /// <summary>Billion laughs: each level lists the one before it ten times.</summary>
    internal static string Laughs(string indent, int levels)
    {
        var sb = new StringBuilder();
        sb.Append(indent).Append("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (var i = 1; i < levels; i++)
        {
            var prev = "*l" + (i - 1);
            sb.Append(indent).Append('l').Append(i).Append(": &l").Append(i).Append(" [")
                .Append(string.Join(", ", Enumerable.Repeat(prev, 10))).Append("]\n");
        }

        return sb.ToString();
    }

    [Fact]
    public void Parse_Nested12500Levels_ReportsTheDepthLimitAtItsLine()
    {
        var yaml = Nested(12_500); // ~40 KB: used to kill the process with a stack overflow in InventorySecrets.Walk

        var report = InventoryTestKit.Parse(yaml);

        var problem = Assert.Single(report.Problems);
        // The root mapping, all's body and vars' body are levels 1-3; the 62nd '[' (column 7 + 62) is level 65.
        Assert.Equal($"3:{(5 + YamlLimits.MaxDepth).ToString(System.Globalization.CultureInfo.InvariantCulture)} : nesting deeper than 64 levels",
            InventoryTestKit.Located(report)[0]);
        Assert.StartsWith("test.yml:3:", problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_NestedToTheLimit_StillLoads()
    {
        // 64 levels in all: three mappings (the root, all's body, vars' body) and 61 lists.
        var report = InventoryTestKit.Parse(Nested(YamlLimits.MaxDepth - 3));

        Assert.DoesNotContain(report.Problems, p => p.Message.Contains("nesting", StringComparison.Ordinal));
        Assert.Contains(InventoryTestKit.Parse(Nested(YamlLimits.MaxDepth - 2)).Problems, p => p.Message == "nesting deeper than 64 levels");
    }

    [Fact]
    public void Parse_MergeKeyChainOf1000Links_IsRefusedQuickly()
    {
        var yaml = MergeChain(1000); // ~40 KB; used to take 87 s
        var clock = Stopwatch.StartNew();

        var report = InventoryTestKit.Parse(yaml);

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        var problem = Assert.Single(report.Problems);
        Assert.StartsWith("nesting deeper than 64 levels (through the alias *m", problem.Message, StringComparison.Ordinal);
        Assert.True(problem.Line > 60, problem.ToString());
    }

    [Fact]
    public void Parse_ShortMergeChainAndSharedAnchors_StillLoad()
    {
        var sb = new StringBuilder(MergeChain(20));
        sb.Append("  children:\n    pg-test:\n      hosts:\n");
        for (var i = 1; i <= 200; i++)
        {
            sb.Append("        10.0.").Append(i / 250).Append('.').Append(i % 250).Append(": { <<: *m20, pg_seq: ").Append(i)
                .Append(", pg_role: ").Append(i == 1 ? "primary" : "replica").Append(" }\n");
        }

        sb.Append("      vars: { pg_cluster: pg-test }\n");

        var topology = InventoryTestKit.Valid(sb.ToString());

        Assert.Equal(200, topology.Clusters.Single().Members.Count);
    }

    [Fact]
    public void Parse_BillionLaughs_IsRefusedByTheAliasLimit()
    {
        var yaml = "all:\n  vars:\n" + Laughs("    ", 9);
        var clock = Stopwatch.StartNew();

        var report = InventoryTestKit.Parse(yaml);

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        var problem = Assert.Single(report.Problems);
        Assert.Equal(7, problem.Line); // l4 (line 7) is the first level past 100,000 expanded nodes: 10 x 11,111
        Assert.StartsWith("aliases expand to more than 100,000 nodes (at *l3)", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_AliasInsideItsOwnNode_IsACycleError()
    {
        var report = InventoryTestKit.Parse("all:\n  vars:\n    x: &x [ a, *x ]\n");

        Assert.Equal(["3:16 : the alias *x refers to a node that contains it (a cycle); pgra does not read recursive YAML"], InventoryTestKit.Located(report));
    }

    [Fact]
    public async Task InventoryCheck_TooDeep_ExitsTwoWithFileAndLine()
    {
        var path = Write("deep.yml", Nested(20_000));

        var result = await CliRunner.RunAsync("inventory", "check", "-i", path);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("deep.yml:3:", result.All, StringComparison.Ordinal);
        Assert.Contains("nesting deeper than 64 levels", result.All, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_FileLargerThanTheLimit_IsRefusedWithoutParsing()
    {
        var path = Path.Combine(_dir, "big.yml");
        using (var file = File.Create(path))
        {
            file.Write("all:\n# "u8);
            var chunk = new byte[1024 * 1024];
            Array.Fill(chunk, (byte)'x');
            for (var written = 0L; written <= YamlLimits.MaxDocumentChars; written += chunk.Length)
            {
                file.Write(chunk);
            }
        }


        var report = InventoryLoader.Check(path, new SecretStore(), PgRuntimeAgent.Inventory.InventoryOverrides.None);

        var problem = Assert.Single(report.Problems);
        Assert.StartsWith("the document is larger than 8 MiB", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InventoryCheck_ShadowLikeFile_IsNotAnInventory()
    {
        var path = Write("shadow", """
            root:$6$Zq1Yx$Hash.Not.Real.0123456789abcdef:19000:0:99999:7:::
            daemon:*:19000:0:99999:7:::
            postgres:!:19000::::::
            """);

        var result = await CliRunner.RunAsync("inventory", "check", "-i", path);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("shadow:1:1: not an Ansible/Pigsty inventory: the top level has no 'all:' key (3 other top-level keys, none a group with hosts, vars or children)",
            result.All, StringComparison.Ordinal);
        Assert.DoesNotContain("OK:", result.All, StringComparison.Ordinal);
        Assert.DoesNotContain("Hash.Not.Real", result.All, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ a: 1 }", "a mapping")]
    [InlineData("[ 1, 2 ]", "a list")]
    public void Parse_PasswordThatIsNotText_IsAnErrorNamingTheKey(string value, string found)
    {
        var report = InventoryTestKit.Parse($$"""
            all:
              children:
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
                  vars: { pg_cluster: pg-test }
              vars:
                pg_admin_password: {{value}}
            """);

        Assert.Equal([$"7:24 all.vars: pg_admin_password must be a text value, found {found}"], InventoryTestKit.Located(report));
    }

    [Fact]
    public void Parse_HostInTwoClustersGroupsAsInPigstyKernelsDemo_LoadsWithAWarningNamingBothGroups()
    {
        // The shape of Pigsty v3.7.0 conf/demo/kernels.yml: 'nodes' sets pg_cluster: pg_meta as host vars, 'pg-meta'
        // lists the same IPs under pg_cluster: pg-meta. Ansible's host vars win, so the hosts are in pg_meta.
        var report = InventoryTestKit.Parse("""
            all:
              children:
                infra: { hosts: { 10.10.10.10: { infra_seq: 1 } } }
                etcd: { hosts: { 10.10.10.10: { etcd_seq: 1 } }, vars: { etcd_cluster: etcd } }
                nodes:
                  hosts:
                    10.10.10.10: { nodename: meta1, pg_cluster: pg_meta, pg_seq: 1, pg_role: primary }
                    10.10.10.11: { nodename: meta2, pg_cluster: pg_meta, pg_seq: 2, pg_role: replica }
                    10.10.10.12: { nodename: pg12, pg_cluster: pg-v12, pg_seq: 1, pg_role: primary }
                pg-meta:
                  hosts:
                    10.10.10.10: { pg_seq: 1, pg_role: primary }
                    10.10.10.11: { pg_seq: 2, pg_role: replica }
                  vars: { pg_cluster: pg-meta, pg_vip_enabled: true, pg_vip_address: 10.10.10.2/24, pg_vip_interface: eth1 }
              vars: { version: v3.7.0, admin_ip: 10.10.10.10 }
            """);

        Assert.True(report.IsValid, string.Join("\n", report.Problems));
        var clusters = report.Topology!.Clusters;
        Assert.Equal(["pg_meta", "pg-v12"], clusters.Select(c => c.Name));
        Assert.Equal(["10.10.10.10", "10.10.10.11"], clusters[0].Members.Select(m => m.Ip));
        Assert.StartsWith("10.10.10.2", clusters[0].Vip, StringComparison.Ordinal); // pg-meta's group vars still reach the hosts, as in Ansible
        var warnings = report.Warnings.Where(w => w.Message.Contains("is listed in group", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.Equal(
            "10.10.10.10 is listed in group 'pg-meta' (cluster pg-meta) and in group 'nodes' (cluster pg_meta, test.yml:7:9); Ansible gives the host one pg_cluster, pg_meta, so pgra counts it in cluster pg_meta only",
            warnings[0].Message);
        Assert.Equal((12L, "pg-meta/10.10.10.10"), (warnings[0].Line, warnings[0].Subject));
    }

    [Fact]
    public void Parse_AnsibleHostNotAnIp_WarnsAtAnsibleHostThatItIsTheAddressUsed()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary, ansible_host: db1.example } }
                  vars: { pg_cluster: pg-test }
            """);

        Assert.True(report.IsValid, string.Join("\n", report.Problems));
        Assert.Equal("db1.example", report.Topology!.Clusters[0].Members[0].Ip);
        var warning = Assert.Single(report.Warnings, w => w.Message.Contains("not an IP address", StringComparison.Ordinal));
        Assert.Equal((4L, 71L), (warning.Line, warning.Column));
        Assert.Equal("ansible_host 'db1.example' is not an IP address; pgra connects to it (ansible_host overrides the host key '10.0.0.1'), but Pigsty identifies nodes by IP", warning.Message);
        Assert.Equal("set ansible_host to the node's IP, or remove it if the host key is the IP", warning.Hint);
    }

    [Fact]
    public void Parse_HostKeyNotAnIpWithoutAnsibleHost_SaysTheKeyIsUsed()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts: { db1.example: { pg_seq: 1, pg_role: primary } }
                  vars: { pg_cluster: pg-test }
            """);

        var warning = Assert.Single(report.Warnings, w => w.Message.Contains("not an IP address", StringComparison.Ordinal));
        Assert.Equal("the host key 'db1.example' is not an IP address and no ansible_host is set, so pgra connects to 'db1.example'; Pigsty identifies nodes by IP", warning.Message);
        Assert.Equal("use the node's IP as the host key, or set ansible_host to its IP", warning.Hint);
    }

    [Fact]
    public void Parse_IgnoredGroupNamedLikeASecret_NameStaysReadableEverywhere()
    {
        var secrets = new SecretStore();
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
                  vars: { pg_cluster: pg-test }
                blue:
                  hosts: { 10.0.0.9: {} }
              vars:
                pg_admin_password: blue
            """, secrets: secrets);

        Assert.True(report.IsValid, string.Join("\n", report.Problems));
        Assert.Equal(["blue"], report.Topology!.IgnoredGroups);
        Assert.Equal("ignored groups (not managed by pgra): blue", secrets.Redact("ignored groups (not managed by pgra): blue"));
        Assert.Contains(report.Warnings, w => w.Message.StartsWith("the secret at all.vars.pg_admin_password is the same text as a name at line 6", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_PlaceholdersThatFanOut_StopAtTheExpansionBudget()
    {
        // admin_ip names v1, which names v2 fifty times, ... : 50^7 expansions without a budget.
        var sb = new StringBuilder("all:\n  vars:\n    admin_ip: '${v1}'\n");
        for (var i = 1; i <= 8; i++)
        {
            sb.Append("    v").Append(i).Append(": '").Append(string.Concat(Enumerable.Repeat("${v" + (i + 1) + "}", 50))).Append("'\n");
        }

        var clock = Stopwatch.StartNew();

        var report = InventoryTestKit.Parse(sb.ToString());

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        Assert.Contains(report.Warnings, w => w.Message.StartsWith("admin_ip '", StringComparison.Ordinal) && w.Message.EndsWith("is not an IP address", StringComparison.Ordinal));
    }
}
