namespace PgRuntimeAgent.Detection;

/// <summary>A coded check: a pure function of the current snapshot, the bounded history, the settings and the context.</summary>
public interface IDetector
{
    /// <summary>The stable finding code (<see cref="FindingCodes"/>) this detector raises.</summary>
    string Code { get; }

    IEnumerable<Finding> Detect(DetectionInput input);
}

/// <summary>Every detector, and one pass of all of them over an input.</summary>
public static class Detectors
{
    public static IReadOnlyList<IDetector> All { get; } =
    [
        new LeaderMissingDetector(),
        new PrimaryDownHoldingLockDetector(),
        new PrimaryFrozenDetector(),
        new PrimaryDiskFullDetector(),
        new SplitBrainDetector(),
        new ReplicationBrokenDetector(),
        new ReplicationLagDetector(),
        new ArchiveFailingDetector(),
        new BackupStaleDetector(),
        new InventoryDriftDetector(),
        new SensorBlindDetector(),
        new DeposedPrimaryDetector(),
        new TimelineRollbackDetector(),
        new StaleLeaderDetector(),
    ];

    /// <summary>Runs every detector (minus silenced codes) and returns the findings in detector order. Pure.</summary>
    public static IReadOnlyList<Finding> Run(DetectionInput input, IReadOnlyList<IDetector>? detectors = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        var silenced = input.Settings.Silenced;
        var findings = new List<Finding>();
        foreach (var detector in detectors ?? All)
        {
            if (silenced.Contains(detector.Code, StringComparer.Ordinal))
            {
                continue;
            }

            findings.AddRange(detector.Detect(input));
        }

        return findings;
    }
}
