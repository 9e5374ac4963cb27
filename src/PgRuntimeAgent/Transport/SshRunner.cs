using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Host;

namespace PgRuntimeAgent.Transport;

/// <summary>
/// Pinned host keys from an OpenSSH known_hosts file (plain and hashed <c>|1|salt|hash</c> host entries,
/// <c>[host]:port</c> for non-default ports). A host that is not listed, or whose key differs, is refused.
/// </summary>
public sealed class KnownHosts
{
    private readonly List<(string HostPattern, string KeyType, byte[] Key)> _entries = [];

    public static KnownHosts Parse(IEnumerable<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var known = new KnownHosts();
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#') || line.StartsWith('@'))
            {
                continue;
            }

            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 3)
            {
                continue;
            }

            try
            {
                var key = Convert.FromBase64String(parts[2]);
                foreach (var host in parts[0].Split(','))
                {
                    known._entries.Add((host, parts[1], key));
                }
            }
            catch (FormatException)
            {
                // A corrupt line pins nothing.
            }
        }

        return known;
    }

    public static KnownHosts Load(string path) => File.Exists(path) ? Parse(File.ReadAllLines(path)) : new KnownHosts();

    public int Count => _entries.Count;

    /// <summary>True when the host (and port) has at least one pinned key, whatever its type.</summary>
    public bool Lists(string host, int port)
    {
        var name = port == 22 ? host : $"[{host}]:{port}";
        return _entries.Any(e => Matches(e.HostPattern, name));
    }

    /// <summary>True when the host (and port) is listed with exactly this key.</summary>
    public bool Trusts(string host, int port, string keyType, byte[] key)
    {
        var name = port == 22 ? host : $"[{host}]:{port}";
        return _entries.Any(e => string.Equals(e.KeyType, keyType, StringComparison.Ordinal)
            && e.Key.AsSpan().SequenceEqual(key)
            && Matches(e.HostPattern, name));
    }

    private static bool Matches(string pattern, string name)
    {
        if (!pattern.StartsWith("|1|", StringComparison.Ordinal))
        {
            return string.Equals(pattern, name, StringComparison.OrdinalIgnoreCase);
        }

        var fields = pattern.Split('|');
        if (fields.Length != 4)
        {
            return false;
        }

        try
        {
            var salt = Convert.FromBase64String(fields[2]);
            var expected = Convert.FromBase64String(fields[3]);
            var actual = HMACSHA1.HashData(salt, Encoding.ASCII.GetBytes(name));
            return CryptographicOperations.FixedTimeEquals(actual, expected);
        }
        catch (FormatException)
        {
            return false;
        }
    }
}

/// <summary>
/// The one way the agent reaches another host over SSH, for sensing (Host sensor, remote log files, pgBackRest info)
/// and acting (<c>ssh.command</c>, <c>member.fence</c>, remote backups) alike: the system's <c>ssh</c> with the
/// connection from <c>sensing.ssh</c>. Key authentication only (BatchMode: never a prompt), the configured user,
/// port and key (IdentitiesOnly), and host keys pinned by one known_hosts file (<c>known_hosts_path</c>, else
/// ~/.ssh/known_hosts; StrictHostKeyChecking=yes, no global file). Before ssh starts, a host without a pinned key in
/// that file is refused (<see cref="Refusal"/>), so nothing is ever sent to an unpinned host; a host whose key
/// differs from the pinned one is refused by ssh itself (exit 255).
/// </summary>
internal sealed class SshRunner(SshSettings settings, string executable = "ssh") : ICommandRunner
{
    /// <summary>ssh's exit status when it could not connect or authenticate (the remote command never ran).</summary>
    public const int ConnectionFailed = 255;

    /// <summary>The exit status of a call that never started ssh (refused before connecting, or ssh missing).</summary>
    public const int NotRun = -1;

    /// <summary>A sensor command gets this long at most; the sensor's own, shorter timeout cancels it first.</summary>
    private static readonly TimeSpan SensingCeiling = TimeSpan.FromSeconds(60);

    public SshSettings Settings { get; } = settings ?? throw new ArgumentNullException(nameof(settings));

    /// <summary>The known_hosts file that pins host keys: <c>sensing.ssh.known_hosts_path</c>, else ~/.ssh/known_hosts.</summary>
    public string KnownHostsPath => Settings.KnownHostsPath ?? Path.Combine(Home(), ".ssh", "known_hosts");

    /// <summary><c>user@host:port</c>, for messages.</summary>
    public string Destination(string host) => string.Create(CultureInfo.InvariantCulture, $"{Settings.User}@{host}:{Settings.Port}");

    /// <summary>
    /// Why the agent must not connect to <paramref name="host"/>, or null when it may: the configured key file is
    /// missing, or the known_hosts file pins no key for the host (and port).
    /// </summary>
    public string? Refusal(string host)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        if (Settings.PrivateKeyPath is { } key && !File.Exists(key))
        {
            return $"sensing.ssh.private_key_path {key} does not exist: refusing to connect to {host}";
        }

        var path = KnownHostsPath;
        var known = KnownHosts.Load(path);
        if (known.Count == 0)
        {
            return $"no pinned host keys in {path}: refusing to connect to {host} (add it with ssh-keyscan after checking its fingerprint)";
        }

        return known.Lists(host, Settings.Port)
            ? null
            : string.Create(CultureInfo.InvariantCulture,
                $"the host key of {host}:{Settings.Port} is not pinned in {path}: refusing to connect (check its fingerprint, then add it with ssh-keyscan -p {Settings.Port} {host})");
    }

    /// <summary>
    /// The system ssh's arguments for one command on <paramref name="host"/>: BatchMode, pinned host keys with
    /// StrictHostKeyChecking=yes (the one known_hosts file, no global file), port, user, key with IdentitiesOnly,
    /// keep-alives, then the host, then the command as ONE argument after <c>--</c> (ssh hands it to the remote
    /// user's shell as it is: quote arguments with <see cref="Quote"/>).
    /// </summary>
    public IReadOnlyList<string> Arguments(string host, string commandLine, int aliveIntervalSeconds = 5, int aliveCountMax = 3)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        ArgumentNullException.ThrowIfNull(commandLine);
        var args = new List<string>
        {
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=5",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "ServerAliveInterval=" + aliveIntervalSeconds.ToString(CultureInfo.InvariantCulture),
            "-o", "ServerAliveCountMax=" + aliveCountMax.ToString(CultureInfo.InvariantCulture),
            "-o", "LogLevel=ERROR",
            "-p", Settings.Port.ToString(CultureInfo.InvariantCulture),
            "-l", Settings.User,
        };
        if (Settings.PrivateKeyPath is { } key)
        {
            args.AddRange(["-i", key, "-o", "IdentitiesOnly=yes"]);
        }

        args.AddRange(["-o", "UserKnownHostsFile=" + KnownHostsPath, "-o", "GlobalKnownHostsFile=/dev/null"]);
        args.AddRange([host, "--", commandLine]);
        return args;
    }

    /// <summary>
    /// Runs one shell line on <paramref name="host"/> with its own timeout. Expected failures are values: a refused
    /// host comes back as <see cref="NotRun"/> with the reason as standard error (ssh never started), a failed
    /// connection as <see cref="ConnectionFailed"/>, a timeout with <c>TimedOut</c>.
    /// </summary>
    public async Task<ProcessResult> RunAsync(string host, string commandLine, TimeSpan timeout, CancellationToken cancellationToken,
        int aliveIntervalSeconds = 5, int aliveCountMax = 3)
    {
        if (Refusal(host) is { } refused)
        {
            return new ProcessResult(NotRun, "", refused, TimeSpan.Zero, false);
        }

        return await ProcessRunner.RunAsync(executable, Arguments(host, commandLine, aliveIntervalSeconds, aliveCountMax), timeout, cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>
    /// For sensors: the remote command's exit status and output are data; a refusal, a failed connection or a
    /// timeout is an exception whose message the sensor reports as its "unknown" reason.
    /// </summary>
    async Task<ShellResult> ICommandRunner.RunAsync(string host, string command, CancellationToken cancellationToken)
    {
        var result = await RunAsync(host, command, SensingCeiling, cancellationToken).ConfigureAwait(false);
        return result switch
        {
            { TimedOut: true } => throw new TimeoutException($"ssh {Destination(host)}: {LastLine(result.StandardError)}"),
            { ExitCode: NotRun } => throw new InvalidOperationException(LastLine(result.StandardError)),
            { ExitCode: ConnectionFailed } => throw new InvalidOperationException(ConnectionFailure(host, result.StandardError)),
            _ => new ShellResult(result.ExitCode, result.StandardOutput, result.StandardError),
        };
    }

    /// <summary>What ssh's exit 255 means, in the agent's words (a host key that differs from the pinned one says so).</summary>
    public string ConnectionFailure(string host, string standardError)
    {
        var last = LastLine(standardError);
        return standardError.Contains("Host key verification failed", StringComparison.Ordinal)
            || standardError.Contains("HOST IDENTIFICATION HAS CHANGED", StringComparison.Ordinal)
            ? string.Create(CultureInfo.InvariantCulture, $"the host key of {host}:{Settings.Port} is not pinned in {KnownHostsPath} (ssh: {last})")
            : $"ssh {Destination(host)} could not connect or was refused: {last}";
    }

    private static string LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";

    private static string Home() => Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    /// <summary>Quotes one argument for a POSIX shell.</summary>
    public static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
