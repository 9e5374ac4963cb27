using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
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

    private readonly bool _readOnly;

    private SqliteJournal(string path, SecretStore secrets, TimeProvider time, bool readOnly = false, ILogger? logger = null)
        : base(secrets, time, logger)
    {
        FilePath = path;
        _readOnly = readOnly;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = (int)BusyTimeout.TotalSeconds,
        }.ToString();
    }

    public string FilePath { get; }

    public override string Location => FilePath;

    /// <summary>Opens (creating or migrating) the journal file at <paramref name="path"/>.</summary>
    public static Task<SqliteJournal> OpenAsync(string path, SecretStore secrets, TimeProvider time, CancellationToken cancellationToken) =>
        OpenAsync(path, secrets, time, null, cancellationToken);

    /// <summary>Opens (creating or migrating) the journal file at <paramref name="path"/>, logging to <paramref name="logger"/>.</summary>
    public static async Task<SqliteJournal> OpenAsync(string path, SecretStore secrets, TimeProvider time, ILogger? logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir))
        {
            Directory.CreateDirectory(dir);
        }

        var journal = new SqliteJournal(full, secrets, time, logger: logger);
        try
        {
            await journal.InitializeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException ex)
        {
            await journal.DisposeAsync().ConfigureAwait(false);
            var error = LogRedaction.Exception(ex, secrets);
            Log.OpenFailed(logger ?? NullLogger.Instance, secrets.Redact(full), error);
            throw new JournalException($"cannot open the journal {full}: {error}", ex);
        }

        return journal;
    }

    /// <summary>
    /// Opens an existing journal file for reading only (<c>pgra journal list|show|verify|export</c>, incidents): the
    /// file is opened with SQLite's read-only mode, nothing is created or migrated, and a file that does not exist,
    /// is not a SQLite database or holds no journal tables is refused with a <see cref="JournalException"/> that
    /// says which.
    /// </summary>
    public static Task<SqliteJournal> OpenReadOnlyAsync(string path, SecretStore secrets, TimeProvider time, CancellationToken cancellationToken) =>
        OpenReadOnlyAsync(path, secrets, time, null, cancellationToken);

    /// <summary>As <see cref="OpenReadOnlyAsync(string, SecretStore, TimeProvider, CancellationToken)"/>, logging to <paramref name="logger"/>.</summary>
    public static async Task<SqliteJournal> OpenReadOnlyAsync(string path, SecretStore secrets, TimeProvider time, ILogger? logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            throw new JournalException($"journal {full} is a directory, not a journal file: give the .db file (journal.path in the settings, or --journal FILE).");
        }

        if (!File.Exists(full))
        {
            throw new JournalException($"journal {full} does not exist: nothing has been journaled there yet (the agent and the verbs that act create it), or the path is wrong (journal.path in the settings, or --journal FILE).");
        }

        if (new FileInfo(full).Length == 0)
        {
            throw new JournalException($"{full} is an empty file, not a pgra journal: point --journal or journal.path at the journal file.");
        }

        var journal = new SqliteJournal(full, secrets, time, readOnly: true, logger: logger);
        try
        {
            await using var connection = await journal.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var command = Command(connection, null,
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('journal_entries', 'journal_meta')");
            var tables = Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
            if (tables < 2)
            {
                throw new JournalException($"{full} is a SQLite database but not a pgra journal (it has no journal_entries and journal_meta tables): point --journal or journal.path at the journal file.");
            }

            await journal.CheckSchemaVersionAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException ex)
        {
            await journal.DisposeAsync().ConfigureAwait(false);
            throw new JournalException(ex.SqliteErrorCode == 26 // SQLITE_NOTADB
                ? $"{full} is not a pgra journal (not a SQLite database): point --journal or journal.path at the journal file."
                : $"cannot read the journal {full}: {LogRedaction.Exception(ex, secrets)}", ex);
        }
        catch
        {
            await journal.DisposeAsync().ConfigureAwait(false);
            throw;
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
            await ExecuteAsync(connection, null, _readOnly
                ? $"PRAGMA busy_timeout = {(int)BusyTimeout.TotalMilliseconds};"
                : $"PRAGMA busy_timeout = {(int)BusyTimeout.TotalMilliseconds}; PRAGMA synchronous = FULL;", cancellationToken).ConfigureAwait(false);
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
