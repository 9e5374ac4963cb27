using CliWrap;
using CliWrap.Buffered;

namespace PgRuntimeAgent.Acting;

/// <summary>What a finished process left: exit code and captured output. A non-zero exit is data, not an exception.</summary>
internal sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError, TimeSpan Duration, bool TimedOut)
{
    /// <summary>Output and error together, cut to the last <paramref name="maxChars"/> characters (the journal keeps the tail).</summary>
    public string Combined(int maxChars = 64 * 1024)
    {
        var text = StandardError.Length == 0 ? StandardOutput : StandardOutput + (StandardOutput.EndsWith('\n') ? "" : "\n") + StandardError;
        return text.Length <= maxChars ? text : "[... cut ...]\n" + text[^maxChars..];
    }
}

/// <summary>Runs a command line with its own timeout (CliWrap); the caller's cancellation still propagates.</summary>
internal static class ProcessRunner
{
    public static async Task<ProcessResult> RunAsync(string executable, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken,
        string? workingDirectory = null)
    {
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        var command = Cli.Wrap(executable).WithArguments(arguments).WithValidation(CommandResultValidation.None);
        if (workingDirectory is not null)
        {
            command = command.WithWorkingDirectory(workingDirectory);
        }

        try
        {
            var result = await command.ExecuteBufferedAsync(timeoutSource.Token).ConfigureAwait(false);
            return new ProcessResult(result.ExitCode, result.StandardOutput, result.StandardError, result.RunTime, false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new ProcessResult(-1, "", $"{executable} did not finish within {timeout.TotalSeconds:0} s and was stopped.", timeout, true);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return new ProcessResult(-1, "", $"cannot start {executable}: {ex.Message}", TimeSpan.Zero, false);
        }
    }
}
