using System.Text.Json;

namespace PgRuntimeAgent.Skills;

/// <summary>
/// A host over one fixed snapshot (a JSON file, a journaled snapshot): every fetch returns it, actions are planned
/// only and notes are kept in memory. It is what <c>pgra skills run --dry-run --snapshot FILE</c> uses until the
/// live snapshot service and the action pipeline are wired in.
/// </summary>
public sealed class StaticSnapshotSkillHost(JsonElement snapshot, TimeProvider? time = null) : ISkillHost
{
    private readonly List<SkillActionRequest> actions = [];
    private readonly List<SkillNote> notes = [];

    public TimeProvider Time { get; } = time ?? TimeProvider.System;

    public IReadOnlyList<SkillActionRequest> Actions => actions;

    public IReadOnlyList<SkillNote> Notes => notes;

    public Task<JsonElement> GetSnapshotAsync(string cluster, CancellationToken cancellationToken) => Task.FromResult(snapshot);

    public Task<SkillActionOutcome> ExecuteActionAsync(SkillActionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        actions.Add(request);
        return Task.FromResult(request.DryRun
            ? new SkillActionOutcome(SkillActionStatus.Planned, null, "planned only: not sent to the action pipeline (dry run over a snapshot file)")
            : new SkillActionOutcome(SkillActionStatus.Refused, null, "no action pipeline is attached to a snapshot file: use --dry-run"));
    }

    public Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken) => Task.Delay(delay, Time, cancellationToken);

    public Task RecordAsync(SkillNote note, CancellationToken cancellationToken)
    {
        notes.Add(note);
        return Task.CompletedTask;
    }
}
