using System.Text;
using Microsoft.Data.Sqlite;
using PgRuntimeAgent.Journal;

namespace PgRuntimeAgent.Tests.Journal;

public sealed class SqliteJournalTests : JournalContractTests
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-journal-test-").FullName;

    private string DbPath => Path.Combine(_dir, "journal.db");

    private protected override async Task<IJournal> OpenJournalAsync(CancellationToken cancellationToken) =>
        await SqliteJournal.OpenAsync(DbPath, Secrets, Time, cancellationToken);

    protected override async Task ExecuteRawAsync(string sql, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql.Replace("{entries}", "journal_entries", StringComparison.Ordinal);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    protected override async Task<string> DumpRawAsync(CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        foreach (var file in Directory.GetFiles(_dir))
        {
            byte[] bytes;
            try
            {
                bytes = await File.ReadAllBytesAsync(file, cancellationToken);
            }
            catch (FileNotFoundException)
            {
                continue; // SQLite removed its -wal or -shm file between the listing and the read (a checkpoint)
            }

            text.Append(Encoding.UTF8.GetString(bytes)).Append(Encoding.Latin1.GetString(bytes));
        }

        return text.ToString();
    }

    public override ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A pooled handle may still be closing; the temp directory is left behind.
        }

        return base.DisposeAsync();
    }

    [Fact]
    public async Task Calls_BackendFailsAfterOpen_ThrowTheJournalsOwnRedactedException()
    {
        var ct = TestContext.Current.CancellationToken;
        Secrets.Add("settings:journal.password", "Journal-Pw-4711", "test");
        var dir = Path.Combine(_dir, "Journal-Pw-4711");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "journal.db");
        var journal = await SqliteJournal.OpenAsync(path, Secrets, Time, ct);
        await journal.AppendAsync(JournalRecord.Create(JournalKinds.Note, "before", new { }), ct);
        await journal.DisposeAsync();
        foreach (var file in Directory.GetFiles(dir))
        {
            await File.WriteAllBytesAsync(file, Enumerable.Repeat((byte)0x5a, 8192).ToArray(), ct);
        }

        var append = await Assert.ThrowsAsync<JournalException>(() => journal.AppendAsync(JournalRecord.Create(JournalKinds.Note, "after", new { }), ct));
        var query = await Assert.ThrowsAsync<JournalException>(() => journal.QueryAsync(new JournalQuery(), ct));
        var verify = await Assert.ThrowsAsync<JournalException>(() => journal.VerifyAsync(ct));

        Assert.StartsWith("journal ", append.Message, StringComparison.Ordinal);
        Assert.Contains("could not append to it: SqliteException", append.Message, StringComparison.Ordinal);
        Assert.Contains("could not query it", query.Message, StringComparison.Ordinal);
        Assert.Contains("could not verify its chain", verify.Message, StringComparison.Ordinal);
        Assert.All(new[] { append, query, verify }, ex =>
        {
            Assert.DoesNotContain("Journal-Pw-4711", ex.Message, StringComparison.Ordinal);
            Assert.Null(ex.InnerException);
        });
    }

    [Fact]
    public async Task Open_FileInWalMode_UsesWal()
    {
        await using var journal = await OpenJournalAsync(TestContext.Current.CancellationToken);
        await using var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";

        var mode = (string?)await command.ExecuteScalarAsync(TestContext.Current.CancellationToken);

        Assert.Equal("wal", mode);
    }

    [Fact]
    public async Task Open_NewerSchemaVersion_Refuses()
    {
        await (await OpenJournalAsync(TestContext.Current.CancellationToken)).DisposeAsync();
        await ExecuteRawAsync("UPDATE journal_meta SET value = '99' WHERE key = 'schema_version'", TestContext.Current.CancellationToken);

        var ex = await Assert.ThrowsAsync<JournalException>(() => OpenJournalAsync(TestContext.Current.CancellationToken));

        Assert.Contains("schema version 99", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_Twice_RecordsSchemaVersionOnce()
    {
        await (await OpenJournalAsync(TestContext.Current.CancellationToken)).DisposeAsync();
        await (await OpenJournalAsync(TestContext.Current.CancellationToken)).DisposeAsync();
        await using var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT value FROM journal_meta WHERE key = 'schema_version'";

        Assert.Equal(SqlJournal.SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
            (string?)await command.ExecuteScalarAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task OpenReadOnly_NewerSchemaVersion_RefusesAndWritesNothing()
    {
        await (await OpenJournalAsync(TestContext.Current.CancellationToken)).DisposeAsync();
        await ExecuteRawAsync("UPDATE journal_meta SET value = '99' WHERE key = 'schema_version'", TestContext.Current.CancellationToken);

        var ex = await Assert.ThrowsAsync<JournalException>(() => SqliteJournal.OpenReadOnlyAsync(DbPath, Secrets, Time, TestContext.Current.CancellationToken));

        Assert.Contains("schema version 99", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenReadOnly_Append_FailsInsteadOfWriting()
    {
        await (await OpenJournalAsync(TestContext.Current.CancellationToken)).DisposeAsync();
        await using var journal = await SqliteJournal.OpenReadOnlyAsync(DbPath, Secrets, Time, TestContext.Current.CancellationToken);

        var ex = await Assert.ThrowsAsync<JournalException>(() => journal.AppendAsync(JournalRecord.Create(JournalKinds.Note, "x", new { }), TestContext.Current.CancellationToken));
        Assert.Contains("readonly", ex.Message, StringComparison.Ordinal);

        Assert.Empty(await journal.QueryAsync(new JournalQuery(), TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Canonicalize_SecretThatIsANumber_MaskedUnderASecretKeyOnly()
    {
        var secrets = new PgRuntimeAgent.Secrets.SecretStore();
        secrets.Add("inventory:all.vars.pg_admin_password", "8008", "x.yml:3");
        var payload = System.Text.Json.Nodes.JsonNode.Parse("""{"port": 8008, "url": "http://10.0.0.1:8008", "password": "8008", "text": "password=8008"}""");

        var canonical = JournalJson.Canonicalize(payload, secrets);

        Assert.Equal("""{"password":"******","port":8008,"text":"password=******","url":"http://10.0.0.1:8008"}""", canonical);
    }
}
