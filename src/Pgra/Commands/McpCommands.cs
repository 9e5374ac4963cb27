using System.CommandLine;
using ModelContextProtocol.Server;
using PgRuntimeAgent.Brain;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Mcp;
using PgRuntimeAgent.Reads;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Tools;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary>
/// <c>pgra mcp [--read-only] [--skills DIR]</c>: the agent's body as an MCP server on stdin/stdout, for Claude Code,
/// Codex or any MCP client. Tools, resources and prompts come from the catalogue and the skills (docs/mcp.md), as on
/// the web host's <c>/mcp</c> (<c>pgra serve</c>, <c>pgra run</c>); every tool call is journaled (<c>mcp.call</c>).
/// </summary>
internal sealed class McpCommands : ICommandGroup
{
    public int Order => 97;

    /// <summary>An MCP client (Claude Code, Codex) manages its own context: a whole member's read (about 35,000 characters on the lab) fits.</summary>
    private const int McpResultChars = 128_000;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var readOnly = new Option<bool>("--read-only") { Description = "Serve the reads only: no act_* tools, nothing can be requested." };
        var skills = new Option<string?>("--skills") { Description = "Skills directory served as resources and prompts (default: ./skills, or the one shipped beside pgra)." };
        var mcp = new Command("mcp", "Serve the agent's reads and actions as an MCP server on stdin/stdout (tools from 'pgra catalog'; actions go through policy as proactive requests of mcp:USER, so what needs an approval waits for 'pgra approve'). Logs go to stderr.")
        {
            readOnly, skills,
        };
        mcp.SetAction((parse, ct) => ServeAsync(options, parse, parse.GetValue(readOnly), parse.GetValue(skills), ct));
        yield return mcp;
    }

    private static async Task<int> ServeAsync(GlobalOptions options, ParseResult parse, bool readOnly, string? skillsOption, CancellationToken cancellationToken)
    {
        var workspace = CliWorkspace.Load(options, parse);
        var cwd = Directory.GetCurrentDirectory();
        var skillsDir = SkillCommands.ResolveDirectory(skillsOption ?? workspace.Settings.Agent.SkillsDir, cwd, AppContext.BaseDirectory);
        var skills = SkillCatalog.Load(skillsDir, SkillVocabulary.Default, cwd);
        var orders = await StandingOrders.ReadAsync(skillsDir, cwd, cancellationToken).ConfigureAwait(false);
        // The protocol owns stdout: anything else written there would corrupt it.
        Console.SetOut(Console.Error);
        await using var reads = workspace.ReadContext(options.Time);
        var acting = readOnly ? null : await workspace.OpenActingAsync(options.Time, logging: null, journal: null, cancellationToken).ConfigureAwait(false);
        // Every call is journaled (mcp.call), read-only or not: the hands' journal, or the one the settings name.
        var journal = acting?.Journal ?? await workspace.OpenJournalAsync(options.Time, cancellationToken).ConfigureAwait(false);
        try
        {
            var caller = "mcp:" + ActingSession.OperatorName();
            var tools = AgentToolbox.Build(AgentCatalog.Default, new ToolboxOptions { Caller = caller, Reads = reads, Acting = acting, MaxResultChars = McpResultChars });
            var serverOptions = AgentMcpServer.Options(new McpServeOptions
            {
                Tools = tools,
                Skills = skills,
                StandingOrders = orders,
                Transport = "stdio",
                Identify = request => McpIdentity.Of(request, token: null, caller),
                Journal = new McpCallJournal(journal, workspace.Secrets),
                Workspace = workspace,
                Time = options.Time,
            });
            await using var server = McpServer.Create(new StdioServerTransport(AgentMcpServer.ServerName), serverOptions);
            await server.RunAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            if (acting is not null)
            {
                await acting.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                await journal.DisposeAsync().ConfigureAwait(false);
            }
        }

        return ExitCodes.Ok;
    }
}
