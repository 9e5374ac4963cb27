namespace PgRuntimeAgent.Sensing;

/// <summary>How and how often the agent senses (settings section <c>sensing:</c>).</summary>
public sealed record SensingSettings
{
    /// <summary>Seconds between snapshots of a cluster in the daemon.</summary>
    public double IntervalSeconds { get; init; } = 10;

    /// <summary>Default timeout of one sensor call, in seconds.</summary>
    public double TimeoutSeconds { get; init; } = 2;

    /// <summary>Snapshots taken at once across the fleet.</summary>
    public int MaxParallelism { get; init; } = 8;
}
