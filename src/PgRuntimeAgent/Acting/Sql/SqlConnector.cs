using System.Globalization;
using Npgsql;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Acting.Sql;

/// <summary>
/// Opens sessions for SQL actions as the cluster's admin user (pg_admin_username, password from the
/// <see cref="SecretStore"/>, revealed here only). application_name is <c>pgra-act</c>; on PostgreSQL 14 and later
/// the server checks every second that pgra is still connected, so a statement of a killed pgra does not run on.
/// </summary>
internal sealed class SqlConnector
{
    public const string ApplicationName = "pgra-act";

    private readonly SecretStore _secrets;

    public SqlConnector(SecretStore secrets, string defaultDatabase)
    {
        _secrets = secrets;
        DefaultDatabase = defaultDatabase;
    }

    /// <summary>Database used when an action names none (sensing.postgres.database, default postgres).</summary>
    public string DefaultDatabase { get; }

    /// <summary>Where to reach a member's PostgreSQL; replaceable for tests.</summary>
    public Func<PgMember, (string Host, int Port)> AddressOf { get; init; } = m => (m.Ip, m.Ports.Postgres);

    public async Task<NpgsqlConnection> OpenAsync(PgCluster cluster, PgMember member, string? database, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(member);
        var (host, port) = AddressOf(member);
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = host,
            Port = port,
            Database = database ?? DefaultDatabase,
            Username = cluster.Credentials.AdminUsername,
            ApplicationName = ApplicationName,
            Timeout = 5,
            CommandTimeout = 30,
            Pooling = false,
            SslMode = SslMode.Prefer,
        };
        if (_secrets.TryReveal(cluster.Credentials.AdminPassword, out var password))
        {
            builder.Password = password;
        }

        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            if (connection.PostgreSqlVersion.Major >= 14)
            {
                await ExecuteAsync(connection, "set client_connection_check_interval = 1000", [], TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Where a session goes, for messages (never a password).</summary>
    public string Describe(PgCluster cluster, PgMember member, string? database)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(member);
        var (host, port) = AddressOf(member);
        return string.Create(CultureInfo.InvariantCulture, $"postgres://{cluster.Credentials.AdminUsername}@{host}:{port}/{database ?? DefaultDatabase} ({member.Name})");
    }

    public static async Task ExecuteAsync(NpgsqlConnection connection, string sql, object?[] parameters, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, sql, timeout, parameters);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public static async Task<T?> ScalarAsync<T>(NpgsqlConnection connection, string sql, object?[] parameters, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, sql, timeout, parameters);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is null or DBNull ? default : (T)value;
    }

    /// <summary>Rows as name → value (DBNull as null).</summary>
    public static async Task<IReadOnlyList<IReadOnlyDictionary<string, object?>>> RowsAsync(NpgsqlConnection connection, string sql, object?[] parameters,
        TimeSpan timeout, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, sql, timeout, parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<IReadOnlyDictionary<string, object?>>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var row = new Dictionary<string, object?>(StringComparer.Ordinal);
            for (var i = 0; i < reader.FieldCount; i++)
            {
                row[reader.GetName(i)] = await reader.IsDBNullAsync(i, cancellationToken).ConfigureAwait(false) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }

    /// <summary>A value as text for journals and messages (invariant culture, ISO times).</summary>
    public static string? Text(object? value) => value switch
    {
        null => null,
        bool b => b ? "true" : "false",
        DateTime dt => dt.ToString("O", CultureInfo.InvariantCulture),
        DateTimeOffset dto => dto.ToString("O", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, TimeSpan timeout, object?[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection) { CommandTimeout = Math.Max(1, (int)Math.Ceiling(timeout.TotalSeconds)) };
        foreach (var p in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = p ?? DBNull.Value });
        }

        return command;
    }
}
