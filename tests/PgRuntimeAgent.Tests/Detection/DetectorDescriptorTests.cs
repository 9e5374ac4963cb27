using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Cli.Commands;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Sensing;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Detection;

public sealed class DetectorDescriptorTests
{
    /// <summary>The codes in detector order as they have always been: a code is never renamed, reused or moved.</summary>
    private static readonly string[] StableOrder =
    [
        "leader-missing", "primary-down-holding-lock", "primary-frozen", "primary-disk-full", "split-brain", "replication-broken",
        "replication-lag", "archive-failing", "backup-stale", "inventory-drift", "sensor-blind", "deposed-primary", "timeline-rollback",
        "stale-leader", "leader-not-renewing", "lock-pileup", "long-transaction", "connection-saturation", "config-broken", "wraparound-risk",
        "vacuum-lag", "invalid-index", "unused-index", "duplicate-index", "slow-query", "missing-index",
    ];

    /// <summary>The persistence defaults the detectors had as settings fields (consecutive snapshots, seconds).</summary>
    public static TheoryData<string, int, double> PersistenceDefaults => new()
    {
        { FindingCodes.LeaderMissing, 2, 1 },
        { FindingCodes.PrimaryDownHoldingLock, 2, 2 },
        { FindingCodes.PrimaryFrozen, 3, 4 },
        { FindingCodes.PrimaryDiskFull, 2, 0 },
        { FindingCodes.SplitBrain, 2, 0 },
        { FindingCodes.ReplicationBroken, 3, 10 },
        { FindingCodes.ReplicationLag, 3, 10 },
        { FindingCodes.ArchiveFailing, 2, 0 },
        { FindingCodes.InventoryDrift, 2, 0 },
        { FindingCodes.SensorBlind, 2, 0 },
    };

    [Fact]
    public void All_DiscoversEveryDetectorClassOfTheAssembly_InTheStableOrder()
    {
        var types = typeof(IDetector).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IDetector).IsAssignableFrom(t))
            .ToList();

        Assert.Equal(types.Count, Detectors.All.Count);
        Assert.Equal(types.Order(Comparer<Type>.Create((a, b) => string.CompareOrdinal(a.FullName, b.FullName))),
            Detectors.All.Select(d => d.GetType()).Order(Comparer<Type>.Create((a, b) => string.CompareOrdinal(a.FullName, b.FullName))));
        Assert.Equal(StableOrder, Detectors.All.Select(d => d.Code));
        Assert.Equal(StableOrder, FindingCodes.Stable);
    }

    [Fact]
    public void Codes_AreUniqueAndEachDescriptorNamesItsDetectorsCode()
    {
        Assert.Equal(FindingCodes.Stable.Count, FindingCodes.Stable.Distinct(StringComparer.Ordinal).Count());
        Assert.All(Detectors.All, d => Assert.Equal(d.Code, d.Descriptor.Code));
        Assert.Equal(Detectors.All.Count, Detectors.All.Select(d => d.Descriptor.Order).Distinct().Count());
        Assert.All(FindingCodes.Stable, c => Assert.True(FindingCodes.IsKnown(c)));
        Assert.False(FindingCodes.IsKnown("no-such-code"));
    }

    [Fact]
    public void Descriptors_EachHasASummaryAnExplanationAndARank()
    {
        Assert.All(Detectors.Descriptors, d =>
        {
            Assert.False(string.IsNullOrWhiteSpace(d.Summary));
            Assert.False(string.IsNullOrWhiteSpace(d.Explanation));
            Assert.True(d.ConsecutiveSnapshots >= 1);
            Assert.True(d.MinimumSeconds >= 0);
        });
        Assert.Equal(Detectors.All.Count, Detectors.Descriptors.Select(d => d.RootCauseRank).Distinct().Count());
    }

    [Theory]
    [MemberData(nameof(PersistenceDefaults))]
    public void Descriptor_PersistenceDefaults_AreTheFormerSettingsDefaults(string code, int consecutive, double seconds)
    {
        var d = Detectors.Describe(code)!;

        Assert.True(d.PersistenceSettable);
        Assert.Equal(consecutive, d.ConsecutiveSnapshots);
        Assert.Equal(seconds, d.MinimumSeconds);
        Assert.Equal(new HeldFor(consecutive, seconds), DetectionSettings.Default.PersistenceOf(code));
    }

    [Fact]
    public void DetectionSettings_OlderKeys_ReadTheDescriptorsDefaults()
    {
        var s = DetectionSettings.Default;

        Assert.Equal((2, 1.0), (s.LeaderMissingConsecutive, s.LeaderMissingSeconds));
        Assert.Equal((2, 2.0), (s.PrimaryDownConsecutive, s.PrimaryDownSeconds));
        Assert.Equal((3, 4.0), (s.PrimaryFrozenConsecutive, s.PrimaryFrozenSeconds));
        Assert.Equal((2, 0.0), (s.DiskFullConsecutive, s.DiskFullSeconds));
        Assert.Equal((2, 0.0), (s.SplitBrainConsecutive, s.SplitBrainSeconds));
        Assert.Equal((3, 10.0), (s.ReplicationBrokenConsecutive, s.ReplicationBrokenSeconds));
        Assert.Equal((3, 10.0), (s.ReplicationLagConsecutive, s.ReplicationLagSecondsHeld));
        Assert.Equal((2, 0.0), (s.ArchiveFailingConsecutive, s.ArchiveFailingSeconds));
        Assert.Equal((2, 0.0), (s.InventoryDriftConsecutive, s.InventoryDriftSeconds));
        Assert.Equal((2, 0.0), (s.SensorBlindConsecutive, s.SensorBlindSeconds));
    }

    [Theory]
    [InlineData(FindingCodes.DeposedPrimary)]
    [InlineData(FindingCodes.StaleLeader)]
    [InlineData(FindingCodes.TimelineRollback)]
    [InlineData(FindingCodes.BackupStale)]
    public void Descriptor_OneSnapshotDetectors_DoNotOfferPersistence(string code)
    {
        var d = Detectors.Describe(code)!;

        Assert.False(d.PersistenceSettable);
        Assert.Equal(1, d.ConsecutiveSnapshots);
        Assert.NotNull(Detectors.CheckPersistenceCode(code));
    }

    [Fact]
    public void Descriptor_Thresholds_CarryTheFormerSettingsDefaults()
    {
        var disk = Detectors.Describe(FindingCodes.PrimaryDiskFull)!.Thresholds;
        Assert.Equal("0.01", disk.Single(p => p.Name == "free_ratio").Default);
        Assert.Equal("120", disk.Single(p => p.Name == "log_window_seconds").Default);
        Assert.Equal("10", Detectors.Describe(FindingCodes.PrimaryDownHoldingLock)!.Thresholds.Single(p => p.Name == "promotion_grace_seconds").Default);
        Assert.Equal("60", Detectors.Describe(FindingCodes.ReplicationLag)!.Thresholds.Single(p => p.Name == "lag_seconds").Default);
        Assert.Null(Detectors.Describe(FindingCodes.ReplicationLag)!.Thresholds.Single(p => p.Name == "lag_bytes").Default);
        Assert.Equal("26", Detectors.Describe(FindingCodes.BackupStale)!.Thresholds.Single(p => p.Name == "max_age_hours").Default);
        Assert.Equal("120", Detectors.Describe(FindingCodes.BackupStale)!.Thresholds.Single(p => p.Name == "grace_minutes").Default);
    }

    /// <summary>
    /// Every finding raised on the recorded lab streams carries its descriptor's severity; the only exception is the
    /// documented one: the whole Patroni sensor blind is critical.
    /// </summary>
    [Fact]
    public void Findings_OnRecordedStreams_CarryTheirDescriptorsSeverity()
    {
        var streams = Directory.GetFiles(Dir, "*.json").Select(Path.GetFileNameWithoutExtension).OfType<string>()
            .Where(n => n != "healthy")
            .GroupBy(n => n[..n.LastIndexOf('-')], StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Check(Finding f)
        {
            seen.Add(f.Code);
            var expected = f.Code == FindingCodes.SensorBlind && f.Subject == SensorNames.Patroni ? FindingSeverity.Critical : Detectors.Describe(f.Code)!.Severity;
            Assert.Equal(expected, f.Severity);
        }

        foreach (var stream in streams)
        {
            var snapshots = stream.Order(StringComparer.Ordinal).Select(Load).ToList();
            var healthy = Load("healthy");
            var detector = new ClusterDetector(healthy.Cluster);
            foreach (var snapshot in healthy.TakenAt < snapshots[0].TakenAt ? snapshots.Prepend(healthy) : snapshots)
            {
                if (detector.History.Count > 0 && snapshot.TakenAt <= detector.History[^1].TakenAt)
                {
                    continue;
                }

                detector.Observe(snapshot).Findings.ToList().ForEach(Check);
            }
        }

        // A crafted freeze of the leader (REST and SQL time out) on top of the recordings.
        Run(Healthy(), Frozen(Healthy(3), rest: true), Frozen(Healthy(6), rest: true), Frozen(Healthy(9), rest: true)).ToList().ForEach(Check);

        Assert.Contains(FindingCodes.PrimaryDiskFull, seen);
        Assert.Contains(FindingCodes.PrimaryFrozen, seen);
        Assert.Contains(FindingCodes.LeaderMissing, seen);
    }

    [Theory]
    [InlineData(FindingCodes.LeaderMissing, FindingSeverity.Critical)]
    [InlineData(FindingCodes.PrimaryDownHoldingLock, FindingSeverity.Critical)]
    [InlineData(FindingCodes.PrimaryFrozen, FindingSeverity.Critical)]
    [InlineData(FindingCodes.PrimaryDiskFull, FindingSeverity.Critical)]
    [InlineData(FindingCodes.SplitBrain, FindingSeverity.Critical)]
    [InlineData(FindingCodes.DeposedPrimary, FindingSeverity.Critical)]
    [InlineData(FindingCodes.StaleLeader, FindingSeverity.Critical)]
    [InlineData(FindingCodes.TimelineRollback, FindingSeverity.Critical)]
    [InlineData(FindingCodes.ReplicationBroken, FindingSeverity.Warning)]
    [InlineData(FindingCodes.ReplicationLag, FindingSeverity.Warning)]
    [InlineData(FindingCodes.ArchiveFailing, FindingSeverity.Warning)]
    [InlineData(FindingCodes.BackupStale, FindingSeverity.Warning)]
    [InlineData(FindingCodes.InventoryDrift, FindingSeverity.Warning)]
    [InlineData(FindingCodes.SensorBlind, FindingSeverity.Warning)]
    public void Catalog_Detectors_CarryTheTrueSeverities(string code, FindingSeverity severity)
    {
        var d = AgentCatalog.Default.FindDetector(code);

        Assert.NotNull(d);
        Assert.Equal(severity, d.Severity);
        Assert.Same(Detectors.Describe(code), d);
    }

    [Fact]
    public void Catalog_Detectors_AreTheDescriptorsInDetectorOrder()
    {
        Assert.Equal(Detectors.Descriptors, AgentCatalog.Default.Detectors);
        var json = AgentCatalog.Default.ToJson()["detectors"]!.AsArray();
        Assert.Equal(StableOrder, json.Select(n => (string)n!["code"]!));
        Assert.Equal("warning", (string)json.Single(n => (string)n!["code"]! == "replication-lag")!["severity"]!);
    }

    [Fact]
    public void RootCause_Priority_IsTheFormerOrder()
    {
        string[] former =
        [
            "timeline-rollback", "stale-leader", "deposed-primary", "primary-disk-full", "config-broken", "primary-frozen", "leader-not-renewing",
            "split-brain", "primary-down-holding-lock", "leader-missing", "replication-broken", "replication-lag", "lock-pileup", "long-transaction",
            "connection-saturation", "archive-failing", "wraparound-risk", "backup-stale", "vacuum-lag", "sensor-blind", "inventory-drift", "invalid-index",
            "unused-index", "duplicate-index", "missing-index", "slow-query",
        ];

        Assert.Equal(former, RootCause.Priority);
        Assert.Equal(0, RootCause.Rank(FindingCodes.TimelineRollback));
        Assert.Equal(9, RootCause.Rank(FindingCodes.LeaderMissing));
        Assert.Equal(former.Length, RootCause.Rank("no-such-code"));
    }

    [Fact]
    public void RootCause_Explain_ReadsTheDescriptors()
    {
        Assert.Equal("The primary ran out of space for WAL: PostgreSQL PANICs on ENOSPC, Patroni restarts it read-only and retries "
            + "the promotion forever while it keeps the leader key, so Patroni alone never fails over.", RootCause.Explain(FindingCodes.PrimaryDiskFull));
        Assert.Equal("A replica stopped replicating from the leader.", RootCause.Explain(FindingCodes.ReplicationBroken));
        Assert.Equal("", RootCause.Explain("no-such-code"));
        Assert.All(FindingCodes.Stable, c => Assert.Equal(Detectors.Describe(c)!.Explanation, RootCause.Explain(c)));
    }

    [Fact]
    public void RootCause_ADeclaredCauseOnTheSameMember_WinsOverALouderSymptom_ButNotOneOnAnotherMember()
    {
        var t = new DateTimeOffset(2026, 12, 4, 7, 51, 35, TimeSpan.Zero);
        Finding F(string code, FindingSeverity severity, string? member, double seconds) => new()
        {
            Code = code, Severity = severity, Cluster = "pg-test", Members = member is null ? [] : [member], Summary = code,
            FirstSeen = t.AddSeconds(seconds), LastSeen = t.AddSeconds(seconds),
        };

        // The eval's bad-config-leader: the key held by a PostgreSQL that cannot start (critical) and why (a warning).
        var held = F(FindingCodes.PrimaryDownHoldingLock, FindingSeverity.Critical, "pg-test-1", 0);
        var config = F(ConfigBrokenDetector.FindingCode, FindingSeverity.Warning, "pg-test-1", 1);
        Assert.Same(config, RootCause.Primary([held, config, F(FindingCodes.SensorBlind, FindingSeverity.Warning, "pg-test-1", 3)]));
        Assert.Same(config, RootCause.Primary([F(FindingCodes.LeaderMissing, FindingSeverity.Critical, null, 0), config]));
        Assert.Same(held, RootCause.Primary([held, F(ConfigBrokenDetector.FindingCode, FindingSeverity.Warning, "pg-test-3", 1)]));
        Assert.Same(held, RootCause.Primary([held, F(FindingCodes.ArchiveFailing, FindingSeverity.Warning, "pg-test-1", 1)]));

        // The eval's primary-freeze-recommend: at autonomy 1 nothing fenced the frozen leader, the key expired, and the
        // frozen member was left deposed (ranked more specific): the freeze is the cause.
        var frozen = F(FindingCodes.PrimaryFrozen, FindingSeverity.Critical, "pg-test-1", 0);
        var deposed = F(FindingCodes.DeposedPrimary, FindingSeverity.Critical, "pg-test-1", 25);
        Assert.Same(frozen, RootCause.Primary([frozen, F(FindingCodes.LeaderMissing, FindingSeverity.Critical, "pg-test-1", 24), deposed]));
        Assert.Same(deposed, RootCause.Primary([deposed, F(FindingCodes.PrimaryFrozen, FindingSeverity.Critical, "pg-test-2", 0)]));
    }

    [Fact]
    public void Descriptors_WhatTheyExplain_IsKnownCodesOtherThanTheirOwn()
    {
        Assert.All(Detectors.Descriptors, d => Assert.All(d.Explains, c =>
        {
            Assert.NotEqual(d.Code, c);
            Assert.NotNull(Detectors.Describe(c));
        }));
        Assert.Contains(FindingCodes.PrimaryDownHoldingLock, Detectors.Describe(ConfigBrokenDetector.FindingCode)!.Explains);
    }

    [Fact]
    public void OneShot_EveryDetectorWithPersistence_HoldsForOneSnapshot()
    {
        var oneShot = OneOffDetection.OneShot(DetectionSettings.Default);

        Assert.All(Detectors.Descriptors, d => Assert.Equal(d.PersistenceSettable ? new HeldFor(1, 0) : new HeldFor(d.ConsecutiveSnapshots, d.MinimumSeconds), oneShot.PersistenceOf(d.Code)));
        Assert.Equal((1, 0.0), (oneShot.PrimaryFrozenConsecutive, oneShot.PrimaryFrozenSeconds));
        Assert.Equal((1, 0.0), (oneShot.ReplicationLagConsecutive, oneShot.ReplicationLagSecondsHeld));
    }

    [Fact]
    public void PersistenceOf_MapEntry_WinsOverTheOlderKeyAndKeepsWhatItDoesNotSay()
    {
        var s = DetectionSettings.Default with
        {
            PrimaryFrozenConsecutive = 7,
            PrimaryFrozenSeconds = 9,
            Persistence = new Dictionary<string, PersistenceOverride>(StringComparer.Ordinal)
            {
                [FindingCodes.PrimaryFrozen] = new() { Consecutive = 2 },
                [FindingCodes.LeaderMissing] = new() { Seconds = 5 },
            },
        };

        Assert.Equal(new HeldFor(2, 9), s.PersistenceOf(FindingCodes.PrimaryFrozen));
        Assert.Equal(2, s.PrimaryFrozenConsecutive);
        Assert.Equal(new HeldFor(2, 5), s.PersistenceOf(FindingCodes.LeaderMissing));
        Assert.Equal(new HeldFor(3, 10), s.PersistenceOf(FindingCodes.ReplicationBroken));
        Assert.Equal(new HeldFor(1, 0), s.PersistenceOf("no-such-code"));
    }

    [Fact]
    public void PrimaryFrozen_PersistenceFromTheMap_FiresOnTheSecondTimeout()
    {
        var stream = new[] { Healthy(), Frozen(Healthy(3), rest: true), Frozen(Healthy(6), rest: true) };
        var two = DetectionSettings.Default.WithPersistence(FindingCodes.PrimaryFrozen, new HeldFor(2, 3));

        Assert.Null(Run(stream).Find(FindingCodes.PrimaryFrozen));
        Assert.NotNull(Run(two, stream).Find(FindingCodes.PrimaryFrozen));
    }
}
