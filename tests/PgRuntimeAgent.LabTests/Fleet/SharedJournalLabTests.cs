using System.Security.Cryptography;
using Npgsql;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.LabTests.Fleet;

/// <summary>
/// The shared journal in pg-meta (the lab's PostgreSQL on the admin address) with several agents at once: they all
/// open a journal that does not exist yet at the same moment, then append concurrently; every append lands once, the
/// sequence has no gap and the hash chain verifies.
/// </summary>
public sealed class SharedJournalLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SixAgentsOpenANewSharedJournalAtOnceAndAppendConcurrently_EveryEntryOnce_ChainVerifies()
    {
        var lab = await LabGuard.RequireLabAsync();
        var (connectionString, password) = lab.JournalDatabase("pgra-shared-journal-test");
        var schema = "pgra_shared_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        const int agents = 6;
        const int each = 40;
        var journals = new List<IJournal>();
        try
        {
            using var go = new SemaphoreSlim(0);
            var opening = Enumerable.Range(0, agents).Select(async _ =>
            {
                await go.WaitAsync(Ct);
                return await PostgresJournal.OpenAsync(connectionString, password, schema, new SecretStore(), TimeProvider.System, Ct);
            }).ToList();
            go.Release(agents);
            journals.AddRange(await Task.WhenAll(opening));

            await Task.WhenAll(journals.Select((journal, a) => Task.Run(async () =>
            {
                for (var i = 0; i < each; i++)
                {
                    await journal.AppendAsync(JournalRecord.Create(JournalKinds.Note, $"agent-{a} entry {i}", new { agent = $"agent-{a}", i }, "pg-test"), Ct);
                }
            }, Ct)));

            var all = await journals[0].QueryAsync(new JournalQuery(), Ct);
            Assert.Equal(Enumerable.Range(1, agents * each).Select(i => (long)i), all.Select(e => e.Seq));
            for (var a = 0; a < agents; a++)
            {
                Assert.Equal(each, all.Count(e => e.Summary.StartsWith($"agent-{a} entry ", StringComparison.Ordinal)));
            }

            var verified = await journals[agents - 1].VerifyAsync(Ct);
            Assert.True(verified.Ok, verified.ToString());
        }
        finally
        {
            foreach (var journal in journals)
            {
                await journal.DisposeAsync();
            }

            await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Password = password }.ConnectionString);
            await connection.OpenAsync(CancellationToken.None);
            await using var drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {schema} CASCADE", connection);
            await drop.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }
}
