using System.Diagnostics;
using Npgsql;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Lab;

namespace PgRuntimeAgent.LabTests.Agent;

/// <summary>
/// The worked example of the workload diagnosis issue, end to end on the lab: the missing-index scenario (orders,
/// 2 million rows, a hot query filtering on user_id ordered by created_at) raises missing-index; at autonomy 3 the
/// missing-index skill builds the advised index concurrently, analyzes, measures the statement again and keeps the
/// index because the statement got faster. The index is dropped with the table when the scenario heals.
/// </summary>
public sealed class MissingIndexLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task MissingIndex_Autonomy3_BuildsTheAdvisedIndexMeasuresAndKeepsIt()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        var faults = new LabFaults(lab.Manifest, TimeProvider.System);
        await faults.InjectAsync("missing-index", null, Ct);
        AgentEvent? raised = null, finished = null;
        var clock = Stopwatch.StartNew();
        IReadOnlyList<string> timeline = [];
        List<string> indexes;
        try
        {
            // Index creation and the drop of an index that did not help at autonomy 3, ANALYZE at 4 (irreversible, so level 3 asks first).
            await using var agent = await AgentLab.CreateAsync(lab, level: null, settings => settings with
            {
                Policy = settings.Policy with
                {
                    Classes = new Dictionary<string, int>(settings.Policy.Classes) { ["sql.create_index"] = 3, ["sql.analyze"] = 4, ["sql.drop_index"] = 3 },
                },
            });
            await using var running = RunningAgent.Start(agent);
            raised = await running.WaitAsync(e => e.Name == AgentEventNames.FindingRaised && e.Details.GetValueOrDefault("code") == "missing-index", TimeSpan.FromMinutes(2));
            if (raised is not null)
            {
                finished = await running.WaitAsync(e => e.Name == AgentEventNames.SkillFinished && e.Title.Contains("missing-index", StringComparison.Ordinal), TimeSpan.FromMinutes(6));
            }

            await running.StopAsync();
            timeline = [.. running.Timeline()];
            indexes = await IndexesAsync(lab, leader);
        }
        finally
        {
            await faults.HealAsync("missing-index", Ct);
        }

        AgentLab.Report($"missing-index: raised {raised?.Message}; skill {finished?.Title} after {clock.Elapsed.TotalSeconds:0} s; indexes on orders: {string.Join(", ", indexes)}");
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join(Environment.NewLine, timeline));
        Assert.True(raised is not null, "missing-index was not raised: " + string.Join(Environment.NewLine, timeline));
        Assert.Equal("orders", raised.Details["fact.table"]);
        Assert.StartsWith("user_id", raised.Details["fact.columns"], StringComparison.Ordinal);
        Assert.True(finished is not null, "the missing-index skill did not finish: " + string.Join(Environment.NewLine, timeline));
        Assert.EndsWith("completed", finished.Title, StringComparison.Ordinal);
        Assert.Contains(timeline, l => l.Contains("action.finished", StringComparison.Ordinal) && l.Contains("create index", StringComparison.Ordinal) && l.EndsWith(": succeeded", StringComparison.Ordinal));
        Assert.Contains(timeline, l => l.Contains("action.finished", StringComparison.Ordinal) && l.Contains("ANALYZE public.orders", StringComparison.Ordinal) && l.EndsWith(": succeeded", StringComparison.Ordinal));
        Assert.DoesNotContain(timeline, l => l.Contains("drop index", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(indexes, i => i.Contains("user_id", StringComparison.Ordinal));
    }

    private static async Task<List<string>> IndexesAsync(LabInfo lab, LabMember leader)
    {
        await using var connection = new NpgsqlConnection(lab.ConnectionString(leader, database: lab.Manifest.Database));
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand("SELECT indexdef FROM pg_indexes WHERE tablename = 'orders'", connection);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        var found = new List<string>();
        while (await reader.ReadAsync(Ct))
        {
            found.Add(reader.GetString(0));
        }

        return found;
    }
}
