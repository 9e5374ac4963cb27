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

    [Fact]
    public async Task List_JournalThatIsNotASqliteFile_OneLineErrorExitTwoAndFileUntouched()
    {
        using var d = new CliDeployment();
        var notJournal = Path.Combine(d.Dir, "passwd");
        await File.WriteAllTextAsync(notJournal, "root:x:0:0:root:/root:/bin/bash\n", Ct);
        var before = await File.ReadAllBytesAsync(notJournal, Ct);

        var list = await d.RunAsync("journal", "list", "--journal", notJournal);
        var verify = await d.RunAsync("journal", "verify", "--journal", notJournal);

        foreach (var r in new[] { list, verify })
        {
            Assert.Equal(2, r.ExitCode);
            Assert.Contains($"error: {notJournal} is not a pgra journal (not a SQLite database): point --journal or journal.path at the journal file.", r.Error, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", r.All, StringComparison.Ordinal);
        }

        Assert.Equal(before, await File.ReadAllBytesAsync(notJournal, Ct));
    }

    [Fact]
    public async Task ReadOnlyVerbs_SqliteFileWithoutJournalTables_SayItIsNotAJournalAndCreateNothing()
    {
        using var d = new CliDeployment();
        var other = Path.Combine(d.Dir, "other.db");
        await using (var connection = new SqliteConnection($"Data Source={other};Pooling=False"))
        {
            await connection.OpenAsync(Ct);
            await using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE things (id INTEGER)";
            await command.ExecuteNonQueryAsync(Ct);
        }

        var results = new[]
        {
            await d.RunAsync("journal", "list", "--journal", other),
            await d.RunAsync("journal", "verify", "--journal", other),
            await d.RunAsync("journal", "export", "--journal", other),
        };

        foreach (var r in results)
        {
            Assert.Equal(2, r.ExitCode);
            Assert.Contains("is a SQLite database but not a pgra journal", r.Error, StringComparison.Ordinal);
            Assert.DoesNotContain("intact", r.Out, StringComparison.Ordinal);
        }

        await using (var connection = new SqliteConnection($"Data Source={other};Pooling=False;Mode=ReadOnly"))
        {
            await connection.OpenAsync(Ct);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT group_concat(name) FROM sqlite_master WHERE type = 'table'";
            Assert.Equal("things", await command.ExecuteScalarAsync(Ct));
        }
    }

    [Fact]
    public async Task ReadOnlyVerbs_JournalThatDoesNotExist_SayItDoesNotExistAndCreateNothing()
    {
        using var d = new CliDeployment();

        var list = await d.RunAsync("journal", "list");
        var verify = await d.RunAsync("journal", "verify", "--journal", Path.Combine(d.Dir, "nope.db"));

        Assert.Equal(2, list.ExitCode);
        Assert.Contains($"journal {d.JournalPath} does not exist", list.Error, StringComparison.Ordinal);
        Assert.Equal(2, verify.ExitCode);
        Assert.Contains("nope.db does not exist", verify.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(d.JournalPath));
        Assert.False(File.Exists(Path.Combine(d.Dir, "nope.db")));
    }

    [Fact]
    public async Task Export_OutputDirectoryMissing_OneLineErrorExitTwo()
    {
        using var d = new CliDeployment();
        await d.RunAsync("journal", "note", "x");
        var target = Path.Combine(d.Dir, "no", "such", "dir", "x.jsonl");

        var export = await d.RunAsync("journal", "export", "-o", target);

        Assert.Equal(2, export.ExitCode);
        var line = Assert.Single(export.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: cannot write the export to {target}: the directory {Path.GetDirectoryName(target)} does not exist", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListShowExport_EntriesWithPayloadNotJsonOrTimeNotADate_ShownAsDamaged()
    {
        using var d = new CliDeployment();
        for (var i = 1; i <= 3; i++)
        {
            await d.RunAsync("journal", "note", $"n{i}");
        }

        await using (var connection = new SqliteConnection($"Data Source={d.JournalPath};Pooling=False"))
        {
            await connection.OpenAsync(Ct);
            await using var command = connection.CreateCommand();
            command.CommandText = "UPDATE journal_entries SET payload = 'not json {' WHERE seq = 1; UPDATE journal_entries SET time = 'last tuesday' WHERE seq = 2";
            await command.ExecuteNonQueryAsync(Ct);
        }

        var list = await d.RunAsync("journal", "list");
        var json = await d.RunAsync("journal", "list", "--json");
        var show = await d.RunAsync("journal", "show", "2");
        var export = await d.RunAsync("journal", "export");
        var verify = await d.RunAsync("journal", "verify");

        Assert.Equal(0, list.ExitCode);
        Assert.Contains("damaged: its payload is not JSON", list.Out, StringComparison.Ordinal);
        Assert.Contains("damaged: its time 'last tuesday' is not a date", list.Out, StringComparison.Ordinal);
        Assert.Contains("note by", list.Out, StringComparison.Ordinal);
        Assert.Contains("2 damaged entries", list.Error, StringComparison.Ordinal);
        Assert.Equal(0, json.ExitCode);
        using (var doc = JsonDocument.Parse(json.Out))
        {
            Assert.Equal("not json {", doc.RootElement[0].GetProperty("payload").GetString());
            Assert.Equal(JsonValueKind.Null, doc.RootElement[1].GetProperty("time").ValueKind);
            Assert.Equal("n3", doc.RootElement[2].GetProperty("payload").GetProperty("text").GetString());
        }

        Assert.Equal(0, show.ExitCode);
        Assert.Contains("DAMAGED", show.Out, StringComparison.Ordinal);
        Assert.Equal(0, export.ExitCode);
        Assert.Equal(3, export.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(1, verify.ExitCode);
        Assert.DoesNotContain("   at ", list.All + json.All + show.All + export.All + verify.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_UnknownKind_ExitsTwoListingTheKinds()
    {
        using var d = new CliDeployment();
        await d.RunAsync("journal", "note", "x");

        var result = await d.RunAsync("journal", "list", "--kind", "bogus");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown journal kind 'bogus'", result.Error, StringComparison.Ordinal);
        Assert.Contains("snapshot, finding, decision", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Note_WithPasswordShapedText_IsRedactedBeforeItIsJournaled()
    {
        using var d = new CliDeployment();

        await d.RunAsync("journal", "note", "reset it: password=Fresh.Pw-1, then psql postgres://dba:Other.Pw-2@10.0.0.1/db");
        var export = await d.RunAsync("journal", "export");

        Assert.DoesNotContain("Fresh.Pw-1", export.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("Other.Pw-2", export.Out, StringComparison.Ordinal);
        Assert.Contains("password=******, then psql postgres://******@10.0.0.1/db", export.Out, StringComparison.Ordinal);
    }
}
