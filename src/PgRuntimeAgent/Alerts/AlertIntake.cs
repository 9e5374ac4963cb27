using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;

namespace PgRuntimeAgent.Alerts;

/// <summary>How the intake bounds what it reads and remembers.</summary>
internal sealed record AlertIntakeOptions
{
    public AlertLimits Limits { get; init; } = AlertLimits.Default;

    /// <summary>An occurrence not notified again for this long is forgotten (Alertmanager's repeat_interval is 4 h by default).</summary>
    public TimeSpan RememberFor { get; init; } = TimeSpan.FromDays(7);

    /// <summary>At most this many occurrences are remembered; the least recently notified go first.</summary>
    public int MaxRemembered { get; init; } = 10_000;
}

/// <summary>
/// Alertmanager's webhook notifications into the agent (the web host's <c>POST /api/v1/alertmanager</c> calls
/// <see cref="ReceiveAsync(ReadOnlyMemory{byte}, CancellationToken)"/> with the raw body). For each alert: the cluster
/// from Pigsty's <c>cls</c> label (or <c>cluster</c>), the member from <c>ins</c> (or an <c>instance</c> naming a
/// member, or its address); the skills whose <c>triggers.alerts</c> name its <c>alertname</c>; and de-duplication,
/// because Alertmanager re-sends a firing alert every <c>repeat_interval</c> and each notification of a group carries
/// every alert of the group: one occurrence (fingerprint and <c>startsAt</c>) queues its skills once; a resolved alert
/// starts nothing and forgets its occurrence (and drops its run if that has not started). Every alert of an accepted
/// notification is journaled (<see cref="JournalKinds.AlertReceived"/>) before its skills are queued; the queue is the
/// loop's (<see cref="IAlertTarget"/>), which runs them through the cluster's skill slot. Occurrences are remembered
/// across restarts by reading the journal back. Notifications are taken one at a time.
/// </summary>
internal sealed class AlertIntake
{
    private readonly IAlertTarget _target;
    private readonly IJournal _journal;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly AlertIntakeOptions _options;
    private readonly SemaphoreSlim _one = new(1, 1);
    private readonly Dictionary<string, DateTimeOffset> _seen = new(StringComparer.Ordinal);
    private bool _loaded;

    public AlertIntake(IAlertTarget target, IJournal journal, TimeProvider time, ILogger? logger = null, AlertIntakeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(journal);
        ArgumentNullException.ThrowIfNull(time);
        _target = target;
        _journal = journal;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        _options = options ?? new AlertIntakeOptions();
    }

    /// <summary>
    /// Reads and handles one notification's raw body. A body that is not Alertmanager's webhook JSON (version "4"), or
    /// is over the limits, is refused (<see cref="AlertIntakeResult.Error"/>: what and where; nothing journaled or
    /// queued). A journal that cannot be written throws (<see cref="JournalException"/> or the driver's): answer 5xx
    /// and Alertmanager sends it again; alerts handled before the failure are duplicates then.
    /// </summary>
    public Task<AlertIntakeResult> ReceiveAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var parsed = AlertmanagerParser.Parse(body, _options.Limits);
        return Handle(parsed, cancellationToken);
    }

    /// <inheritdoc cref="ReceiveAsync(ReadOnlyMemory{byte}, CancellationToken)"/>
    public Task<AlertIntakeResult> ReceiveAsync(string body, CancellationToken cancellationToken)
    {
        var parsed = AlertmanagerParser.Parse(body, _options.Limits);
        return Handle(parsed, cancellationToken);
    }

    /// <summary>Handles a notification already read.</summary>
    public async Task<AlertIntakeResult> ReceiveAsync(AlertmanagerNotification notification, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notification);
        await _one.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_loaded)
            {
                await LoadAsync(cancellationToken).ConfigureAwait(false);
                _loaded = true;
            }

            if (notification.TruncatedAlerts > 0)
            {
                Log.Truncated(_logger, notification.TruncatedAlerts, notification.Receiver);
            }

            var items = new List<AlertOutcome>(notification.Alerts.Count);
            var runs = new List<QueuedAlertRun>();
            foreach (var alert in notification.Alerts)
            {
                items.Add(await HandleAsync(notification, alert, runs, cancellationToken).ConfigureAwait(false));
            }

            Forget();
            return new AlertIntakeResult
            {
                Status = "accepted",
                Receiver = notification.Receiver,
                GroupKey = notification.GroupKey,
                Alerts = items.Count,
                Accepted = items.Count(i => i.Outcome == AlertDisposition.Queued),
                Duplicates = items.Count(i => i.Outcome == AlertDisposition.Duplicate),
                Resolved = items.Count(i => i.Outcome == AlertDisposition.Resolved),
                Ignored = items.Count(i => i.Outcome == AlertDisposition.Ignored),
                TruncatedAlerts = notification.TruncatedAlerts,
                Runs = runs,
                Items = items,
            };
        }
        finally
        {
            _one.Release();
        }
    }

    private Task<AlertIntakeResult> Handle(AlertParseResult parsed, CancellationToken cancellationToken)
    {
        if (parsed.Notification is { } notification)
        {
            return ReceiveAsync(notification, cancellationToken);
        }

        var error = parsed.Error!;
        Log.Refused(_logger, error.Code, error.Path);
        return Task.FromResult(new AlertIntakeResult { Status = "refused", Error = error });
    }

    private async Task<AlertOutcome> HandleAsync(AlertmanagerNotification notification, AlertmanagerAlert alert, List<QueuedAlertRun> runs, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var occurrence = AlertTrigger.Occurrence(alert.Fingerprint, alert.StartsAt);
        var name = alert.AlertName;
        var (cluster, member, unmapped) = Locate(alert.Labels);
        IReadOnlyList<string> skills = name is null ? [] : _target.Skills.ForAlert(name).Select(s => s.Name).ToList();
        AlertDisposition outcome;
        string? reason = null;
        if (name is null)
        {
            (outcome, reason) = (AlertDisposition.Ignored, "the alert has no alertname label");
        }
        else if (cluster is null)
        {
            (outcome, reason) = (AlertDisposition.Ignored, unmapped);
        }
        else if (alert.Status == AlertStatus.Resolved)
        {
            var known = _seen.Remove(occurrence);
            _target.WithdrawAlert(cluster, occurrence);
            (outcome, reason) = (AlertDisposition.Resolved, known ? "resolved: its occurrence is forgotten; a run not yet started is dropped" : "resolved");
        }
        else if (skills.Count == 0)
        {
            (outcome, reason) = (AlertDisposition.Ignored, $"no skill names alert {name} in its triggers.alerts");
        }
        else if (_seen.ContainsKey(occurrence))
        {
            _seen[occurrence] = now;
            (outcome, reason) = (AlertDisposition.Duplicate, "this occurrence (fingerprint and startsAt) already queued its skills");
        }
        else if (!_target.CanQueueAlert(cluster))
        {
            (outcome, reason) = (AlertDisposition.Ignored, $"the queue of alerts for {cluster} is full: its skill slot is not keeping up");
        }
        else
        {
            outcome = AlertDisposition.Queued;
        }

        var entry = await _journal.AppendAsync(JournalRecord.Create(JournalKinds.AlertReceived,
            Summary(name, alert.Status, cluster, member, outcome, reason, skills),
            new AlertReceivedEntry
            {
                Alertname = name,
                Status = alert.Status,
                Outcome = outcome,
                Reason = reason,
                Cluster = cluster,
                Member = member,
                Severity = FindingJson.SeverityName(AlertTrigger.Severity(alert.Labels)),
                Summary = AlertTrigger.Summary(alert),
                Fingerprint = alert.Fingerprint,
                FingerprintComputed = alert.FingerprintComputed ? true : null,
                Occurrence = occurrence,
                StartsAt = alert.StartsAt,
                EndsAt = alert.EndsAt,
                Labels = alert.Labels,
                Annotations = alert.Annotations,
                GeneratorUrl = alert.GeneratorUrl,
                Receiver = notification.Receiver,
                GroupKey = notification.GroupKey,
                Skills = outcome is AlertDisposition.Queued or AlertDisposition.Duplicate ? skills : [],
                Cut = alert.Cut > 0 ? alert.Cut : null,
            },
            cluster, member, alert.Fingerprint, name ?? "-"), cancellationToken).ConfigureAwait(false);

        if (outcome == AlertDisposition.Queued)
        {
            var trigger = AlertTrigger.Create(alert, cluster!, member, now);
            foreach (var skill in _target.Skills.ForAlert(name!))
            {
                if (_target.QueueAlert(new AlertFiring(occurrence, skill, trigger)))
                {
                    runs.Add(new QueuedAlertRun(cluster!, skill.Name, name!, member, alert.Fingerprint));
                }
            }

            _seen[occurrence] = now;
            Log.Queued(_logger, name!, cluster!, member ?? "-", string.Join(", ", skills));
        }
        else if (outcome == AlertDisposition.Ignored)
        {
            Log.Ignored(_logger, name ?? "-", reason!);
        }

        return new AlertOutcome
        {
            Alertname = name,
            Status = alert.Status,
            Cluster = cluster,
            Member = member,
            Fingerprint = alert.Fingerprint,
            StartsAt = alert.StartsAt,
            Outcome = outcome,
            Reason = reason,
            Skills = outcome is AlertDisposition.Queued or AlertDisposition.Duplicate ? skills : [],
            JournalSeq = entry.Seq,
        };
    }

    /// <summary>
    /// The watched cluster and the member an alert is about: the cluster from <c>cls</c>, else <c>cluster</c>, else
    /// the cluster of the member named by <c>ins</c> or <c>instance</c>; the member from <c>ins</c>, else an
    /// <c>instance</c> that is a member's name or address (<c>ip:port</c>). With the inventory at hand, a member label
    /// that names no member of the cluster leaves the alert cluster-wide (member null). Null cluster: why in the third value.
    /// </summary>
    internal (string? Cluster, string? Member, string? Why) Locate(IReadOnlyDictionary<string, string> labels)
    {
        static string? Label(IReadOnlyDictionary<string, string> labels, string name) =>
            labels.TryGetValue(name, out var v) && v.Trim().Length > 0 ? v.Trim() : null;

        var topology = _target.Topology;
        var ins = Label(labels, "ins");
        var instance = Label(labels, "instance");
        var named = Label(labels, "cls") ?? Label(labels, "cluster");
        var cluster = named ?? (topology is null ? null : (topology.FindMember(ins ?? "") ?? topology.FindMember(instance ?? ""))?.Cluster);
        if (cluster is null)
        {
            return (null, null, "the alert names no cluster (no cls or cluster label, and no ins or instance label naming a member)");
        }

        if (!_target.Clusters.Contains(cluster, StringComparer.Ordinal))
        {
            return (null, null, $"cluster {cluster} is not one this agent watches ({string.Join(", ", _target.Clusters)})");
        }

        if (topology?.FindCluster(cluster) is not { } known)
        {
            return (cluster, ins, null);
        }

        var member = known.FindMember(ins ?? "") ?? known.FindMember(instance ?? "") ?? ByAddress(known, instance);
        return (cluster, member?.Name, null);

        static PgMember? ByAddress(PgCluster cluster, string? instance)
        {
            if (instance is null)
            {
                return null;
            }

            var colon = instance.LastIndexOf(':');
            var host = (colon > 0 && !instance.EndsWith(']') ? instance[..colon] : instance).Trim('[', ']');
            return cluster.Members.FirstOrDefault(m => string.Equals(m.Ip, host, StringComparison.OrdinalIgnoreCase));
        }
    }

    private static string Summary(string? name, AlertStatus status, string? cluster, string? member, AlertDisposition outcome, string? reason, IReadOnlyList<string> skills)
    {
        var where = cluster is null ? "" : member is null ? $" on {cluster}" : $" on {cluster}/{member}";
        var what = outcome switch
        {
            AlertDisposition.Queued => $"queued {string.Join(", ", skills)}",
            AlertDisposition.Duplicate => "duplicate, nothing started",
            AlertDisposition.Resolved => "nothing started",
            _ => "ignored: " + reason,
        };
        return $"alert {name ?? "(no alertname)"} {(status == AlertStatus.Firing ? "firing" : "resolved")}{where}: {what}";
    }

    /// <summary>Occurrences remembered from the journal: queued ones, until resolved or not notified for <see cref="AlertIntakeOptions.RememberFor"/>.</summary>
    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        var entries = await _journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.AlertReceived], Since = _time.GetUtcNow() - _options.RememberFor },
            cancellationToken).ConfigureAwait(false);
        foreach (var entry in entries)
        {
            AlertReceivedEntry? received;
            try
            {
                received = entry.PayloadAs<AlertReceivedEntry>();
            }
            catch (JsonException)
            {
                continue;
            }

            if (received?.Occurrence is not { } occurrence)
            {
                continue;
            }

            switch (received.Outcome)
            {
                case AlertDisposition.Queued or AlertDisposition.Duplicate:
                    _seen[occurrence] = entry.Time;
                    break;
                case AlertDisposition.Resolved:
                    _seen.Remove(occurrence);
                    break;
            }
        }
    }

    private void Forget()
    {
        var cutoff = _time.GetUtcNow() - _options.RememberFor;
        foreach (var stale in _seen.Where(s => s.Value < cutoff).Select(s => s.Key).ToList())
        {
            _seen.Remove(stale);
        }

        if (_seen.Count > _options.MaxRemembered)
        {
            foreach (var old in _seen.OrderBy(s => s.Value).Take(_seen.Count - _options.MaxRemembered).Select(s => s.Key).ToList())
            {
                _seen.Remove(old);
            }
        }
    }
}

/// <summary>Payload of an <see cref="JournalKinds.AlertReceived"/> entry (topic: the alertname; correlation: the fingerprint).</summary>
internal sealed record AlertReceivedEntry
{
    public string? Alertname { get; init; }

    public AlertStatus Status { get; init; }

    public AlertDisposition Outcome { get; init; }

    public string? Reason { get; init; }

    public string? Cluster { get; init; }

    public string? Member { get; init; }

    public string? Severity { get; init; }

    public string? Summary { get; init; }

    public string Fingerprint { get; init; } = "";

    /// <summary>True when the sender gave no fingerprint and the intake computed it from the labels.</summary>
    public bool? FingerprintComputed { get; init; }

    /// <summary>Fingerprint and start: what de-duplication keys on.</summary>
    public string? Occurrence { get; init; }

    public DateTimeOffset StartsAt { get; init; }

    public DateTimeOffset? EndsAt { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = AlertmanagerNotification.Empty;

    public IReadOnlyDictionary<string, string> Annotations { get; init; } = AlertmanagerNotification.Empty;

    public string? GeneratorUrl { get; init; }

    public string? Receiver { get; init; }

    public string? GroupKey { get; init; }

    /// <summary>The skills queued (queued) or that the alert names (duplicate).</summary>
    public IReadOnlyList<string> Skills { get; init; } = [];

    /// <summary>Labels or annotations left out, and values cut, to keep within the limits; null when none.</summary>
    public int? Cut { get; init; }
}
