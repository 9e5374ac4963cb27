using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;

namespace PgRuntimeAgent.Acting.Fencing;

/// <summary>
/// The processes of this machine as /proc shows them: which ones hold a listening TCP socket on an address and port
/// (a member's Patroni on 8008, its postmaster on 5432), and their descendants. Reading other users' /proc/PID/fd
/// needs root, as fencing does. The root directory is a parameter so tests can use a fake /proc.
/// </summary>
internal sealed class ProcessTable(string procRoot = "/proc")
{
    /// <summary>Pids holding a socket that listens on <paramref name="ip"/>:<paramref name="port"/> (or on the wildcard address at that port, for a non-loopback address).</summary>
    public IReadOnlyList<int> ListeningPids(IPAddress ip, int port) => ListeningPids(ip, [port])[port];

    /// <summary>
    /// The pids listening on each of <paramref name="ports"/> of <paramref name="ip"/>, found in one pass over the
    /// processes' descriptors (a fence looks up Patroni's and PostgreSQL's ports together: on a loaded host every pass
    /// over /proc costs).
    /// </summary>
    public IReadOnlyDictionary<int, IReadOnlyList<int>> ListeningPids(IPAddress ip, IReadOnlyCollection<int> ports)
    {
        ArgumentNullException.ThrowIfNull(ip);
        ArgumentNullException.ThrowIfNull(ports);
        var portOf = new Dictionary<long, int>();
        foreach (var file in new[] { "net/tcp", "net/tcp6" })
        {
            var path = Path.Combine(procRoot, file);
            if (!File.Exists(path))
            {
                continue;
            }

            foreach (var socket in ParseListeners(File.ReadAllLines(path)))
            {
                // A wildcard listener is the member's only when the member is not a loopback address: on a loopback lab
                // several members share a port, each bound to its own 127.x address.
                if (ports.Contains(socket.Port) && (socket.Address.Equals(ip) || MapsTo(socket.Address, ip) || (IsWildcard(socket.Address) && !IPAddress.IsLoopback(ip))))
                {
                    portOf[socket.Inode] = socket.Port;
                }
            }
        }

        var holders = portOf.Count == 0 ? [] : PidsHolding(portOf);
        return ports.Distinct().ToDictionary(p => p, p => (IReadOnlyList<int>)[.. holders.Where(h => h.Port == p).Select(h => h.Pid).Distinct()]);
    }

    public IReadOnlyList<int> WithDescendants(int pid) => WithDescendants([pid]);

    /// <summary><paramref name="roots"/> and every descendant of theirs, from one read of the process table, roots first.</summary>
    public IReadOnlyList<int> WithDescendants(IEnumerable<int> roots)
    {
        ArgumentNullException.ThrowIfNull(roots);
        var children = ParentMap().ToLookup(p => p.Value, p => p.Key);
        var result = new List<int>();
        var seen = new HashSet<int>();
        foreach (var root in roots)
        {
            if (seen.Add(root))
            {
                result.Add(root);
            }
        }

        for (var i = 0; i < result.Count; i++)
        {
            foreach (var child in children[result[i]].Order())
            {
                if (seen.Add(child))
                {
                    result.Add(child);
                }
            }
        }

        return result;
    }

    public bool Exists(int pid) => Directory.Exists(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture)));

    /// <summary>The working directory of a process (PostgreSQL's processes work in the data directory), or null.</summary>
    public string? WorkingDirectory(int pid)
    {
        try
        {
            return File.ResolveLinkTarget(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "cwd"), returnFinalTarget: false) is { } target
                ? Path.TrimEndingDirectorySeparator(target.FullName)
                : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// PostgreSQL processes (command name <c>postgres</c>) working in one of <paramref name="dataDirectories"/>,
    /// whoever their parent is. After its postmaster died (killed by Patroni, by a fence, by the OOM killer) a backend
    /// stuck on a lock the dead processes held lives on as a child of init, keeps the old shared memory attached and
    /// stops the member from ever starting again ("pre-existing shared memory block is still in use"); a fence must
    /// take those too. Processes of another program in that directory (an operator's shell) are never listed.
    /// </summary>
    public IReadOnlyList<int> PostgresWorkingIn(IReadOnlyCollection<string> dataDirectories)
    {
        ArgumentNullException.ThrowIfNull(dataDirectories);
        var wanted = dataDirectories.Select(Path.TrimEndingDirectorySeparator).ToHashSet(StringComparer.Ordinal);
        var found = new List<int>();
        if (wanted.Count == 0)
        {
            return found;
        }

        foreach (var pid in Pids())
        {
            if (WorkingDirectory(pid) is { } cwd && wanted.Contains(cwd) && IsPostgres(pid))
            {
                found.Add(pid);
            }
        }

        return found;
    }

    private bool IsPostgres(int pid)
    {
        try
        {
            return File.ReadAllText(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "comm")).Trim() == "postgres";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The command line of a process (arguments joined by spaces), or null.</summary>
    public string? CommandLine(int pid)
    {
        try
        {
            var raw = File.ReadAllText(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "cmdline"));
            return raw.Replace('\0', ' ').Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A listening socket from /proc/net/tcp{,6}.</summary>
    internal sealed record Listener(IPAddress Address, int Port, long Inode);

    /// <summary>Listening sockets (state 0A) in /proc/net/tcp or tcp6 text.</summary>
    internal static IReadOnlyList<Listener> ParseListeners(IEnumerable<string> lines)
    {
        var result = new List<Listener>();
        foreach (var line in lines.Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 10 || f[3] != "0A")
            {
                continue;
            }

            var colon = f[1].IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || !int.TryParse(f[1].AsSpan(colon + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var port)
                || !long.TryParse(f[9], NumberStyles.Integer, CultureInfo.InvariantCulture, out var inode))
            {
                continue;
            }

            var address = ParseAddress(f[1][..colon]);
            if (address is not null)
            {
                result.Add(new Listener(address, port, inode));
            }
        }

        return result;
    }

    /// <summary>/proc/net/tcp addresses: 32-bit words in host (little-endian) byte order, as hex.</summary>
    internal static IPAddress? ParseAddress(string hex)
    {
        if (hex.Length is not (8 or 32))
        {
            return null;
        }

        var bytes = new byte[hex.Length / 2];
        for (var word = 0; word < hex.Length / 8; word++)
        {
            for (var b = 0; b < 4; b++)
            {
                // Each 8-hex-digit word is a little-endian uint32: its last byte pair is the first byte in memory.
                var pair = hex.Substring((word * 8) + ((3 - b) * 2), 2);
                if (!byte.TryParse(pair, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var value))
                {
                    return null;
                }

                bytes[(word * 4) + b] = value;
            }
        }

        return new IPAddress(bytes);
    }

    /// <summary>True when <paramref name="ip"/> is an address of this machine (loopback, or on one of its interfaces).</summary>
    public static bool IsLocalAddress(string ip)
    {
        if (!IPAddress.TryParse(ip, out var address))
        {
            return false;
        }

        if (IPAddress.IsLoopback(address))
        {
            return true;
        }

        try
        {
            return NetworkInterface.GetAllNetworkInterfaces()
                .SelectMany(n => n.GetIPProperties().UnicastAddresses)
                .Any(u => u.Address.Equals(address));
        }
        catch (NetworkInformationException)
        {
            return false;
        }
    }

    private static bool IsWildcard(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    private static bool MapsTo(IPAddress address, IPAddress ip) => address.IsIPv4MappedToIPv6 && address.MapToIPv4().Equals(ip);

    /// <summary>
    /// The processes holding the listening sockets, with the port each holds. Reading every process's descriptors
    /// costs seconds on a loaded host (a build tool holds hundreds), and a fence races a thaw: the likely holders
    /// (PostgreSQL, Patroni and Python processes, by <c>comm</c>) are read first, and the rest only when some port has
    /// no holder among them.
    /// </summary>
    private List<(int Pid, int Port)> PidsHolding(Dictionary<long, int> portOf)
    {
        var targets = portOf.ToDictionary(p => $"socket:[{p.Key.ToString(CultureInfo.InvariantCulture)}]", p => p.Value, StringComparer.Ordinal);
        var pids = Pids().ToList();
        var likely = pids.Where(p => IsLikelyHolder(Comm(p))).ToList();
        var found = Holders(likely, targets);
        if (portOf.Values.Distinct().All(port => found.Any(f => f.Port == port)))
        {
            return found;
        }

        found.AddRange(Holders(pids.Except(likely), targets));
        return found;
    }

    private static bool IsLikelyHolder(string? comm) =>
        comm is not null && (comm.StartsWith("postgres", StringComparison.Ordinal) || comm.StartsWith("patroni", StringComparison.Ordinal)
            || comm.StartsWith("python", StringComparison.Ordinal) || comm == "postmaster");

    private string? Comm(int pid)
    {
        try
        {
            return File.ReadAllText(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "comm")).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private List<(int Pid, int Port)> Holders(IEnumerable<int> pids, Dictionary<string, int> targets)
    {
        var found = new List<(int Pid, int Port)>();
        foreach (var pid in pids)
        {
            var fdDir = Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "fd");
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries(fdDir))
                {
                    var link = new FileInfo(fd).LinkTarget;
                    if (link is not null && targets.TryGetValue(link, out var port))
                    {
                        found.Add((pid, port));
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The process ended, or it is not ours to read.
            }
        }

        return found;
    }

    private IEnumerable<int> Pids() =>
        Directory.EnumerateDirectories(procRoot)
            .Select(Path.GetFileName)
            .Select(n => int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : 0)
            .Where(pid => pid > 0)
            .Order();

    private Dictionary<int, int> ParentMap()
    {
        var map = new Dictionary<int, int>();
        foreach (var pid in Pids())
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "stat"));

                // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
                var rest = stat[(stat.LastIndexOf(')') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (rest.Length > 1 && int.TryParse(rest[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ppid))
                {
                    map[pid] = ppid;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // ended meanwhile
            }
        }

        return map;
    }
}
