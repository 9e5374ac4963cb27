using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Detection;

public sealed class DetectorTests
{
    [Fact]
    public void Run_HealthyLabSnapshots_RaiseNoPrimaryFinding()
    {
        var findings = Run(Healthy(), Healthy(3), Healthy(6), Healthy(9));

        Assert.DoesNotContain(findings, f => f.Severity == FindingSeverity.Critical);
        Assert.Null(findings.Find(FindingCodes.ReplicationBroken));
        Assert.Null(findings.Find(FindingCodes.BackupStale));
    }

    [Fact]
    public void DiskFull_RealLabSnapshots_RaisesPrimaryDiskFullWithEnospcEvidence()
    {
        var findings = Run(Load("healthy"), Load("disk-full-01"), Load("disk-full-02"));

        var f = findings.Find(FindingCodes.PrimaryDiskFull);
        Assert.NotNull(f);
        Assert.Equal(FindingSeverity.Critical, f.Severity);
        Assert.Equal("pg-test-3", f.Member);
        Assert.Contains(f.Evidence, e => e.Source == "logs" && e.Observation.Contains("No space left on device", StringComparison.Ordinal));
        // The first symptom is the PANIC line, logged before the first snapshot that saw it.
        Assert.Equal(DateTimeOffset.Parse("2026-11-22T21:11:39.306Z", System.Globalization.CultureInfo.InvariantCulture), f.FirstSeen);
        Assert.Equal(Load("disk-full-02").TakenAt, f.DetectedAt);
    }

    [Fact]
    public void DiskFull_OneSnapshot_DoesNotFireYet()
    {
        var findings = Run(Load("healthy"), Load("disk-full-01"));

        Assert.Null(findings.Find(FindingCodes.PrimaryDiskFull));
    }

    [Fact]
    public void DiskFull_RealLabSnapshots_AlsoSeePrimaryDownHoldingLock()
    {
        var findings = Run(Load("healthy"), Load("disk-full-01"), Load("disk-full-02"), Load("disk-full-03"));

        var f = findings.Find(FindingCodes.PrimaryDownHoldingLock);
        Assert.NotNull(f);
        Assert.Equal("pg-test-3", f.Member);
        Assert.Contains(f.Evidence, e => e.Observation.Contains("Patroni state 'starting'", StringComparison.Ordinal));
    }

    [Fact]
    public void DiskFull_Healed_ClearsAfterTwoCleanSnapshots()
    {
        var detector = new ClusterDetector("pg-test");
        detector.Observe(Load("healthy"));
        detector.Observe(Load("disk-full-01"));
        Assert.Contains(detector.Observe(Load("disk-full-02")).Raised, f => f.Code == FindingCodes.PrimaryDiskFull);
        var healed = Load("disk-full-healed");

        Assert.DoesNotContain(detector.Observe(healed).Cleared, f => f.Code == FindingCodes.PrimaryDiskFull);
        Assert.Contains(detector.Observe(Shift(healed, 3)).Cleared, f => f.Code == FindingCodes.PrimaryDiskFull);
    }

    [Fact]
    public void LeaderGone_RealLabSnapshots_RaisesLeaderMissingOnTheOldLeader()
    {
        var findings = Run(Load("leader-gone-00"), Load("leader-gone-01"));

        var f = findings.Find(FindingCodes.LeaderMissing);
        Assert.NotNull(f);
        Assert.Equal("pg-test-1", f.Member);
        Assert.Contains("refuse connections", f.Summary, StringComparison.Ordinal);
        Assert.Null(findings.Find(FindingCodes.PrimaryFrozen));
    }

    [Fact]
    public void LeaderMissing_NoKeyHolder_NamesTheLastKnownLeader()
    {
        var healthy = Healthy();
        var unlocked = Shift(healthy, 3) with
        {
            Leader = null,
            Patroni = healthy.Patroni! with
            {
                Leader = null,
                LeaderByView = healthy.Patroni.LeaderByView.ToDictionary(kv => kv.Key, _ => ""),
            },
        };

        var findings = Run(healthy, unlocked, Shift(unlocked, 3));

        var f = findings.Find(FindingCodes.LeaderMissing);
        Assert.NotNull(f);
        Assert.Equal("pg-test-3", f.Member);
        Assert.Contains("no leader key", f.Evidence[0].Observation, StringComparison.Ordinal);
    }

    /// <summary>
    /// A cluster leaderless for longer than the detection history (CI, 2026-12-03: no replica within
    /// maximum_lag_on_failover after the fenced leader's disk filled): the finding still names the leader that went away,
    /// not the inventory's declared primary, a replica that never led, which primary-failure would then ask to fence.
    /// </summary>
    [Fact]
    public void LeaderMissing_LeaderlessLongerThanTheHistory_StillNamesTheLastLeaderNotTheDeclaredPrimary()
    {
        var healthy = Healthy();
        Assert.NotEqual(healthy.Leader, healthy.Inventory.DeclaredPrimary);
        var unlocked = healthy with
        {
            Leader = null,
            Patroni = healthy.Patroni! with
            {
                Leader = null,
                LeaderByView = healthy.Patroni.LeaderByView.ToDictionary(kv => kv.Key, _ => ""),
            },
        };
        var settings = DetectionSettings.Default with { HistorySize = 5 };
        var stream = new[] { healthy }.Concat(Enumerable.Range(1, 12).Select(i => Shift(unlocked, i * 2))).ToArray();

        var findings = Run(settings, stream);

        var f = findings.Find(FindingCodes.LeaderMissing);
        Assert.NotNull(f);
        Assert.Equal(healthy.Leader, f.Member);
        Assert.Contains($"(last leader: {healthy.Leader})", f.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void PrimaryFrozen_RealLabFreeze_FiresOnTheThirdSnapshot()
    {
        // SIGSTOP of pg-test-3's Patroni and postmaster at 21:55:33.17 (pgra lab inject primary-freeze).
        var two = Run(Load("freeze-00"), Load("freeze-01"), Load("freeze-02"));
        var three = Run(Load("freeze-00"), Load("freeze-01"), Load("freeze-02"), Load("freeze-03"));

        Assert.Null(two.Find(FindingCodes.PrimaryFrozen));
        var f = three.Find(FindingCodes.PrimaryFrozen);
        Assert.NotNull(f);
        Assert.Equal("pg-test-3", f.Member);
        Assert.Equal(Load("freeze-01").TakenAt, f.FirstSeen);
        Assert.Contains("Patroni API and PostgreSQL both time out", f.Summary, StringComparison.Ordinal);
        Assert.Contains(f.Evidence, e => e.Observation.Contains("0 of 16 probes done", StringComparison.Ordinal));
    }

    [Fact]
    public void PrimaryFrozen_KeyExpiredAndNewLeader_NoLeaderMissingForOneSnapshot()
    {
        var findings = Run(Load("freeze-00"), Load("freeze-01"), Load("freeze-02"), Load("freeze-03"), Load("freeze-04"), Load("freeze-05"));

        Assert.Null(findings.Find(FindingCodes.LeaderMissing));
        Assert.Equal("pg-test-1", Load("freeze-05").Leader);
    }

    [Fact]
    public void PrimaryFrozen_OneSlowProbe_DoesNotFire()
    {
        var findings = Run(Healthy(), Frozen(Healthy(3), rest: true), Healthy(6), Healthy(9));

        Assert.Null(findings.Find(FindingCodes.PrimaryFrozen));
    }

    [Fact]
    public void PrimaryFrozen_TwoTimeoutsInARow_DoNotFireWithDefaults()
    {
        var findings = Run(Healthy(), Frozen(Healthy(3), rest: true), Frozen(Healthy(6), rest: true));

        Assert.Null(findings.Find(FindingCodes.PrimaryFrozen));
    }

    [Fact]
    public void PrimaryFrozen_ThreeConsecutiveTimeoutsOverFourSeconds_Fires()
    {
        var findings = Run(Healthy(), Frozen(Healthy(3), rest: true), Frozen(Healthy(6), rest: true), Frozen(Healthy(9), rest: true));

        var f = findings.Find(FindingCodes.PrimaryFrozen);
        Assert.NotNull(f);
        Assert.Equal("pg-test-3", f.Member);
        Assert.Contains("Patroni API and PostgreSQL both time out", f.Summary, StringComparison.Ordinal);
        Assert.Equal(Healthy(3).TakenAt, f.FirstSeen);
        Assert.Contains(f.Evidence, e => e.Source == "postgres" && e.Observation.Contains("timed out", StringComparison.Ordinal));
    }

    [Fact]
    public void PrimaryFrozen_PostmasterOnly_FiresWhileRestStillAnswers()
    {
        var findings = Run(Healthy(), Frozen(Healthy(2), rest: false), Frozen(Healthy(4), rest: false), Frozen(Healthy(6), rest: false));

        var f = findings.Find(FindingCodes.PrimaryFrozen);
        Assert.NotNull(f);
        Assert.Contains("while Patroni still reports it running", f.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void PrimaryFrozen_ThreeTimeoutsWithinTooShortATime_DoNotFire()
    {
        var findings = Run(Healthy(), Frozen(Healthy(1), rest: true), Frozen(Healthy(2), rest: true), Frozen(Healthy(3), rest: true));

        Assert.Null(findings.Find(FindingCodes.PrimaryFrozen));
    }

    [Fact]
    public void SplitBrain_TwoWritableMembers_NamesTheOneWithoutTheKeyFirst()
    {
        var h = Healthy();
        ClusterSnapshot Two(double at) => Shift(h, at) with
        {
            Members = h.Members.Select(m => m.Name == "pg-test-1" ? m with { InRecovery = false } : m).ToList(),
        };

        var findings = Run(h, Two(3), Two(6));

        var f = findings.Find(FindingCodes.SplitBrain);
        Assert.NotNull(f);
        Assert.Equal(["pg-test-1", "pg-test-3"], f.Members);
    }

    [Fact]
    public void ReplicationLag_PastTheRpoForTenSeconds_FiresAndSaysRising()
    {
        var h = Healthy();
        ClusterSnapshot Lagging(double at, long bytes) => Shift(h, at) with
        {
            Members = h.Members.Select(m => m.Name == "pg-test-2" ? m with { LagBytes = bytes } : m).ToList(),
        };

        var findings = Run(h, Lagging(5, 2_000_000), Lagging(10, 3_000_000), Lagging(15, 4_000_000));

        var f = findings.Find(FindingCodes.ReplicationLag);
        Assert.NotNull(f);
        Assert.Equal("pg-test-2", f.Member);
        Assert.Contains("rising", f.Summary, StringComparison.Ordinal);
        Assert.Null(Run(h, Lagging(5, 2_000_000), Lagging(10, 500)).Find(FindingCodes.ReplicationLag));
    }

    [Fact]
    public void ReplicationBroken_ReplicaNotStreaming_Fires()
    {
        var h = Healthy();
        ClusterSnapshot Broken(double at) => Shift(h, at) with
        {
            Members = h.Members.Select(m => m.Name == "pg-test-1" ? m with { Streaming = false } : m).ToList(),
        };

        var findings = Run(h, Broken(5), Broken(10), Broken(15));

        var f = findings.Find(FindingCodes.ReplicationBroken);
        Assert.NotNull(f);
        Assert.Equal("pg-test-1", f.Member);
        Assert.Contains("pg_stat_replication", f.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void ArchiveFailing_LastFailureNewerThanLastSuccess_Fires()
    {
        var h = Healthy();
        ClusterSnapshot Failing(double at) => Shift(h, at) with
        {
            Postgres = h.Postgres.Select(p => p.Member != "pg-test-3" ? p : p with
            {
                ArchiverFailedCount = 7,
                Probes = p.Probes.Select(pr => pr.Name != "archiver" ? pr : pr with
                {
                    Rows = [new Dictionary<string, string?> { ["failed_count"] = "7", ["last_failed_wal"] = "000000100000000000000030", ["last_failed_age_seconds"] = "3", ["last_archived_age_seconds"] = "120" }],
                }).ToList(),
            }).ToList(),
        };

        var findings = Run(h, Failing(3), Failing(6));

        var f = findings.Find(FindingCodes.ArchiveFailing);
        Assert.NotNull(f);
        Assert.Contains("000000100000000000000030", f.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void BackupStale_ScheduleFromPgCrontab_MissedRunFires()
    {
        var h = Healthy();
        // Snapshot 21:11:30, newest backup 20:08: a daily 01:00 run is covered; the hourly 21:00 run (5 min grace) is missed.
        var daily = BackupSchedule.Parse([("00 01 * * * /pg/bin/pg-backup full", "pigsty.yml:60")]);
        var hourly = BackupSchedule.Parse([("0 * * * * /pg/bin/pg-backup", "pigsty.yml:61")]);
        var settings = DetectionSettings.Default with { BackupGraceMinutes = 5 };

        Assert.Empty(Detectors.Run(new DetectionInput(h, [], settings, new DetectionContext { BackupSchedule = daily }), [new BackupStaleDetector()]));
        var stale = Detectors.Run(new DetectionInput(h, [], settings, new DetectionContext { BackupSchedule = hourly }), [new BackupStaleDetector()]);
        var f = Assert.Single(stale);
        Assert.Equal(FindingCodes.BackupStale, f.Code);
        Assert.Contains("2026-11-22T21:00:00.000Z", f.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void BackupStale_NoSchedule_UsesTheSettingsDefault()
    {
        var h = Healthy();
        Assert.Empty(Detectors.Run(DetectionInput.Of(h), [new BackupStaleDetector()]));
        var old = h with { Backup = h.Backup! with { LastBackupAgeSeconds = 27 * 3600 } };
        Assert.Single(Detectors.Run(DetectionInput.Of(old), [new BackupStaleDetector()]));
        var blind = old with { Sensors = old.Sensors.Select(s => s.Sensor == SensorNames.Backup ? s with { Health = SensorHealth.Unknown } : s).ToList() };
        Assert.Empty(Detectors.Run(DetectionInput.Of(blind), [new BackupStaleDetector()]));
    }

    [Fact]
    public void BackupSchedule_OfTheTopology_TakesPgCrontabBackupLines()
    {
        var topology = PgRuntimeAgent.Inventory.InventoryLoader.Load(TestPaths.Fixture("pigsty", "v4.5.0", "ha-full.yml"), new PgRuntimeAgent.Secrets.SecretStore(), PgRuntimeAgent.Inventory.InventoryOverrides.None);
        var schedule = topology.FindCluster("pg-test")!.BackupSchedule;

        Assert.Equal(["00 01 * * 1 full", "00 01 * * 2,3,4,5,6,7 incr"], schedule.Entries.Select(e => $"{e.Cron} {e.Type}"));
        Assert.Contains("ha-full.yml:", schedule.Entries[0].Origin, StringComparison.Ordinal);
    }

    [Fact]
    public void BackupSchedule_NodeCrontabWithUser_IsParsed()
    {
        var s = BackupSchedule.Parse([("00 01 * * * postgres /pg/bin/pg-backup full", "x"), ("*/5 * * * * root /usr/bin/true", "y")]);

        var e = Assert.Single(s.Entries);
        Assert.Equal("00 01 * * *", e.Cron);
        Assert.Equal("full", e.Type);
    }

    [Fact]
    public void InventoryDrift_DeclaredPrimaryNotLeader_Fires()
    {
        var findings = Run(Healthy(), Healthy(3));

        var f = findings.Find(FindingCodes.InventoryDrift);
        Assert.NotNull(f);
        Assert.Contains("pg-test-1", f.Members);
    }

    [Fact]
    public void SensorBlind_MetricsUnknownTwice_FiresButNotWhenDisabled()
    {
        var h = Healthy();
        ClusterSnapshot Blind(double at, string reason) => Shift(h, at) with
        {
            Sensors = h.Sensors.Select(s => s.Sensor == SensorNames.Metrics ? s with { Health = SensorHealth.Unknown, Reason = reason } : s).ToList(),
        };

        var f = Run(h, Blind(3, "http://127.0.0.10:9090/: connection refused"), Blind(6, "http://127.0.0.10:9090/: connection refused"))
            .FirstOrDefault(x => x.Code == FindingCodes.SensorBlind && x.Subject == "metrics");
        Assert.NotNull(f);
        Assert.Equal(FindingSeverity.Warning, f.Severity);
        Assert.DoesNotContain(Run(h, Blind(3, "disabled by sensing.disabled"), Blind(6, "disabled by sensing.disabled")),
            x => x.Code == FindingCodes.SensorBlind && x.Subject == "metrics");
    }

    [Fact]
    public void Silenced_Code_IsNeverReported()
    {
        var settings = DetectionSettings.Default with { Silenced = [FindingCodes.InventoryDrift] };

        Assert.Null(Run(settings, Healthy(), Healthy(3)).Find(FindingCodes.InventoryDrift));
    }

    [Fact]
    public void Every_StableCode_HasADetector()
    {
        Assert.Equal(FindingCodes.Stable.Order(), Detectors.All.Select(d => d.Code).Order());
    }

    [Fact]
    public void Trigger_Json_CarriesCodeMemberAndEvidence()
    {
        var f = Run(Load("healthy"), Load("disk-full-01"), Load("disk-full-02")).Find(FindingCodes.PrimaryDiskFull)!;

        var t = f.ToTrigger();
        Assert.Equal("primary-disk-full", t.GetProperty("code").GetString());
        Assert.Equal("pg-test-3", t.GetProperty("member").GetString());
        Assert.Equal("critical", t.GetProperty("severity").GetString());
        Assert.True(t.GetProperty("evidence").GetArrayLength() > 0);
    }
}

public sealed class DetectionSettingsTests
{
    [Fact]
    public void Load_DetectionSection_BindsSnakeCaseKeys()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-detection-settings-").FullName;
        try
        {
            var settingsFile = Path.Combine(dir, "pgra.yml");
            File.WriteAllText(settingsFile, "detection:\n  primary_frozen_consecutive: 5\n  primary_frozen_seconds: 8.5\n  ignore_sensors: [host]\n  silenced: [backup-stale]\n");
            var settings = PgRuntimeAgent.Settings.SettingsLoader.Load(settingsFile, Path.Combine(dir, "pigsty.yml"), new PgRuntimeAgent.Secrets.SecretStore(),
                new Dictionary<string, string?>());

            Assert.Equal(5, settings.Detection.PrimaryFrozenConsecutive);
            Assert.Equal(8.5, settings.Detection.PrimaryFrozenSeconds);
            Assert.Equal(["host"], settings.Detection.IgnoreSensors);
            Assert.Equal(["backup-stale"], settings.Detection.Silenced);
            Assert.Equal(DetectionSettings.Default.LeaderMissingConsecutive, settings.Detection.LeaderMissingConsecutive);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
