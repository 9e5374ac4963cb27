namespace PgRuntimeAgent.Mcp;

/// <summary>
/// The <c>mcp:</c> section: what the MCP server over HTTP (<c>/mcp</c> on the web host, docs/mcp.md) lets a client do.
/// Read-only by default. <c>pgra mcp</c> on stdio is governed by who may start the process and its
/// <c>--read-only</c> flag instead.
/// </summary>
public sealed record McpSettings
{
    /// <summary>
    /// Serve the <c>act_*</c> tools over HTTP, to tokens of role operator or approver only. Each requested action still
    /// goes through the policy like any proactive request (levels, guardrails, approvals); false: reads only, for everyone.
    /// </summary>
    public bool AllowActions { get; init; }
}
