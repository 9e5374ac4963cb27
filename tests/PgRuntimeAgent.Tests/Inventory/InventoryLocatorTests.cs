using PgRuntimeAgent.Cli;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Tests.Inventory;

public sealed class InventoryLocatorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-locate-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Cwd => Directory.CreateDirectory(Path.Combine(_dir, "cwd")).FullName;

    private string Home => Directory.CreateDirectory(Path.Combine(_dir, "home")).FullName;

    private static Dictionary<string, string?> Env(string? inventory = null) => new() { ["PGRA_INVENTORY"] = inventory };

    [Fact]
    public void Locate_Order_ExplicitThenEnvironmentThenCwdThenHome()
    {
        var explicitFile = Path.Combine(_dir, "explicit.yml");
        var envFile = Path.Combine(_dir, "env.yml");
        var cwdFile = Path.Combine(Cwd, "pigsty.yml");
        var homeFile = Path.Combine(Directory.CreateDirectory(Path.Combine(Home, "pigsty")).FullName, "pigsty.yml");
        foreach (var f in new[] { explicitFile, envFile, cwdFile, homeFile })
        {
            File.WriteAllText(f, "all: {}\n");
        }

        Assert.Equal(explicitFile, InventoryLocator.Locate(explicitFile, Env(envFile), Cwd, Home));
        Assert.Equal(envFile, InventoryLocator.Locate(null, Env(envFile), Cwd, Home));
        Assert.Equal(cwdFile, InventoryLocator.Locate(null, Env(), Cwd, Home));
        File.Delete(cwdFile);
        Assert.Equal(homeFile, InventoryLocator.Locate(null, Env(), Cwd, Home));
    }

    [Fact]
    public void Locate_RelativeExplicitPath_IsResolvedAgainstTheWorkingDirectory()
    {
        File.WriteAllText(Path.Combine(Cwd, "inv.yml"), "all: {}\n");

        Assert.Equal(Path.Combine(Cwd, "inv.yml"), InventoryLocator.Locate("inv.yml", Env(), Cwd, Home));
    }

    [Fact]
    public void Locate_NothingFound_SaysEveryPlaceItLooked()
    {
        var ex = Assert.Throws<InputException>(() => InventoryLocator.Locate(null, Env(), Cwd, Home));

        Assert.Equal("no inventory found; pass -i FILE or set $PGRA_INVENTORY. Looked in:", ex.Message);
        Assert.Equal(
            ["--inventory (not given)", "$PGRA_INVENTORY (not set)", Path.Combine(Cwd, "pigsty.yml") + " (not found)", Path.Combine(Home, "pigsty", "pigsty.yml") + " (not found)"],
            ex.Problems);
    }

    [Fact]
    public void Locate_EnvironmentPointsNowhere_NamesTheVariable()
    {
        var ex = Assert.Throws<InputException>(() => InventoryLocator.Locate(null, Env("/nowhere/pigsty.yml"), Cwd, Home));

        Assert.Equal("inventory file /nowhere/pigsty.yml (from $PGRA_INVENTORY) does not exist; fix $PGRA_INVENTORY or pass -i FILE.", ex.Message);
    }

    [Fact]
    public void WorkspaceLoad_InventoryAndSettingsBesideIt_LoadsBothWithSharedSecrets()
    {
        var inventory = Path.Combine(_dir, "prod.yml");
        File.Copy(InventoryTestKit.FixturePath("v3.7.0/ha-full.yml"), inventory);
        File.WriteAllText(Path.Combine(_dir, "prod.pgra.yml"), "credentials: { patroni_password: From.Settings-Pw }\nsensing: { interval_seconds: 3 }\n");
        var env = new Dictionary<string, string?> { ["PGRA_INVENTORY"] = inventory, ["PGRA_SENSING__MAX_PARALLELISM"] = "2" };

        var ws = Workspace.Load(null, null, env, Cwd, Home);

        Assert.Equal(inventory, ws.Topology.SourcePath);
        Assert.Equal(Path.Combine(_dir, "prod.pgra.yml"), ws.Settings.SourcePath);
        Assert.Equal((3d, 2), (ws.Settings.Sensing.IntervalSeconds, ws.Settings.Sensing.MaxParallelism));
        var patroni = ws.Topology.Clusters[0].Credentials.PatroniPassword!;
        Assert.Equal("From.Settings-Pw", ws.Secrets.Reveal(patroni));
        Assert.Contains("Patroni.API", ws.Secrets.Values); // the inventory's value is still known, for redaction
    }
}
