using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Tests.Detection;

namespace PgRuntimeAgent.Tests.Incidents;

public sealed class IncidentCommandsTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-incident-cli-").FullName;
    private string _id = "";

    private string JournalPath => Path.Combine(_dir, "journal.db");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        await using var journal = await SqliteJournal.OpenAsync(JournalPath, new SecretStore(), new FakeTimeProvider(IncidentScenario.T0), Ct);
        (_, _id, _) = await IncidentScenario.RunAsync(journal, runSkill: true, Ct);
    }

    public ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
        return ValueTask.CompletedTask;
    }

    private string Snap(string name) => Path.Combine(DetectionKit.Dir, name + ".json");

    [Fact]
    public async Task Detect_SavedDiskFullSnapshots_PrintsFindingAndExits1()
    {
        var r = await CliRunner.RunAsync("detect", "pg-test", "--snapshot", Snap("healthy"), Snap("disk-full-01"), Snap("disk-full-02"), "-i", "/nonexistent/pigsty.yml");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("CRITICAL primary-disk-full [pg-test-3]", r.Out, StringComparison.Ordinal);
        Assert.Contains("No space left on device", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Detect_Json_ListsFindingsWithEvidence()
    {
        var r = await CliRunner.RunAsync("detect", "pg-test", "--json", "--snapshot", Snap("healthy"), Snap("disk-full-01"), Snap("disk-full-02"), "-i", "/nonexistent/pigsty.yml");

        using var doc = JsonDocument.Parse(r.Out);
        var codes = doc.RootElement.GetProperty("findings").EnumerateArray().Select(f => f.GetProperty("code").GetString()).ToList();
        Assert.Contains("primary-disk-full", codes);
        Assert.Equal(3, doc.RootElement.GetProperty("snapshots").GetInt32());
    }

    [Fact]
    public async Task Detect_WrongCluster_Exit2()
    {
        var r = await CliRunner.RunAsync("detect", "pg-meta", "--snapshot", Snap("healthy"), "-i", "/nonexistent/pigsty.yml");

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("not pg-meta", r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Incidents_Json_ListsTheResolvedIncident()
    {
        var r = await CliRunner.RunAsync("incidents", "--json", "--journal", JournalPath, "-i", "/nonexistent/pigsty.yml");

        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Out);
        var incident = Assert.Single(doc.RootElement.EnumerateArray());
        Assert.Equal(_id, incident.GetProperty("id").GetString());
        Assert.Equal("resolved", incident.GetProperty("state").GetString());
        Assert.Equal("critical", incident.GetProperty("severity").GetString());
    }

    [Fact]
    public async Task Postmortem_Out_WritesMarkdownAndJson()
    {
        var outDir = Path.Combine(_dir, "pm");
        var r = await CliRunner.RunAsync("postmortem", _id, "--out", outDir, "--journal", JournalPath, "-i", "/nonexistent/pigsty.yml");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("# Post-mortem " + _id, r.Out, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(outDir, _id + ".md")));
        using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, _id + ".json"), Ct));
        Assert.Equal("pg-test-2", doc.RootElement.GetProperty("new_leader").GetString());
    }

    [Fact]
    public async Task Postmortem_UnknownIncident_Exit2()
    {
        var r = await CliRunner.RunAsync("postmortem", "inc-nope", "--journal", JournalPath, "-i", "/nonexistent/pigsty.yml");

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no incident inc-nope", r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_SameDecisions_Exit0()
    {
        var r = await CliRunner.RunAsync("replay", _id, "--skills", Path.Combine(TestPaths.RepoRoot, "skills"), "--journal", JournalPath, "-i", "/nonexistent/pigsty.yml");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("the same decisions", r.Out, StringComparison.Ordinal);
    }
}
