using System.Text.Json;
using Microsoft.Extensions.AI;

namespace PgRuntimeAgent.Tools;

/// <summary>An <see cref="AgentTool"/> as a Microsoft.Extensions.AI function: the model's tools and the MCP server's are these.</summary>
internal sealed class CatalogFunction(AgentTool tool) : AIFunction
{
    public override string Name => tool.Name;

    public override string Description => tool.Description;

    public override JsonElement JsonSchema => tool.InputSchema;

    protected override async ValueTask<object?> InvokeCoreAsync(AIFunctionArguments arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        // Arguments arrive as JsonElement (MCP, a provider's JSON) or as CLR values (a scripted caller): one JSON object either way.
        var args = JsonSerializer.SerializeToElement(arguments.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal));
        var result = await tool.Invoke(args, null, cancellationToken).ConfigureAwait(false);
        return result.ToJsonString(Journal.JournalJson.Options);
    }
}
