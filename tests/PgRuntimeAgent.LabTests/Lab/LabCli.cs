using PgRuntimeAgent.Cli;

namespace PgRuntimeAgent.LabTests.Lab;

/// <summary>Runs pgra in-process with captured output.</summary>
internal static class LabCli
{
    public sealed record Result(int ExitCode, string Out, string Error)
    {
        public string All => Out + Error;
    }

    public static async Task<Result> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await CliApp.RunAsync(args, stdout, stderr, TestContext.Current.CancellationToken);
        return new Result(code, stdout.ToString(), stderr.ToString());
    }
}
