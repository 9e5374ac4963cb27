using System.Security.Cryptography;
using System.Text;
using Npgsql;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Tests.Journal;

namespace PgRuntimeAgent.LabTests.Journal;

/// <summary>
/// The PostgreSQL journal backend runs the same contract suite as SQLite, against the lab's pg-meta (the plain
/// PostgreSQL on the admin address, 127.0.0.10:5432, database meta as dbuser_meta, from the lab manifest), each test in
/// a schema of its own that is dropped afterwards. PGRA_TEST_JOURNAL_PG (a connection string) points it at another
/// PostgreSQL instead.
/// </summary>
public sealed class PostgresJournalTests : JournalContractTests
{
    private const string Override = "PGRA_TEST_JOURNAL_PG";
    private readonly string _schema = "pgra_test_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
    private string _connectionString = "";
    private string? _password;

    /// <summary>Finds the database on first use (inside the test, so that Assert.Skip skips it).</summary>
    private async Task EnsureConnectionAsync()
    {
        if (_connectionString.Length > 0)
        {
            return;
        }

        (_connectionString, _password) = await LabConnectionAsync();
        if (_password is not null)
        {
            // The inventory's secret: the suite checks it never reaches the journal either.
            Secrets.Add("lab/journal_password", _password, "lab manifest");
        }
    }

    /// <summary>The connection string to use; LabGuard skips (outside CI) or fails (in CI) when the lab is not running.</summary>
    private static async Task<(string ConnectionString, string? Password)> LabConnectionAsync()
    {
        if (Environment.GetEnvironmentVariable(Override) is { Length: > 0 } explicitString)
        {
            return (explicitString, null);
        }

        var lab = await LabGuard.RequireLabAsync();
        return lab.JournalDatabase("pgra-journal-tests");
    }

    private protected override async Task<IJournal> OpenJournalAsync(CancellationToken cancellationToken)
    {
        await EnsureConnectionAsync();
        return await PostgresJournal.OpenAsync(_connectionString, _password, _schema, Secrets, Time, cancellationToken);
    }

    private async Task<NpgsqlConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder(_connectionString);
        if (_password is not null)
        {
            builder.Password = _password;
        }

        var connection = new NpgsqlConnection(builder.ToString());
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    protected override async Task ExecuteRawAsync(string sql, CancellationToken cancellationToken)
    {
        await using var connection = await ConnectAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql.Replace("{entries}", $"{_schema}.journal_entries", StringComparison.Ordinal)
            .Replace("journal_meta", $"{_schema}.journal_meta", StringComparison.Ordinal), connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    protected override async Task<string> DumpRawAsync(CancellationToken cancellationToken)
    {
        await using var connection = await ConnectAsync(cancellationToken);
        var text = new StringBuilder();
        foreach (var table in new[] { "journal_entries", "journal_meta" })
        {
            await using var command = new NpgsqlCommand($"SELECT t::text FROM {_schema}.{table} t", connection);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                text.AppendLine(reader.GetString(0));
            }
        }

        return text.ToString();
    }

    public override async ValueTask DisposeAsync()
    {
        if (_connectionString.Length > 0)
        {
            try
            {
                await using var connection = await ConnectAsync(CancellationToken.None);
                await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {_schema} CASCADE", connection);
                await command.ExecuteNonQueryAsync(CancellationToken.None);
            }
            catch (NpgsqlException)
            {
                // The lab went away; the schema goes with it.
            }
        }

        await base.DisposeAsync();
    }
}
