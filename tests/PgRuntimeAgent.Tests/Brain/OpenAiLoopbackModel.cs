using System.Text.Json.Nodes;

namespace PgRuntimeAgent.Tests.Brain;

/// <summary>
/// A language model on 127.0.0.1 and a free port that speaks OpenAI's chat-completions protocol: <c>POST /v1/chat/completions</c>,
/// answered as one JSON body, or as server-sent <c>data:</c> chunks ending <c>data: [DONE]</c> when the request says
/// <c>"stream": true</c>. Each turn is decided by a script (<see cref="Start"/>: the turn's number from 1 and the request,
/// whose messages carry the previous tool results) or played from a recorded conversation (<see cref="Replay(string)"/>),
/// whose requests are checked against the recording as they arrive. Every request is recorded, its headers and body, so
/// a test asserts what the client sent. A client is given <see cref="LoopbackChatServer.BaseUrl"/>, <c>http://127.0.0.1:port/v1/</c>.
/// </summary>
/// <remarks>
/// Self-contained (the BCL and System.Text.Json only): the lab tests compile this file too.
/// </remarks>
internal sealed class OpenAiLoopbackModel : LoopbackChatServer
{
    /// <summary>The <c>created</c> of every answer (2026-01-01T00:00:00Z): fixed, the clock is not the server's business.</summary>
    private const long Created = 1_767_225_600;

    /// <summary>What the server answers a turn: an HTTP status, a JSON body (a whole chat completion or an error) and extra headers.</summary>
    internal sealed record Reply(int Status, JsonObject? Body, IReadOnlyDictionary<string, string>? Headers = null) : LoopbackReply(Status, Body, Headers)
    {
        /// <summary>No answer at all: the request is held open until the server is disposed.</summary>
        public static Reply Silence { get; } = new(0, null);

        /// <summary>An error as OpenAI answers one: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
        public static Reply Error(int status, string message, string type, string? code = null, IReadOnlyDictionary<string, string>? headers = null) =>
            new(status, new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = null, ["code"] = code } }, headers);
    }

    private OpenAiLoopbackModel(Func<int, JsonObject, LoopbackReply>? script, JsonObject? recording)
        : base("/v1/chat/completions", "v1/", script, recording)
    {
    }

    /// <summary>A model whose every turn is decided by <paramref name="turn"/>: it gets the turn's number from 1 and the request, and
    /// returns the assistant message (<see cref="Say"/>, <see cref="Call"/>; usage 100 prompt and 10 completion tokens) or a whole
    /// completion (<see cref="Completion"/>, a body with <c>choices</c>).</summary>
    public static OpenAiLoopbackModel Start(Func<int, JsonObject, JsonObject> turn)
    {
        ArgumentNullException.ThrowIfNull(turn);
        return new OpenAiLoopbackModel((n, request) =>
        {
            var answer = turn(n, request);
            return new Reply(200, answer.ContainsKey("choices") ? answer : Completion(answer, 100, 10, request["model"]?.GetValue<string>()));
        }, null);
    }

    /// <summary>A server answering each turn with whatever <paramref name="reply"/> says: an error status, <see cref="Reply.Silence"/>...</summary>
    public static OpenAiLoopbackModel Answering(Func<int, JsonObject, Reply> reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        return new OpenAiLoopbackModel(reply, null);
    }

    /// <summary>Plays a recorded conversation (a JSON file: <c>{"turns": [{"response": chat completion}, ...]}</c>).</summary>
    public static OpenAiLoopbackModel Replay(string path) => Replay(ReadRecording(path));

    /// <summary>
    /// Plays the recording's responses in order. Each request is checked first: it must offer every tool the response it
    /// gets calls, and from the second turn on carry the previous response's tool calls (the assistant message with their
    /// ids and names) and a <c>tool</c> message answering each id. A request that departs gets HTTP 400 and is listed in
    /// <see cref="Divergences"/>; <see cref="EnsureReplayed"/> throws with all of them.
    /// </summary>
    public static OpenAiLoopbackModel Replay(JsonObject recording)
    {
        ArgumentNullException.ThrowIfNull(recording);
        return new OpenAiLoopbackModel(null, recording);
    }

    /// <summary>An assistant message that says <paramref name="text"/> and stops.</summary>
    public static JsonObject Say(string text) => new() { ["role"] = "assistant", ["content"] = text, ["refusal"] = null };

    /// <summary>An assistant message calling tools: each (id, function name, arguments object).</summary>
    public static JsonObject Call(params (string Id, string Name, JsonObject Arguments)[] calls) => new()
    {
        ["role"] = "assistant",
        ["content"] = null,
        ["refusal"] = null,
        ["tool_calls"] = new JsonArray([.. calls.Select(c => (JsonNode)new JsonObject
        {
            ["id"] = c.Id,
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = c.Arguments.ToJsonString() },
        })]),
    };

    /// <summary>A whole <c>chat.completion</c> body around <paramref name="message"/>: finish_reason <c>tool_calls</c> when it calls tools, else <c>stop</c>.</summary>
    public static JsonObject Completion(JsonObject message, int promptTokens, int completionTokens, string? model = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        var calls = message["tool_calls"] is JsonArray { Count: > 0 };
        return new JsonObject
        {
            ["id"] = ContentId("chatcmpl-", message, 29),
            ["object"] = "chat.completion",
            ["created"] = Created,
            ["model"] = model ?? "loopback",
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = message.DeepClone(),
                ["logprobs"] = null,
                ["finish_reason"] = calls ? "tool_calls" : "stop",
            }),
            ["usage"] = new JsonObject { ["prompt_tokens"] = promptTokens, ["completion_tokens"] = completionTokens, ["total_tokens"] = promptTokens + completionTokens },
            ["system_fingerprint"] = null,
        };
    }

    /// <summary>The <c>tool</c> messages of a request (<c>tool_call_id</c>, <c>content</c>), in order.</summary>
    public static IReadOnlyList<JsonObject> ToolResults(JsonObject request) =>
        [.. Messages(request).Where(m => Text(m["role"]) == "tool")];

    /// <summary>The function names a request offers in its <c>tools</c>.</summary>
    public static IReadOnlyList<string> OfferedTools(JsonObject request) =>
        [.. (request["tools"] as JsonArray ?? []).OfType<JsonObject>().Select(t => Text(t["function"]?["name"]) ?? "")];

    private static IEnumerable<(string Id, string Name, string Arguments)> ToolCalls(JsonObject? message) =>
        (message?["tool_calls"] as JsonArray ?? []).OfType<JsonObject>()
            .Select(c => (Text(c["id"]) ?? "", Text(c["function"]?["name"]) ?? "", Text(c["function"]?["arguments"]) ?? ""));

    protected override LoopbackReply UnknownPath(string method, string path) =>
        Reply.Error(404, $"Unknown request URL: {method} {path}.", "invalid_request_error", "unknown_url");

    protected override LoopbackReply UnparsableBody(string reason) =>
        Reply.Error(400, "We could not parse the JSON body of your request: " + reason, "invalid_request_error");

    protected override LoopbackReply Diverged(string problems) =>
        Reply.Error(400, "loopback replay: " + problems, "invalid_request_error", "replay_diverged");

    protected override LoopbackReply ScriptFailed(string reason) => Reply.Error(500, "loopback script failed: " + reason, "server_error");

    /// <summary>The recorded answer's tool calls must be offered; from turn 2, the previous answer's calls must come back as
    /// an assistant message's <c>tool_calls</c> (same ids, same names), each answered by a <c>tool</c> message.</summary>
    protected override IReadOnlyList<string> CheckReplayed(int turn, JsonObject request)
    {
        var problems = new List<string>();
        var offered = OfferedTools(request);
        foreach (var (_, name, _) in ToolCalls(AnswerMessage(RecordedResponse(turn))))
        {
            if (!offered.Contains(name))
            {
                problems.Add($"turn {turn}: the recorded answer calls '{name}', the request does not offer it (offered: {string.Join(", ", offered)})");
            }
        }

        if (turn == 1)
        {
            return problems;
        }

        var echoed = Messages(request).Where(m => Text(m["role"]) == "assistant").SelectMany(ToolCalls).ToList();
        var answered = ToolResults(request).Select(m => Text(m["tool_call_id"])).ToHashSet(StringComparer.Ordinal);
        foreach (var (id, name, _) in ToolCalls(AnswerMessage(RecordedResponse(turn - 1))))
        {
            var echo = echoed.FirstOrDefault(c => c.Id == id);
            if (echo.Id is null)
            {
                problems.Add($"turn {turn}: the request does not carry turn {turn - 1}'s call {id} ({name}) as an assistant tool_call "
                    + $"(it carries: {string.Join(", ", echoed.Select(c => c.Id + " " + c.Name))})");
            }
            else if (echo.Name != name)
            {
                problems.Add($"turn {turn}: call {id} was recorded as '{name}', the request carries it as '{echo.Name}'");
            }

            if (!answered.Contains(id))
            {
                problems.Add($"turn {turn}: no tool message answers turn {turn - 1}'s call {id} ({name}) (tool_call_ids: {string.Join(", ", answered)})");
            }
        }

        return problems;
    }

    /// <summary>
    /// The completion as <c>chat.completion.chunk</c> events: the role, the text in two pieces, each tool call's id and
    /// name with the first half of its arguments then the rest, the finish reason, the usage when
    /// <c>stream_options.include_usage</c> asks for it, and <c>[DONE]</c>.
    /// </summary>
    protected override IEnumerable<string> Events(JsonObject body, JsonObject request)
    {
        var choice = body["choices"]![0]!;
        var message = choice["message"]!.AsObject();
        JsonObject Chunk(JsonObject delta, string? finish) => new()
        {
            ["id"] = body["id"]?.DeepClone(),
            ["object"] = "chat.completion.chunk",
            ["created"] = body["created"]?.DeepClone(),
            ["model"] = body["model"]?.DeepClone(),
            ["system_fingerprint"] = null,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["logprobs"] = null, ["finish_reason"] = finish }),
        };

        var chunks = new List<JsonObject> { Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "", ["refusal"] = null }, null) };
        if (Text(message["content"]) is { Length: > 0 } text)
        {
            chunks.Add(Chunk(new JsonObject { ["content"] = text[..(text.Length / 2)] }, null));
            chunks.Add(Chunk(new JsonObject { ["content"] = text[(text.Length / 2)..] }, null));
        }

        var index = 0;
        foreach (var (id, name, arguments) in ToolCalls(message))
        {
            chunks.Add(Chunk(new JsonObject
            {
                ["tool_calls"] = new JsonArray(new JsonObject
                {
                    ["index"] = index,
                    ["id"] = id,
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = name, ["arguments"] = arguments[..(arguments.Length / 2)] },
                }),
            }, null));
            chunks.Add(Chunk(new JsonObject
            {
                ["tool_calls"] = new JsonArray(new JsonObject { ["index"] = index, ["function"] = new JsonObject { ["arguments"] = arguments[(arguments.Length / 2)..] } }),
            }, null));
            index++;
        }

        chunks.Add(Chunk(new JsonObject(), Text(choice["finish_reason"]) ?? "stop"));
        if (request["stream_options"]?["include_usage"] is JsonValue include && include.TryGetValue<bool>(out var usage) && usage)
        {
            var last = Chunk(new JsonObject(), null);
            last["choices"] = new JsonArray();
            last["usage"] = body["usage"]?.DeepClone();
            chunks.Add(last);
        }

        return [.. chunks.Select(c => "data: " + c.ToJsonString() + "\n\n"), "data: [DONE]\n\n"];
    }

    private static JsonObject? AnswerMessage(JsonObject completion) => completion["choices"]?[0]?["message"] as JsonObject;
}
