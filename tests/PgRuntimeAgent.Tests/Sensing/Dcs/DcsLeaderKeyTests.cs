using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using PgRuntimeAgent.Sensing.Dcs;
using PgRuntimeAgent.Tests.Sensing;

namespace PgRuntimeAgent.Tests.Sensing.Dcs;

/// <summary>The leader-key release after a fence, against a loopback server that answers as etcd's v3 gateway does.</summary>
public sealed class DcsLeaderKeyTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Text(JsonElement e) => Encoding.UTF8.GetString(Convert.FromBase64String(e.GetString()!));

    [Fact]
    public async Task Release_KeyStillNamesTheMember_CompareAndDeleteOfThatKeyOnly()
    {
        var bodies = new ConcurrentQueue<string>();
        await using var etcd = new LoopbackHttpServer(request =>
        {
            using var reader = new StreamReader(request.InputStream);
            bodies.Enqueue(reader.ReadToEnd());
            return new LoopbackHttpServer.Reply(200, """{"header":{"revision":"42"},"succeeded":true,"responses":[{"response_delete_range":{"deleted":"1"}}]}""");
        });
        var key = new DcsLeaderKey(SensingFixtures.Cluster(), [etcd.BaseUrl]);

        var (released, detail) = await key.ReleaseAsync("pg-test-1", Ct);

        Assert.True(released, detail);
        Assert.Equal("/pg/pg-test/leader", key.Key);
        Assert.Equal("/v3/kv/txn", Assert.Single(etcd.Requests).AbsolutePath);
        using var body = JsonDocument.Parse(Assert.Single(bodies));
        var compare = body.RootElement.GetProperty("compare")[0];
        Assert.Equal("/pg/pg-test/leader", Text(compare.GetProperty("key")));
        Assert.Equal("pg-test-1", Text(compare.GetProperty("value")));
        Assert.Equal("EQUAL", compare.GetProperty("result").GetString());
        Assert.Equal("/pg/pg-test/leader", Text(body.RootElement.GetProperty("success")[0].GetProperty("requestDeleteRange").GetProperty("key")));
        Assert.False(body.RootElement.TryGetProperty("failure", out _));
    }

    [Fact]
    public async Task Release_AnotherMemberLeadsNow_LeftAloneAndSaysSo()
    {
        await using var etcd = new LoopbackHttpServer(_ => new LoopbackHttpServer.Reply(200, """{"header":{"revision":"43"}}"""));

        var (released, detail) = await new DcsLeaderKey(SensingFixtures.Cluster(), [etcd.BaseUrl]).ReleaseAsync("pg-test-1", Ct);

        Assert.False(released);
        Assert.Contains("no longer names pg-test-1", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Release_EtcdRefusesThenNextMemberAnswers_TriesEachEndpoint()
    {
        await using var refusing = new LoopbackHttpServer(_ => new LoopbackHttpServer.Reply(401, """{"error":"etcdserver: user name is empty"}"""));
        await using var answering = new LoopbackHttpServer(_ => new LoopbackHttpServer.Reply(200, """{"succeeded":true}"""));

        var (released, detail) = await new DcsLeaderKey(SensingFixtures.Cluster(), [refusing.BaseUrl, answering.BaseUrl]).ReleaseAsync("pg-test-1", Ct);

        Assert.True(released, detail);
        Assert.Single(refusing.Requests);
    }

    [Fact]
    public async Task Release_NoEtcdAnswers_NotReleasedTheKeyExpiresByItself()
    {
        await using var refusing = new LoopbackHttpServer(_ => new LoopbackHttpServer.Reply(401, """{"error":"etcdserver: user name is empty"}"""));

        var (released, detail) = await new DcsLeaderKey(SensingFixtures.Cluster(), [refusing.BaseUrl]).ReleaseAsync("pg-test-1", Ct);

        Assert.False(released);
        Assert.Contains("http 401", detail, StringComparison.Ordinal);
        Assert.Contains("expires by itself within ttl", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_KeyWithALease_AddsTheLeasesTimeToLiveFromEtcd()
    {
        var holder = Convert.ToBase64String(Encoding.UTF8.GetBytes("pg-test-2"));
        var leaseBodies = new ConcurrentQueue<string>();
        await using var etcd = new LoopbackHttpServer(request =>
        {
            using var reader = new StreamReader(request.InputStream);
            var body = reader.ReadToEnd();
            if (request.Url!.AbsolutePath == "/v3/lease/timetolive")
            {
                leaseBodies.Enqueue(body);
                return new LoopbackHttpServer.Reply(200, """{"header":{"revision":"33121"},"ID":"1696346571916577923","TTL":"4","grantedTTL":"10"}""");
            }

            return new LoopbackHttpServer.Reply(200, $$"""{"header":{"revision":"33119"},"kvs":[{"key":"L3BnL3BnLXRlc3QvbGVhZGVy","mod_revision":"32578","value":"{{holder}}","lease":"1696346571916577923"}],"count":"1"}""");
        });

        var seen = await new DcsLeaderKey(SensingFixtures.Cluster(), [etcd.BaseUrl]).ReadAsync(TimeSpan.FromSeconds(5), Ct);

        Assert.Equal("pg-test-2", seen.Holder);
        Assert.Equal(4, seen.LeaseRemainingSeconds);
        Assert.Equal(10, seen.LeaseGrantedSeconds);
        using var asked = JsonDocument.Parse(Assert.Single(leaseBodies));
        Assert.Equal("1696346571916577923", asked.RootElement.GetProperty("ID").GetString());
        Assert.True(seen.Overdue(2)); // 4 of 10 s left: two renewals of a 2 s loop missed
        Assert.False(seen.Overdue(4)); // 4 of 10 s left is one missed renewal of a 4 s loop
        Assert.Null(seen.Overdue(null));
    }

    [Fact]
    public async Task Read_LeaseExpiredOrUnanswered_LeaseUnknownHolderStillRead()
    {
        var holder = Convert.ToBase64String(Encoding.UTF8.GetBytes("pg-test-2"));
        await using var etcd = new LoopbackHttpServer(request => request.Url!.AbsolutePath == "/v3/lease/timetolive"
            ? new LoopbackHttpServer.Reply(200, """{"ID":"7","TTL":"-1"}""")
            : new LoopbackHttpServer.Reply(200, $$"""{"header":{"revision":"9"},"kvs":[{"mod_revision":"8","value":"{{holder}}","lease":"7"}]}"""));

        var seen = await new DcsLeaderKey(SensingFixtures.Cluster(), [etcd.BaseUrl]).ReadAsync(TimeSpan.FromSeconds(5), Ct);

        Assert.Equal("pg-test-2", seen.Holder);
        Assert.Null(seen.LeaseRemainingSeconds);
        Assert.Null(seen.Overdue(2));
    }
}
