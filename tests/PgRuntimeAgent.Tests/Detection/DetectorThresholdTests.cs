using System.Text.Json.Nodes;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing.Metrics;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Detection;

/// <summary>
/// Thresholds declared by the detectors: read through <see cref="DetectionSettings.Threshold(string, string)"/>, set per
/// code with <c>detection.thresholds</c>, the older keys still honoured (the map wins), listed by the catalogue.
/// </summary>
public sealed class DetectorThresholdTests
{
    /// <summary>pg-test-3 leads in the healthy snapshot; its filesystem free ratio is <paramref name="ratio"/>.</summary>
    private static ClusterSnapshot LeaderFree(double at, string ratio)
    {
        var s = Healthy(at);
        var fs = new MetricReading
        {
            Name = "fs_free_ratio",
            Status = "ok",
            Values = new Dictionary<string, string> { ["pg-test-1"] = "0.3", ["pg-test-2"] = "0.3", ["pg-test-3"] = ratio },
        };
        return s with { Metrics = s.Metrics! with { Readings = s.Metrics.Readings.Where(r => r.Name != "fs_free_ratio").Append(fs).ToList() } };
    }

    private static ClusterSnapshot[] AlmostFull => [LeaderFree(0, "0.015"), LeaderFree(3, "0.015")];

    private static Dictionary<string, IReadOnlyDictionary<string, double>> Map(string code, string name, double value) =>
        new(StringComparer.Ordinal) { [code] = new Dictionary<string, double>(StringComparer.Ordinal) { [name] = value } };

    [Fact]
    public void Threshold_DefaultSettings_AreTheDeclaredDefaultsAndTheFormerFieldDefaults()
    {
        var s = DetectionSettings.Default;

        Assert.Equal(10, s.Threshold(FindingCodes.PrimaryDownHoldingLock, "promotion_grace_seconds"));
        Assert.Equal(120, s.Threshold(FindingCodes.PrimaryDiskFull, "log_window_seconds"));
        Assert.Equal(0.01, s.Threshold(FindingCodes.PrimaryDiskFull, "free_ratio"));
        Assert.Null(s.Threshold(FindingCodes.ReplicationLag, "lag_bytes"));
        Assert.Equal(60, s.Threshold(FindingCodes.ReplicationLag, "lag_seconds"));
        Assert.Equal(26, s.Threshold(FindingCodes.BackupStale, "max_age_hours"));
        Assert.Equal(120, s.Threshold(FindingCodes.BackupStale, "grace_minutes"));
        Assert.Equal((10.0, 120.0, 0.01, (long?)null, 60.0, 26.0, 120.0),
            (s.PromotionGraceSeconds, s.DiskFullLogWindowSeconds, s.DiskFullFreeRatio, s.ReplicationLagBytes, s.ReplicationLagSeconds, s.BackupMaxAgeHours, s.BackupGraceMinutes));
    }

    [Fact]
    public void Threshold_NameTheDetectorDoesNotDeclare_IsABug()
    {
        Assert.Throws<InvalidOperationException>(() => DetectionSettings.Default.Threshold(FindingCodes.PrimaryDiskFull, "no_such_threshold"));
        Assert.Throws<InvalidOperationException>(() => DetectionSettings.Default.Threshold(FindingCodes.SplitBrain, "free_ratio"));
    }

    [Fact]
    public void PrimaryDiskFull_FreeRatioInTheMap_ChangesTheVerdict()
    {
        var raised = DetectionSettings.Default with { Thresholds = Map(FindingCodes.PrimaryDiskFull, "free_ratio", 0.02) };

        Assert.Null(Run(AlmostFull).Find(FindingCodes.PrimaryDiskFull));
        var f = Run(raised, AlmostFull).Find(FindingCodes.PrimaryDiskFull);
        Assert.NotNull(f);
        Assert.Contains(f.Evidence, e => e.Source == "metrics" && e.Observation.StartsWith("free ratio 0.015", StringComparison.Ordinal));
    }

    [Fact]
    public void PrimaryDiskFull_OlderKey_StillChangesTheVerdict()
    {
        var older = DetectionSettings.Default with { DiskFullFreeRatio = 0.02 };

        Assert.NotNull(Run(older, AlmostFull).Find(FindingCodes.PrimaryDiskFull));
        Assert.Equal(0.02, older.Threshold(FindingCodes.PrimaryDiskFull, "free_ratio"));
    }

    [Fact]
    public void Threshold_MapEntry_WinsOverTheOlderKeyAndLeavesTheOtherNamesAlone()
    {
        var both = (DetectionSettings.Default with { DiskFullFreeRatio = 0.02, DiskFullLogWindowSeconds = 30 })
            .WithThreshold(FindingCodes.PrimaryDiskFull, "free_ratio", 0.001);

        Assert.Null(Run(both, AlmostFull).Find(FindingCodes.PrimaryDiskFull));
        Assert.Equal(0.001, both.Threshold(FindingCodes.PrimaryDiskFull, "free_ratio"));
        Assert.Equal(0.001, both.DiskFullFreeRatio);
        Assert.Equal(30, both.Threshold(FindingCodes.PrimaryDiskFull, "log_window_seconds"));
        Assert.Equal(0.03, both.WithThreshold(FindingCodes.PrimaryDiskFull, "log_window_seconds", 5)
            .WithThreshold(FindingCodes.PrimaryDiskFull, "free_ratio", 0.03).Threshold(FindingCodes.PrimaryDiskFull, "free_ratio"));
    }

    [Fact]
    public void BackupStale_MaxAgeInTheMap_ChangesTheVerdictAndWinsOverTheOlderKey()
    {
        var h = Healthy();
        var old = h with { Backup = h.Backup! with { LastBackupAgeSeconds = 27 * 3600 } };
        DetectionInput Input(DetectionSettings s) => new(old, [], s, new DetectionContext());

        Assert.Single(Detectors.Run(Input(DetectionSettings.Default), [new BackupStaleDetector()]));
        Assert.Empty(Detectors.Run(Input(DetectionSettings.Default with { Thresholds = Map(FindingCodes.BackupStale, "max_age_hours", 28) }), [new BackupStaleDetector()]));
        Assert.Empty(Detectors.Run(Input(DetectionSettings.Default with { BackupMaxAgeHours = 28 }), [new BackupStaleDetector()]));
        var mapWins = (DetectionSettings.Default with { BackupMaxAgeHours = 28 }).WithThreshold(FindingCodes.BackupStale, "max_age_hours", 26);
        Assert.Single(Detectors.Run(Input(mapWins), [new BackupStaleDetector()]));
    }

    [Fact]
    public void ReplicationLag_LagBytes_MapThenOlderKeyThenTheClustersLimit()
    {
        var h = Healthy();
        var cluster = ReplicationLagDetector.LimitBytes(h, DetectionSettings.Default);
        var older = DetectionSettings.Default with { ReplicationLagBytes = 4096 };

        Assert.Equal(4096, ReplicationLagDetector.LimitBytes(h, older));
        Assert.Equal(8192, ReplicationLagDetector.LimitBytes(h, older.WithThreshold(FindingCodes.ReplicationLag, "lag_bytes", 8192)));
        Assert.Equal(8192, older.WithThreshold(FindingCodes.ReplicationLag, "lag_bytes", 8192).ReplicationLagBytes);
        Assert.NotEqual(4096, cluster);
    }

    [Theory]
    [InlineData(FindingCodes.PrimaryDiskFull, "free_ration", null, "unknown threshold 'free_ration' of primary-disk-full in detection.thresholds")]
    [InlineData(FindingCodes.PrimaryDiskFull, "free_ratio", "soon", "free_ratio must be a number, got 'soon'")]
    [InlineData(FindingCodes.PrimaryDiskFull, "free_ratio", "2", "free_ratio must be at most 1, got 2")]
    [InlineData(FindingCodes.ReplicationLag, "lag_bytes", "1.5", "lag_bytes must be an integer, got '1.5'")]
    [InlineData(FindingCodes.BackupStale, "max_age_hours", "-1", "max_age_hours must be at least 0, got -1")]
    [InlineData("no-such-code", "free_ratio", null, "unknown finding code 'no-such-code' in detection.thresholds")]
    public void CheckThreshold_UnknownNameWrongTypeOrOutOfBounds_SaysWhat(string code, string name, string? value, string message)
    {
        var refused = Detectors.CheckThreshold(code, name, value);

        Assert.Equal(message, refused?.Message);
    }

    [Fact]
    public void CheckThreshold_DeclaredNameAndGoodValue_IsAccepted()
    {
        Assert.Null(Detectors.CheckThreshold(FindingCodes.PrimaryDiskFull, "free_ratio", null));
        Assert.Null(Detectors.CheckThreshold(FindingCodes.PrimaryDiskFull, "free_ratio", "0.05"));
        Assert.Null(Detectors.CheckThreshold(FindingCodes.ReplicationLag, "lag_bytes", "1048576"));
        Assert.Null(Detectors.CheckThresholdCode(FindingCodes.BackupStale));
        Assert.Equal("'split-brain' declares no thresholds", Detectors.CheckThresholdCode(FindingCodes.SplitBrain)?.Message);
    }

    [Fact]
    public void Descriptors_EveryThreshold_IsANumberWithUnitDescriptionAndAReadableDefault()
    {
        var thresholds = Detectors.Descriptors.SelectMany(d => d.Thresholds.Select(t => (d.Code, t))).ToList();

        Assert.Equal(33, thresholds.Count);
        Assert.All(thresholds, x =>
        {
            Assert.True(x.t.Type is ParameterType.Integer or ParameterType.Number);
            Assert.False(string.IsNullOrWhiteSpace(x.t.Unit));
            Assert.False(string.IsNullOrWhiteSpace(x.t.Description));
            Assert.Equal(x.t.Default is null ? null : double.Parse(x.t.Default, System.Globalization.CultureInfo.InvariantCulture),
                DetectionSettings.Default.Threshold(x.Code, x.t.Name));
        });
    }

    [Fact]
    public void CatalogJson_ListsEachDetectorsThresholdsWithTypeDefaultUnitAndDescription()
    {
        var detectors = JsonNode.Parse(AgentCatalog.Default.ToJson().ToJsonString())!["detectors"]!.AsArray();
        JsonNode Threshold(string code, string name) =>
            detectors.Single(d => (string?)d!["code"] == code)!["thresholds"]!.AsArray().Single(t => (string?)t!["name"] == name)!;

        var ratio = Threshold("primary-disk-full", "free_ratio");
        Assert.Equal("number", (string?)ratio["type"]);
        Assert.Equal(0.01, (double)ratio["default"]!);
        Assert.Equal("ratio", (string?)ratio["unit"]);
        Assert.Equal(1, (double)ratio["maximum"]!);
        Assert.Equal("detection.thresholds.primary-disk-full.free_ratio", (string?)ratio["setting"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)ratio["description"]));
        var bytes = Threshold("replication-lag", "lag_bytes");
        Assert.Equal("integer", (string?)bytes["type"]);
        Assert.Null(bytes["default"]);
        Assert.Equal(10, (double)Threshold("primary-down-holding-lock", "promotion_grace_seconds")["default"]!);
        Assert.Equal(26, (double)Threshold("backup-stale", "max_age_hours")["default"]!);
        Assert.Empty(detectors.Single(d => (string?)d!["code"] == "split-brain")!["thresholds"]!.AsArray());
    }

    [Fact]
    public async Task CatalogCommand_Json_ListsTheThresholds()
    {
        var result = await CliRunner.RunAsync("catalog", "--json");

        Assert.Equal(0, result.ExitCode);
        var detectors = JsonNode.Parse(result.Out)!["detectors"]!.AsArray();
        var thresholds = detectors.Single(d => (string?)d!["code"] == "primary-disk-full")!["thresholds"]!.AsArray();
        Assert.Equal(["log_window_seconds", "free_ratio"], thresholds.Select(t => (string?)t!["name"]));
        Assert.Equal(120, (double)thresholds[0]!["default"]!);
        Assert.Equal("seconds", (string?)thresholds[0]!["unit"]);
    }
}
