namespace PgRuntimeAgent.Sensing.Host;

/// <summary>The outcome of a remote (or local) command.</summary>
public sealed record ShellResult(int ExitCode, string StandardOutput, string StandardError);

/// <summary>Runs commands on a host (locally, or over SSH through <see cref="Transport.SshRunner"/>).</summary>
public interface ICommandRunner
{
    Task<ShellResult> RunAsync(string host, string command, CancellationToken cancellationToken);
}
