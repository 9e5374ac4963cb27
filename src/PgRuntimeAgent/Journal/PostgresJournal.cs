using System.Data.Common;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Journal;

/// <summary>
/// The shared journal in PostgreSQL (for example Pigsty's meta database): the same schema as SQLite in its own
/// schema (default <c>pgra</c>). Appends serialise on a transaction-scoped advisory lock keyed by the schema.
/// Payloads are kept as text, not jsonb, so they hash exactly as written.
/// </summary>
internal sealed partial class PostgresJournal : SqlJournal
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _schema;
    private readonly string _location;

    private PostgresJournal(NpgsqlDataSource dataSource, string schema, string location, SecretStore secrets, TimeProvider time, ILogger? logger)
        : base(secrets, time, logger)
    {
        _dataSource = dataSource;
        _schema = schema;
        _location = location;
    }

    public override string Location => _location;

    public string Schema => _schema;

    /// <summary>
    /// Opens the journal in <paramref name="schema"/> of the database <paramref name="connectionString"/> names,
    /// creating or migrating it. <paramref name="password"/> (from the secret store) overrides any in the string.
    /// </summary>
    public static Task<PostgresJournal> OpenAsync(string connectionString, string? password, string schema, SecretStore secrets,
        TimeProvider time, CancellationToken cancellationToken) =>
        OpenAsync(connectionString, password, schema, secrets, time, null, cancellationToken);

    /// <summary>As <see cref="OpenAsync(string, string?, string, SecretStore, TimeProvider, CancellationToken)"/>, logging to <paramref name="logger"/>.</summary>
    public static async Task<PostgresJournal> OpenAsync(string connectionString, string? password, string schema, SecretStore secrets,
        TimeProvider time, ILogger? logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        if (!SchemaName().IsMatch(schema))
        {
            throw new InputException($"journal.schema '{schema}' is not a plain identifier (lowercase letters, digits, _).");
        }

        var builder = new NpgsqlDataSourceBuilder(connectionString);
        if (password is not null)
        {
            builder.ConnectionStringBuilder.Password = password;
        }

        if (builder.ConnectionStringBuilder.Timeout == 15)
        {
            builder.ConnectionStringBuilder.Timeout = 5;
        }

        builder.ConnectionStringBuilder.ApplicationName ??= "pgra-journal";
        var csb = builder.ConnectionStringBuilder;
        var location = $"postgresql://{csb.Host}:{csb.Port}/{csb.Database} schema {schema}";
        var dataSource = builder.Build();
        var journal = new PostgresJournal(dataSource, schema, location, secrets, time, logger);
        try
        {
            await journal.InitializeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException ex)
        {
            await journal.DisposeAsync().ConfigureAwait(false);
            var error = LogRedaction.Exception(ex, secrets);
            Log.OpenFailed(logger ?? NullLogger.Instance, secrets.Redact(location), error);
            throw new JournalException($"cannot open the journal at {location}: {error}", ex);
        }

        return journal;
    }

    protected override string Table(string name) => $"{_schema}.{name}";

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Creates the schema under the journal's advisory lock: several agents starting at once on one shared journal would
    /// otherwise race on <c>CREATE SCHEMA IF NOT EXISTS</c> (a unique violation in pg_namespace for all but one).
    /// </summary>
    protected override async Task PrepareAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        await using var tx = await BeginWriteAsync(connection, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, tx, $"CREATE SCHEMA IF NOT EXISTS {_schema}", cancellationToken).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = Command(connection, tx, "SELECT pg_advisory_xact_lock(hashtext(@key))");
            Add(command, "key", "pgra.journal:" + _schema);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return tx;
        }
        catch
        {
            await tx.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    protected override IReadOnlyList<string> Migration(int version) => version switch
    {
        1 => InitialSchema("BIGINT"),
        _ => throw new ArgumentOutOfRangeException(nameof(version)),
    };

    public override async ValueTask DisposeAsync() => await _dataSource.DisposeAsync().ConfigureAwait(false);

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex SchemaName();
}
