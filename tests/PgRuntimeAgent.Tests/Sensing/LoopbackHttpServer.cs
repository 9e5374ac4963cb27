using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PgRuntimeAgent.Tests.Sensing;

/// <summary>A real HTTP server on 127.0.0.1 and a free port, serving canned answers and recording every request.</summary>
internal sealed class LoopbackHttpServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<HttpListenerRequest, Task<Reply>> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public sealed record Reply(int Status, string Body, string ContentType = "application/json");

    public ConcurrentQueue<Uri> Requests { get; } = new();

    public ConcurrentQueue<string?> AuthorizationHeaders { get; } = new();

    public Uri BaseUrl { get; }

    public int Port { get; }

    public LoopbackHttpServer(Func<HttpListenerRequest, Task<Reply>> handler)
    {
        _handler = handler;
        for (var attempt = 0; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
            }
        }

        BaseUrl = new Uri($"http://127.0.0.1:{Port}/");
        _loop = Task.Run(LoopAsync);
    }

    public LoopbackHttpServer(Func<HttpListenerRequest, Reply> handler)
        : this(r => Task.FromResult(handler(r)))
    {
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                Requests.Enqueue(context.Request.Url!);
                AuthorizationHeaders.Enqueue(context.Request.Headers["Authorization"]);
                try
                {
                    var reply = await _handler(context.Request);
                    var bytes = Encoding.UTF8.GetBytes(reply.Body);
                    context.Response.StatusCode = reply.Status;
                    context.Response.ContentType = reply.ContentType;
                    context.Response.ContentLength64 = bytes.Length;
                    await context.Response.OutputStream.WriteAsync(bytes);
                    context.Response.Close();
                }
                catch (Exception)
                {
                    try
                    {
                        context.Response.Abort();
                    }
                    catch (ObjectDisposedException)
                    {
                    }
                }
            });
        }
    }

    private bool _disposed;

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _stop.CancelAsync();
        try
        {
            _listener.Stop();
            _listener.Close();
        }
        catch (HttpListenerException)
        {
            // HttpListener on Linux may try to bind the port again while removing its prefix, and fail when another
            // test's listener holds it now ("Address already in use", seen once in CI): closing is best effort.
        }

        try
        {
            await _loop;
        }
        catch (Exception)
        {
            // The loop ends with the listener.
        }

        _stop.Dispose();
    }
}
