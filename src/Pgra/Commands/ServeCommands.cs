using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using PgRuntimeAgent.Web;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary>
/// <c>pgra serve</c>: the web host alone (MCP over streamable HTTP at <c>/mcp</c>, the API at <c>/api/v1</c>), without
/// the agent's loop; <c>pgra run</c> starts the same host beside the loop (<see cref="AgentWebHosting.StartAsync"/>). Both need at
/// least one token in <c>http.tokens</c> (docs/mcp.md, docs/settings.md).
/// </summary>
internal sealed class ServeCommands : ICommandGroup
{
    public int Order => 21;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var skills = new Option<string?>("--skills") { Description = "Skills directory served as MCP resources and prompts (default: agent.skills_dir, ./skills, or the one shipped beside pgra)." };
        var serve = new Command("serve", "Serve the web host only (no sensing loop): MCP over streamable HTTP at /mcp and the API at /api/v1 on http.listen, every request with a bearer token of http.tokens. Stops on Ctrl+C or SIGTERM. Logs go to stderr.")
        {
            skills,
        };
        serve.SetAction((parse, ct) => ServeAsync(options, parse, parse.GetValue(skills), ct));
        yield return serve;
    }

    private static async Task<int> ServeAsync(GlobalOptions options, ParseResult parse, string? skillsOption, CancellationToken cancellationToken)
    {
        var workspace = CliWorkspace.Load(options, parse);
        if (!workspace.Settings.Http.Enabled)
        {
            throw new InputException(WebOff(workspace));
        }

        var skillsDir = SkillCommands.ResolveDirectory(skillsOption ?? workspace.Settings.Agent.SkillsDir, Directory.GetCurrentDirectory(), AppContext.BaseDirectory);
        using var logging = LoggerFactory.Create(b =>
        {
            b.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "HH:mm:ss.fff'Z' ";
            });
            b.AddFilter("Microsoft", LogLevel.Warning);
            RunCommands.AddWebFilters(b);
            b.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        });
        await using var acting = await workspace.OpenActingAsync(options.Time, logging, journal: null, cancellationToken).ConfigureAwait(false);
        await using var otlp = StartOtlp(workspace, acting, options.Time, logging);
        await using var web = await AgentWebHosting.StartAsync(workspace, acting, skillsDir, runtime: null, options.Time, logging, cancellationToken).ConfigureAwait(false);
        await options.Error.WriteLineAsync($"pgra serve: listening on {string.Join(", ", web!.Addresses)} (MCP at /mcp, API at /api/v1); Ctrl+C stops.").ConfigureAwait(false);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        return ExitCodes.Ok;
    }

    /// <summary>The OTLP export of traces and metrics when <c>telemetry.otlp_endpoint</c> is set (null otherwise).</summary>
    internal static Telemetry.TelemetryExport? StartOtlp(Workspace workspace, ActingServices acting, TimeProvider time, ILoggerFactory logging) =>
        Telemetry.TelemetryExport.StartOtlp(workspace.Settings.Telemetry, acting.Journal, acting.Approvals, time, workspace.Secrets, logging);

    /// <summary>Why the web host stays off (no token), as said at startup.</summary>
    internal static string WebOff(Workspace workspace) =>
        $"the web host is off: http.tokens has no token in {(workspace.Settings.SourcePath ?? "the settings (none found)")}; add one, e.g. "
        + "http: { tokens: [ { name: ops, role: operator, token: <openssl rand -hex 32> } ] } (docs/settings.md)";
}
