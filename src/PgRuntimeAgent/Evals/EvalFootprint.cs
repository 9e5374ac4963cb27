using System.Diagnostics;

namespace PgRuntimeAgent.Evals;

/// <summary>
/// The footprint of the process that ran a case (the agent, with the runner and its writer beside it, so an upper
/// bound of the agent's own): resident memory sampled once a second and CPU time over the case.
/// </summary>
internal sealed record EvalFootprint
{
    public double RssMaxMiB { get; init; }

    public double RssMeanMiB { get; init; }

    public double CpuSeconds { get; init; }

    /// <summary>CPU time over wall time, in percent of one core.</summary>
    public double CpuPercent { get; init; }

    public double Seconds { get; init; }
}

/// <summary>Samples <see cref="EvalFootprint"/> for the current process from its creation on.</summary>
internal sealed class EvalFootprintMeter
{
    private readonly TimeProvider _time;
    private readonly long _started;
    private readonly TimeSpan _cpuAtStart;
    private double _rssSum;
    private double _rssMax;
    private int _samples;

    public EvalFootprintMeter(TimeProvider time)
    {
        _time = time;
        _started = time.GetTimestamp();
        using var process = Process.GetCurrentProcess();
        _cpuAtStart = process.TotalProcessorTime;
        Sample();
    }

    public void Sample()
    {
        using var process = Process.GetCurrentProcess();
        var mib = process.WorkingSet64 / 1_048_576.0;
        _rssSum += mib;
        _rssMax = Math.Max(_rssMax, mib);
        _samples++;
    }

    public EvalFootprint Result()
    {
        Sample();
        using var process = Process.GetCurrentProcess();
        var cpu = (process.TotalProcessorTime - _cpuAtStart).TotalSeconds;
        var wall = _time.GetElapsedTime(_started).TotalSeconds;
        return new EvalFootprint
        {
            RssMaxMiB = Math.Round(_rssMax, 1),
            RssMeanMiB = Math.Round(_rssSum / _samples, 1),
            CpuSeconds = Math.Round(cpu, 1),
            CpuPercent = wall > 0 ? Math.Round(cpu / wall * 100, 1) : 0,
            Seconds = Math.Round(wall, 1),
        };
    }
}
