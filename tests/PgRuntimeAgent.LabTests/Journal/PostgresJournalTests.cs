using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Npgsql;
using PgRuntimeAgent.Cli;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Tests.Journal;

namespace PgRuntimeAgent.LabTests.Journal;

/// <summary>
/// The PostgreSQL journal backend runs the same contract suite as SQLite, against the lab's primary (through
/// HAProxy at 127.0.0.11:5433, credentials from inventory/lab.yml), each test in a schema of its own that is dropped
/// afterwards. PGRA_TEST_JOURNAL_PG (a connection string) points it at another PostgreSQL instead.
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
            Secrets.Add("lab/admin_password", _password, "inventory/lab.yml");
        }
    }

    /// <summary>The connection string to use, or Skip (outside CI) / Fail (in CI) when no PostgreSQL is reachable.</summary>
    private static async Task<(string ConnectionString, string? Password)> LabConnectionAsync()
    {
        if (Environment.GetEnvironmentVariable(Override) is { Length: > 0 } explicitString)
        {
            return (explicitString, null);
        }

        const string host = "127.0.0.11";
        const int port = 5433;
        var reachable = false;
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await client.ConnectAsync(host, port, timeout.Token);
            reachable = true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            reachable = false;
        }

        var inventory = Path.Combine(RepoRoot(), "inventory", "lab.yml");
        if (!reachable || !File.Exists(inventory))
        {
            var why = $"the lab's PostgreSQL primary ({host}:{port}) is not reachable or {inventory} is missing; bring the lab up with 'pgra lab up' (or set {Override}).";
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            {
                Assert.Fail(why);
            }

            Assert.Skip(why);
        }

        var workspace = Workspace.Load(inventory, null, Workspace.ProcessEnvironment(), RepoRoot(), null);
        var cluster = workspace.Topology.FindCluster("pg-test") ?? workspace.Topology.Clusters[0];
        workspace.Secrets.TryReveal(cluster.Credentials.AdminPassword, out var password);
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = host,
            Port = port,
            Database = "postgres",
            Username = cluster.Credentials.AdminUsername,
            Timeout = 5,
        };
        return (builder.ToString(), password);
    }

    private static string RepoRoot([System.Runtime.CompilerServices.CallerFilePath] string source = "")
    {
        // The build output may live outside the tree (PGRA_ARTIFACTS): start from this source file instead.
        var dir = new DirectoryInfo(Path.GetDirectoryName(source) is { Length: > 0 } d && Directory.Exists(d) ? d : AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PgRuntimeAgent.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("PgRuntimeAgent.sln not found");
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
