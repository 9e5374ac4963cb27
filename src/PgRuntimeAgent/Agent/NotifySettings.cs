using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Agent;

/// <summary>Body of webhook notifications.</summary>
public enum NotifyFormat
{
    /// <summary>One JSON object per event (<c>event</c>, <c>cluster</c>, <c>incident</c>, <c>severity</c>, <c>title</c>, <c>message</c>, <c>at</c>, <c>details</c>).</summary>
    Generic,

    /// <summary>A Slack incoming-webhook message (<c>text</c> in mrkdwn).</summary>
    Slack,
}

/// <summary>
/// Whom the agent tells when an incident opens or resolves (section <c>notify:</c>): standard output (journald under
/// systemd) and, optionally, a webhook. The webhook URL is kept as a secret (a Slack URL carries its token).
/// </summary>
public sealed record NotifySettings
{
    /// <summary>Print one line per event on standard output (<c>notify.stdout</c>).</summary>
    public bool Stdout { get; init; } = true;

    /// <summary>POST each event here (<c>notify.webhook_url</c>); null: no webhook.</summary>
    public SecretRef? WebhookUrl { get; init; }

    /// <summary><c>generic</c> JSON or <c>slack</c> (<c>notify.format</c>).</summary>
    public NotifyFormat Format { get; init; } = NotifyFormat.Generic;

    /// <summary>Per request (<c>notify.timeout_seconds</c>); a webhook that fails is retried once, then logged.</summary>
    public double TimeoutSeconds { get; init; } = 5;

    /// <summary>Events sent (<c>notify.events</c>): <c>incident.opened</c>, <c>incident.mitigating</c>,
    /// <c>incident.resolved</c>, <c>approval.requested</c>, <c>action.finished</c>, <c>sensing.outage</c>.</summary>
    public IReadOnlyList<string> Events { get; init; } =
        [AgentEventNames.IncidentOpened, AgentEventNames.IncidentResolved, AgentEventNames.ApprovalRequested, AgentEventNames.SensingOutage];
}
