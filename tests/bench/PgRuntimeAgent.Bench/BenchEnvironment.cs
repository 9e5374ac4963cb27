using System.Net;
using System.Net.Sockets;

namespace PgRuntimeAgent.Bench;

/// <summary>Where the repository is, and free loopback ports, for the benchmarks that need them.</summary>
internal static class BenchEnvironment
{
    /// <summary>The directory holding PgRuntimeAgent.sln, from the working directory or the bench's own; null when neither is inside the repository.</summary>
    public static string? RepoRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            var dir = new DirectoryInfo(start);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PgRuntimeAgent.sln")))
            {
                dir = dir.Parent;
            }

            if (dir is not null)
            {
                return dir.FullName;
            }
        }

        return null;
    }

    /// <summary>A path under tests/fixtures.</summary>
    public static string Fixture(params string[] parts) => Path.Combine([RepoRoot() ?? ".", "tests", "fixtures", .. parts]);

    /// <summary>A TCP port free on 127.0.0.1 now (the OS picks it; another process could take it before it is used).</summary>
    public static int FreeLoopbackPort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        try
        {
            return ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        finally
        {
            probe.Stop();
        }
    }
}
