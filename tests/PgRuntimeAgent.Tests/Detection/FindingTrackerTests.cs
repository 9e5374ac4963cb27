using PgRuntimeAgent.Detection;

namespace PgRuntimeAgent.Tests.Detection;

public sealed class FindingTrackerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);

    private static Finding F(string code, double first, string member = "pg-test-1") => new()
    {
        Code = code,
        Severity = FindingSeverity.Critical,
        Cluster = "pg-test",
        Members = [member],
        Summary = code,
        FirstSeen = T0.AddSeconds(first),
        LastSeen = T0.AddSeconds(first),
    };

    [Fact]
    public void Update_SameKeyAcrossSnapshots_KeepsFirstSeenAndDetectedAt()
    {
        var tracker = new FindingTracker(clearAfter: 2);
        var raised = tracker.Update(T0.AddSeconds(4), [F("primary-frozen", 0)]);
        var again = tracker.Update(T0.AddSeconds(6), [F("primary-frozen", 2)]);

        Assert.Single(raised.Raised);
        Assert.Empty(again.Raised);
        var f = Assert.Single(again.Active);
        Assert.Equal(T0, f.FirstSeen);
        Assert.Equal(T0.AddSeconds(4), f.DetectedAt);
        Assert.Equal(T0.AddSeconds(6), f.LastSeen);
    }

    [Fact]
    public void Update_AbsentOnce_StaysActive_AbsentTwice_Clears()
    {
        var tracker = new FindingTracker(clearAfter: 2);
        tracker.Update(T0, [F("leader-missing", 0)]);

        var once = tracker.Update(T0.AddSeconds(2), []);
        var twice = tracker.Update(T0.AddSeconds(4), []);

        Assert.Single(once.Active);
        Assert.Empty(once.Cleared);
        Assert.Single(twice.Cleared);
        Assert.Empty(twice.Active);
    }

    [Fact]
    public void Update_Flapping_IsOneFinding()
    {
        var tracker = new FindingTracker(clearAfter: 2);
        var raisedCount = 0;
        for (var i = 0; i < 10; i++)
        {
            raisedCount += tracker.Update(T0.AddSeconds(i), i % 2 == 0 ? [F("replication-lag", i, "pg-test-2")] : []).Raised.Count;
        }

        Assert.Equal(1, raisedCount);
    }

    [Fact]
    public void Update_DifferentMembers_AreDifferentFindings()
    {
        var tracker = new FindingTracker();
        var update = tracker.Update(T0, [F("replication-lag", 0, "pg-test-2"), F("replication-lag", 0, "pg-test-3")]);

        Assert.Equal(2, update.Raised.Count);
    }
}
