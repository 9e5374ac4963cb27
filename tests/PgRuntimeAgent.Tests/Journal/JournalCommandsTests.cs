using System.Diagnostics;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace PgRuntimeAgent.Tests.Journal;

/// <summary>A temp deployment: the sample inventory and a settings file that puts the journal in state/journal.db.</summary>
internal sealed class CliDeployment : IDisposable
{
    public CliDeployment(string settingsExtra = "")
    {
        Dir = Directory.CreateTempSubdirectory("pgra-cli-journal-").FullName;
        File.Copy(Path.Combine(RepoRoot(), "inventory", "pigsty-sample.yml"), Inventory);
        File.WriteAllText(Path.Combine(Dir, "pigsty.pgra.yml"), "journal:\n  path: state/journal.db\n" + settingsExtra);
    }

    public string Dir { get; }

    public string Inventory => Path.Combine(Dir, "pigsty.yml");

    public string JournalPath => Path.Combine(Dir, "state", "journal.db");

    public Task<CliRunner.Result> RunAsync(params string[] args) => CliRunner.RunAsync(["-i", Inventory, .. args]);

    /// <summary>The repository, found from this source file (the build output may live elsewhere, PGRA_ARTIFACTS).</summary>
    public static string RepoRoot([System.Runtime.CompilerServices.CallerFilePath] string source = "")
    {
        var dir = new DirectoryInfo(Path.GetDirectoryName(source) is { Length: > 0 } d && Directory.Exists(d) ? d : AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PgRuntimeAgent.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? TestPaths.RepoRoot;
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
            // left in the temp directory
        }
    }
}

public sealed class JournalCommandsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Note_ThenList_JournalLivesWhereTheSettingsSay()
    {
        using var d = new CliDeployment();

        var note = await d.RunAsync("journal", "note", "maintenance window opened", "--cluster", "pg-test");
        await d.RunAsync("journal", "note", "unrelated");
        var list = await d.RunAsync("journal", "list", "--cluster", "pg-test");

        Assert.Equal(0, note.ExitCode);
        Assert.Contains("recorded as #1", note.Out, StringComparison.Ordinal);
        Assert.True(File.Exists(d.JournalPath));
        Assert.Equal(0, list.ExitCode);
        Assert.Contains("maintenance window opened", list.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("unrelated", list.Out, StringComparison.Ordinal);
        Assert.StartsWith("SEQ", list.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListJson_WithLimit_ReturnsNewestEntriesOldestFirst()
    {
        using var d = new CliDeployment();
        for (var i = 1; i <= 5; i++)
        {
            await d.RunAsync("journal", "note", $"n{i}");
        }

        var result = await d.RunAsync("journal", "list", "--limit", "2", "--json");

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Out);
        var seqs = doc.RootElement.EnumerateArray().Select(e => e.GetProperty("seq").GetInt64()).ToArray();
        Assert.Equal([4L, 5L], seqs);
        Assert.Equal("n5", doc.RootElement[1].GetProperty("payload").GetProperty("text").GetString());
        Assert.Matches("^[0-9a-f]{64}$", doc.RootElement[1].GetProperty("hash").GetString()!);
    }

    [Fact]
    public async Task List_SinceInTheFutureOrMalformed_EmptyOrUsageError()
    {
        using var d = new CliDeployment();
        await d.RunAsync("journal", "note", "x");

        var future = await d.RunAsync("journal", "list", "--since", "2999-01-01T00:00:00Z");
        var recent = await d.RunAsync("journal", "list", "--since", "10m");
        var bad = await d.RunAsync("journal", "list", "--since", "yesterday-ish");

        Assert.Contains("no entries", future.Out, StringComparison.Ordinal);
        Assert.Contains("note by", recent.Out, StringComparison.Ordinal);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--since 'yesterday-ish'", bad.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_AfterTampering_ExitsOneAndNamesTheEntry()
    {
        using var d = new CliDeployment();
        for (var i = 1; i <= 4; i++)
        {
            await d.RunAsync("journal", "note", $"n{i}");
        }

        var clean = await d.RunAsync("journal", "verify");
        await using (var connection = new SqliteConnection($"Data Source={d.JournalPath};Pooling=False"))
        {
            await connection.OpenAsync(Ct);
            await using var command = connection.CreateCommand();
            command.CommandText = "UPDATE journal_entries SET summary = 'note by root: nothing to see' WHERE seq = 3";
            await command.ExecuteNonQueryAsync(Ct);
        }

        var broken = await d.RunAsync("journal", "verify");
        var json = await d.RunAsync("journal", "verify", "--json");

        Assert.Equal(0, clean.ExitCode);
        Assert.Contains("intact, 4 entries", clean.Out, StringComparison.Ordinal);
        Assert.Equal(1, broken.ExitCode);
        Assert.Contains("BROKEN at #3 (changed)", broken.Out, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(json.Out);
        Assert.False(doc.RootElement.GetProperty("ok").GetBoolean());
        Assert.Equal(3, doc.RootElement.GetProperty("firstBadSeq").GetInt64());
    }

    [Fact]
    public async Task Show_EntryAndUnknownId_PrintsPayloadOrUsageError()
    {
        using var d = new CliDeployment();
        await d.RunAsync("journal", "note", "remember this");

        var show = await d.RunAsync("journal", "show", "#1");
        var missing = await d.RunAsync("journal", "show", "99");
        var unknownAction = await d.RunAsync("journal", "show", "act-nothing");

        Assert.Equal(0, show.ExitCode);
        Assert.Contains("\"text\": \"remember this\"", show.Out, StringComparison.Ordinal);
        Assert.Contains("previous  0000000000000000", show.Out, StringComparison.Ordinal);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("no entry #99", missing.Error, StringComparison.Ordinal);
        Assert.Equal(2, unknownAction.ExitCode);
    }

    [Fact]
    public async Task ExportJsonl_OneLinePerEntryThatRechains()
    {
        using var d = new CliDeployment();
        for (var i = 1; i <= 3; i++)
        {
            await d.RunAsync("journal", "note", $"n{i}");
        }

        var export = await d.RunAsync("journal", "export", "--jsonl");

        Assert.Equal(0, export.ExitCode);
        var lines = export.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        var docs = lines.Select(l => JsonDocument.Parse(l)).ToList();
        Assert.Equal(docs[0].RootElement.GetProperty("hash").GetString(), docs[1].RootElement.GetProperty("prevHash").GetString());
        Assert.Equal(docs[1].RootElement.GetProperty("hash").GetString(), docs[2].RootElement.GetProperty("prevHash").GetString());
        foreach (var doc in docs)
        {
            doc.Dispose();
        }
    }

    [Fact]
    public async Task Note_WithInventorySecret_IsRedacted()
    {
        using var d = new CliDeployment();
        var secret = "DBUser.DBA";
        Assert.Contains(secret, await File.ReadAllTextAsync(d.Inventory, Ct), StringComparison.Ordinal);

        await d.RunAsync("journal", "note", $"psql password was {secret}");
        var export = await d.RunAsync("journal", "export", "--jsonl");

        Assert.DoesNotContain(secret, export.Out, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, System.Text.Encoding.UTF8.GetString(await File.ReadAllBytesAsync(d.JournalPath, Ct)), StringComparison.Ordinal);
        Assert.Contains("******", export.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Note_TwoProcessesAppendingAtOnce_ChainStaysValid()
    {
        using var d = new CliDeployment();
        await d.RunAsync("journal", "note", "created");
        var pgra = Path.Combine(AppContext.BaseDirectory, "pgra.dll");
        const int each = 6;

        async Task WriterAsync(string name)
        {
            for (var i = 0; i < each; i++)
            {
                using var process = Process.Start(new ProcessStartInfo("dotnet", ["exec", pgra, "-i", d.Inventory, "journal", "note", $"{name} {i}"])
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                })!;
                await process.WaitForExitAsync(Ct);
                Assert.Equal(0, process.ExitCode);
            }
        }

        await Task.WhenAll(WriterAsync("a"), WriterAsync("b"));
        var verify = await d.RunAsync("journal", "verify", "--json");

        using var doc = JsonDocument.Parse(verify.Out);
        Assert.True(doc.RootElement.GetProperty("ok").GetBoolean(), verify.Out);
        Assert.Equal(1 + 2 * each, doc.RootElement.GetProperty("checked").GetInt64());
    }
}
