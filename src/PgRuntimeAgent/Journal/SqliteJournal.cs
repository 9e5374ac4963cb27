using System.Data.Common;
using Microsoft.Data.Sqlite;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Journal;

/// <summary>
/// The default journal: one SQLite file in WAL mode (readers never block the writer), synchronous=FULL so an intent
/// is on disk before its action runs. Writers serialise on BEGIN IMMEDIATE and wait up to
/// <see cref="BusyTimeout"/> for each other, across processes.
/// </summary>
internal sealed class SqliteJournal : SqlJournal
{
    public static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(30);

    private readonly string _connectionString;

    private SqliteJournal(string path, SecretStore secrets, TimeProvider time)
        : base(secrets, time)
    {
        FilePath = path;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = (int)BusyTimeout.TotalSeconds,
        }.ToString();
    }

    public string FilePath { get; }

    public override string Location => FilePath;

    /// <summary>Opens (creating or migrating) the journal file at <paramref name="path"/>.</summary>
    public static async Task<SqliteJournal> OpenAsync(string path, SecretStore secrets, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir))
        {
            Directory.CreateDirectory(dir);
        }

        var journal = new SqliteJournal(full, secrets, time);
        try
        {
            await journal.InitializeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException ex)
        {
            await journal.DisposeAsync().ConfigureAwait(false);
            throw new JournalException($"cannot open the journal {full}: {ex.Message}", ex);
        }

        return journal;
    }

    protected override string Table(string name) => name;

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, null, $"PRAGMA busy_timeout = {(int)BusyTimeout.TotalMilliseconds}; PRAGMA synchronous = FULL;", cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    protected override Task PrepareAsync(DbConnection connection, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, null, "PRAGMA journal_mode = WAL;", cancellationToken);

    protected override async Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        // BEGIN IMMEDIATE: take the write lock now, so the read of the last entry and the insert are one step.
        var sqlite = (SqliteConnection)connection;
        return await Task.Run(() => (DbTransaction)sqlite.BeginTransaction(deferred: false), cancellationToken).ConfigureAwait(false);
    }

    protected override IReadOnlyList<string> Migration(int version) => version switch
    {
        1 => InitialSchema("INTEGER"),
        _ => throw new ArgumentOutOfRangeException(nameof(version)),
    };

    public override ValueTask DisposeAsync()
    {
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
        return ValueTask.CompletedTask;
    }
}
