using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PgRuntimeAgent.Tests.Brain;

/// <summary>What a loopback server answers a turn: an HTTP status, a JSON body (a whole answer or an error) and extra headers.
/// Status 0 is silence: the request is held open until the server is disposed. Each protocol's <c>Reply</c> derives from it
/// and says how that protocol words an error.</summary>
internal record LoopbackReply(int Status, JsonObject? Body, IReadOnlyDictionary<string, string>? Headers);

/// <summary>
/// The plumbing of a language model on 127.0.0.1 and a free port: one chat path answered with POST, every request recorded
/// (headers and body), each turn decided by a script or played from a recorded conversation (<c>{"turns": [{"response":
/// ...}, ...]}</c>) whose requests are checked as they arrive, answers as one JSON body or, when the request says
/// <c>"stream": true</c>, as server-sent events. A protocol (<c>OpenAiLoopbackModel</c>, <c>AnthropicLoopbackModel</c>)
/// says its error bodies, its replay checks and its event frames.
/// </summary>
/// <remarks>
/// Self-contained (the BCL and System.Text.Json only): the lab tests compile this file too.
/// </remarks>
internal abstract class LoopbackChatServer : IAsyncDisposable, IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly string _chatPath;
    private readonly Func<int, JsonObject, LoopbackReply>? _script;
    private readonly JsonArray? _recorded;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<JsonObject> _requests = [];
    private readonly List<ReceivedRequest> _received = [];
    private readonly List<string> _divergences = [];
    private readonly List<Task> _serving = [];
    private readonly Task _loop;
    private int _disposed;

    /// <summary>One HTTP request as it arrived: method, path, headers (names as sent) and body.</summary>
    internal sealed record ReceivedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body);

    /// <summary>Listens on a free port; <see cref="BaseUrl"/> is the server's root and <paramref name="basePath"/>. Each turn is
    /// answered by <paramref name="script"/>, or, given a <paramref name="recording"/>, by the recording's responses in order.</summary>
    protected LoopbackChatServer(string chatPath, string basePath, Func<int, JsonObject, LoopbackReply>? script, JsonObject? recording)
    {
        _chatPath = chatPath;
        _script = script;
        _recorded = recording is null
            ? null
            : recording["turns"] as JsonArray ?? throw new ArgumentException("a recording has a \"turns\" array", nameof(recording));
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
                BaseUrl = new Uri($"http://127.0.0.1:{port}/{basePath}");
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                // Another listener took the port between the probe and the start: try another.
            }
        }

        _loop = Task.Run(AcceptAsync);
    }

    /// <summary>The base URL a client is given.</summary>
    public Uri BaseUrl { get; }

    /// <summary>The bodies of the chat requests received, in order (turn n is <c>Requests[n - 1]</c>).</summary>
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

    /// <summary>A recorded conversation read from a JSON file.</summary>
    protected static JsonObject ReadRecording(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    /// <summary>The recorded response of <paramref name="turn"/> (from 1, at most the recording's count).</summary>
    protected JsonObject RecordedResponse(int turn) => _recorded![turn - 1]!["response"]!.AsObject();

    /// <summary>What is wrong with request <paramref name="turn"/> (within the recording) against the recording; empty: it is as recorded.</summary>
    protected abstract IReadOnlyList<string> CheckReplayed(int turn, JsonObject request);

    /// <summary>The answer to a request for a path other than the chat path.</summary>
    protected abstract LoopbackReply UnknownPath(string method, string path);

    /// <summary>The answer to a body that is not a JSON object.</summary>
    protected abstract LoopbackReply UnparsableBody(string reason);

    /// <summary>The answer to a request that departed from the recording.</summary>
    protected abstract LoopbackReply Diverged(string problems);

    /// <summary>The answer when the script threw.</summary>
    protected abstract LoopbackReply ScriptFailed(string reason);

    /// <summary>A successful <paramref name="body"/> as the whole text of each server-sent event, in order.</summary>
    protected abstract IEnumerable<string> Events(JsonObject body, JsonObject request);

    /// <summary>A string's value, or null for anything else.</summary>
    protected static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    /// <summary>A request's <c>messages</c>.</summary>
    protected static IEnumerable<JsonObject> Messages(JsonObject request) => (request["messages"] as JsonArray ?? []).OfType<JsonObject>();

    /// <summary>A stable id for an answer: <paramref name="prefix"/> and the first <paramref name="length"/> hex digits of its SHA-256.</summary>
    protected static string ContentId(string prefix, JsonObject answer, int length) =>
        prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(answer.ToJsonString())))[..length];

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

            if (context.Request.HttpMethod != "POST" || path != _chatPath)
            {
                await WriteAsync(context, UnknownPath(context.Request.HttpMethod, path)).ConfigureAwait(false);
                return;
            }

            JsonObject request;
            try
            {
                request = JsonNode.Parse(body)?.AsObject() ?? throw new JsonException("null body");
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                await WriteAsync(context, UnparsableBody(ex.Message)).ConfigureAwait(false);
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
                await StreamAsync(context, Events(reply.Body!, request)).ConfigureAwait(false);
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

    private LoopbackReply Decide(int turn, JsonObject request)
    {
        if (_recorded is not null)
        {
            IReadOnlyList<string> problems = turn > _recorded.Count
                ? [$"turn {turn}: the client sent another request, the recording has {_recorded.Count} turn(s)"]
                : CheckReplayed(turn, request);
            if (problems.Count == 0)
            {
                return new LoopbackReply(200, RecordedResponse(turn).DeepClone().AsObject(), null);
            }

            lock (_requests)
            {
                _divergences.AddRange(problems);
            }

            return Diverged(string.Join("; ", problems));
        }

        try
        {
            return _script!(turn, request);
        }
        catch (Exception ex)
        {
            lock (_requests)
            {
                _divergences.Add($"turn {turn}: the script threw {ex.GetType().Name}: {ex.Message}");
            }

            return ScriptFailed(ex.Message);
        }
    }

    private static async Task WriteAsync(HttpListenerContext context, LoopbackReply reply)
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

    /// <summary>A <c>text/event-stream</c> answer, each event written and flushed on its own.</summary>
    private static async Task StreamAsync(HttpListenerContext context, IEnumerable<string> events)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream";
        context.Response.SendChunked = true;
        var output = context.Response.OutputStream;
        foreach (var text in events)
        {
            await output.WriteAsync(Encoding.UTF8.GetBytes(text)).ConfigureAwait(false);
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
