using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using PgRuntimeAgent.Agent;

namespace PgRuntimeAgent.Web;

/// <summary>
/// <c>GET /api/v1/events</c>: the agent's events (<see cref="AgentEvent"/>) as Server-Sent Events, for viewers, while
/// the loop runs (<c>pgra run</c>; otherwise 503 saying so). Each event is <c>id</c>, <c>event: NAME</c> and one
/// <c>data:</c> line of redacted JSON (name, at, cluster, incident, severity, title, message, details); a comment line
/// every <see cref="AgentWebHostOptions.EventHeartbeat"/> keeps proxies from closing an idle stream. Each connection
/// has a buffer of <see cref="AgentWebHostOptions.EventBuffer"/> events: a client that lags loses the oldest, and the
/// next thing it reads is an <c>event: dropped</c> saying how many.
/// </summary>
internal static class EventsApi
{
    public const string Dropped = "dropped";

    private static readonly JsonSerializerOptions Compact = new(ApiJson.Options) { WriteIndented = false };

    public static void Map(RouteGroupBuilder api, AgentWebHostOptions options, CancellationToken stopping)
    {
        api.MapGet("/events", async (HttpContext context) =>
        {
            if (context.Request.Query.Count > 0)
            {
                await ApiResults.Error(options.Secrets, StatusCodes.Status400BadRequest, "this route takes no query parameters").ExecuteAsync(context).ConfigureAwait(false);
                return;
            }

            if (options.Live is not { } live)
            {
                await ApiResults.Error(options.Secrets, StatusCodes.Status503ServiceUnavailable,
                    "no agent loop runs in this process (pgra serve hosts the API alone): the event stream needs pgra run").ExecuteAsync(context).ConfigureAwait(false);
                return;
            }

            using var end = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
            using var subscription = live.Subscribe(options.EventBuffer);
            await StreamAsync(context, subscription, options, end.Token).ConfigureAwait(false);
        });
    }

    private static async Task StreamAsync(HttpContext context, EventSubscription subscription, AgentWebHostOptions options, CancellationToken cancellationToken)
    {
        var response = context.Response;
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        long id = 0;
        try
        {
            await WriteAsync(response, ": pgra agent events\n\n", cancellationToken).ConfigureAwait(false);
            Task<bool>? waiting = null;
            while (!cancellationToken.IsCancellationRequested)
            {
                waiting ??= subscription.Reader.WaitToReadAsync(cancellationToken).AsTask();
                using (var beat = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    var heartbeat = Task.Delay(options.EventHeartbeat, options.Time, beat.Token);
                    var first = await Task.WhenAny(waiting, heartbeat).ConfigureAwait(false);
                    await beat.CancelAsync().ConfigureAwait(false);
                    if (first != waiting)
                    {
                        await WriteAsync(response, $": heartbeat {options.Time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture)}\n\n", cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                }

                if (!await waiting.ConfigureAwait(false))
                {
                    return;
                }

                waiting = null;
                var text = new StringBuilder();
                while (subscription.Reader.TryRead(out var e))
                {
                    if (subscription.TakeDropped() is > 0 and var dropped)
                    {
                        var notice = new JsonObject
                        {
                            ["dropped"] = dropped,
                            ["message"] = string.Create(CultureInfo.InvariantCulture, $"this client lagged: the {dropped} oldest event(s) were dropped (buffer {options.EventBuffer})"),
                        };
                        Append(text, ++id, Dropped, notice.ToJsonString(Compact));
                    }

                    Append(text, ++id, e.Name, options.Secrets.RedactJson(ToJson(e).ToJsonString(Compact)));
                }

                await WriteAsync(response, text.ToString(), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client went away or the host stops: the stream simply ends.
        }
    }

    /// <summary>One event's JSON: name, at, cluster, incident, severity, title, message, details.</summary>
    public static JsonObject ToJson(AgentEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var details = new JsonObject();
        foreach (var (k, v) in e.Details.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            details[k] = v;
        }

        return new JsonObject
        {
            ["name"] = e.Name,
            ["at"] = e.At.ToString("O", CultureInfo.InvariantCulture),
            ["cluster"] = e.Cluster,
            ["incident"] = e.Incident,
            ["severity"] = e.Severity,
            ["title"] = e.Title,
            ["message"] = e.Message,
            ["details"] = details,
        };
    }

    private static void Append(StringBuilder text, long id, string name, string json) =>
        text.Append(CultureInfo.InvariantCulture, $"id: {id}\nevent: {name.Replace('\n', ' ').Replace('\r', ' ')}\ndata: {json.Replace("\n", "", StringComparison.Ordinal).Replace("\r", "", StringComparison.Ordinal)}\n\n");

    private static async Task WriteAsync(HttpResponse response, string text, CancellationToken cancellationToken)
    {
        await response.WriteAsync(text, cancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
