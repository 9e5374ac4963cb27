using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Tests.Sensing;

namespace PgRuntimeAgent.Tests.Sensing.Postgres;

/// <summary>
/// The advisor's cadence without a server: the leader's observation carries the advice known so far; a refresh runs in
/// the background at most every <see cref="IndexAdvisorCache.Interval"/> (<c>sensing.postgres.advisor.interval_seconds</c>) per statement. The member's address is
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

        time.Advance(cache.Interval);
        cache.Attach(cluster, member, Leader(false, "1", "9"));
        Assert.NotSame(refresh, cache.Pending(cluster.Name));
        await cache.Pending(cluster.Name)!.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    [Fact]
    public void Settings_SetTheCadence_WithinSaneBounds()
    {
        var set = new IndexAdvisorCache(new SecretStore(), new FakeTimeProvider(), new IndexAdvisorSettings { IntervalSeconds = 60, PerRefresh = 5, StatementTimeoutMs = 500 });
        var wild = new IndexAdvisorCache(new SecretStore(), new FakeTimeProvider(), new IndexAdvisorSettings { IntervalSeconds = 0, PerRefresh = 500, StatementTimeoutMs = 1 });
        var plain = new IndexAdvisorCache(new SecretStore(), new FakeTimeProvider());

        Assert.Equal((TimeSpan.FromSeconds(60), 5, TimeSpan.FromMilliseconds(500)), (set.Interval, set.PerRefresh, set.StatementTimeout));
        Assert.Equal((TimeSpan.FromSeconds(10), 20, TimeSpan.FromMilliseconds(100)), (wild.Interval, wild.PerRefresh, wild.StatementTimeout));
        Assert.Equal((TimeSpan.FromMinutes(5), 3, TimeSpan.FromSeconds(2)), (plain.Interval, plain.PerRefresh, plain.StatementTimeout));
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
