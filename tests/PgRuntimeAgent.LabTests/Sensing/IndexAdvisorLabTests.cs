using System.Globalization;
using Npgsql;
using PgRuntimeAgent.LabTests.Lab;
using PgRuntimeAgent.Sensing.Postgres;

namespace PgRuntimeAgent.LabTests.Sensing;

/// <summary>
/// The index advisor against a real PostgreSQL: the lab's leader under the <c>missing-index</c> scenario (orders,
/// 2 million rows, no index on user_id; needs hypopg in the lab database, created at lab setup). The advisor must
/// propose (user_id, created_at), find the plan cost cut by at least half, and create nothing; with hypopg dropped it
/// says the candidate is unchecked.
/// </summary>
public sealed class IndexAdvisorLabTests
{
    private const string HotQuery = "SELECT id, amount, status FROM orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Advise_MissingIndexScenarioOnTheLeader_UserIdThenCreatedAtCutsTheCostAndNothingIsBuilt()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        var inject = await LabCli.RunAsync("lab", "inject", "missing-index", "--dir", lab.Dir);
        Assert.True(inject.ExitCode == 0, inject.All);
        try
        {
            // Right after the inject (a bulk load on the leader) a 2-core CI host can take longer than the lab's 3 s to connect.
            await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(lab.ConnectionString(leader)) { Timeout = 15 }.ConnectionString);
            await connection.OpenAsync(Ct);
            var queryId = await WaitForQueryIdAsync(connection, TimeSpan.FromSeconds(30));
            Assert.NotNull(queryId);

            var advice = await AssertAdvisedAsync(connection, queryId);
            TestContext.Current.TestOutputHelper?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"lab leader {leader.Name}: {advice.Definition} cost {advice.CostBefore} -> {advice.CostAfter} ({advice.Plan} plan) in {advice.ElapsedMs} ms"));

            // A deployment without hypopg: the advice says what it could not check and keeps the cost it measured.
            await ExecuteAsync(connection, "DROP EXTENSION hypopg");
            try
            {
                var without = await IndexAdvisor.AdviseAsync(connection, queryId, connection.Database, TimeProvider.System, TimeSpan.FromSeconds(2), Ct);
                Assert.Equal("unchecked", without.Status);
                Assert.Contains("hypopg is not installed", without.Reason, StringComparison.Ordinal);
                Assert.Equal("user_id,created_at", without.Columns);
                Assert.True(without.CostBefore > 0);
                Assert.Null(without.CostAfter);
                Assert.False(without.Qualifies(0.5));
            }
            finally
            {
                await ExecuteAsync(connection, "CREATE EXTENSION IF NOT EXISTS hypopg");
            }
        }
        finally
        {
            var heal = await LabCli.RunAsync("lab", "heal", "missing-index", "--dir", lab.Dir);
            Assert.True(heal.ExitCode == 0, heal.All);
        }
    }

    private static async Task<IndexAdvice> AssertAdvisedAsync(NpgsqlConnection connection, string queryId)
    {
        var indexesBefore = await CountIndexesAsync(connection);
        var advice = await IndexAdvisor.AdviseAsync(connection, queryId, connection.Database, TimeProvider.System, TimeSpan.FromSeconds(2), Ct);

        Assert.True(advice.Status == "checked", $"{advice.Status}: {advice.Reason}");
        Assert.Equal(("public", "orders", "user_id,created_at"), (advice.Schema, advice.Table, advice.Columns));
        Assert.Equal("custom", advice.Plan);
        Assert.True(advice.UsesIndex);
        Assert.True(advice.Qualifies(0.5), $"cost {advice.CostBefore} -> {advice.CostAfter}");
        Assert.Equal(indexesBefore, await CountIndexesAsync(connection));
        await using var hypothetical = new NpgsqlCommand("select count(*) from hypopg_list_indexes", connection);
        Assert.Equal(0L, (long)(await hypothetical.ExecuteScalarAsync(Ct))!);
        return advice;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task<long> CountIndexesAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand("select count(*) from pg_indexes where schemaname = 'public' and tablename = 'orders'", connection);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    private static async Task<string?> WaitForQueryIdAsync(NpgsqlConnection connection, TimeSpan timeout)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (true)
        {
            await using var command = new NpgsqlCommand("select queryid::text from pg_stat_statements where query = $1 order by calls desc limit 1", connection);
            command.Parameters.Add(new NpgsqlParameter { Value = HotQuery });
            if (await command.ExecuteScalarAsync(Ct) is string id)
            {
                return id;
            }

            if (TimeProvider.System.GetElapsedTime(started) > timeout)
            {
                return null;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), Ct);
        }
    }
}
