using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PgRuntimeAgent.Tests.Brain;

/// <summary>
/// A language model on 127.0.0.1 and a free port that speaks Anthropic's Messages API: <c>POST /v1/messages</c>, answered
/// as one message body, or as the documented event stream (<c>message_start</c>, <c>content_block_start</c>,
/// <c>content_block_delta</c> with <c>text_delta</c> or <c>input_json_delta</c>, <c>content_block_stop</c>,
/// <c>message_delta</c>, <c>message_stop</c>) when the request says <c>"stream": true</c>. Each turn is decided by a
/// script (<see cref="Start"/>: the turn's number from 1 and the request, whose last user message carries the previous
/// <c>tool_result</c> blocks) or played from a recorded conversation (<see cref="Replay(string)"/>), whose requests are
/// checked against the recording as they arrive. Every request is recorded, its headers and body.
/// </summary>
/// <remarks>
/// Self-contained (the BCL and System.Text.Json only): the lab tests compile this file too.
/// </remarks>
internal sealed class AnthropicLoopbackModel : IAsyncDisposable, IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<int, JsonObject, Reply> _answer;
    private readonly JsonArray? _recorded;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<JsonObject> _requests = [];
    private readonly List<ReceivedRequest> _received = [];
    private readonly List<string> _divergences = [];
    private readonly List<Task> _serving = [];
    private readonly Task _loop;
    private int _disposed;

    /// <summary>What the server answers a turn: an HTTP status, a JSON body (a whole message or an error) and extra headers.</summary>
    internal sealed record Reply(int Status, JsonObject? Body, IReadOnlyDictionary<string, string>? Headers = null)
    {
        /// <summary>No answer at all: the request is held open until the server is disposed.</summary>
        public static Reply Silence { get; } = new(0, null);

        /// <summary>An error as Anthropic answers one: <c>{"type": "error", "error": {"type", "message"}}</c>.</summary>
        public static Reply Error(int status, string type, string message, IReadOnlyDictionary<string, string>? headers = null) =>
            new(status, new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = type, ["message"] = message } }, headers);
    }

    /// <summary>One HTTP request as it arrived: method, path, headers (names as sent) and body.</summary>
    internal sealed record ReceivedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body);

    private AnthropicLoopbackModel(Func<int, JsonObject, Reply> answer, JsonArray? recorded)
    {
        _answer = answer;
        _recorded = recorded;
        for (var attempt = 0; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                _listener.Start();
                BaseUrl = new Uri($"http://127.0.0.1:{port}/");
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                // Another listener took the port between the probe and the start: try another.
            }
        }

        _loop = Task.Run(AcceptAsync);
    }

    /// <summary>The base URL a client is given, <c>http://127.0.0.1:port/</c> (Anthropic's SDK appends <c>/v1/messages</c>).</summary>
    public Uri BaseUrl { get; }

    /// <summary>The bodies of the message requests received, in order (turn n is <c>Requests[n - 1]</c>).</summary>
    public IReadOnlyList<JsonObject> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Every HTTP request received, any path, in order.</summary>
    public IReadOnlyList<ReceivedRequest> Received
    {
        get
        {
            lock (_requests)
            {
                return [.. _received];
            }
        }
    }

    /// <summary>Where the client's requests departed from the recording (replay) or the script threw; empty when all went as recorded.</summary>
    public IReadOnlyList<string> Divergences
    {
        get
        {
            lock (_requests)
            {
                return [.. _divergences];
            }
        }
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
    public static AnthropicLoopbackModel Replay(string path) => Replay(JsonNode.Parse(File.ReadAllText(path))!.AsObject());

    /// <summary>
    /// Plays the recording's responses in order. Each request is checked first: it must offer every tool the response it
    /// gets uses, and from the second turn on carry the previous response's <c>tool_use</c> blocks (ids and names) in an
    /// assistant message and a <c>tool_result</c> block for each id in a user message. A request that departs gets HTTP
    /// 400 and is listed in <see cref="Divergences"/>; <see cref="EnsureReplayed"/> throws with all of them.
    /// </summary>
    public static AnthropicLoopbackModel Replay(JsonObject recording)
    {
        ArgumentNullException.ThrowIfNull(recording);
        var turns = recording["turns"]?.AsArray() ?? throw new ArgumentException("a recording has a \"turns\" array", nameof(recording));
        return new AnthropicLoopbackModel((_, _) => throw new InvalidOperationException("replay answers through the recording"), turns);
    }

    /// <summary>Throws, saying what, when the client departed from the recording or did not play all of it.</summary>
    public void EnsureReplayed()
    {
        var problems = Divergences.ToList();
        var played = Requests.Count;
        if (_recorded is not null && played < _recorded.Count)
        {
            problems.Add($"the recording has {_recorded.Count} turns, the client sent {played} request(s)");
        }

        if (problems.Count > 0)
        {
            throw new InvalidOperationException("the conversation departed from the recording:\n- " + string.Join("\n- ", problems));
        }
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
        full["id"] ??= "msg_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(message.ToJsonString())))[..24];
        full["type"] ??= "message";
        full["role"] ??= "assistant";
        full["model"] ??= model ?? "loopback";
        full["stop_reason"] ??= content.OfType<JsonObject>().Any(b => Text(b["type"]) == "tool_use") ? "tool_use" : "end_turn";
        full["stop_sequence"] ??= null;
        full["usage"] ??= new JsonObject { ["input_tokens"] = 100, ["output_tokens"] = 10 };
        return full;
    }

    private static IEnumerable<JsonObject> Messages(JsonObject request) => (request["messages"] as JsonArray ?? []).OfType<JsonObject>();

    /// <summary>A message's content blocks (a string content is one text block).</summary>
    private static IEnumerable<JsonObject> Blocks(JsonObject message) =>
        message["content"] switch
        {
            JsonArray blocks => blocks.OfType<JsonObject>(),
            var node when Text(node) is { } text => [Block(text)],
            _ => [],
        };

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static IEnumerable<(string Id, string Name)> ToolUses(JsonObject message) =>
        Blocks(message).Where(b => Text(b["type"]) == "tool_use").Select(b => (Text(b["id"]) ?? "", Text(b["name"]) ?? ""));

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            lock (_serving)
            {
                _serving.RemoveAll(t => t.IsCompleted);
                _serving.Add(Task.Run(() => ServeAsync(context)));
            }
        }
    }

    private async Task ServeAsync(HttpListenerContext context)
    {
        try
        {
            string body;
            using (var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8))
            {
                body = await reader.ReadToEndAsync(_stop.Token).ConfigureAwait(false);
            }

            var headers = context.Request.Headers.AllKeys.OfType<string>()
                .ToDictionary(k => k, k => context.Request.Headers[k] ?? "", StringComparer.OrdinalIgnoreCase);
            var path = context.Request.Url?.AbsolutePath ?? "";
            lock (_requests)
            {
                _received.Add(new ReceivedRequest(context.Request.HttpMethod, path, headers, body));
            }

            if (context.Request.HttpMethod != "POST" || path != "/v1/messages")
            {
                await WriteAsync(context, Reply.Error(404, "not_found_error", $"Not found: {context.Request.HttpMethod} {path}")).ConfigureAwait(false);
                return;
            }

            JsonObject request;
            try
            {
                request = JsonNode.Parse(body)?.AsObject() ?? throw new JsonException("null body");
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                await WriteAsync(context, Reply.Error(400, "invalid_request_error", "The request body is not valid JSON: " + ex.Message)).ConfigureAwait(false);
                return;
            }

            int turn;
            lock (_requests)
            {
                _requests.Add(request);
                turn = _requests.Count;
            }

            var reply = Decide(turn, request);
            if (reply.Status == 0)
            {
                await Task.Delay(Timeout.Infinite, _stop.Token).ConfigureAwait(false);
            }

            if (reply.Status == 200 && request["stream"] is JsonValue stream && stream.TryGetValue<bool>(out var streaming) && streaming)
            {
                await StreamAsync(context, reply.Body!).ConfigureAwait(false);
            }
            else
            {
                await WriteAsync(context, reply).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpListenerException or IOException or ObjectDisposedException)
        {
            // The server is stopping or the client went away: drop the exchange.
            try
            {
                context.Response.Abort();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    private Reply Decide(int turn, JsonObject request)
    {
        if (_recorded is not null)
        {
            var problems = Check(turn, request);
            if (problems.Count == 0)
            {
                return new Reply(200, _recorded[turn - 1]!["response"]!.AsObject().DeepClone().AsObject());
            }

            lock (_requests)
            {
                _divergences.AddRange(problems);
            }

            return Reply.Error(400, "invalid_request_error", "loopback replay: " + string.Join("; ", problems));
        }

        try
        {
            return _answer(turn, request);
        }
        catch (Exception ex)
        {
            lock (_requests)
            {
                _divergences.Add($"turn {turn}: the script threw {ex.GetType().Name}: {ex.Message}");
            }

            return Reply.Error(500, "api_error", "loopback script failed: " + ex.Message);
        }
    }

    /// <summary>What is wrong with request <paramref name="turn"/> against the recording (empty: it is as recorded).</summary>
    private List<string> Check(int turn, JsonObject request)
    {
        var problems = new List<string>();
        if (turn > _recorded!.Count)
        {
            problems.Add($"turn {turn}: the client sent another request, the recording has {_recorded.Count} turn(s)");
            return problems;
        }

        var offered = OfferedTools(request);
        foreach (var (_, name) in ToolUses(_recorded[turn - 1]!["response"]!.AsObject()))
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
        foreach (var (id, name) in ToolUses(_recorded[turn - 2]!["response"]!.AsObject()))
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

    private static async Task WriteAsync(HttpListenerContext context, Reply reply)
    {
        var bytes = Encoding.UTF8.GetBytes(reply.Body?.ToJsonString() ?? "");
        context.Response.StatusCode = reply.Status;
        context.Response.ContentType = "application/json";
        foreach (var (name, value) in reply.Headers ?? new Dictionary<string, string>())
        {
            context.Response.Headers[name] = value;
        }

        context.Response.ContentLength64 = bytes.Length;
        await context.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
        context.Response.Close();
    }

    /// <summary>
    /// The message as Anthropic's event stream: <c>message_start</c> (no content, no stop reason), a <c>ping</c>, each block
    /// as <c>content_block_start</c>, two deltas (text in halves as <c>text_delta</c>, a tool's input JSON in halves as
    /// <c>input_json_delta</c>) and <c>content_block_stop</c>, then <c>message_delta</c> (stop reason, output tokens) and
    /// <c>message_stop</c>.
    /// </summary>
    private static async Task StreamAsync(HttpListenerContext context, JsonObject message)
    {
        var events = new List<(string Name, JsonObject Data)>();
        var start = message.DeepClone().AsObject();
        start["content"] = new JsonArray();
        start["stop_reason"] = null;
        start["stop_sequence"] = null;
        start["usage"] = new JsonObject { ["input_tokens"] = message["usage"]?["input_tokens"]?.DeepClone(), ["output_tokens"] = 1 };
        events.Add(("message_start", new JsonObject { ["type"] = "message_start", ["message"] = start }));
        events.Add(("ping", new JsonObject { ["type"] = "ping" }));
        var index = 0;
        foreach (var block in Blocks(message))
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
            ["delta"] = new JsonObject { ["stop_reason"] = message["stop_reason"]?.DeepClone(), ["stop_sequence"] = message["stop_sequence"]?.DeepClone() },
            ["usage"] = new JsonObject { ["output_tokens"] = message["usage"]?["output_tokens"]?.DeepClone() },
        }));
        events.Add(("message_stop", new JsonObject { ["type"] = "message_stop" }));

        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream";
        context.Response.SendChunked = true;
        var output = context.Response.OutputStream;
        foreach (var (name, data) in events)
        {
            await output.WriteAsync(Encoding.UTF8.GetBytes($"event: {name}\ndata: {data.ToJsonString()}\n\n")).ConfigureAwait(false);
            await output.FlushAsync().ConfigureAwait(false);
        }

        context.Response.Close();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            _listener.Stop();
            _listener.Close();
        }
        catch (HttpListenerException)
        {
            // Closing is best effort (the managed listener may fail to release a port another test now holds).
        }

        Task[] serving;
        lock (_serving)
        {
            serving = [.. _serving, _loop];
        }

        try
        {
            await Task.WhenAll(serving).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpListenerException or ObjectDisposedException)
        {
            // The exchanges end with the listener.
        }

        _stop.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
