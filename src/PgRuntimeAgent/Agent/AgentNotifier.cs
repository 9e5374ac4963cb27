using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;

namespace PgRuntimeAgent.Agent;

/// <summary>
/// Sends the events <see cref="NotifySettings.Events"/> names to standard output and to a webhook (generic JSON or
/// Slack). Events are queued and sent by one background task, so a slow or dead webhook never holds the agent up; a
/// failed POST is retried once and then logged. The webhook URL is revealed only to open the connection, and every
/// text sent is redacted.
/// </summary>
internal sealed partial class AgentNotifier : IAgentObserver, IAsyncDisposable
{
    private readonly NotifySettings _settings;
    private readonly SecretStore _secrets;
    private readonly TextWriter? _stdout;
    private readonly ILogger _logger;
    private readonly HttpClient? _http;
    private readonly HashSet<string> _events;
    private readonly Channel<AgentEvent> _queue = Channel.CreateBounded<AgentEvent>(new BoundedChannelOptions(1000)
    {
        FullMode = BoundedChannelFullMode.DropOldest,
        SingleReader = true,
    });

    private readonly Task _sender;

    public AgentNotifier(NotifySettings settings, SecretStore secrets, TextWriter? stdout, ILogger<AgentNotifier>? logger = null,
        HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(secrets);
        _settings = settings;
        _secrets = secrets;
        _stdout = settings.Stdout ? stdout : null;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _events = new HashSet<string>(settings.Events, StringComparer.Ordinal);
        if (settings.WebhookUrl is not null)
        {
            _http = SensingHttp.CreateOutboundClient(handler);
        }

        _sender = Task.Run(SendLoopAsync);
    }

    /// <summary>Events sent to the webhook so far (tests, the demo's summary).</summary>
    public int Sent { get; private set; }

    public int Failed { get; private set; }

    public bool Wants(string eventName) => _events.Contains(eventName);

    public void OnEvent(AgentEvent agentEvent)
    {
        ArgumentNullException.ThrowIfNull(agentEvent);
        if (Wants(agentEvent.Name))
        {
            _queue.Writer.TryWrite(agentEvent);
        }
    }

    /// <summary>Sends what is queued, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _sender.ConfigureAwait(false);
        _http?.Dispose();
    }

    /// <summary>The body POSTed for <paramref name="e"/> in <paramref name="format"/>.</summary>
    public static string Body(AgentEvent e, NotifyFormat format)
    {
        ArgumentNullException.ThrowIfNull(e);
        JsonObject body;
        if (format == NotifyFormat.Slack)
        {
            var icon = e.Name switch
            {
                AgentEventNames.IncidentResolved => ":white_check_mark:",
                AgentEventNames.ApprovalRequested => ":raised_hand:",
                _ when e.Severity == "critical" => ":rotating_light:",
                _ => ":warning:",
            };
            var text = new StringBuilder()
                .Append(icon).Append(" *[").Append(e.Cluster ?? "pgra").Append("] ").Append(e.Name).Append("* (").Append(e.Severity).Append(')')
                .Append(e.Incident is null ? "" : $" `{e.Incident}`").Append('\n').Append(e.Title);
            if (!string.IsNullOrWhiteSpace(e.Message))
            {
                text.Append('\n').Append(e.Message);
            }

            body = new JsonObject { ["text"] = text.ToString() };
        }
        else
        {
            var details = new JsonObject();
            foreach (var (key, value) in e.Details.OrderBy(d => d.Key, StringComparer.Ordinal))
            {
                details[key] = value;
            }

            body = new JsonObject
            {
                ["source"] = "pgra",
                ["event"] = e.Name,
                ["at"] = e.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
                ["cluster"] = e.Cluster,
                ["incident"] = e.Incident,
                ["severity"] = e.Severity,
                ["title"] = e.Title,
                ["message"] = e.Message,
                ["details"] = details,
            };
        }

        return body.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    private async Task SendLoopAsync()
    {
        await foreach (var e in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (_stdout is not null)
            {
                try
                {
                    await _stdout.WriteLineAsync(_secrets.Redact(e.ToLine())).ConfigureAwait(false);
                    await _stdout.FlushAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException)
                {
                    LogStdoutFailed(_logger, LogRedaction.Exception(ex, _secrets));
                }
            }

            if (_http is not null && _settings.WebhookUrl is { } secret && _secrets.TryReveal(secret, out var url))
            {
                await PostAsync(url, _secrets.Redact(Body(e, _settings.Format)), e).ConfigureAwait(false);
            }
        }
    }

    private async Task PostAsync(string url, string body, AgentEvent e)
    {
        string? error = null;
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(Math.Max(0.1, _settings.TimeoutSeconds)));
            try
            {
                using var content = new StringContent(body, Encoding.UTF8);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                using var response = await _http!.PostAsync(new Uri(url), content, timeout.Token).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    Sent++;
                    return;
                }

                error = $"HTTP {(int)response.StatusCode}";
            }
            catch (OperationCanceledException)
            {
                error = $"no answer within {_settings.TimeoutSeconds} s";
            }
            catch (HttpRequestException ex)
            {
                error = ex.Message;
            }
            catch (UriFormatException ex)
            {
                error = ex.Message;
                break;
            }
        }

        Failed++;
        LogWebhookFailed(_logger, e.Name, e.Cluster ?? "-", LogRedaction.Text(error, _secrets));
    }

    [LoggerMessage(EventId = 7150, Level = LogLevel.Warning, Message = "Notification {Event} for {Cluster} not delivered to the webhook: {Error}")]
    private static partial void LogWebhookFailed(ILogger logger, string @event, string cluster, string error);

    [LoggerMessage(EventId = 7151, Level = LogLevel.Warning, Message = "Notification not written to standard output: {Error}")]
    private static partial void LogStdoutFailed(ILogger logger, string error);
}
