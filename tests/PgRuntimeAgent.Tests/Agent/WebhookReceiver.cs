using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace PgRuntimeAgent.Tests.Agent;

/// <summary>
/// Webhooks on the loopback (127.0.0.1, a free port): every POST is recorded as it arrives and answered 200, each on
/// its own task, so one held request never holds another. Requests to a path under <c>/hang</c> are answered only
/// once <see cref="Release"/> is called (a webhook that does not answer).
/// </summary>
internal sealed class WebhookReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly List<Received> _received = [];
    private readonly List<(Func<Received, bool> Match, TaskCompletionSource<Received> Done)> _waiters = [];
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public WebhookReceiver()
    {
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _ = Task.Run(LoopAsync);
    }

    public int Port { get; }

    /// <summary>The URL of <paramref name="path"/> (without a leading slash) on this receiver.</summary>
    public string Url(string path) => $"http://127.0.0.1:{Port}/{path}";

    /// <summary>What arrived so far, in order.</summary>
    public IReadOnlyList<Received> All
    {
        get
        {
            lock (_received)
            {
                return [.. _received];
            }
        }
    }

    /// <summary>The bodies that arrived at <paramref name="path"/>, parsed.</summary>
    public IReadOnlyList<JsonElement> At(string path) => All.Where(r => r.Path == path).Select(r => r.Json).ToList();

    /// <summary>The first request (already arrived or to come) that <paramref name="match"/> accepts.</summary>
    public Task<Received> WaitForAsync(Func<Received, bool> match)
    {
        lock (_received)
        {
            if (_received.FirstOrDefault(match) is { } seen)
            {
                return Task.FromResult(seen);
            }

            var done = new TaskCompletionSource<Received>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, done));
            return done.Task;
        }
    }

    /// <summary>Lets the held <c>/hang</c> requests be answered.</summary>
    public void Release() => _release.TrySetResult();

    public void Dispose()
    {
        Release();
        _listener.Close();
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        try
        {
            using var reader = new StreamReader(context.Request.InputStream);
            var body = await reader.ReadToEndAsync();
            var received = new Received(context.Request.Url!.AbsolutePath, body, context.Request.ContentType ?? "");
            List<TaskCompletionSource<Received>> done;
            lock (_received)
            {
                _received.Add(received);
                done = _waiters.Where(w => w.Match(received)).Select(w => w.Done).ToList();
                _waiters.RemoveAll(w => done.Contains(w.Done));
            }

            foreach (var d in done)
            {
                d.TrySetResult(received);
            }

            if (received.Path.StartsWith("/hang", StringComparison.Ordinal))
            {
                await _release.Task;
            }

            context.Response.StatusCode = 200;
            context.Response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or IOException)
        {
            // The notifier gave up (its timeout) or the receiver closed.
        }
    }

    /// <summary>A port nothing listens on now, on 127.0.0.1.</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>One POST: its path, body and content type.</summary>
    internal sealed record Received(string Path, string Body, string ContentType)
    {
        public JsonElement Json
        {
            get
            {
                using var doc = JsonDocument.Parse(Body);
                return doc.RootElement.Clone();
            }
        }

        /// <summary>The event a generic body names, or the Slack text.</summary>
        public string Event => Json.TryGetProperty("event", out var e) ? e.GetString()! : Json.GetProperty("text").GetString()!;
    }
}
