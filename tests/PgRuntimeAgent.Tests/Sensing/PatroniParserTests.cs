using System.Text;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Patroni;

namespace PgRuntimeAgent.Tests.Sensing;

public sealed class PatroniParserTests
{
    private const string Endpoint = "GET http://127.0.0.11:8008/cluster";

    [Fact]
    public void ParseCluster_RecordedPatroni302_ReadsMembersLeaderAndLag()
    {
        var view = PatroniParser.ParseCluster(SensingFixtures.Recorded("patroni-3.0.2", "cluster-leader.json"), Endpoint);

        Assert.Equal(["pg-test-1", "pg-test-2", "pg-test-3"], view.Members.Select(m => m.Name));
        Assert.Equal("pg-test-3", view.Leader);
        var leader = view.Members.Single(m => m.Name == "pg-test-3");
        Assert.Equal(PatroniRole.Leader, leader.Role);
        Assert.Equal("leader", leader.RawRole);
        Assert.Null(leader.LagBytes);
        Assert.False(leader.LagUnknown);
        var replica = view.Members.Single(m => m.Name == "pg-test-1");
        Assert.Equal(PatroniRole.Replica, replica.Role);
        Assert.Equal(0, replica.LagBytes);
        Assert.Equal(1, replica.Timeline);
        Assert.Equal(15432, replica.Port);
        Assert.Equal("running", replica.State);
    }

    [Fact]
    public void ParseCluster_NewerDialectWithUnknownLagAndMissingFields_ToleratesThem()
    {
        const string body = """
            {"members": [
              {"name": "a", "role": "primary", "state": "running", "timeline": 4, "tags": {"nofailover": true}},
              {"name": "b", "role": "sync_standby", "state": "streaming", "lag": "unknown", "receive_lag": 10, "replay_lag": 20, "pending_restart": true},
              {"name": "c", "role": "quorum_standby"},
              {"name": "d"},
              {"role": "replica"}
            ], "pause": true, "scheduled_switchover": {"at": "2026-11-22T18:00:00+00:00", "from": "a"}}
            """;

        var view = PatroniParser.ParseCluster(body, Endpoint);

        Assert.Equal(4, view.Members.Count);
        Assert.Equal("a", view.Leader);
        Assert.True(view.Paused);
        Assert.NotNull(view.ScheduledSwitchover);
        Assert.True(view.Members[0].NoFailover);
        var b = view.Members[1];
        Assert.Equal(PatroniRole.SyncStandby, b.Role);
        Assert.Null(b.LagBytes);
        Assert.True(b.LagUnknown);
        Assert.Equal(10, b.ReceiveLagBytes);
        Assert.Equal(20, b.ReplayLagBytes);
        Assert.True(b.PendingRestart);
        Assert.Equal(PatroniRole.QuorumStandby, view.Members[2].Role);
        Assert.Equal(PatroniRole.Unknown, view.Members[3].Role);
        Assert.Null(view.Members[3].Timeline);
    }

    [Theory]
    [InlineData("master", PatroniRole.Leader)]
    [InlineData("primary", PatroniRole.Leader)]
    [InlineData("leader", PatroniRole.Leader)]
    [InlineData("Leader", PatroniRole.Leader)]
    [InlineData("replica", PatroniRole.Replica)]
    [InlineData("standby_leader", PatroniRole.StandbyLeader)]
    [InlineData("sync_standby", PatroniRole.SyncStandby)]
    [InlineData("uninitialized", PatroniRole.Uninitialized)]
    [InlineData("something-new", PatroniRole.Unknown)]
    [InlineData(null, PatroniRole.Unknown)]
    public void ParseRole_EveryDialect_Normalises(string? raw, PatroniRole expected)
    {
        Assert.Equal(expected, PatroniParser.ParseRole(raw));
    }

    [Theory]
    [InlineData("health-leader.json", 200)]
    [InlineData("primary-leader.json", 200)]
    [InlineData("replica-leader.json", 503)]
    public void ParseNode_RecordedLeaderBodies_ReadMasterRoleWalAndReplication(string file, int status)
    {
        var node = PatroniParser.ParseNode(SensingFixtures.Recorded("patroni-3.0.2", file), "GET /patroni", status);

        Assert.Equal(status, node.HttpStatus);
        Assert.Equal(PatroniRole.Leader, node.Role);
        Assert.Equal("master", node.RawRole);
        Assert.Equal(67108864, node.WalPosition);
        Assert.Equal(150018, node.ServerVersion);
        Assert.True(node.PostgresRunning);
        Assert.Equal(["pg-test-1", "pg-test-2"], node.Replication.Select(r => r.ApplicationName));
        Assert.All(node.Replication, r => Assert.Equal("streaming", r.State));
        Assert.Equal("3.0.2", node.PatroniVersion);
        Assert.Equal("pg-test", node.Scope);
        Assert.Equal("7711055780989108563", node.SystemIdentifier);
    }

    [Fact]
    public void ParseNode_RecordedReplica_ReadsReceivedAndReplayedPositions()
    {
        var node = PatroniParser.ParseNode(SensingFixtures.Recorded("patroni-3.0.2", "patroni-replica.json"), "GET /patroni", 200);

        Assert.Equal(PatroniRole.Replica, node.Role);
        Assert.Null(node.WalPosition);
        Assert.Equal(67108864, node.ReceivedPosition);
        Assert.Equal(67108864, node.ReplayedPosition);
        Assert.False(node.ReplayPaused);
        Assert.Null(node.ReplayedTimestamp);
        Assert.Empty(node.Replication);
    }

    [Fact]
    public void ParseNode_StoppedPostgresAnswering503_IsDataNotAnError()
    {
        const string body = """{"state": "stopped", "role": "replica", "dcs_last_seen": 1795370095, "pending_restart": true, "patroni": {"version": "4.0.4", "scope": "pg-test"}}""";

        var node = PatroniParser.ParseNode(body, "GET /patroni", 503);

        Assert.Equal(503, node.HttpStatus);
        Assert.False(node.PostgresRunning);
        Assert.True(node.PendingRestart);
        Assert.Null(node.Timeline);
    }

    [Fact]
    public void ParseHistory_RecordedEmptyAndFullRows_AreRead()
    {
        Assert.Empty(PatroniParser.ParseHistory(SensingFixtures.Recorded("patroni-3.0.2", "history-leader.json"), "GET /history"));

        var history = PatroniParser.ParseHistory(
            """[[1, 50331808, "no recovery target specified", "2026-11-22T17:55:20.123+00:00", "pg-test-2"], [2, 117440672, "no recovery target specified"]]""",
            "GET /history");

        Assert.Equal(2, history.Count);
        Assert.Equal(1, history[0].Timeline);
        Assert.Equal("0/30000A0", history[0].SwitchLsn);
        Assert.Equal("pg-test-2", history[0].NewLeader);
        Assert.Null(history[1].NewLeader);
        Assert.Equal("0/70000A0", history[1].SwitchLsn);
    }

    [Fact]
    public void ParseConfig_Recorded_ReadsHaSettingsAndParameters()
    {
        var config = PatroniParser.ParseConfig(SensingFixtures.Recorded("patroni-3.0.2", "config-leader.json"), "GET /config");

        Assert.Equal(30, config.TtlSeconds);
        Assert.Equal(10, config.LoopWaitSeconds);
        Assert.Equal(10, config.RetryTimeoutSeconds);
        Assert.Equal(1048576, config.MaximumLagOnFailoverBytes);
        Assert.Equal("replica", config.Parameters["wal_level"]);
        Assert.Equal("10", config.Parameters["max_wal_senders"]);
        Assert.Null(config.SynchronousMode);
    }

    [Theory]
    [InlineData("{\"members\": [", "malformed JSON")]
    [InlineData("", "empty response body")]
    [InlineData("[]", "\"members\" array")]
    [InlineData("<html><body>502 Bad Gateway</body></html>", "malformed JSON")]
    [InlineData("{\"members\": 3}", "\"members\" array")]
    public void ParseCluster_MalformedBody_ThrowsNamingTheEndpoint(string body, string expected)
    {
        var ex = Assert.Throws<SensorResponseException>(() => PatroniParser.ParseCluster(body, Endpoint));

        Assert.StartsWith(Endpoint, ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("[[\"x\"]]")]
    [InlineData("[3]")]
    public void ParseHistory_MalformedRows_ThrowsNamingTheEndpoint(string body)
    {
        var ex = Assert.Throws<SensorResponseException>(() => PatroniParser.ParseHistory(body, "GET http://h:8008/history"));

        Assert.Contains("GET http://h:8008/history", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PatroniClient_RealServer_Treats503AsDataAnd401AsErrorAndSendsBasicAuth()
    {
        var body = SensingFixtures.Recorded("patroni-3.0.2", "patroni-replica.json");
        await using var server = new LoopbackHttpServer(r => r.Url!.AbsolutePath switch
        {
            "/patroni" => new LoopbackHttpServer.Reply(503, body),
            "/config" => new LoopbackHttpServer.Reply(401, "no auth header received", "text/plain"),
            _ => new LoopbackHttpServer.Reply(404, "{}"),
        });
        var secrets = new SecretStore();
        var password = secrets.Add("k", "s3cret-pass", "test");
        using var http = new SensingHttp();
        using var client = http.CreateClient(server.BaseUrl, "postgres", password, secrets);
        var patroni = new PatroniClient(client);

        var node = await patroni.GetNodeAsync(TestContext.Current.CancellationToken);
        var ex = await Assert.ThrowsAsync<SensorResponseException>(() => patroni.GetConfigAsync(TestContext.Current.CancellationToken));

        Assert.Equal(503, node.HttpStatus);
        Assert.Equal(PatroniRole.Replica, node.Role);
        Assert.Contains($"GET {server.BaseUrl}config", ex.Message, StringComparison.Ordinal);
        Assert.Contains("401", ex.Message, StringComparison.Ordinal);
        var expectedAuth = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("postgres:s3cret-pass"));
        Assert.All(server.AuthorizationHeaders, h => Assert.Equal(expectedAuth, h));
        Assert.DoesNotContain("s3cret-pass", ex.Message, StringComparison.Ordinal);
    }
}
