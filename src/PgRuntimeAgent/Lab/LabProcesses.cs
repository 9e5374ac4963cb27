using System.Globalization;

namespace PgRuntimeAgent.Lab;

/// <summary>Process facts read from /proc and signals sent by pid (never by name).</summary>
internal static class LabProcesses
{
    /// <summary>The pid in a pid file (first line; postmaster.pid too), or null.</summary>
    public static int? ReadPidFile(string path)
    {
        try
        {
            if (!File.Exists(path))
            {
                return null;
            }

            var first = File.ReadLines(path).FirstOrDefault()?.Trim();
            return int.TryParse(first, NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid) && pid > 0 ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>State letter from /proc/PID/stat (R, S, D, T stopped, Z zombie...), or null when there is no such process.</summary>
    public static char? State(int pid)
    {
        var stat = ReadStat(pid);
        return stat?.State;
    }

    /// <summary>True when the process exists and is not a zombie; with <paramref name="user"/>, also owned by that user.</summary>
    public static bool IsAlive(int pid, string? user = null)
    {
        var state = State(pid);
        if (state is null or 'Z' or 'X')
        {
            return false;
        }

        return user is null || string.Equals(OwnerName(pid), user, StringComparison.Ordinal);
    }

    public static int? ParentOf(int pid) => ReadStat(pid)?.Ppid;

    /// <summary>Direct children of a process (from /proc/*/stat).</summary>
    public static IReadOnlyList<int> ChildrenOf(int pid) =>
        AllPids().Where(candidate => ReadStat(candidate) is { } stat && stat.Ppid == pid).ToList();

    /// <summary>
    /// Live processes whose command line mentions <paramref name="text"/> (a lab directory), except this process and
    /// its ancestors: what `lab down` stops when a pid file lost track of a process (a twin started by a race).
    /// </summary>
    public static IReadOnlyList<int> Mentioning(string text)
    {
        var spared = new HashSet<int>();
        for (int? pid = Environment.ProcessId; pid is > 0 && spared.Add(pid.Value); pid = ParentOf(pid.Value))
        {
        }

        return AllPids()
            .Where(pid => !spared.Contains(pid) && IsAlive(pid) && CommandLine(pid).Contains(text, StringComparison.Ordinal))
            .ToList();
    }

    private static IEnumerable<int> AllPids()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid))
            {
                yield return pid;
            }
        }
    }

    public static string? OwnerName(int pid)
    {
        try
        {
            var uidLine = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
            if (uidLine is null)
            {
                return null;
            }

            var uid = uidLine.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[1];
            foreach (var line in File.ReadLines("/etc/passwd"))
            {
                var parts = line.Split(':');
                if (parts.Length > 2 && parts[2] == uid)
                {
                    return parts[0];
                }
            }

            return uid;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>Sends a signal by pid with kill(1). Returns false when the process is gone.</summary>
    public static async Task<bool> SignalAsync(int pid, string signal, CancellationToken cancellationToken)
    {
        var result = await LabShell.RunAsync("kill", ["-s", signal, pid.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        return result.Ok;
    }

    /// <summary>Sends one signal to several processes in one kill(1) call (as close to simultaneous as it gets).</summary>
    public static async Task<bool> SignalAllAsync(IReadOnlyCollection<int> pids, string signal, CancellationToken cancellationToken)
    {
        if (pids.Count == 0)
        {
            return true;
        }

        var result = await LabShell.RunAsync("kill", ["-s", signal, .. pids.Select(p => p.ToString(CultureInfo.InvariantCulture))], TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        return result.Ok;
    }

    /// <summary>Waits until none of <paramref name="pids"/> is alive; true when they all ended in time.</summary>
    public static async Task<bool> WaitGoneAsync(IEnumerable<int> pids, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var list = pids.ToList();
        var started = time.GetTimestamp();
        while (list.Exists(p => IsAlive(p)))
        {
            if (time.GetElapsedTime(started) > timeout)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), time, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    private sealed record Stat(char State, int Ppid);

    private static Stat? ReadStat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            var close = text.LastIndexOf(')');
            if (close < 0 || close + 4 >= text.Length)
            {
                return null;
            }

            var rest = text[(close + 2)..].Split(' ');
            return new Stat(rest[0][0], int.Parse(rest[1], CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>TCP sockets listening on one of <paramref name="ips"/> (from /proc/net/tcp), as "ip:port".</summary>
    public static IReadOnlyList<string> ListeningOn(IReadOnlyCollection<string> ips)
    {
        var found = new List<string>();
        foreach (var file in new[] { "/proc/net/tcp" })
        {
            if (!File.Exists(file))
            {
                continue;
            }

            foreach (var line in File.ReadLines(file).Skip(1))
            {
                var cols = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (cols.Length < 4 || cols[3] != "0A")
                {
                    continue;
                }

                var endpoint = ParseProcNetAddress(cols[1]);
                if (endpoint is not null && ips.Contains(endpoint.Value.Ip))
                {
                    found.Add($"{endpoint.Value.Ip}:{endpoint.Value.Port}");
                }
            }
        }

        return found;
    }

    /// <summary>Parses "0B00007F:1F90" (little-endian IPv4 as hex, port as hex) into ("127.0.0.11", 8080).</summary>
    public static (string Ip, int Port)? ParseProcNetAddress(string text)
    {
        var parts = text.Split(':');
        if (parts.Length != 2 || parts[0].Length != 8)
        {
            return null;
        }

        var raw = uint.Parse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var ip = $"{raw & 0xFF}.{(raw >> 8) & 0xFF}.{(raw >> 16) & 0xFF}.{(raw >> 24) & 0xFF}";
        var port = int.Parse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return (ip, port);
    }
}
