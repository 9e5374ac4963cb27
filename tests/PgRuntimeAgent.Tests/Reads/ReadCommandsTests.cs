using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Cli.Commands;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Tests.Reads;

/// <summary><c>pgra read</c>: input errors exit 2 before anything is contacted; a journal read runs end to end.</summary>
public sealed class ReadCommandsTests
{
    private static string LabInventory => Path.Combine(TestPaths.RepoRoot, "inventory", "lab.yml");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Read_UnknownName_ExitsTwoListingTheReads()
    {
        var r = await CliRunner.RunAsync("read", "postgres.drop", "--cluster", "pg-test", "-i", LabInventory);

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no read 'postgres.drop'", r.Error, StringComparison.Ordinal);
        Assert.Contains("postgres.probe", r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_RangeOverTheBound_ExitsTwoNamingTheParameter()
    {
        var r = await CliRunner.RunAsync("read", "metrics.query", "--cluster", "pg-test", "-p", "query=up", "-p", "range_minutes=1440", "-i", LabInventory);

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("range_minutes must be at most 360", r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_ParamWithoutEquals_ExitsTwo()
    {
        var r = await CliRunner.RunAsync("read", "logs.search", "--cluster", "pg-test", "-p", "limit", "-i", LabInventory);

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--param 'limit' is not NAME=VALUE", r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_UnknownMember_ExitsTwo()
    {
        var r = await CliRunner.RunAsync("read", "cluster.member", "--cluster", "pg-test", "--member", "pg-test-9", "-i", LabInventory);

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no member 'pg-test-9' in cluster pg-test", r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseParameters_SplitsAtTheFirstEquals_AndRefusesRepeats()
    {
        var p = ReadCommands.ParseParameters(["query=sum(x{a=\"b\"})", "limit=5"]);

        Assert.Equal("sum(x{a=\"b\"})", p["query"]);
        Assert.Equal("5", p["limit"]);
        Assert.Contains("given twice", Assert.Throws<InputException>(() => ReadCommands.ParseParameters(["a=1", "a=2"])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_JournalSearch_PrintsTheEnvelopeFromTheSettingsJournal()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-read-cli-").FullName;
        try
        {
            var journalPath = Path.Combine(dir, "journal.db");
            await using (var journal = await SqliteJournal.OpenAsync(journalPath, new SecretStore(), new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddYears(56)), Ct))
            {
                await journal.AppendAsync(new JournalRecord { Kind = JournalKinds.Note, Summary = "maintenance started", Cluster = "pg-test" }, Ct);
                await journal.AppendAsync(new JournalRecord { Kind = JournalKinds.Note, Summary = "other cluster", Cluster = "pg-meta" }, Ct);
            }

            var settings = Path.Combine(dir, "pgra.yml");
            await File.WriteAllTextAsync(settings, $"journal:\n  path: {journalPath}\n", Ct);

            var r = await CliRunner.RunAsync("read", "journal.search", "--cluster", "pg-test", "-p", "kinds=note", "-i", LabInventory, "--settings", settings);

            Assert.True(r.ExitCode == 0, r.All);
            using var doc = JsonDocument.Parse(r.Out);
            Assert.Equal("journal.search", doc.RootElement.GetProperty("read").GetString());
            Assert.True(doc.RootElement.GetProperty("ok").GetBoolean());
            var entry = Assert.Single(doc.RootElement.GetProperty("result").GetProperty("entries").EnumerateArray());
            Assert.Equal("maintenance started", entry.GetProperty("summary").GetString());
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }
}
