using System.Text.Json;
using System.Text.Json.Nodes;

namespace PgRuntimeAgent.Tools;

/// <summary>
/// One tool of the agent's body, generated from the catalogue: a read (read-only, bounded) or an action (through
/// policy, prechecks, the journal and verification, never around them). The model's functions and the MCP server's
/// tools are both made from these, so what a model and an outside agent can do is exactly what the catalogue says.
/// </summary>
internal sealed record AgentTool
{
    /// <summary>A name every provider accepts (letters, digits, underscores): a read's dots become underscores; an action is <c>act_</c> + its kind.</summary>
    public required string Name { get; init; }

    /// <summary>The catalogue entry it was made from (<c>cluster.snapshot</c>, <c>patroni.switchover</c>).</summary>
    public required string Source { get; init; }

    public required string Description { get; init; }

    /// <summary>The arguments as a JSON Schema object (cluster, member, the entry's parameters; an action's reason and dry_run).</summary>
    public required JsonElement InputSchema { get; init; }

    /// <summary>A read: changes nothing anywhere.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>An action that cannot be taken back, or one of high risk.</summary>
    public bool Destructive { get; init; }

    /// <summary>Calling it twice with the same arguments has no more effect than once.</summary>
    public bool Idempotent { get; init; }

    /// <summary>Runs the tool on its arguments (a JSON object); the result is bounded and redacted.</summary>
    public required ToolInvoker Invoke { get; init; }
}

/// <summary>Runs an <see cref="AgentTool"/>.</summary>
/// <param name="arguments">The call's arguments, a JSON object.</param>
/// <param name="caller">
/// Who calls, journaled as the initiator of an action (<c>mcp:ops/claude-code</c>); null: the toolbox's own
/// <see cref="ToolboxOptions.Caller"/>. One toolbox serves every client of the MCP server over HTTP this way.
/// </param>
/// <param name="cancellationToken">Cancels the call.</param>
internal delegate Task<JsonObject> ToolInvoker(JsonElement arguments, string? caller, CancellationToken cancellationToken);
