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
/// Sends the events <see cref="NotifySettings.Events"/> names to standard output, and to each webhook
/// (<see cref="NotifySettings.WebhookUrl"/> and <see cref="NotifySettings.Webhooks"/>) the events it wants, as generic
/// JSON or Slack, with a link to the console's page of the event. Events are queued and sent by one background task,
/// so a slow or dead webhook never holds the agent up; the webhooks of one event are posted together, each within
/// <see cref="NotifySettings.TimeoutSeconds"/> (a failed POST is retried once while that time lasts, then logged), so a
/// dead webhook never delays another longer than its timeout. Webhook URLs are revealed only to open the
/// connection, and every text sent is redacted.
/// </summary>
internal sealed partial class AgentNotifier : IAgentObserver, IAsyncDisposable
{
    private readonly NotifySettings _settings;
    private readonly SecretStore _secrets;
    private readonly TextWriter? _stdout;
    private readonly ILogger _logger;
    private readonly HttpClient? _http;
    private readonly Uri? _console;
    private readonly HashSet<string> _events;
    private readonly IReadOnlyList<Target> _targets;
    private readonly Channel<AgentEvent> _queue = Channel.CreateBounded<AgentEvent>(new BoundedChannelOptions(1000)
    {
        FullMode = BoundedChannelFullMode.DropOldest,
        SingleReader = true,
    });

    private readonly Task _sender;
    private int _sent;
    private int _failed;

    /// <param name="console">The console's base address for links (<see cref="NotifySettings.ConsoleBase"/>); null: no links.</param>
    public AgentNotifier(NotifySettings settings, SecretStore secrets, TextWriter? stdout, ILogger<AgentNotifier>? logger = null,
        HttpMessageHandler? handler = null, Uri? console = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(secrets);
        _settings = settings;
        _secrets = secrets;
        _stdout = settings.Stdout ? stdout : null;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _console = console;
        _events = new HashSet<string>(settings.Events, StringComparer.Ordinal);
        var targets = new List<Target>();
        if (settings.WebhookUrl is { } single)
        {
            targets.Add(new Target("webhook_url", single, settings.Format, _events));
        }

        for (var i = 0; i < settings.Webhooks.Count; i++)
        {
            if (settings.Webhooks[i] is { Url: { } url } w)
            {
                targets.Add(new Target(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"webhooks[{i}]"), url, w.Format,
                    w.Events is null ? _events : new HashSet<string>(w.Events, StringComparer.Ordinal)));
            }
        }

        _targets = targets;
        if (targets.Count > 0)
        {
            _http = SensingHttp.CreateOutboundClient(handler);
        }

        _sender = Task.Run(SendLoopAsync);
    }

    /// <summary>Deliveries to a webhook so far, one per event and webhook (tests, the demo's summary).</summary>
    public int Sent => Volatile.Read(ref _sent);

    /// <summary>Deliveries that failed (after the retry), one per event and webhook.</summary>
    public int Failed => Volatile.Read(ref _failed);

    /// <summary>True when standard output or a webhook is sent <paramref name="eventName"/>.</summary>
    public bool Wants(string eventName) => (_stdout is not null && _events.Contains(eventName)) || _targets.Any(t => t.Events.Contains(eventName));

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

    /// <summary>
    /// The body POSTed for <paramref name="e"/> in <paramref name="format"/>, linking to the console's page of the
    /// event (<see cref="ConsoleLinks.For"/>) when <paramref name="console"/> is given: a generic body's <c>link</c>
    /// (null without a console), a Slack text's last line.
    /// </summary>
    public static string Body(AgentEvent e, NotifyFormat format, Uri? console = null)
    {
        ArgumentNullException.ThrowIfNull(e);
        var link = ConsoleLinks.For(e, console);
        JsonObject body;
        if (format == NotifyFormat.Slack)
        {
            var icon = e.Name switch
            {
                AgentEventNames.IncidentResolved => ":white_check_mark:",
                AgentEventNames.ApprovalRequested => ":raised_hand:",
                AgentEventNames.SensorRestored => ":white_check_mark:",
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

            if (link is not null)
            {
                text.Append('\n').Append('<').Append(link).Append("|Open in the console>");
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
                ["link"] = link,
                ["details"] = details,
            };
        }

        return body.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    private async Task SendLoopAsync()
    {
        await foreach (var e in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (_stdout is not null && _events.Contains(e.Name))
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

            // Every webhook of the event at once: each gets its own timeout, so a dead one delays the others no longer.
            var posts = new List<Task>();
            foreach (var target in _targets)
            {
                if (_http is not null && target.Events.Contains(e.Name) && _secrets.TryReveal(target.Url, out var url))
                {
                    posts.Add(PostAsync(target, url, _secrets.Redact(Body(e, target.Format, _console)), e));
                }
            }

            await Task.WhenAll(posts).ConfigureAwait(false);
        }
    }

    /// <summary>Posts <paramref name="body"/>; a failure is retried once while <see cref="NotifySettings.TimeoutSeconds"/> lasts, then logged. Never throws.</summary>
    private async Task PostAsync(Target target, string url, string body, AgentEvent e)
    {
        string? error = null;
        var budget = TimeSpan.FromSeconds(Math.Max(0.1, _settings.TimeoutSeconds));
        using var timeout = new CancellationTokenSource(budget);
        for (var attempt = 1; attempt <= 2 && !timeout.IsCancellationRequested; attempt++)
        {
            try
            {
                using var content = new StringContent(body, Encoding.UTF8);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                using var response = await _http!.PostAsync(new Uri(url), content, timeout.Token).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref _sent);
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
            catch (Exception ex) when (ex is UriFormatException or NotSupportedException or InvalidOperationException)
            {
                // Not a URL this client can post to (a scheme other than http/https): retrying will not help.
                error = ex.Message;
                break;
            }
        }

        Interlocked.Increment(ref _failed);
        LogWebhookFailed(_logger, e.Name, e.Cluster ?? "-", target.Name, LogRedaction.Text(error, _secrets));
    }

    /// <summary>One webhook: its settings key (for logs; never its URL), URL, format and events.</summary>
    private sealed record Target(string Name, SecretRef Url, NotifyFormat Format, IReadOnlySet<string> Events);

    [LoggerMessage(EventId = 7150, Level = LogLevel.Warning, Message = "Notification {Event} for {Cluster} not delivered to the webhook {Webhook}: {Error}")]
    private static partial void LogWebhookFailed(ILogger logger, string @event, string cluster, string webhook, string error);

    [LoggerMessage(EventId = 7151, Level = LogLevel.Warning, Message = "Notification not written to standard output: {Error}")]
    private static partial void LogStdoutFailed(ILogger logger, string error);
}
