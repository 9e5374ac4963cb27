using System.Text;
using CliWrap;
using CliWrap.Buffered;
using PgRuntimeAgent.Acting.InventoryPatches;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Tests.Acting.InventoryPatches;

public sealed class InventoryPatcherTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Every cluster with a primary and at least one replica in every fixture inventory.</summary>
    public static TheoryData<string, string> FixtureClusters()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in Directory.GetFiles(TestPaths.Fixture("pigsty"), "*.yml", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var topology = InventoryLoader.Load(file, new SecretStore(), InventoryOverrides.None);
            foreach (var c in topology.Clusters.Where(c => c.DeclaredPrimary is not null && c.Members.Any(m => m.DeclaredRole == DeclaredRole.Replica)))
            {
                data.Add(Path.GetRelativePath(TestPaths.Fixture("pigsty"), file), c.Name);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(FixtureClusters))]
    public async Task Propose_SwapPrimaryInFixture_PatchAppliesAndReaderSeesNewRoles(string fixture, string clusterName)
    {
        var source = TestPaths.Fixture("pigsty", fixture);
        var original = await File.ReadAllTextAsync(source, Ct);
        var before = InventoryLoader.Load(source, new SecretStore(), InventoryOverrides.None).FindCluster(clusterName)!;
        var oldPrimary = before.DeclaredPrimary!;
        var newPrimary = before.Members.First(m => m.DeclaredRole == DeclaredRole.Replica);
        InventoryChange[] changes =
        [
            new(oldPrimary.Name, "pg_role", "primary", "replica"),
            new(newPrimary.Name, "pg_role", "replica", "primary"),
        ];

        var proposal = InventoryPatcher.Propose(original, Path.GetFileName(source), clusterName, changes);

        Assert.True(proposal.Ok, string.Join("\n", proposal.Problems));
        Assert.StartsWith($"--- a/{Path.GetFileName(source)}\n+++ b/{Path.GetFileName(source)}\n@@ -", proposal.Diff, StringComparison.Ordinal);
        var patched = await ApplyWithPatchAsync(source, proposal.Diff!);
        Assert.Equal(proposal.PatchedText, patched);
        Assert.Equal(proposal.PatchedText, UnifiedDiff.Apply(original, proposal.Diff!, out var problem));
        Assert.Null(problem);

        // Only the two role values changed: same lines, same comments, same everything else.
        var oldLines = original.Split('\n');
        var newLines = patched.Split('\n');
        Assert.Equal(oldLines.Length, newLines.Length);
        var changed = Enumerable.Range(0, oldLines.Length).Where(i => oldLines[i] != newLines[i]).ToList();
        Assert.Equal(2, changed.Count);
        foreach (var i in changed)
        {
            Assert.Equal(oldLines[i].Replace("primary", "?", StringComparison.Ordinal).Replace("replica", "?", StringComparison.Ordinal),
                newLines[i].Replace("primary", "?", StringComparison.Ordinal).Replace("replica", "?", StringComparison.Ordinal));
        }

        var after = InventoryLoader.Parse(patched, source, new SecretStore(), InventoryOverrides.None);
        Assert.True(after.IsValid, string.Join("\n", after.Problems));
        var cluster = after.Topology!.FindCluster(clusterName)!;
        Assert.Equal(newPrimary.Name, cluster.DeclaredPrimary!.Name);
        Assert.Equal(DeclaredRole.Replica, cluster.FindMember(oldPrimary.Name)!.DeclaredRole);
        foreach (var m in before.Members.Where(m => m.Name != oldPrimary.Name && m.Name != newPrimary.Name))
        {
            Assert.Equal(m.DeclaredRole, cluster.FindMember(m.Name)!.DeclaredRole);
        }
    }

    [Fact]
    public void Propose_FlowHostEntryWithComment_ChangesOnlyTheValueAndKeepsTheComment()
    {
        var text = File.ReadAllText(TestPaths.Fixture("pigsty", "v4.5.0", "ha-full.yml"));

        var proposal = InventoryPatcher.Propose(text, "pigsty.yml", "pg-test",
            [new("pg-test-1", "pg_role", "primary", "replica"), new("pg-test-2", "pg_role", "replica", "primary")]);

        Assert.True(proposal.Ok, string.Join("\n", proposal.Problems));
        Assert.Contains("-        10.10.10.11: { pg_seq: 1, pg_role: primary }   # primary instance, leader of cluster\n", proposal.Diff, StringComparison.Ordinal);
        Assert.Contains("+        10.10.10.11: { pg_seq: 1, pg_role: replica }   # primary instance, leader of cluster\n", proposal.Diff, StringComparison.Ordinal);
        Assert.Contains("+        10.10.10.12: { pg_seq: 2, pg_role: primary }   # replica instance, follower of leader\n", proposal.Diff, StringComparison.Ordinal);
        Assert.Contains("@@ -66,8 +66,8 @@", proposal.Diff, StringComparison.Ordinal);
        Assert.Equal(["pigsty.yml:69: pg-test-1 pg_role primary -> replica (the host entry sets it)", "pigsty.yml:70: pg-test-2 pg_role replica -> primary (the host entry sets it)"],
            proposal.Located);
    }

    [Fact]
    public void Propose_FromDoesNotMatch_RefusedWithFileAndLine()
    {
        var text = File.ReadAllText(TestPaths.Fixture("pigsty", "v4.5.0", "ha-full.yml"));

        var proposal = InventoryPatcher.Propose(text, "pigsty.yml", "pg-test",
            [new("pg-test-2", "pg_role", "primary", "replica"), new("pg-test-3", "pg_role", "replica", "primary")]);

        Assert.False(proposal.Ok);
        Assert.Null(proposal.Diff);
        var problem = Assert.Single(proposal.Problems);
        Assert.Equal("pigsty.yml:70: pg-test-2 pg_role: the inventory says 'replica', not 'primary' as the change expects; nothing proposed for it", problem);
    }

    [Theory]
    [InlineData("pg-test-9", "cluster pg-test has no member with pg_seq 9")]
    [InlineData("pg-meta-1", "'pg-meta-1' is not a member name of cluster pg-test")]
    public void Propose_UnknownMember_Refused(string member, string expected)
    {
        var text = File.ReadAllText(TestPaths.Fixture("pigsty", "v4.5.0", "ha-full.yml"));

        var proposal = InventoryPatcher.Propose(text, "pigsty.yml", "pg-test", [new(member, "pg_role", "replica", "primary")]);

        Assert.Contains(proposal.Problems, p => p.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Propose_BlockStyleQuotedValues_KeepsQuotingAndComments()
    {
        const string text = """
            # production inventory
            all:
              children:
                pg-prod:
                  hosts:
                    10.0.0.1:
                      pg_seq: 1
                      pg_role: "primary"    # bootstrapped from here
                    10.0.0.2:
                      pg_seq: 2
                      pg_role: 'replica'
                  vars:
                    pg_cluster: pg-prod     # the cluster
              vars:
                version: v4.5.0

            """;

        var proposal = InventoryPatcher.Propose(text, "pigsty.yml", "pg-prod",
            [new("pg-prod-1", "pg_role", "primary", "replica"), new("pg-prod-2", "pg_role", "replica", "primary")]);

        Assert.True(proposal.Ok, string.Join("\n", proposal.Problems));
        Assert.Equal(text.Replace("\"primary\"    #", "\"replica\"    #", StringComparison.Ordinal).Replace("'replica'", "'primary'", StringComparison.Ordinal),
            proposal.PatchedText);
        Assert.Equal(proposal.PatchedText, await ApplyWithPatchAsync(text, "pigsty.yml", proposal.Diff!));
    }

    [Fact]
    public async Task Propose_RoleInheritedFromGroupOrUnset_OverridesInTheHostEntryOnly()
    {
        const string text = """
            all:
              children:
                pg-a:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary }
                    10.0.0.2: { pg_seq: 2 }
                    10.0.0.3:
                      pg_seq: 3   # third
                  vars: { pg_cluster: pg-a, pg_role: replica }
                pg-b:
                  hosts:
                    10.0.1.1: { pg_seq: 1, pg_role: primary }
                    10.0.1.2:
                      pg_seq: 2
                  vars: { pg_cluster: pg-b }
            """;

        var a = InventoryPatcher.Propose(text, "pigsty.yml", "pg-a", [new("pg-a-1", "pg_role", "primary", "replica"), new("pg-a-2", "pg_role", "replica", "primary")]);
        var b = InventoryPatcher.Propose(text, "pigsty.yml", "pg-b", [new("pg-b-1", "pg_role", "primary", "replica"), new("pg-b-2", "pg_role", "replica", "primary")]);
        var c = InventoryPatcher.Propose(text, "pigsty.yml", "pg-a", [new("pg-a-1", "pg_role", "primary", "replica"), new("pg-a-3", "pg_role", "replica", "primary")]);

        Assert.True(a.Ok, string.Join("\n", a.Problems));
        Assert.Contains("+        10.0.0.2: { pg_seq: 2, pg_role: primary }\n", a.Diff, StringComparison.Ordinal);
        Assert.Contains("inherited from group pg-a (pigsty.yml:9)", a.Located[1], StringComparison.Ordinal);
        Assert.True(b.Ok, string.Join("\n", b.Problems));
        Assert.Contains("\n           pg_seq: 2\n+          pg_role: primary\n", b.Diff, StringComparison.Ordinal);
        Assert.Contains("not set: added to the host entry", b.Located[1], StringComparison.Ordinal);
        Assert.True(c.Ok, string.Join("\n", c.Problems));
        Assert.Contains("           pg_seq: 3   # third\n+          pg_role: primary\n", c.Diff, StringComparison.Ordinal);
        foreach (var (proposal, cluster, primary) in new[] { (a, "pg-a", "pg-a-2"), (b, "pg-b", "pg-b-2"), (c, "pg-a", "pg-a-3") })
        {
            var patched = await ApplyWithPatchAsync(text, "pigsty.yml", proposal.Diff!);
            Assert.Equal(proposal.PatchedText, patched);
            var report = InventoryLoader.Parse(patched, "pigsty.yml", new SecretStore(), InventoryOverrides.None);
            Assert.True(report.IsValid, string.Join("\n", report.Problems));
            Assert.Equal(primary, report.Topology!.FindCluster(cluster)!.DeclaredPrimary!.Name);
        }
    }

    [Fact]
    public async Task Propose_CrlfFileWithoutFinalNewline_KeepsLineEndsAndApplies()
    {
        var text = string.Join("\r\n",
            "all:",
            "  children:",
            "    pg-test:",
            "      hosts:",
            "        10.0.0.1: { pg_seq: 1, pg_role: primary }  # p",
            "        10.0.0.2: { pg_seq: 2, pg_role: replica }",
            "      vars: { pg_cluster: pg-test }");

        var proposal = InventoryPatcher.Propose(text, "pigsty.yml", "pg-test",
            [new("pg-test-1", "pg_role", "primary", "replica"), new("pg-test-2", "pg_role", "replica", "primary")]);

        Assert.True(proposal.Ok, string.Join("\n", proposal.Problems));
        Assert.Equal(text.Replace("pg_role: primary", "pg_role: X", StringComparison.Ordinal).Replace("pg_role: replica", "pg_role: primary", StringComparison.Ordinal)
            .Replace("pg_role: X", "pg_role: replica", StringComparison.Ordinal), proposal.PatchedText);
        Assert.Contains("-        10.0.0.1: { pg_seq: 1, pg_role: primary }  # p\r\n", proposal.Diff, StringComparison.Ordinal);
        Assert.Contains("       vars: { pg_cluster: pg-test }\n\\ No newline at end of file\n", proposal.Diff, StringComparison.Ordinal);
        Assert.Equal(proposal.PatchedText, await ApplyWithPatchAsync(text, "pigsty.yml", proposal.Diff!));
    }

    [Fact]
    public void ParseList_JsonAndCompactForms_ReadTheSameChanges()
    {
        var json = InventoryChange.ParseList("""[{"member":"pg-test-1","key":"pg_role","from":"primary","to":"replica"},{"member":"pg-test-2","from":"replica","to":"primary"}]""");
        var compact = InventoryChange.ParseList("pg-test-1 pg_role primary->replica, pg-test-2 replica -> primary");

        Assert.Equal(json, compact);
        Assert.Equal(new InventoryChange("pg-test-2", "pg_role", "replica", "primary"), json[1]);
        Assert.Equal(json, InventoryChange.ParseList(InventoryChange.ToJson(json)));
    }

    [Theory]
    [InlineData("", "no change is given")]
    [InlineData("pg-test-1 primary", "expected 'MEMBER [KEY] FROM->TO'")]
    [InlineData("""[{"member":"pg-test-1","from":"primary"}]""", "needs both 'from' and 'to'")]
    [InlineData("pg-test-1 primary->primary", "nothing to change")]
    [InlineData("pg-test-1 primary->replica, pg-test-1 replica->primary", "pg-test-1 pg_role is changed twice")]
    public void ParseList_BadInput_InputExceptionNamesTheProblem(string text, string expected)
    {
        var ex = Assert.Throws<InputException>(() => InventoryChange.ParseList(text));

        Assert.Contains(ex.Problems, p => p.Contains(expected, StringComparison.Ordinal));
    }

    /// <summary>Applies <paramref name="diff"/> with GNU patch -p1 to a copy of <paramref name="source"/> and returns the result.</summary>
    internal static Task<string> ApplyWithPatchAsync(string source, string diff) =>
        ApplyWithPatchAsync(File.ReadAllText(source), Path.GetFileName(source), diff);

    internal static async Task<string> ApplyWithPatchAsync(string text, string fileName, string diff)
    {
        var dir = Directory.CreateTempSubdirectory("pgra-patch-test-").FullName;
        try
        {
            var target = Path.Combine(dir, fileName);
            await File.WriteAllTextAsync(target, text, new UTF8Encoding(false), Ct);
            var result = await CliWrap.Cli.Wrap("patch").WithArguments(["-p1", "--batch", "--forward"]).WithWorkingDirectory(dir)
                .WithStandardInputPipe(PipeSource.FromString(diff)).WithValidation(CommandResultValidation.None).ExecuteBufferedAsync(Ct);
            Assert.True(result.ExitCode == 0, $"patch -p1 failed ({result.ExitCode}): {result.StandardOutput}{result.StandardError}\n{diff}");
            return await File.ReadAllTextAsync(target, Ct);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
