using System.Text;
using CliWrap;

namespace PgRuntimeAgent.Lab;

/// <summary>Result of one external command; a non-zero exit is data, not an exception.</summary>
internal sealed record ShellResult(int ExitCode, string StandardOutput, string StandardError, TimeSpan Duration, bool TimedOut = false)
{
    public bool Ok => ExitCode == 0 && !TimedOut;

    /// <summary>The last lines of stderr (or stdout when stderr is empty), for error messages.</summary>
    public string Tail(int lines = 20)
    {
        var text = string.IsNullOrWhiteSpace(StandardError) ? StandardOutput : StandardError;
        var all = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }
}

/// <summary>Runs the external programs the lab needs (apt-get, ansible-playbook, pgbackrest, kill...) through CliWrap.</summary>
internal static class LabShell
{
    public static async Task<ShellResult> RunAsync(
        string program,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string?>? environment = null,
        string? workingDirectory = null,
        Action<string>? onOutputLine = null,
        string? standardInput = null)
    {
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var outTarget = onOutputLine is null
            ? PipeTarget.ToStringBuilder(stdout)
            : PipeTarget.Merge(PipeTarget.ToStringBuilder(stdout), PipeTarget.ToDelegate(onOutputLine));
        var command = Cli.Wrap(program)
            .WithArguments(arguments)
            .WithValidation(CommandResultValidation.None)
            .WithStandardOutputPipe(outTarget)
            .WithStandardErrorPipe(PipeTarget.ToStringBuilder(stderr));
        if (environment is not null)
        {
            command = command.WithEnvironmentVariables(environment);
        }

        if (workingDirectory is not null)
        {
            command = command.WithWorkingDirectory(workingDirectory);
        }

        if (standardInput is not null)
        {
            command = command.WithStandardInputPipe(PipeSource.FromString(standardInput));
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var started = TimeProvider.System.GetTimestamp();
        try
        {
            var result = await command.ExecuteAsync(cts.Token).ConfigureAwait(false);
            return new ShellResult(result.ExitCode, stdout.ToString(), stderr.ToString(), TimeProvider.System.GetElapsedTime(started));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new ShellResult(-1, stdout.ToString(), stderr + $"\n{program}: timed out after {timeout.TotalSeconds:0} s",
                TimeProvider.System.GetElapsedTime(started), TimedOut: true);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return new ShellResult(127, "", $"{program}: {ex.Message}", TimeProvider.System.GetElapsedTime(started));
        }
    }
}
