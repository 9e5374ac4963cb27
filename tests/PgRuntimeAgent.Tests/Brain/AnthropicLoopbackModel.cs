using System.Text.Json.Nodes;

namespace PgRuntimeAgent.Tests.Brain;

/// <summary>
/// A language model on 127.0.0.1 and a free port that speaks Anthropic's Messages API: <c>POST /v1/messages</c>, answered
/// as one message body, or as the documented event stream (<c>message_start</c>, <c>content_block_start</c>,
/// <c>content_block_delta</c> with <c>text_delta</c> or <c>input_json_delta</c>, <c>content_block_stop</c>,
/// <c>message_delta</c>, <c>message_stop</c>) when the request says <c>"stream": true</c>. Each turn is decided by a
/// script (<see cref="Start"/>: the turn's number from 1 and the request, whose last user message carries the previous
/// <c>tool_result</c> blocks) or played from a recorded conversation (<see cref="Replay(string)"/>), whose requests are
/// checked against the recording as they arrive. Every request is recorded, its headers and body. A client is given
/// <see cref="LoopbackChatServer.BaseUrl"/>, <c>http://127.0.0.1:port/</c> (Anthropic's SDK appends <c>/v1/messages</c>).
/// </summary>
/// <remarks>
/// Self-contained (the BCL and System.Text.Json only): the lab tests compile this file too.
/// </remarks>
internal sealed class AnthropicLoopbackModel : LoopbackChatServer
{
    /// <summary>What the server answers a turn: an HTTP status, a JSON body (a whole message or an error) and extra headers.</summary>
    internal sealed record Reply(int Status, JsonObject? Body, IReadOnlyDictionary<string, string>? Headers = null) : LoopbackReply(Status, Body, Headers)
    {
        /// <summary>No answer at all: the request is held open until the server is disposed.</summary>
        public static Reply Silence { get; } = new(0, null);

        /// <summary>An error as Anthropic answers one: <c>{"type": "error", "error": {"type", "message"}}</c>.</summary>
        public static Reply Error(int status, string type, string message, IReadOnlyDictionary<string, string>? headers = null) =>
            new(status, new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = type, ["message"] = message } }, headers);
    }

    private AnthropicLoopbackModel(Func<int, JsonObject, LoopbackReply>? script, JsonObject? recording)
        : base("/v1/messages", "", script, recording)
    {
    }

    /// <summary>A model whose every turn is decided by <paramref name="turn"/>: it gets the turn's number from 1 and the request,
    /// and returns the message (<see cref="Say"/>, <see cref="Use"/>, <see cref="Message"/>); what it leaves out is filled in:
    /// id, type, role, the request's model, stop_reason (<c>tool_use</c> when a block is one, else <c>end_turn</c>) and usage
    /// (100 input and 10 output tokens).</summary>
    public static AnthropicLoopbackModel Start(Func<int, JsonObject, JsonObject> turn)
    {
        ArgumentNullException.ThrowIfNull(turn);
        return new AnthropicLoopbackModel((n, request) => new Reply(200, Complete(turn(n, request), request["model"]?.GetValue<string>())), null);
    }

    /// <summary>A server answering each turn with whatever <paramref name="reply"/> says: an error status, <see cref="Reply.Silence"/>...</summary>
    public static AnthropicLoopbackModel Answering(Func<int, JsonObject, Reply> reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        return new AnthropicLoopbackModel(reply, null);
    }

    /// <summary>Plays a recorded conversation (a JSON file: <c>{"turns": [{"response": message}, ...]}</c>).</summary>
    public static AnthropicLoopbackModel Replay(string path) => Replay(ReadRecording(path));

    /// <summary>
    /// Plays the recording's responses in order. Each request is checked first: it must offer every tool the response it
    /// gets uses, and from the second turn on carry the previous response's <c>tool_use</c> blocks (ids and names) in an
    /// assistant message and a <c>tool_result</c> block for each id in a user message. A request that departs gets HTTP
    /// 400 and is listed in <see cref="Divergences"/>; <see cref="EnsureReplayed"/> throws with all of them.
    /// </summary>
    public static AnthropicLoopbackModel Replay(JsonObject recording)
    {
        ArgumentNullException.ThrowIfNull(recording);
        return new AnthropicLoopbackModel(null, recording);
    }

    /// <summary>A message that says <paramref name="text"/> and ends its turn.</summary>
    public static JsonObject Say(string text) => new() { ["content"] = new JsonArray(Block(text)) };

    /// <summary>A message that uses tools, each (id, name, input), after an optional sentence.</summary>
    public static JsonObject Use(string? text, params (string Id, string Name, JsonObject Input)[] uses) => new()
    {
        ["content"] = new JsonArray([.. (text is null ? [] : new[] { Block(text) }),
            .. uses.Select(u => (JsonNode)new JsonObject { ["type"] = "tool_use", ["id"] = u.Id, ["name"] = u.Name, ["input"] = u.Input })]),
    };

    /// <summary>A whole message with <paramref name="content"/>'s blocks and this usage; the rest as <see cref="Start"/> fills it.</summary>
    public static JsonObject Message(JsonObject content, int inputTokens, int outputTokens, string? model = null)
    {
        ArgumentNullException.ThrowIfNull(content);
        var message = Complete(content, model);
        message["usage"] = new JsonObject { ["input_tokens"] = inputTokens, ["output_tokens"] = outputTokens };
        return message;
    }

    /// <summary>The <c>tool_result</c> blocks of a request's user messages (<c>tool_use_id</c>, <c>content</c>, <c>is_error</c>), in order.</summary>
    public static IReadOnlyList<JsonObject> ToolResults(JsonObject request) =>
        [.. Messages(request).Where(m => Text(m["role"]) == "user").SelectMany(Blocks).Where(b => Text(b["type"]) == "tool_result")];

    /// <summary>The tool names a request offers in its <c>tools</c>.</summary>
    public static IReadOnlyList<string> OfferedTools(JsonObject request) =>
        [.. (request["tools"] as JsonArray ?? []).OfType<JsonObject>().Select(t => Text(t["name"]) ?? "")];

    /// <summary>A result's text: <c>content</c> is a string or an array of text blocks.</summary>
    public static string ResultText(JsonObject toolResult)
    {
        ArgumentNullException.ThrowIfNull(toolResult);
        return toolResult["content"] switch
        {
            JsonArray blocks => string.Concat(blocks.OfType<JsonObject>().Select(b => Text(b["text"]))),
            var node => Text(node) ?? "",
        };
    }

    private static JsonObject Block(string text) => new() { ["type"] = "text", ["text"] = text };

    private static JsonObject Complete(JsonObject message, string? model)
    {
        var full = message.DeepClone().AsObject();
        var content = full["content"] as JsonArray ?? [];
        full["id"] ??= ContentId("msg_", message, 24);
        full["type"] ??= "message";
        full["role"] ??= "assistant";
        full["model"] ??= model ?? "loopback";
        full["stop_reason"] ??= content.OfType<JsonObject>().Any(b => Text(b["type"]) == "tool_use") ? "tool_use" : "end_turn";
        full["stop_sequence"] ??= null;
        full["usage"] ??= new JsonObject { ["input_tokens"] = 100, ["output_tokens"] = 10 };
        return full;
    }

    /// <summary>A message's content blocks (a string content is one text block).</summary>
    private static IEnumerable<JsonObject> Blocks(JsonObject message) =>
        message["content"] switch
        {
            JsonArray blocks => blocks.OfType<JsonObject>(),
            var node when Text(node) is { } text => [Block(text)],
            _ => [],
        };

    private static IEnumerable<(string Id, string Name)> ToolUses(JsonObject message) =>
        Blocks(message).Where(b => Text(b["type"]) == "tool_use").Select(b => (Text(b["id"]) ?? "", Text(b["name"]) ?? ""));

    protected override LoopbackReply UnknownPath(string method, string path) => Reply.Error(404, "not_found_error", $"Not found: {method} {path}");

    protected override LoopbackReply UnparsableBody(string reason) => Reply.Error(400, "invalid_request_error", "The request body is not valid JSON: " + reason);

    protected override LoopbackReply Diverged(string problems) => Reply.Error(400, "invalid_request_error", "loopback replay: " + problems);

    protected override LoopbackReply ScriptFailed(string reason) => Reply.Error(500, "api_error", "loopback script failed: " + reason);

    /// <summary>The recorded answer's tools must be offered; from turn 2, the previous answer's <c>tool_use</c> blocks must come
    /// back in an assistant message (same ids, same names), each answered by a <c>tool_result</c> block.</summary>
    protected override IReadOnlyList<string> CheckReplayed(int turn, JsonObject request)
    {
        var problems = new List<string>();
        var offered = OfferedTools(request);
        foreach (var (_, name) in ToolUses(RecordedResponse(turn)))
        {
            if (!offered.Contains(name))
            {
                problems.Add($"turn {turn}: the recorded answer uses '{name}', the request does not offer it (offered: {string.Join(", ", offered)})");
            }
        }

        if (turn == 1)
        {
            return problems;
        }

        var echoed = Messages(request).Where(m => Text(m["role"]) == "assistant").SelectMany(ToolUses).ToList();
        var answered = ToolResults(request).Select(b => Text(b["tool_use_id"])).ToHashSet(StringComparer.Ordinal);
        foreach (var (id, name) in ToolUses(RecordedResponse(turn - 1)))
        {
            var echo = echoed.FirstOrDefault(u => u.Id == id);
            if (echo.Id is null)
            {
                problems.Add($"turn {turn}: the request does not carry turn {turn - 1}'s tool_use {id} ({name}) in an assistant message "
                    + $"(it carries: {string.Join(", ", echoed.Select(u => u.Id + " " + u.Name))})");
            }
            else if (echo.Name != name)
            {
                problems.Add($"turn {turn}: tool_use {id} was recorded as '{name}', the request carries it as '{echo.Name}'");
            }

            if (!answered.Contains(id))
            {
                problems.Add($"turn {turn}: no tool_result answers turn {turn - 1}'s tool_use {id} ({name}) (tool_use_ids: {string.Join(", ", answered)})");
            }
        }

        return problems;
    }

    /// <summary>
    /// The message as Anthropic's event stream: <c>message_start</c> (no content, no stop reason), a <c>ping</c>, each block
    /// as <c>content_block_start</c>, two deltas (text in halves as <c>text_delta</c>, a tool's input JSON in halves as
    /// <c>input_json_delta</c>) and <c>content_block_stop</c>, then <c>message_delta</c> (stop reason, output tokens) and
    /// <c>message_stop</c>.
    /// </summary>
    protected override IEnumerable<string> Events(JsonObject body, JsonObject request)
    {
        var events = new List<(string Name, JsonObject Data)>();
        var start = body.DeepClone().AsObject();
        start["content"] = new JsonArray();
        start["stop_reason"] = null;
        start["stop_sequence"] = null;
        start["usage"] = new JsonObject { ["input_tokens"] = body["usage"]?["input_tokens"]?.DeepClone(), ["output_tokens"] = 1 };
        events.Add(("message_start", new JsonObject { ["type"] = "message_start", ["message"] = start }));
        events.Add(("ping", new JsonObject { ["type"] = "ping" }));
        var index = 0;
        foreach (var block in Blocks(body))
        {
            var isTool = Text(block["type"]) == "tool_use";
            var opening = block.DeepClone().AsObject();
            string whole;
            if (isTool)
            {
                whole = block["input"]?.ToJsonString() ?? "{}";
                opening["input"] = new JsonObject();
            }
            else
            {
                whole = Text(block["text"]) ?? "";
                opening["text"] = "";
            }

            events.Add(("content_block_start", new JsonObject { ["type"] = "content_block_start", ["index"] = index, ["content_block"] = opening }));
            foreach (var piece in new[] { whole[..(whole.Length / 2)], whole[(whole.Length / 2)..] })
            {
                var delta = isTool
                    ? new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = piece }
                    : new JsonObject { ["type"] = "text_delta", ["text"] = piece };
                events.Add(("content_block_delta", new JsonObject { ["type"] = "content_block_delta", ["index"] = index, ["delta"] = delta }));
            }

            events.Add(("content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = index }));
            index++;
        }

        events.Add(("message_delta", new JsonObject
        {
            ["type"] = "message_delta",
            ["delta"] = new JsonObject { ["stop_reason"] = body["stop_reason"]?.DeepClone(), ["stop_sequence"] = body["stop_sequence"]?.DeepClone() },
            ["usage"] = new JsonObject { ["output_tokens"] = body["usage"]?["output_tokens"]?.DeepClone() },
        }));
        events.Add(("message_stop", new JsonObject { ["type"] = "message_stop" }));

        return events.Select(e => $"event: {e.Name}\ndata: {e.Data.ToJsonString()}\n\n");
    }
}
