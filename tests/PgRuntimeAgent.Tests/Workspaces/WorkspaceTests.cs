using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Tests.Inventory;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Tests.Workspaces;

/// <summary>The library's composition root: one workspace opens the journal and the hands the CLI and the agent share. Nothing here senses.</summary>
public sealed class WorkspaceTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-workspace-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Workspace Load()
    {
        var inventory = Path.Combine(_dir, "pigsty.yml");
        File.Copy(InventoryTestKit.FixturePath("v3.7.0/ha-full.yml"), inventory);
        File.WriteAllText(Path.Combine(_dir, "pigsty.pgra.yml"), "journal: { path: state/journal.db }\n");
        return Workspace.Load(inventory, null, new Dictionary<string, string?>(), _dir, null);
    }

    [Fact]
    public async Task OpenActing_NoJournalGiven_OpensTheSettingsJournalAndOwnsIt()
    {
        var workspace = Load();

        var acting = await workspace.OpenActingAsync(TimeProvider.System, null, null, Ct);
        await using (acting)
        {
            Assert.True(acting.OwnsJournal);
            Assert.Equal(Path.Combine(_dir, "state", "journal.db"), acting.Journal.Location);
            Assert.Same(workspace, acting.Workspace);
            Assert.Same(workspace.Topology, acting.Context!.Topology);
            Assert.Equal("pg-test", acting.Planner.Resolve("pg-test", null).Cluster.Name);
            Assert.Throws<InputException>(() => acting.Planner.Resolve("pg-nowhere", null));
            Assert.Same(ActionSensing.For(acting.Context), ActionSensing.For(acting.Context));
            await acting.Journal.AppendAsync(JournalRecord.Create(JournalKinds.Note, "opened", new { }), Ct);
        }
    }

    [Fact]
    public async Task AgentRuntime_JournalGiven_SharesTheHandsAndLeavesTheCallersJournalOpen()
    {
        var workspace = Load();
        await using var journal = await SqliteJournal.OpenAsync(Path.Combine(_dir, "given.db"), workspace.Secrets, TimeProvider.System, Ct);

        var runtime = await AgentRuntime.CreateAsync(workspace, new AgentRuntimeOptions
        {
            SkillsDirectory = Path.Combine(TestPaths.RepoRoot, "skills"),
            Journal = journal,
            PostmortemDirectory = Path.Combine(_dir, "postmortems"),
        }, Ct);
        await using (runtime)
        {
            Assert.Same(journal, runtime.Journal);
            Assert.Same(journal, runtime.Acting.Journal);
            Assert.False(runtime.Acting.OwnsJournal);
            Assert.Same(workspace, runtime.Acting.Workspace);
            Assert.Equal(workspace.Topology.Clusters.Select(c => c.Name), runtime.Clusters);
        }

        var entry = await journal.AppendAsync(JournalRecord.Create(JournalKinds.Note, "still open", new { }), Ct);
        Assert.True(entry.Seq > 0);
    }
}
