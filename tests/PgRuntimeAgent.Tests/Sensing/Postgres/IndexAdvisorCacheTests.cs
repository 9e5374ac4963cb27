using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Tests.Sensing;

namespace PgRuntimeAgent.Tests.Sensing.Postgres;

/// <summary>
/// The advisor's cadence without a server: the leader's observation carries the advice known so far; a refresh runs in
/// the background at most every <see cref="IndexAdvisorCache.Interval"/> per statement. The member's address is
/// 127.0.0.1:1 (nothing listens), so each refresh ends as advice with status error.
/// </summary>
public sealed class IndexAdvisorCacheTests
{
    private static PostgresMemberObservation Leader(bool inRecovery = false, params string[] queryIds) => new()
    {
        Member = "pg-test-1",
        Reachable = true,
        InRecovery = inRecovery,
        Probes =
        [
            new ProbeResult
            {
                Name = "statements_top", Status = "ok",
                Rows = queryIds.Select(id => (IReadOnlyDictionary<string, string?>)new Dictionary<string, string?>
                {
                    ["queryid"] = id, ["datname"] = "test", ["query"] = id == "9" ? "UPDATE orders SET status = $1" : "SELECT id FROM orders WHERE user_id = $1",
                }).ToList(),
            },
        ],
    };

    [Fact]
    public async Task Attach_Leader_FirstSnapshotStartsARefreshTheNextCarriesItsAdviceAndNoRefreshUntilTheIntervalPassed()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 4, 0, 0, TimeSpan.Zero));
        var cache = new IndexAdvisorCache(new SecretStore(), time) { AddressOf = _ => ("127.0.0.1", 1) };
        var cluster = SensingFixtures.Cluster();
        var member = cluster.Members[0];

        var first = cache.Attach(cluster, member, Leader(false, "1", "9"));
        Assert.Empty(first.Probe(IndexAdvice.ProbeName)!.Rows);
        var refresh = cache.Pending(cluster.Name);
        Assert.NotNull(refresh);
        await refresh.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        var second = cache.Attach(cluster, member, Leader(false, "1", "9"));
        var advice = Assert.Single(second.Probe(IndexAdvice.ProbeName)!.Rows.Select(IndexAdvice.FromRow));
        Assert.Equal(("1", "error"), (advice!.QueryId, advice.Status));
        Assert.False(string.IsNullOrEmpty(advice.Reason));
        Assert.Same(refresh, cache.Pending(cluster.Name));

        time.Advance(IndexAdvisorCache.Interval);
        cache.Attach(cluster, member, Leader(false, "1", "9"));
        Assert.NotSame(refresh, cache.Pending(cluster.Name));
        await cache.Pending(cluster.Name)!.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    [Fact]
    public void Attach_ReplicaOrNoStatementsProbe_ObservationUnchangedAndNothingStarted()
    {
        var cache = new IndexAdvisorCache(new SecretStore(), new FakeTimeProvider()) { AddressOf = _ => ("127.0.0.1", 1) };
        var cluster = SensingFixtures.Cluster();
        var replica = Leader(true, "1");
        var blind = new PostgresMemberObservation { Member = "pg-test-1", Reachable = false };

        Assert.Same(replica, cache.Attach(cluster, cluster.Members[0], replica));
        Assert.Same(blind, cache.Attach(cluster, cluster.Members[0], blind));
        Assert.Null(cache.Pending(cluster.Name));
    }
}
