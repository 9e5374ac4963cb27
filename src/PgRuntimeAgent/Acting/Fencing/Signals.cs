using System.Runtime.InteropServices;

namespace PgRuntimeAgent.Acting.Fencing;

/// <summary>
/// Signals sent with the kill(2) system call, not by starting a <c>kill</c> process: a fence races a frozen member's
/// thaw, and on a loaded host starting two processes cost seconds.
/// </summary>
internal static partial class Signals
{
    public const int Kill = 9;

    /// <summary>SIGSTOP on Linux (x86-64 and arm64).</summary>
    public const int Stop = 19;

    /// <summary>Sends <paramref name="signal"/> to every pid; returns how many it reached and, for the rest, why not (errno).</summary>
    public static (int Sent, IReadOnlyList<string> Errors) Send(IEnumerable<int> pids, int signal)
    {
        ArgumentNullException.ThrowIfNull(pids);
        var sent = 0;
        var errors = new List<string>();
        foreach (var pid in pids)
        {
            if (pid <= 1)
            {
                errors.Add($"{pid}: refused (not a single process)");
                continue;
            }

            if (SysKill(pid, signal) == 0)
            {
                sent++;
            }
            else
            {
                var errno = Marshal.GetLastPInvokeError();
                errors.Add($"{pid}: {(errno == 3 ? "gone" : $"errno {errno}")}");
            }
        }

        return (sent, errors);
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);
}
