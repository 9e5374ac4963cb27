using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Mcp;

/// <summary>
/// Journals every tool call an MCP client makes (kind <c>mcp.call</c>, topic: the tool, correlation: the action id
/// when the call requested one), whatever the transport: who called (client, token, caller), what (the tool and its
/// arguments, redacted), and what came of it (ok, result size, latency). The result itself is not kept: a read's is
/// reproducible and an action's has entries of its own under the same correlation id.
/// </summary>
internal sealed class McpCallJournal(IJournal journal, SecretStore secrets)
{
    /// <summary>The journal the calls go to, which the incident resources read too.</summary>
    public IJournal Journal => journal;

    /// <summary>The deployment's secrets, masked in everything the resources return.</summary>
    public SecretStore Secrets => secrets;

    public async Task<JournalEntry> RecordAsync(McpCall call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        var tags = new System.Diagnostics.TagList { { "tool", call.Tool }, { "transport", call.Transport }, { "ok", call.Ok ? "true" : "false" } };
        Telemetry.AgentTelemetry.Mcp.Calls.Add(1, tags);
        Telemetry.AgentTelemetry.Mcp.CallDuration.Record(call.Ms / 1000.0, tags);
        var redacted = call with
        {
            Client = secrets.Redact(call.Client),
            Arguments = call.Arguments is null ? null : JsonNode.Parse(secrets.RedactJson(call.Arguments.ToJsonString())),
            Error = call.Error is null ? null : SecretText.RedactFreeText(secrets.Redact(call.Error)),
        };
        var who = redacted.Token is null ? redacted.Client : $"{redacted.Client} (token {redacted.Token})";
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{who} called {redacted.Tool}{(redacted.Cluster is null ? "" : " on " + redacted.Cluster)} over {redacted.Transport}: {(redacted.Ok ? "ok" : "not ok")}, {redacted.Chars} chars, {redacted.Ms} ms");
        return await journal.AppendAsync(JournalRecord.Create(JournalKinds.McpCall, summary, redacted, redacted.Cluster, null, redacted.ActionId, redacted.Tool),
            cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>One tool call of an MCP client, as journaled (kind <c>mcp.call</c>).</summary>
internal sealed record McpCall
{
    /// <summary><c>stdio</c> or <c>http</c>.</summary>
    public required string Transport { get; init; }

    /// <summary>The client's name from its <c>initialize</c> (clientInfo.name), <c>unknown</c> when it gave none.</summary>
    public required string Client { get; init; }

    public string? ClientVersion { get; init; }

    /// <summary>The bearer token's name (HTTP); null on stdio.</summary>
    public string? Token { get; init; }

    /// <summary>Whom an action would be requested for (<c>mcp:ops/claude-code</c>, <c>mcp:USER</c>).</summary>
    public required string Caller { get; init; }

    public required string Tool { get; init; }

    public string? Cluster { get; init; }

    /// <summary>The arguments as given, every secret the store knows masked.</summary>
    public JsonNode? Arguments { get; init; }

    /// <summary>The result's <c>ok</c> (false too when the call threw).</summary>
    public required bool Ok { get; init; }

    /// <summary>Characters of the result text sent back.</summary>
    public required int Chars { get; init; }

    /// <summary>Wall time of the call in milliseconds.</summary>
    public required double Ms { get; init; }

    /// <summary>The action the call requested (an <c>act_*</c> tool that planned one).</summary>
    public string? ActionId { get; init; }

    /// <summary>Why it was not ok: the result's error, or the exception's type and message.</summary>
    public string? Error { get; init; }

    /// <summary>The call's outcome from the tool's result object.</summary>
    public static (bool Ok, string? ActionId, string? Error) Outcome(JsonObject result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var ok = result["ok"] is JsonValue v && v.GetValueKind() == JsonValueKind.True;
        return (ok, result["action_id"]?.GetValue<string>(), ok ? null : result["error"]?.ToString() ?? result["message"]?.ToString());
    }
}
