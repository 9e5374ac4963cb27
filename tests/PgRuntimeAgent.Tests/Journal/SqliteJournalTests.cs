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
}
