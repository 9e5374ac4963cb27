using System.Text.Json.Nodes;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Acting;

internal enum ApprovalStatus
{
    /// <summary>Waiting for an operator.</summary>
    Pending,

    /// <summary>Approved and not run yet.</summary>
    Approved,

    /// <summary>Approved and run (an intent exists).</summary>
    Executed,

    Denied,

    /// <summary>Nobody decided before it expired.</summary>
    Expired,
}

/// <summary>An action waiting for (or given) an operator's decision. Its id is the action id.</summary>
internal sealed record Approval
{
    public required string Id { get; init; }

    public required PlannedAction Action { get; init; }

    public required ApprovalStatus Status { get; init; }

    public required DateTimeOffset RequestedAt { get; init; }

    public required DateTimeOffset ExpiresAt { get; init; }

    /// <summary>Why it waits (the policy reasons).</summary>
    public IReadOnlyList<PolicyReason> Reasons { get; init; } = [];

    /// <summary>What the agent saw when it asked (the cluster state, findings...).</summary>
    public JsonNode? Evidence { get; init; }

    public string? DecidedBy { get; init; }

    public DateTimeOffset? DecidedAt { get; init; }

    public string? Note { get; init; }

    /// <summary>Journal entry of the request.</summary>
    public long RequestSeq { get; init; }
}

/// <summary>Payload of <see cref="JournalKinds.ApprovalRequested"/>.</summary>
internal sealed record ApprovalRequestPayload(PlannedAction Action, DateTimeOffset ExpiresAt, IReadOnlyList<PolicyReason> Reasons, JsonNode? Evidence);

/// <summary>Payload of <see cref="JournalKinds.ApprovalGranted"/> and <see cref="JournalKinds.ApprovalDenied"/>.</summary>
internal sealed record ApprovalDecisionPayload(string By, string? Note);

/// <summary>
/// Pending approvals, kept in the journal (so they survive restarts and every agent sharing the journal sees them).
/// An approval expires after its time to live (<c>policy.approval_ttl_minutes</c>); approving or denying records who and why.
/// </summary>
internal sealed class ApprovalBook
{
    private readonly IJournal _journal;
    private readonly TimeSpan _ttl;
    private readonly TimeProvider _time;

    public ApprovalBook(IJournal journal, TimeSpan ttl, TimeProvider time)
    {
        _journal = journal;
        _ttl = ttl;
        _time = time;
    }

    /// <summary>Journals a request for <paramref name="action"/> with the reasons and the evidence.</summary>
    public async Task<Approval> RequestAsync(PlannedAction action, PolicyDecision decision, JsonNode? evidence, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(decision);
        var now = _time.GetUtcNow();
        var expires = now.Add(_ttl);
        var entry = await _journal.AppendAsync(JournalRecord.Create(JournalKinds.ApprovalRequested,
            $"approval needed: {action.Summary} (expires {expires.UtcDateTime:yyyy-MM-dd HH:mm}Z)",
            new ApprovalRequestPayload(action, expires, decision.Reasons, evidence),
            action.Cluster, action.Member, action.Id, action.Kind), cancellationToken).ConfigureAwait(false);
        return new Approval
        {
            Id = action.Id,
            Action = action,
            Status = ApprovalStatus.Pending,
            RequestedAt = entry.Time,
            ExpiresAt = expires,
            Reasons = decision.Reasons,
            Evidence = evidence,
            RequestSeq = entry.Seq,
        };
    }

    /// <summary>Approvals, oldest first; only pending ones unless <paramref name="includeClosed"/>.</summary>
    public async Task<IReadOnlyList<Approval>> ListAsync(bool includeClosed, CancellationToken cancellationToken)
    {
        var entries = await _journal.QueryAsync(new JournalQuery
        {
            Kinds = [JournalKinds.ApprovalRequested, JournalKinds.ApprovalGranted, JournalKinds.ApprovalDenied],
        }, cancellationToken).ConfigureAwait(false);
        var result = new List<Approval>();
        foreach (var request in entries.Where(e => e.Kind == JournalKinds.ApprovalRequested))
        {
            var approval = await BuildAsync(request, entries, cancellationToken).ConfigureAwait(false);
            if (approval is not null && (includeClosed || approval.Status == ApprovalStatus.Pending))
            {
                result.Add(approval);
            }
        }

        return result;
    }

    public async Task<Approval?> GetAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        var entries = await _journal.QueryAsync(new JournalQuery
        {
            CorrelationId = id,
            Kinds = [JournalKinds.ApprovalRequested, JournalKinds.ApprovalGranted, JournalKinds.ApprovalDenied],
        }, cancellationToken).ConfigureAwait(false);
        var request = entries.FirstOrDefault(e => e.Kind == JournalKinds.ApprovalRequested && e.CorrelationId == id);
        return request is null ? null : await BuildAsync(request, entries, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Approves a pending action. Unknown, expired or already decided: <see cref="InputException"/>.</summary>
    public Task<Approval> ApproveAsync(string id, string by, string? note, CancellationToken cancellationToken) =>
        DecideAsync(id, by, note, JournalKinds.ApprovalGranted, cancellationToken);

    /// <summary>Denies a pending action. Unknown, expired or already decided: <see cref="InputException"/>.</summary>
    public Task<Approval> DenyAsync(string id, string by, string? note, CancellationToken cancellationToken) =>
        DecideAsync(id, by, note, JournalKinds.ApprovalDenied, cancellationToken);

    private async Task<Approval> DecideAsync(string id, string by, string? note, string kind, CancellationToken cancellationToken)
    {
        var approval = await GetAsync(id, cancellationToken).ConfigureAwait(false)
            ?? throw new InputException($"no approval {id}; 'pgra approvals' lists the pending ones.");
        if (approval.Status != ApprovalStatus.Pending)
        {
            var when = approval.Status == ApprovalStatus.Expired
                ? $"expired at {approval.ExpiresAt.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z; the agent will ask again if it still needs to act"
                : $"{approval.Status.ToString().ToLowerInvariant()} by {approval.DecidedBy} at {approval.DecidedAt?.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z";
            throw new InputException($"approval {id} is not pending: {when}.");
        }

        // An operator's note is free text: whatever looks like a password in it is masked before it is journaled.
        note = note is null ? null : SecretText.RedactFreeText(note);
        var verb = kind == JournalKinds.ApprovalGranted ? "approved" : "denied";
        var entry = await _journal.AppendAsync(JournalRecord.Create(kind,
            $"{verb} by {by}: {approval.Action.Summary}" + (string.IsNullOrWhiteSpace(note) ? "" : $" ({note})"),
            new ApprovalDecisionPayload(by, note), approval.Action.Cluster, approval.Action.Member, id, approval.Action.Kind),
            cancellationToken).ConfigureAwait(false);
        return approval with
        {
            Status = kind == JournalKinds.ApprovalGranted ? ApprovalStatus.Approved : ApprovalStatus.Denied,
            DecidedBy = by,
            DecidedAt = entry.Time,
            Note = note,
        };
    }

    private async Task<Approval?> BuildAsync(JournalEntry request, IReadOnlyList<JournalEntry> entries, CancellationToken cancellationToken)
    {
        var payload = request.PayloadAs<ApprovalRequestPayload>();
        if (payload is null || request.CorrelationId is null)
        {
            return null;
        }

        var decision = entries.FirstOrDefault(e => e.Seq > request.Seq && e.CorrelationId == request.CorrelationId
            && e.Kind is JournalKinds.ApprovalGranted or JournalKinds.ApprovalDenied);
        var decided = decision?.PayloadAs<ApprovalDecisionPayload>();
        ApprovalStatus status;
        if (decision is null)
        {
            status = _time.GetUtcNow() >= payload.ExpiresAt ? ApprovalStatus.Expired : ApprovalStatus.Pending;
        }
        else if (decision.Kind == JournalKinds.ApprovalDenied)
        {
            status = ApprovalStatus.Denied;
        }
        else
        {
            var intents = await _journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.ActionIntent], CorrelationId = request.CorrelationId, AfterSeq = decision.Seq },
                cancellationToken).ConfigureAwait(false);
            // An approval that could not run (a guardrail said no) may be retried until it expires; then it lapses.
            status = intents.Any(i => i.CorrelationId == request.CorrelationId) ? ApprovalStatus.Executed
                : _time.GetUtcNow() >= payload.ExpiresAt ? ApprovalStatus.Expired
                : ApprovalStatus.Approved;
        }

        return new Approval
        {
            Id = request.CorrelationId,
            Action = payload.Action,
            Status = status,
            RequestedAt = request.Time,
            ExpiresAt = payload.ExpiresAt,
            Reasons = payload.Reasons,
            Evidence = payload.Evidence,
            DecidedBy = decided?.By,
            DecidedAt = decision?.Time,
            Note = decided?.Note,
            RequestSeq = request.Seq,
        };
    }
}
