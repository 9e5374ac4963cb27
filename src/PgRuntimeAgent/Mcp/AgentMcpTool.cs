using System.Text.Json;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Tools;

namespace PgRuntimeAgent.Mcp;

/// <summary>
/// One <see cref="AgentTool"/> as an MCP tool: its name, schema and annotations; a call runs it as the request's
/// caller (<see cref="McpServeOptions.Identify"/>) and is journaled (<see cref="McpCallJournal"/>), ok or not. The
/// result is the tool's JSON object as text; a result with <c>ok: false</c> is an answer the client reads, not a
/// protocol error.
/// </summary>
internal sealed class AgentMcpTool : McpServerTool
{
    private readonly AgentTool _tool;
    private readonly McpServeOptions _serve;

    public AgentMcpTool(AgentTool tool, McpServeOptions serve)
    {
        ArgumentNullException.ThrowIfNull(tool);
        ArgumentNullException.ThrowIfNull(serve);
        _tool = tool;
        _serve = serve;
        ProtocolTool = new Tool
        {
            Name = tool.Name,
            Title = tool.Source,
            Description = tool.Description,
            InputSchema = tool.InputSchema,
            Annotations = new ToolAnnotations
            {
                Title = tool.Source,
                ReadOnlyHint = tool.ReadOnly,
                DestructiveHint = tool.Destructive,
                IdempotentHint = tool.Idempotent,
                OpenWorldHint = false,
            },
        };
    }

    public override Tool ProtocolTool { get; }

    public override IReadOnlyList<object> Metadata => [];

    public override async ValueTask<CallToolResult> InvokeAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var who = _serve.Identify?.Invoke(request) ?? McpIdentity.Of(request);
        var arguments = JsonSerializer.SerializeToElement(request.Params?.Arguments ?? new Dictionary<string, JsonElement>(), JournalJson.Options);
        var started = _serve.Time.GetTimestamp();
        string text;
        try
        {
            var result = await _tool.Invoke(arguments, who.Caller, cancellationToken).ConfigureAwait(false);
            text = result.ToJsonString(JournalJson.Options);
            var (ok, actionId, error) = McpCall.Outcome(result);
            await RecordAsync(who, arguments, ok, text.Length, started, actionId, error, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await RecordAsync(who, arguments, false, 0, started, null, $"{ex.GetType().Name}: {ex.Message}", CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        return new CallToolResult { Content = [new TextContentBlock { Text = text }] };
    }

    private async Task RecordAsync(McpIdentity who, JsonElement arguments, bool ok, int chars, long started, string? actionId, string? error, CancellationToken cancellationToken)
    {
        if (_serve.Journal is not { } journal)
        {
            return;
        }

        var cluster = arguments.ValueKind == JsonValueKind.Object && arguments.TryGetProperty("cluster", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
        await journal.RecordAsync(new McpCall
        {
            Transport = _serve.Transport,
            Client = who.Client,
            ClientVersion = who.ClientVersion,
            Token = who.Token,
            Caller = who.Caller ?? "mcp",
            Tool = _tool.Name,
            Cluster = cluster,
            Arguments = System.Text.Json.Nodes.JsonNode.Parse(arguments.GetRawText()),
            Ok = ok,
            Chars = chars,
            Ms = Math.Round(_serve.Time.GetElapsedTime(started).TotalMilliseconds, 1),
            ActionId = actionId,
            Error = error,
        }, cancellationToken).ConfigureAwait(false);
    }
}
