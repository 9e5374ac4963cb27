using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Tests.Sensing;

namespace PgRuntimeAgent.Tests.Acting.Patroni;

/// <summary>The loop's snapshots offered to action sensing: the gate and a fence's precheck decide on them while they are recent.</summary>
public sealed class ActionSensingTests
{
    private static readonly TimeSpan Window = SnapshotClusterStateProvider.RecentEnough;

    [Fact]
    public async Task Offer_SnapshotWithinTheWindow_ServedWithoutSensing()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        using var sensing = new ActionSensing(SensingFixtures.Topology(SensingFixtures.Cluster()), AgentSettings.Default.Sensing, AgentSettings.Default.Endpoints, new SecretStore(), time);
        var offered = ActingSnapshots.Snapshot("pg-test-2", [ActingSnapshots.Leader("pg-test-2"), ActingSnapshots.Replica("pg-test-1")]);

        sensing.Offer(offered);
        time.Advance(Window - TimeSpan.FromMilliseconds(100));

        Assert.Same(offered, await sensing.SenseRecentAsync("pg-test", Window, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Offer_OlderSnapshotThanTheKeptOne_KeepsTheNewer()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        using var sensing = new ActionSensing(SensingFixtures.Topology(SensingFixtures.Cluster()), AgentSettings.Default.Sensing, AgentSettings.Default.Endpoints, new SecretStore(), time);
        var newer = ActingSnapshots.Snapshot("pg-test-2", [ActingSnapshots.Leader("pg-test-2"), ActingSnapshots.Replica("pg-test-1")]);
        var older = newer with { TakenAt = newer.TakenAt.AddSeconds(-3), Leader = "pg-test-1" };

        sensing.Offer(newer);
        sensing.Offer(older);

        Assert.Same(newer, await sensing.SenseRecentAsync("pg-test", Window, TestContext.Current.CancellationToken));
    }
}
