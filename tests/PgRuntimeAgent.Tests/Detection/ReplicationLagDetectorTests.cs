using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Detection;

/// <summary>replication-lag on a replica whose replay stands still while WAL keeps arriving (startup process stopped).</summary>
public sealed class ReplicationLagDetectorTests
{
    private static readonly long Stuck = Lsn.Parse("0/24000140")!.Value;

    /// <summary>
    /// The healthy lab snapshot <paramref name="at"/> seconds later: the leader wrote <paramref name="written"/> bytes
    /// since, pg-test-2 received them all and replayed up to <paramref name="replayed"/>.
    /// </summary>
    private static ClusterSnapshot Replica2(double at, long written, long replayed, long? lagBytes = null, double lagSeconds = 0)
    {
        var h = Healthy(at);
        return h with
        {
            Members = h.Members.Select(m => m.Name switch
            {
                "pg-test-3" => m with { WalLsn = Lsn.Format(Stuck + written) },
                "pg-test-2" => m with
                {
                    ReceiveLsn = Lsn.Format(Stuck + written),
                    ReplayLsn = Lsn.Format(replayed),
                    LagBytes = lagBytes ?? Stuck + written - replayed,
                    LagSeconds = lagSeconds,
                },
                _ => m,
            }).ToList(),
        };
    }

    /// <summary>A healthy start, then pg-test-2's replay stuck at <see cref="Stuck"/> from t=10 s while 10 KiB/s arrive.</summary>
    private static ClusterSnapshot[] StalledUntil(double last) =>
        [Replica2(0, 0, Stuck), .. Enumerable.Range(1, (int)(last / 10)).Select(i => Replica2(i * 10, i * 102_400, Stuck))];

    [Fact]
    public void Detect_ReplayStalledUnderTheByteLimit_FiresOnceHeldForTheLagSecondsAndSaysReplayStalled()
    {
        Assert.Null(Run(StalledUntil(60)).Find(FindingCodes.ReplicationLag)); // stalled for 50 s: not yet

        var f = Run(StalledUntil(70)).Find(FindingCodes.ReplicationLag);

        Assert.NotNull(f);
        Assert.Equal("pg-test-2", f.Member);
        Assert.StartsWith($"replay stalled on pg-test-2: receiving up to {Lsn.Format(Stuck + 7 * 102_400)}, replay stuck at 0/24000140 for 60 s", f.Summary, StringComparison.Ordinal);
        Assert.Contains("700 KiB", f.Summary, StringComparison.Ordinal); // under the 1 MiB limit
        Assert.Equal(Healthy(10).TakenAt, f.FirstSeen);
        Assert.Contains(f.Evidence, e => e.Observation.Contains("replayed up to 0/24000140", StringComparison.Ordinal));
    }

    [Fact]
    public void Detect_ReplayBehindButMoving_DoesNotFire()
    {
        var stream = Enumerable.Range(0, 9).Select(i => Replica2(i * 10, i * 102_400, Stuck + Math.Max(0, i - 1) * 102_400)).ToArray();

        Assert.Null(Run(stream).Find(FindingCodes.ReplicationLag));
    }

    [Fact]
    public void Detect_IdleClusterReplayCaughtUp_DoesNotFire()
    {
        var stream = Enumerable.Range(0, 9).Select(i => Replica2(i * 10, 0, Stuck)).ToArray();

        Assert.Null(Run(stream).Find(FindingCodes.ReplicationLag));
    }

    [Fact]
    public void Detect_StalledReplayPastTheByteLimit_SaysReplayStalledWithTheReplayLag()
    {
        // The lab: receive keeps moving, replay stands still; 16.8 MB and 67 s behind.
        var stream = new[] { Replica2(0, 0, Stuck) }
            .Concat(Enumerable.Range(1, 7).Select(i => Replica2(i * 10, i * 2_400_000, Stuck, lagSeconds: i * 9.6)))
            .ToArray();

        var f = Run(stream).Find(FindingCodes.ReplicationLag);

        Assert.NotNull(f);
        Assert.StartsWith("replay stalled on pg-test-2: receiving up to ", f.Summary, StringComparison.Ordinal);
        Assert.Contains("pg-test-2 lags 16.02 MiB, 67.2 s behind pg-test-3", f.Summary, StringComparison.Ordinal);
    }
}
