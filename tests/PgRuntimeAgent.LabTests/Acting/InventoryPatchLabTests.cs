using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using CliWrap;
using CliWrap.Buffered;
using PgRuntimeAgent.Cli;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.LabTests.Acting;

/// <summary>
/// <c>inventory.propose_patch</c> against the real lab: with the leader away from the declared primary (a switchover
/// through Patroni when they agree), <c>pgra inventory drift --patch</c> on a copy of the lab's inventory writes a patch
/// that <c>patch -p1</c> applies, and the patched inventory names the live leader as primary; the inventory file is
/// left byte for byte as it was. The leader found at the start is restored.
/// </summary>
public sealed class InventoryPatchLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task DriftPatch_LeaderIsNotDeclaredPrimary_PatchAppliesAndNamesTheLeaderAndInventoryIsUntouched()
    {
        await using var lab = await ActingLab.StartAsync();
        var copyDir = Directory.CreateDirectory(Path.Combine(lab.Dir, "inventory")).FullName;
        var inventory = Path.Combine(copyDir, Path.GetFileName(lab.Lab.InventoryPath));
        File.Copy(lab.Lab.InventoryPath, inventory);
        var labInventoryHash = Sha256(lab.Lab.InventoryPath);
        var original = await File.ReadAllBytesAsync(inventory, Ct);
        var declared = InventoryLoader.Load(inventory, new SecretStore(), InventoryOverrides.None).FindCluster(lab.Lab.Cluster)!.DeclaredPrimary!.Name;

        if (await lab.LeaderAsync() == declared)
        {
            var candidate = lab.Lab.Members.First(m => m.Name != declared).Name;
            var switchover = await lab.PgraAsync("switchover", lab.Lab.Cluster, "--to", candidate, "--reason", "inventory drift lab test");
            Assert.True(switchover.ExitCode == 0, switchover.ToString());
            await lab.WaitHealthyAsync();
        }

        var leader = await lab.LeaderAsync();
        Assert.NotEqual(declared, leader);

        var watch = Stopwatch.StartNew();
        var run = await PgraAsync(inventory, lab.SettingsPath, "inventory", "drift", lab.Lab.Cluster, "--patch", "--json");
        watch.Stop();

        Assert.True(run.ExitCode == 0, run.ToString());
        using var doc = JsonDocument.Parse(run.Out);
        var result = doc.RootElement;
        Assert.Equal("proposed", result.GetProperty("status").GetString());
        Assert.Equal(leader, result.GetProperty("leader").GetString());
        var path = result.GetProperty("path").GetString()!;
        Assert.True(File.Exists(path), path);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(original)), result.GetProperty("sha256").GetString());
        Assert.Equal(original, await File.ReadAllBytesAsync(inventory, Ct));
        Assert.Equal(labInventoryHash, Sha256(lab.Lab.InventoryPath));

        // The operator's step: patch -p1 on a second copy; the result names the live leader as the only primary.
        var applyDir = Directory.CreateDirectory(Path.Combine(lab.Dir, "applied")).FullName;
        var applied = Path.Combine(applyDir, Path.GetFileName(inventory));
        File.Copy(inventory, applied);
        var patch = await CliWrap.Cli.Wrap("patch").WithArguments(["-p1", "--batch", "-i", path]).WithWorkingDirectory(applyDir)
            .WithValidation(CommandResultValidation.None).ExecuteBufferedAsync(Ct);
        Assert.True(patch.ExitCode == 0, patch.StandardOutput + patch.StandardError);
        var cluster = InventoryLoader.Load(applied, new SecretStore(), InventoryOverrides.None).FindCluster(lab.Lab.Cluster)!;
        Assert.Equal(leader, cluster.DeclaredPrimary!.Name);
        Assert.Single(cluster.Members, m => m.DeclaredRole == DeclaredRole.Primary);

        var entries = await lab.JournalAsync(result.GetProperty("action").GetProperty("action").GetProperty("id").GetString());
        Assert.Contains(entries, e => e.Kind == JournalKinds.ActionOutcome && e.Summary.StartsWith("succeeded", StringComparison.Ordinal));
        TestContext.Current.TestOutputHelper?.WriteLine($"pgra inventory drift --patch: {watch.Elapsed.TotalSeconds:0.00} s; leader {leader}, declared {declared}");
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    private static async Task<ActingLab.Run> PgraAsync(string inventory, string settings, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await CliApp.RunAsync(["-i", inventory, "--settings", settings, .. args], stdout, stderr, Ct);
        return new ActingLab.Run(code, stdout.ToString(), stderr.ToString());
    }
}
