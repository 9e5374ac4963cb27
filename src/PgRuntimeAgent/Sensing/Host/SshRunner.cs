using System.Security.Cryptography;
using System.Text;
using Renci.SshNet;

namespace PgRuntimeAgent.Sensing.Host;

/// <summary>The outcome of a remote (or local) command.</summary>
public sealed record ShellResult(int ExitCode, string StandardOutput, string StandardError);

/// <summary>Runs commands on a host.</summary>
public interface ICommandRunner
{
    Task<ShellResult> RunAsync(string host, string command, CancellationToken cancellationToken);
}

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
/// Runs commands over SSH (SSH.NET): key authentication only, host keys pinned by known_hosts. Every failure (no
/// key, refused connection, unknown host key) is an exception the calling sensor turns into "unknown" with the reason.
/// </summary>
internal sealed class SshRunner(SshSettings settings) : ICommandRunner
{
    public async Task<ShellResult> RunAsync(string host, string command, CancellationToken cancellationToken)
    {
        var keyPath = ResolveKey(settings.PrivateKeyPath)
            ?? throw new InvalidOperationException("no SSH private key (set sensing.ssh.private_key_path, or create ~/.ssh/id_ed25519)");
        var knownHostsPath = settings.KnownHostsPath ?? Path.Combine(Home(), ".ssh", "known_hosts");
        var known = KnownHosts.Load(knownHostsPath);
        if (known.Count == 0)
        {
            throw new InvalidOperationException($"no pinned host keys in {knownHostsPath}: refusing to connect to {host} (add it with ssh-keyscan after checking its fingerprint)");
        }

        using var keyFile = new PrivateKeyFile(keyPath);
        var info = new ConnectionInfo(host, settings.Port, settings.User, new PrivateKeyAuthenticationMethod(settings.User, keyFile))
        {
            Timeout = TimeSpan.FromSeconds(5),
        };
        using var client = new SshClient(info);
        string? rejected = null;
        client.HostKeyReceived += (_, e) =>
        {
            e.CanTrust = known.Trusts(host, settings.Port, e.HostKeyName, e.HostKey);
            if (!e.CanTrust)
            {
                rejected = $"host key {e.HostKeyName} SHA256:{e.FingerPrintSHA256} of {host} is not pinned in {knownHostsPath}";
            }
        };
        try
        {
            await client.ConnectAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Renci.SshNet.Common.SshConnectionException) when (rejected is not null)
        {
            throw new InvalidOperationException(rejected);
        }

        using var cmd = client.CreateCommand(command);
        await cmd.ExecuteAsync(cancellationToken).ConfigureAwait(false);
        var result = new ShellResult(cmd.ExitStatus ?? -1, cmd.Result, cmd.Error);
        client.Disconnect();
        return result;
    }

    private static string? ResolveKey(string? configured)
    {
        if (configured is not null)
        {
            return File.Exists(configured) ? configured : null;
        }

        return new[] { "id_ed25519", "id_ecdsa", "id_rsa" }.Select(n => Path.Combine(Home(), ".ssh", n)).FirstOrDefault(File.Exists);
    }

    private static string Home() => Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    /// <summary>Quotes one argument for a POSIX shell.</summary>
    public static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
