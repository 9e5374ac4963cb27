using System.Globalization;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Transport;

namespace PgRuntimeAgent.Sensing.Host;

/// <summary>Reads log files on another host with <c>stat</c> and <c>tail</c> over SSH.</summary>
internal sealed class SshFileAccess(ICommandRunner runner, string host) : IFileAccess
{
    public async Task<IReadOnlyList<FileStat>> ListAsync(string pattern, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var dir = Path.GetDirectoryName(pattern) ?? "/";
        var name = Path.GetFileName(pattern);
        // The glob is expanded by the remote shell inside a quoted directory; no match prints nothing.
        var command = $"cd {SshRunner.Quote(dir)} 2>/dev/null && for f in {EscapeGlob(name)}; do [ -f \"$f\" ] && stat -c '%s %Y %n' \"$PWD/$f\"; done; true";
        var result = await runner.RunAsync(host, command, cancellationToken).ConfigureAwait(false);
        var files = new List<FileStat>();
        foreach (var line in result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ', 3);
            if (parts.Length == 3
                && long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var size)
                && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var mtime)
                && JsonRead.FromUnixSeconds(mtime) is { } modified)
            {
                files.Add(new FileStat(parts[2], size, modified));
            }
        }

        return files;
    }

    public async Task<byte[]> ReadRangeAsync(string path, long offset, int length, CancellationToken cancellationToken)
    {
        var command = string.Create(CultureInfo.InvariantCulture, $"tail -c +{offset + 1} {SshRunner.Quote(path)} | head -c {length}");
        var result = await runner.RunAsync(host, command, cancellationToken).ConfigureAwait(false);
        return System.Text.Encoding.UTF8.GetBytes(result.StandardOutput);
    }

    /// <summary>Keeps * and ? as wildcards, quotes everything else.</summary>
    private static string EscapeGlob(string name)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var c in name)
        {
            if (c is '*' or '?')
            {
                sb.Append(c);
            }
            else if (char.IsLetterOrDigit(c) || c is '.' or '-' or '_')
            {
                sb.Append(c);
            }
            else
            {
                sb.Append('\\').Append(c);
            }
        }

        return sb.ToString();
    }
}
