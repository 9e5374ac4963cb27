using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PgRuntimeAgent.Tests.Brain;

/// <summary>
/// A language model on 127.0.0.1 and a free port that speaks OpenAI's chat-completions protocol: <c>POST /v1/chat/completions</c>,
/// answered as one JSON body, or as server-sent <c>data:</c> chunks ending <c>data: [DONE]</c> when the request says
/// <c>"stream": true</c>. Each turn is decided by a script (<see cref="Start"/>: the turn's number from 1 and the request,
/// whose messages carry the previous tool results) or played from a recorded conversation (<see cref="Replay(string)"/>),
/// whose requests are checked against the recording as they arrive. Every request is recorded, its headers and body, so
/// a test asserts what the client sent.
/// </summary>
/// <remarks>
/// Self-contained (the BCL and System.Text.Json only): the lab tests compile this file too.
/// </remarks>
internal sealed class OpenAiLoopbackModel : IAsyncDisposable, IDisposable
{
    /// <summary>The <c>created</c> of every answer (2026-01-01T00:00:00Z): fixed, the clock is not the server's business.</summary>
    private const long Created = 1_767_225_600;

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

    /// <summary>What the server answers a turn: an HTTP status, a JSON body (a whole chat completion or an error) and extra headers.</summary>
    internal sealed record Reply(int Status, JsonObject? Body, IReadOnlyDictionary<string, string>? Headers = null)
    {
        /// <summary>No answer at all: the request is held open until the server is disposed.</summary>
        public static Reply Silence { get; } = new(0, null);

        /// <summary>An error as OpenAI answers one: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
        public static Reply Error(int status, string message, string type, string? code = null, IReadOnlyDictionary<string, string>? headers = null) =>
            new(status, new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = null, ["code"] = code } }, headers);
    }

    /// <summary>One HTTP request as it arrived: method, path, headers (names as sent) and body.</summary>
    internal sealed record ReceivedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body);

    private OpenAiLoopbackModel(Func<int, JsonObject, Reply> answer, JsonArray? recorded)
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
                BaseUrl = new Uri($"http://127.0.0.1:{port}/v1/");
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                // Another listener took the port between the probe and the start: try another.
            }
        }

        _loop = Task.Run(AcceptAsync);
    }

    /// <summary>The base URL a client is given, <c>http://127.0.0.1:port/v1/</c>.</summary>
    public Uri BaseUrl { get; }

    /// <summary>The bodies of the chat-completion requests received, in order (turn n is <c>Requests[n - 1]</c>).</summary>
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
    public static OpenAiLoopbackModel Replay(string path) => Replay(JsonNode.Parse(File.ReadAllText(path))!.AsObject());

    /// <summary>
    /// Plays the recording's responses in order. Each request is checked first: it must offer every tool the response it
    /// gets calls, and from the second turn on carry the previous response's tool calls (the assistant message with their
    /// ids and names) and a <c>tool</c> message answering each id. A request that departs gets HTTP 400 and is listed in
    /// <see cref="Divergences"/>; <see cref="EnsureReplayed"/> throws with all of them.
    /// </summary>
    public static OpenAiLoopbackModel Replay(JsonObject recording)
    {
        ArgumentNullException.ThrowIfNull(recording);
        var turns = recording["turns"]?.AsArray() ?? throw new ArgumentException("a recording has a \"turns\" array", nameof(recording));
        return new OpenAiLoopbackModel((_, _) => throw new InvalidOperationException("replay answers through the recording"), turns);
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
            ["id"] = "chatcmpl-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(message.ToJsonString())))[..29],
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

    private static IEnumerable<JsonObject> Messages(JsonObject request) => (request["messages"] as JsonArray ?? []).OfType<JsonObject>();

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static IEnumerable<(string Id, string Name, string Arguments)> ToolCalls(JsonObject? message) =>
        (message?["tool_calls"] as JsonArray ?? []).OfType<JsonObject>()
            .Select(c => (Text(c["id"]) ?? "", Text(c["function"]?["name"]) ?? "", Text(c["function"]?["arguments"]) ?? ""));

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

            if (context.Request.HttpMethod != "POST" || path != "/v1/chat/completions")
            {
                await WriteAsync(context, Reply.Error(404, $"Unknown request URL: {context.Request.HttpMethod} {path}.", "invalid_request_error", "unknown_url")).ConfigureAwait(false);
                return;
            }

            JsonObject request;
            try
            {
                request = JsonNode.Parse(body)?.AsObject() ?? throw new JsonException("null body");
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                await WriteAsync(context, Reply.Error(400, "We could not parse the JSON body of your request: " + ex.Message, "invalid_request_error")).ConfigureAwait(false);
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
                await StreamAsync(context, reply, request).ConfigureAwait(false);
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

            return Reply.Error(400, "loopback replay: " + string.Join("; ", problems), "invalid_request_error", "replay_diverged");
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

            return Reply.Error(500, "loopback script failed: " + ex.Message, "server_error");
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
        var response = _recorded[turn - 1]!["response"]!.AsObject();
        foreach (var (_, name, _) in ToolCalls(response["choices"]?[0]?["message"] as JsonObject))
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

        var messages = Messages(request).ToList();
        var echoed = messages.Where(m => Text(m["role"]) == "assistant").SelectMany(ToolCalls).ToList();
        var answered = ToolResults(request).Select(m => Text(m["tool_call_id"])).ToHashSet(StringComparer.Ordinal);
        var previous = _recorded[turn - 2]!["response"]!["choices"]?[0]?["message"] as JsonObject;
        foreach (var (id, name, _) in ToolCalls(previous))
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
    /// The completion as <c>chat.completion.chunk</c> events: the role, the text in two pieces, each tool call's id and
    /// name with the first half of its arguments then the rest, the finish reason, the usage when
    /// <c>stream_options.include_usage</c> asks for it, and <c>[DONE]</c>.
    /// </summary>
    private static async Task StreamAsync(HttpListenerContext context, Reply reply, JsonObject request)
    {
        var completion = reply.Body!;
        var choice = completion["choices"]![0]!;
        var message = choice["message"]!.AsObject();
        JsonObject Chunk(JsonObject delta, string? finish) => new()
        {
            ["id"] = completion["id"]?.DeepClone(),
            ["object"] = "chat.completion.chunk",
            ["created"] = completion["created"]?.DeepClone(),
            ["model"] = completion["model"]?.DeepClone(),
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
            last["usage"] = completion["usage"]?.DeepClone();
            chunks.Add(last);
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream";
        context.Response.SendChunked = true;
        var output = context.Response.OutputStream;
        foreach (var chunk in chunks)
        {
            await output.WriteAsync(Encoding.UTF8.GetBytes("data: " + chunk.ToJsonString() + "\n\n")).ConfigureAwait(false);
            await output.FlushAsync().ConfigureAwait(false);
        }

        await output.WriteAsync("data: [DONE]\n\n"u8.ToArray()).ConfigureAwait(false);
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
