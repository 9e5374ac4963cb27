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
}
