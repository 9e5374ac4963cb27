using PgRuntimeAgent.Lab.Safety;

namespace PgRuntimeAgent.Tests.Lab.Safety;

public sealed class SafetyFaultTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Generate_SameSeed_SameFault()
    {
        Assert.Equal(SafetyFault.Generate(4242), SafetyFault.Generate(4242));
        Assert.InRange(SafetyFault.Generate(4242).HoldSeconds, 3, 25);
    }

    [Fact]
    public void CiSeeds_CoverEveryShapeOnTheLeaderAndAReplica()
    {
        var faults = SafetyFault.CiSeeds.Select(SafetyFault.Generate).ToList();
        // A seed replays the same fault: generating again gives the same shapes, targets and hold times.
        Assert.Equal(faults, SafetyFault.CiSeeds.Select(SafetyFault.Generate));
        Assert.Equal(SafetyFault.CiSeeds.Count, SafetyFault.CiSeeds.Distinct().Count());
        Assert.Equal(SafetyFault.Shapes.Order(), faults.Where(f => f.OnLeader && !SafetyFault.LaterShapes.Contains(f.Shape)).Select(f => f.Shape).Distinct().Order());
        Assert.Contains(faults, f => !f.OnLeader);
        Assert.Contains(faults, f => f.OnLeader && f.Shape == "freeze-patroni" && f.HoldSeconds > 10);
    }

    [Fact]
    public void Generate_LaterDrawsKeepEarlierSeedsShapes_CiCoversSynchronousAndSlow()
    {
        // The draws added for synchronous_mode and the slow shapes come after the first three: the seeds docs/safety.md
        // quotes keep their shape and hold.
        Assert.Equal(("freeze-postmaster-group", 13.1, true), Key(SafetyFault.Generate(11)));
        Assert.Equal(("freeze-patroni", 20.9, true), Key(SafetyFault.Generate(53)));
        Assert.Equal(("freeze-patroni-and-postmaster", 6.7, false), Key(SafetyFault.Generate(2)));
        var faults = SafetyFault.CiSeeds.Select(SafetyFault.Generate).ToList();
        Assert.Contains(faults, f => f.Synchronous && f.OnLeader && f.Shape.StartsWith("kill-", StringComparison.Ordinal));
        Assert.Contains(faults, f => f.Synchronous && f.OnLeader && f.Shape.StartsWith("freeze-", StringComparison.Ordinal));
        Assert.Equal(SafetyFault.LaterShapes.Order(), faults.Where(f => SafetyFault.LaterShapes.Contains(f.Shape) && f.OnLeader).Select(f => f.Shape).Distinct().Order());
        Assert.Contains(faults, f => f.Shape == "cut-etcd" && !f.OnLeader);
        Assert.Contains("(synchronous_mode)", SafetyFault.Generate(7).Describe(), StringComparison.Ordinal);

        static (string, double, bool) Key(SafetyFault f) => (f.Shape, f.HoldSeconds, f.OnLeader);
    }

    [Fact]
    public void Violations_SynchronousMode_AnyLossIsOne_AsynchronousTailIsNot()
    {
        var acked = new List<AckedWrite> { new(1, "haproxy", "pg-test-1", T0.AddSeconds(0.5)), new(2, "haproxy", "pg-test-2", T0.AddSeconds(12)) };
        var lost = new List<AckedWrite> { acked[0] };
        var sync = SafetyRun.Measure(new SafetyFault(7, true, "kill-patroni-and-postmaster", 17.5, Synchronous: true), "pg-test-1", "pg-test-1", "pg-test-2", T0, acked, lost, [])
            with { JournalIntact = true, HealthyAfter = true };
        var async = sync with { Fault = sync.Fault with { Synchronous = false } };

        Assert.Equal(1, sync.LostAsyncTail);
        Assert.Equal(["1 acknowledged write(s) lost with synchronous_mode on (must be 0)"], sync.Violations(1.0));
        Assert.Empty(async.Violations(1.0));
    }

    [Fact]
    public void Seeds_FromEnvironment_ReplaysExactlyThose()
    {
        Assert.Equal([7, 99], SafetyFault.Seeds(SafetyFault.CiSeeds, 5, "7, 99"));
        Assert.Equal(SafetyFault.CiSeeds.Count + 3, SafetyFault.Seeds(SafetyFault.CiSeeds, 3, null).Count);
    }

    [Fact]
    public void Measure_DeposedLeaderKeepsAcking_SplitBrainSecondsAndLossAfterPromotion()
    {
        var fault = new SafetyFault(1, true, "freeze-patroni", 20);
        var acked = new List<AckedWrite>
        {
            new(1, "haproxy", "pg-test-1", T0.AddSeconds(-1)),
            new(2, "direct:pg-test-1", "pg-test-1", T0.AddSeconds(2)),
            new(3, "direct:pg-test-1", "pg-test-1", T0.AddSeconds(11)),   // no one else yet: asynchronous tail
            new(4, "haproxy", "pg-test-2", T0.AddSeconds(12)),            // the new leader's first write
            new(5, "direct:pg-test-1", "pg-test-1", T0.AddSeconds(15.5)), // the deposed leader still acknowledges
            new(6, "haproxy", "pg-test-2", T0.AddSeconds(16)),
        };
        var lost = new List<AckedWrite> { acked[2], acked[4] };
        var keys = new List<KeyChange> { new(T0, "pg-test-1", 1), new(T0.AddSeconds(11), "pg-test-2", 2) };

        var r = SafetyRun.Measure(fault, "pg-test-1", "pg-test-1", "pg-test-2", T0, acked, lost, keys);

        Assert.Equal(2, r.Lost);
        Assert.Equal(1, r.LostAsyncTail);
        Assert.Equal(1, r.LostAfterPromotion);
        Assert.Equal(3.5, r.SplitBrainSeconds);
        Assert.False(r.KeyHandedBack);
        Assert.Contains(r.Violations(1.0), v => v.Contains("after another member", StringComparison.Ordinal));
        Assert.Contains(r.Violations(1.0), v => v.Contains("3.5 s", StringComparison.Ordinal));
    }

    [Fact]
    public void Measure_KeyGoesBackToTheThawedLeader_Violation()
    {
        var fault = new SafetyFault(2, true, "freeze-postmaster-group", 15);
        var keys = new List<KeyChange> { new(T0, "pg-test-1", 1), new(T0.AddSeconds(10), "pg-test-2", 2), new(T0.AddSeconds(16), "pg-test-1", 3) };

        var r = SafetyRun.Measure(fault, "pg-test-1", "pg-test-1", "pg-test-1", T0, [], [], keys) with { JournalIntact = true, HealthyAfter = true };

        Assert.True(r.KeyHandedBack);
        Assert.Equal(["the leader key went back to a member that had lost it"], r.Violations(1.0));
    }

    [Fact]
    public void Violations_ZeroByteBoundWhileWritesWereLost_UnderReported()
    {
        var r = SafetyRun.Measure(new SafetyFault(3, true, "kill-postmaster", 5), "pg-test-1", "pg-test-1", "pg-test-2", T0,
            [new(1, "haproxy", "pg-test-1", T0.AddSeconds(-0.5))], [new(1, "haproxy", "pg-test-1", T0.AddSeconds(-0.5))], [])
            with { JournalIntact = true, HealthyAfter = true, LossStatements = [("inc-1", 0, "old primary's last known LSN")] };

        Assert.True(r.UnderReported);
        Assert.Contains(r.Violations(1.0), v => v.Contains("0-byte loss bound", StringComparison.Ordinal));
        Assert.False((r with { LossStatements = [("inc-1", null, "unknown")] }).UnderReported);
    }
}
