using System.Text.Json;
using PgRuntimeAgent.LabTests.Sensing;

namespace PgRuntimeAgent.LabTests.Reads;

/// <summary>
/// The catalogued reads against the real loopback lab, through <c>pgra read</c> as an operator or a tool runs them.
/// They only read: nothing in the lab is changed.
/// </summary>
public sealed class ReadsLabTests
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(90);

    private static async Task<JsonElement> ReadAsync(string name, params string[] args)
    {
        var (code, output, error) = await SensingLab.PgraAsync(["read", name, "--cluster", "pg-test", "-i", SensingLab.Inventory, .. args]);
        Assert.True(code == 0, $"pgra read {name} exited {code}: {error}{output}");
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement.Clone();
        Assert.True(root.GetProperty("ok").GetBoolean(), output);
        Assert.DoesNotContain("DBUser.Monitor", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Patroni.API", output, StringComparison.Ordinal);
        return root.GetProperty("result");
    }

    [Fact]
    public async Task ClusterSnapshotAndMember_Lab_AgreeOnTheLeader()
    {
        await SensingLab.RequireAsync();
        var status = await SensingLab.WaitForStatusAsync(SensingLab.Healthy, Settle);
        var leader = SensingLab.Leader(status)!;

        var snapshot = await ReadAsync("cluster.snapshot", "-p", "sections=members");
        var member = await ReadAsync("cluster.member", "--member", leader);

        Assert.Equal(leader, snapshot.GetProperty("leader").GetString());
        Assert.Equal(3, snapshot.GetProperty("members").GetArrayLength());
        Assert.True(member.GetProperty("is_leader").GetBoolean());
        Assert.Equal("leader", member.GetProperty("state").GetProperty("patroni_role").GetString());
    }

    [Fact]
    public async Task PostgresProbe_Lab_ReplicationOnTheLeaderShowsBothReplicas()
    {
        await SensingLab.RequireAsync();
        var status = await SensingLab.WaitForStatusAsync(SensingLab.Healthy, Settle);
        var leader = SensingLab.Leader(status)!;

        var result = await ReadAsync("postgres.probe", "--member", leader, "-p", "probe=replication", "-p", "max_rows=1");

        var m = Assert.Single(result.GetProperty("members").EnumerateArray());
        Assert.Equal("ok", m.GetProperty("status").GetString());
        Assert.Equal(2, m.GetProperty("row_count").GetInt32());
        Assert.Equal(1, m.GetProperty("rows").GetArrayLength());
        Assert.True(m.GetProperty("truncated").GetBoolean());
    }

    [Fact]
    public async Task MetricsQuery_Lab_RangeOfPgUpHasEveryMember()
    {
        await SensingLab.RequireAsync();
        await SensingLab.WaitForStatusAsync(SensingLab.Healthy, Settle);

        var result = await ReadAsync("metrics.query", "-p", "query=pg_up{cls=\"pg-test\"}", "-p", "range_minutes=10", "-p", "step_seconds=30");

        Assert.Equal("matrix", result.GetProperty("result_type").GetString());
        Assert.Equal(3, result.GetProperty("series_total").GetInt32());
        Assert.All(result.GetProperty("series").EnumerateArray(), s => Assert.InRange(s.GetProperty("samples").GetArrayLength(), 1, 21));
    }

    [Fact]
    public async Task LogsSearch_Lab_BoundedToTheLimit()
    {
        await SensingLab.RequireAsync();
        await SensingLab.WaitForStatusAsync(SensingLab.Healthy, Settle);

        var result = await ReadAsync("logs.search", "-p", "since_minutes=60", "-p", "limit=7");

        Assert.InRange(result.GetProperty("entries").GetArrayLength(), 1, 7);
        Assert.Equal(7, result.GetProperty("limit").GetInt32());
    }

    [Fact]
    public async Task BackupPatroniAndHistory_Lab_Answer()
    {
        await SensingLab.RequireAsync();
        await SensingLab.WaitForStatusAsync(SensingLab.Healthy, Settle);

        var backup = await ReadAsync("backup.info", "-p", "limit=2");
        var config = await ReadAsync("patroni.config");
        var history = await ReadAsync("patroni.history");

        Assert.False(string.IsNullOrEmpty(backup.GetProperty("stanza").GetString()));
        Assert.InRange(backup.GetProperty("backups").GetArrayLength(), 1, 2);
        Assert.Equal(JsonValueKind.Number, config.GetProperty("config").GetProperty("ttl_seconds").ValueKind);
        Assert.Equal(JsonValueKind.Object, config.GetProperty("document").ValueKind);
        Assert.Equal(JsonValueKind.Array, history.GetProperty("entries").ValueKind);
    }
}
