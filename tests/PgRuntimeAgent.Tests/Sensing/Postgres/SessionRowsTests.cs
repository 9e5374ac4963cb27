using PgRuntimeAgent.Sensing.Postgres;

namespace PgRuntimeAgent.Tests.Sensing.Postgres;

/// <summary>The session probes' rows (strings, as the sensor keeps them) summarised into typed views.</summary>
public sealed class SessionRowsTests
{
    private static ProbeResult Ok(string name, params Dictionary<string, string?>[] rows) => new() { Name = name, Status = "ok", Rows = rows };

    private static Dictionary<string, string?> R(params (string Key, string? Value)[] values) => values.ToDictionary(v => v.Key, v => v.Value);

    [Fact]
    public void Summarise_SessionProbes_GivesTypedHeadsUseAndHolders()
    {
        var observation = PostgresSensor.Summarise("pg-test-1",
        [
            Ok("lock_heads", R(("pid", "77"), ("backend_start", "2026-12-03T03:54:56.3888890Z"), ("state", "idle in transaction"), ("waiters", "5"), ("direct_waiters", "1"), ("longest_wait_seconds", "2.649927"))),
            Ok("connection_clients",
                R(("dimension", "state"), ("name", "idle"), ("count", "40"), ("idle_in_transaction", "0"), ("max_connections", "50"), ("reserved", "3")),
                R(("dimension", "state"), ("name", "idle in transaction"), ("count", "3"), ("idle_in_transaction", "3"), ("max_connections", "50"), ("reserved", "3")),
                R(("dimension", "application"), ("name", "app"), ("count", "43"), ("idle_in_transaction", "3"), ("max_connections", "50"), ("reserved", "3"))),
            Ok("xmin_horizon", R(("kind", "slot"), ("slot_name", "cdc"), ("xmin_age", "123456789"))),
        ], null);

        var head = Assert.Single(observation.LockHeads);
        Assert.Equal((77, 5, 1, "2026-12-03T03:54:56.3888890Z"), (head.Pid, head.Waiters, head.DirectWaiters, head.BackendStart));
        Assert.Equal(2.649927, head.LongestWaitSeconds);
        var use = observation.ConnectionUse!;
        Assert.Equal((43, 50, 3, 3), (use.Used, use.MaxConnections, use.Reserved, use.IdleInTransaction));
        Assert.Equal(43.0 / 47, use.Ratio, 6);
        Assert.Equal("app", Assert.Single(use.ByApplication).Name);
        Assert.Empty(use.ByUser);
        var slot = Assert.Single(observation.XminHolders);
        Assert.Equal(("slot", "cdc", 123456789L), (slot.Kind, slot.Slot, slot.XminAge!.Value));
    }

    [Fact]
    public void Summarise_SessionProbesFailedOrSkipped_LeaveTheViewsEmpty()
    {
        var observation = PostgresSensor.Summarise("pg-test-1",
        [
            new ProbeResult { Name = "lock_heads", Status = "error", Error = "57014: canceling statement due to statement timeout" },
            new ProbeResult { Name = "connection_clients", Status = "skipped" },
        ], null);

        Assert.Empty(observation.LockHeads);
        Assert.Null(observation.ConnectionUse);
        Assert.Empty(observation.XminHolders);
    }

    [Fact]
    public void Ratio_NoSlotsForNonSuperusers_IsZeroNotInfinite()
    {
        Assert.Equal(0, new ConnectionUse { Used = 3, MaxConnections = 3, Reserved = 3 }.Ratio);
    }
}
