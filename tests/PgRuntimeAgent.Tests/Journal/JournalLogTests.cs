using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Tests.Telemetry;

namespace PgRuntimeAgent.Tests.Journal;

public sealed class JournalLogTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-journal-log-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));
    private readonly SecretStore _secrets = new();
    private readonly LogRecorder _logs = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string DbPath => Path.Combine(_dir, "journal.db");

    [Fact]
    public async Task OpenAsync_NewFile_LogsTheMigrationAndTheOpening()
    {
        await (await SqliteJournal.OpenAsync(DbPath, _secrets, _time, _logs.Logger(), Ct)).DisposeAsync();

        var migrated = _logs.Single(3001, LogLevel.Information);
        Assert.Contains("from schema version 0 to 1", migrated.Message, StringComparison.Ordinal);
        Assert.Contains(DbPath, _logs.Single(3000, LogLevel.Information).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenAsync_ExistingFile_LogsTheOpeningOnly()
    {
        await (await SqliteJournal.OpenAsync(DbPath, _secrets, _time, Ct)).DisposeAsync();

        await (await SqliteJournal.OpenAsync(DbPath, _secrets, _time, _logs.Logger(), Ct)).DisposeAsync();

        Assert.Empty(_logs.WithId(3001));
        _logs.Single(3000, LogLevel.Information);
    }

    [Fact]
    public async Task AppendAsync_ReadOnlyJournal_LogsTheFailureAsAnError()
    {
        await (await SqliteJournal.OpenAsync(DbPath, _secrets, _time, Ct)).DisposeAsync();
        await using var journal = await SqliteJournal.OpenReadOnlyAsync(DbPath, _secrets, _time, _logs.Logger(), Ct);

        await Assert.ThrowsAsync<JournalException>(() => journal.AppendAsync(JournalRecord.Create(JournalKinds.Note, "x", new { }), Ct));

        var log = _logs.Single(3003, LogLevel.Error);
        Assert.Contains("append to it", log.Message, StringComparison.Ordinal);
        Assert.Contains("readonly", log.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_TamperedEntry_LogsTheBrokenEntryAsAnError()
    {
        await using var journal = await SqliteJournal.OpenAsync(DbPath, _secrets, _time, _logs.Logger(), Ct);
        await journal.AppendAsync(JournalRecord.Create(JournalKinds.Note, "first", new { }), Ct);
        await journal.AppendAsync(JournalRecord.Create(JournalKinds.Note, "second", new { }), Ct);
        await journal.VerifyAsync(Ct);
        _logs.Single(3005, LogLevel.Information);

        await using (var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            await connection.OpenAsync(Ct);
            await using var command = connection.CreateCommand();
            command.CommandText = "UPDATE journal_entries SET summary = 'changed' WHERE seq = 1";
            await command.ExecuteNonQueryAsync(Ct);
        }

        var result = await journal.VerifyAsync(Ct);

        Assert.False(result.Ok);
        var log = _logs.Single(3004, LogLevel.Error);
        Assert.Contains("entry #1", log.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
