using System.Globalization;
using System.Net;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Web;

namespace PgRuntimeAgent.Agent;

/// <summary>Body of webhook notifications.</summary>
public enum NotifyFormat
{
    /// <summary>One JSON object per event (<c>event</c>, <c>cluster</c>, <c>incident</c>, <c>severity</c>, <c>title</c>, <c>message</c>, <c>link</c>, <c>at</c>, <c>details</c>).</summary>
    Generic,

    /// <summary>A Slack incoming-webhook message (<c>text</c> in mrkdwn, ending with the console link).</summary>
    Slack,
}

/// <summary>
/// Whom the agent tells when an incident opens or resolves, an approval waits, a skill errors or a sensor stays blind
/// (section <c>notify:</c>): standard output (journald under systemd) and, optionally, webhooks. Every webhook URL is
/// kept as a secret (a Slack URL carries its token). Each notification links to the console's page of what it is
/// about (<see cref="ConsoleUrl"/>).
/// </summary>
public sealed record NotifySettings : ISettingsChecks
{
    /// <summary>Default of <see cref="SensorBlindSeconds"/>.</summary>
    public const double DefaultSensorBlindSeconds = 300;

    /// <summary>The shortest <see cref="SensorBlindSeconds"/> accepted.</summary>
    public const double MinSensorBlindSeconds = 10;

    /// <summary>Print one line per event on standard output (<c>notify.stdout</c>).</summary>
    public bool Stdout { get; init; } = true;

    /// <summary>POST each event here (<c>notify.webhook_url</c>); null: no webhook. Same as one entry of <see cref="Webhooks"/>.</summary>
    public SecretRef? WebhookUrl { get; init; }

    /// <summary><c>generic</c> JSON or <c>slack</c> (<c>notify.format</c>), for <see cref="WebhookUrl"/>.</summary>
    public NotifyFormat Format { get; init; } = NotifyFormat.Generic;

    /// <summary>More webhooks (<c>notify.webhooks</c>), each with its format and, optionally, its own events.</summary>
    public IReadOnlyList<NotifyWebhook> Webhooks { get; init; } = [];

    /// <summary>
    /// Per webhook and event, its one retry included (<c>notify.timeout_seconds</c>): a webhook that fails is retried
    /// once while time remains, then the failure is logged. A dead webhook never delays another longer than this.
    /// </summary>
    public double TimeoutSeconds { get; init; } = 5;

    /// <summary>Events sent to standard output and to webhooks without events of their own (<c>notify.events</c>), from <see cref="AgentEventNames.All"/>.</summary>
    public IReadOnlyList<string> Events { get; init; } =
    [
        AgentEventNames.IncidentOpened, AgentEventNames.IncidentResolved, AgentEventNames.ApprovalRequested, AgentEventNames.SensingOutage,
        AgentEventNames.SkillErrored, AgentEventNames.SensorBlind, AgentEventNames.OwnershipLost,
    ];

    /// <summary>
    /// The console's base address as operators reach it (<c>notify.console_url</c>, for example
    /// <c>https://pg-admin.example.com:8765/console/</c>); null: <c>http(s)://LISTEN/console/</c> when the web host is on
    /// (<see cref="ConsoleBase"/>), else no links.
    /// </summary>
    public string? ConsoleUrl { get; init; }

    /// <summary>A sensor of a cluster not ok for longer than this raises <c>sensor.blind</c> (<c>notify.sensor_blind_seconds</c>, at least 10).</summary>
    public double SensorBlindSeconds { get; init; } = DefaultSensorBlindSeconds;

    /// <summary>
    /// The base of the console links: <see cref="ConsoleUrl"/>; else, when the web host is on (<paramref name="http"/>
    /// has tokens), <c>http://LISTEN/console/</c> (<c>https</c> with a TLS certificate; an unspecified address such as
    /// <c>0.0.0.0</c> becomes this machine's host name); null when neither (or the web host takes a free port).
    /// </summary>
    public Uri? ConsoleBase(HttpSettings http)
    {
        ArgumentNullException.ThrowIfNull(http);
        if (!string.IsNullOrWhiteSpace(ConsoleUrl))
        {
            return ConsoleUrlProblem(ConsoleUrl) is null ? new Uri(ConsoleUrl.Trim(), UriKind.Absolute) : null;
        }

        if (!http.Enabled || !ListenAddress.TryParse(http.Listen, out var listen, out _) || listen.Port == 0)
        {
            return null;
        }

        var host = listen.Address.Equals(IPAddress.Any) || listen.Address.Equals(IPAddress.IPv6Any)
            ? Dns.GetHostName()
            : http.Listen.Trim()[..http.Listen.Trim().LastIndexOf(':')];
        var scheme = string.IsNullOrWhiteSpace(http.TlsCertificate) ? "http" : "https";
        return Uri.TryCreate(string.Create(CultureInfo.InvariantCulture, $"{scheme}://{host}:{listen.Port}/console/"), UriKind.Absolute, out var uri) ? uri : null;
    }

    /// <summary>What is wrong with <paramref name="text"/> as <c>notify.console_url</c>; null when it is fine.</summary>
    internal static string? ConsoleUrlProblem(string text)
    {
        var t = text.Trim();
        if (!Uri.TryCreate(t, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || string.IsNullOrEmpty(uri.Host))
        {
            return $"'{t}' is not an absolute http(s) URL";
        }

        if (uri.UserInfo.Length > 0)
        {
            return "the console's address carries a user or a password: links go to chat channels and pagers, and never carry a secret";
        }

        if (uri.Query.Length > 0 || t.Contains('#', StringComparison.Ordinal))
        {
            return $"'{t}' has a query or a fragment: links append #/incidents/ID (or #/approvals/ID, #/clusters/NAME) to the console's base address";
        }

        return null;
    }

    /// <summary>What is wrong with a webhook URL (never repeating it: it is a secret); null when it is fine or unknown.</summary>
    internal static string? WebhookUrlProblem(SecretRef? url, SecretStore secrets)
    {
        if (url is null || !secrets.TryReveal(url, out var text))
        {
            return null;
        }

        return Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && !string.IsNullOrEmpty(uri.Host)
            ? null
            : "the webhook URL is not an absolute http(s) URL (it is a secret: not repeated here)";
    }

    /// <summary>Names in <paramref name="events"/> that are no event of the agent's.</summary>
    internal static IEnumerable<SettingsProblem> EventProblems(IReadOnlyList<string>? events, string key)
    {
        var unknown = (events ?? []).Where(e => !AgentEventNames.All.Contains(e, StringComparer.Ordinal)).Distinct(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
        {
            yield return new SettingsProblem(key, $"unknown event{(unknown.Count == 1 ? "" : "s")} {string.Join(", ", unknown.Select(u => $"'{u}'"))}",
                $"known events: {string.Join(", ", AgentEventNames.All)}");
        }
    }

    IEnumerable<SettingsProblem> ISettingsChecks.Check(SecretStore secrets)
    {
        if (ConsoleUrl is not null && ConsoleUrlProblem(ConsoleUrl) is { } console)
        {
            yield return new SettingsProblem("console_url", console,
                "write the console's address as operators reach it, for example https://pg-admin.example.com:8765/console/ (or remove the key: with the web host on, http(s)://LISTEN/console/ is used)");
        }

        if (!double.IsFinite(SensorBlindSeconds) || SensorBlindSeconds < MinSensorBlindSeconds)
        {
            yield return new SettingsProblem("sensor_blind_seconds",
                string.Create(CultureInfo.InvariantCulture, $"sensor_blind_seconds must be at least {MinSensorBlindSeconds}, got {SensorBlindSeconds}"),
                string.Create(CultureInfo.InvariantCulture, $"the default is {DefaultSensorBlindSeconds} (five minutes); detection's sensor-blind finding already reports a sensor blind on consecutive snapshots"));
        }

        foreach (var problem in EventProblems(Events, "events"))
        {
            yield return problem;
        }

        for (var i = 0; i < Webhooks.Count; i++)
        {
            if (Webhooks[i] is null)
            {
                yield return new SettingsProblem("webhooks", string.Create(CultureInfo.InvariantCulture, $"webhooks[{i}] is empty"),
                    "give each entry its url: { url: https://..., format: slack }, or remove it");
            }
        }

        if (WebhookUrlProblem(WebhookUrl, secrets) is { } webhook)
        {
            yield return new SettingsProblem("webhook_url", webhook, "write it like https://hooks.slack.com/services/T000/B000/XXXX");
        }
    }
}

/// <summary>One webhook of <c>notify.webhooks</c>: where, in which format, and which events (default: <c>notify.events</c>).</summary>
public sealed record NotifyWebhook : ISettingsChecks
{
    /// <summary>POST each event here; a secret (moved into the secret store on load).</summary>
    public SecretRef? Url { get; init; }

    /// <summary><c>generic</c> JSON or <c>slack</c>.</summary>
    public NotifyFormat Format { get; init; } = NotifyFormat.Generic;

    /// <summary>The events this webhook gets; null: <c>notify.events</c>.</summary>
    public IReadOnlyList<string>? Events { get; init; }

    IEnumerable<SettingsProblem> ISettingsChecks.Check(SecretStore secrets)
    {
        if (Url is null)
        {
            yield return new SettingsProblem(null, "a webhook without a url", "give each entry of notify.webhooks its url: { url: https://..., format: slack }");
        }
        else if (NotifySettings.WebhookUrlProblem(Url, secrets) is { } problem)
        {
            yield return new SettingsProblem("url", problem, "write it like https://hooks.slack.com/services/T000/B000/XXXX");
        }

        foreach (var events in NotifySettings.EventProblems(Events, "events"))
        {
            yield return events;
        }
    }
}
