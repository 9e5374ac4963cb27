using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Tools;

namespace PgRuntimeAgent.Mcp;

/// <summary>
/// What an MCP server serves, whichever transport carries it (stdio for <c>pgra mcp</c>, streamable HTTP on the web
/// host): the tools, the catalogue, the standing orders and the skills, who each call is made as, and where calls are
/// journaled. <see cref="AgentMcpServer.Configure"/> turns it into the SDK's options.
/// </summary>
internal sealed record McpServeOptions
{
    /// <summary>The tools, from <see cref="AgentToolbox"/> (reads; actions too where the caller may request them).</summary>
    public required IReadOnlyList<AgentTool> Tools { get; init; }

    public AgentCatalog Catalog { get; init; } = AgentCatalog.Default;

    /// <summary>Served as resources and prompts; null: none.</summary>
    public SkillCatalog? Skills { get; init; }

    /// <summary>AGENT.md's text, served as a resource; null: none.</summary>
    public string? StandingOrders { get; init; }

    /// <summary><c>stdio</c> or <c>http</c>, as journaled.</summary>
    public string Transport { get; init; } = "stdio";

    /// <summary>
    /// Who makes a call (its client, token and caller), from the request: the HTTP transport reads the bearer token's
    /// name from the request's user; null: <see cref="McpIdentity.Of"/> without a token, the toolbox's own caller.
    /// </summary>
    public Func<RequestContext<CallToolRequestParams>, McpIdentity>? Identify { get; init; }

    /// <summary>Where every tool call is journaled (<c>mcp.call</c>); null: not journaled.</summary>
    public McpCallJournal? Journal { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The deployment (inventory, settings, secrets) the topology resource shows; null: no topology resource.</summary>
    public Workspaces.Workspace? Workspace { get; init; }
}

/// <summary>Who makes a tool call.</summary>
/// <param name="Client">The client's name from its clientInfo (<c>unknown</c> when it gave none).</param>
/// <param name="ClientVersion">The client's version, when it gave one.</param>
/// <param name="Token">The bearer token's name over HTTP; null on stdio.</param>
/// <param name="Caller">The initiator of an action the call requests; null: the toolbox's own caller.</param>
internal sealed record McpIdentity(string Client, string? ClientVersion, string? Token, string? Caller)
{
    /// <summary>The client as the request's server knows it (per session, or per request on newer protocol revisions).</summary>
    public static McpIdentity Of(RequestContext<CallToolRequestParams> request, string? token = null, string? caller = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var info = request.Server.ClientInfo;
        return new McpIdentity(ClientName(info?.Name), info?.Version is { Length: > 0 and <= 64 } v ? v : null, token, caller);
    }

    /// <summary>
    /// A client's self-declared name made safe to journal and to use in a caller id: at most 64 characters of letters,
    /// digits and <c>.-_</c> (others become <c>-</c>); <c>unknown</c> for none.
    /// </summary>
    public static string ClientName(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return "unknown";
        }

        var trimmed = name.Trim();
        var chars = trimmed[..Math.Min(trimmed.Length, 64)].Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '-').ToArray();
        return new string(chars);
    }
}
