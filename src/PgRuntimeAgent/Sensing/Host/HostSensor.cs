using System.Globalization;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Transport;

namespace PgRuntimeAgent.Sensing.Host;

/// <summary>Use of the filesystem holding a path.</summary>
public sealed record FilesystemUse(string Path, string Mount, long SizeBytes, long UsedBytes, long AvailableBytes)
{
    public double FreeRatio => SizeBytes > 0 ? (double)AvailableBytes / SizeBytes : 0;
}

/// <summary>One host as seen over SSH.</summary>
public sealed record HostObservation
{
    public required string Member { get; init; }
    public IReadOnlyList<FilesystemUse> Filesystems { get; init; } = [];
    public long? MemTotalBytes { get; init; }
    public long? MemAvailableBytes { get; init; }
    public double? Load1 { get; init; }
    public double? Load5 { get; init; }
    public double? Load15 { get; init; }
}

/// <summary>
/// Filesystem use of the data and WAL paths, memory and load, read over SSH. The snapshot runs it only for members
/// whose node_exporter series are missing.
/// </summary>
internal sealed class HostSensor(ICommandRunner runner, SshSettings settings, TimeProvider time, TimeSpan timeout)
{
    public const string Separator = "--pgra--";

    public async Task<(HostObservation? Observation, SensorStatus Health)> ObserveAsync(PgMember member, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(member);
        if (!settings.Enabled)
        {
            return (null, new SensorStatus(SensorNames.Host, member.Name, SensorHealth.Unknown, "host sensor disabled (sensing.ssh.enabled: false)", 0));
        }

        var memberPaths = PathsFor(member, settings.Paths);
        var paths = string.Join(' ', memberPaths.Select(SshRunner.Quote));
        var command = $"df -B1 -P {paths} 2>/dev/null; echo {Separator}; cat /proc/meminfo; echo {Separator}; cat /proc/loadavg";
        var outcome = await SensorCall.RunAsync($"ssh {settings.User}@{member.Ip}:{settings.Port}", timeout, time,
            ct => runner.RunAsync(member.Ip, command, ct), cancellationToken).ConfigureAwait(false);
        if (outcome.Value is null)
        {
            return (null, new SensorStatus(SensorNames.Host, member.Name, SensorHealth.Unknown, outcome.Reason, outcome.ElapsedMs));
        }

        var observation = Parse(member.Name, outcome.Value.StandardOutput, memberPaths);
        var health = observation.Filesystems.Count > 0 && observation.MemTotalBytes is not null && observation.Load1 is not null
            ? SensorHealth.Ok : SensorHealth.Degraded;
        return (observation, new SensorStatus(SensorNames.Host, member.Name, health,
            health == SensorHealth.Ok ? null : "partial output from df, /proc/meminfo or /proc/loadavg", outcome.ElapsedMs));
    }

    /// <summary>
    /// The member's paths: <c>{member}</c> and <c>{cluster}</c> in <c>sensing.ssh.paths</c> are replaced by its names
    /// (Pigsty: /pg/data on every node; a lab with several members on one machine: DIR/{member}/data).
    /// </summary>
    public static IReadOnlyList<string> PathsFor(PgMember member, IReadOnlyList<string> paths)
    {
        ArgumentNullException.ThrowIfNull(member);
        ArgumentNullException.ThrowIfNull(paths);
        return paths.Select(p => p.Replace("{member}", member.Name, StringComparison.Ordinal).Replace("{cluster}", member.Cluster, StringComparison.Ordinal)).ToList();
    }

    /// <summary>Parses the output of <c>df -B1 -P</c>, /proc/meminfo and /proc/loadavg separated by <see cref="Separator"/>.</summary>
    public static HostObservation Parse(string member, string output, IReadOnlyList<string> paths)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(paths);
        var sections = output.Split(Separator);
        var fs = new List<FilesystemUse>();
        if (sections.Length > 0)
        {
            var rows = sections[0].Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(l => !l.StartsWith("Filesystem", StringComparison.Ordinal)).ToList();
            for (var i = 0; i < rows.Count; i++)
            {
                var p = rows[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (p.Length >= 6 && long.TryParse(p[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var size)
                    && long.TryParse(p[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var used)
                    && long.TryParse(p[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out var avail))
                {
                    fs.Add(new FilesystemUse(i < paths.Count ? paths[i] : p[5], p[5], size, used, avail));
                }
            }
        }

        long? memTotal = null, memAvail = null;
        if (sections.Length > 1)
        {
            foreach (var line in sections[1].Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var p = line.Split(':', 2);
                if (p.Length != 2)
                {
                    continue;
                }

                var kb = p[1].Trim().Split(' ')[0];
                if (!long.TryParse(kb, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
                {
                    continue;
                }

                if (p[0] == "MemTotal")
                {
                    memTotal = v * 1024;
                }
                else if (p[0] == "MemAvailable")
                {
                    memAvail = v * 1024;
                }
            }
        }

        double? l1 = null, l5 = null, l15 = null;
        if (sections.Length > 2)
        {
            var p = sections[2].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (p.Length >= 3)
            {
                l1 = ParseDouble(p[0]);
                l5 = ParseDouble(p[1]);
                l15 = ParseDouble(p[2]);
            }
        }

        return new HostObservation
        {
            Member = member,
            Filesystems = fs,
            MemTotalBytes = memTotal,
            MemAvailableBytes = memAvail,
            Load1 = l1,
            Load5 = l5,
            Load15 = l15,
        };
    }

    private static double? ParseDouble(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : null;
}
