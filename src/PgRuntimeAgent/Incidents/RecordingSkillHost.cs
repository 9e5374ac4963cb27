using System.Text.Json;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Incidents;

/// <summary>
/// Wraps the daemon's live skill host: every snapshot it serves to the runner is journaled (once) and its seq kept in
/// <see cref="Served"/>, and notes go to the incident (<c>skill.note</c>). After the run, pass <see cref="Served"/> to
/// <see cref="IncidentManager.RecordSkillRunAsync"/> so replay can serve the same snapshots in the same order.
/// Give the runner the trigger snapshot through <see cref="ServeAsync"/> (as <c>SkillRunRequest.Snapshot</c>) so it is recorded too.
/// </summary>
/// <param name="incident">The incident the run was started for (fixed at start, so what the run journals after the
/// incident resolved still belongs to it); null: the cluster's incident at the time of each entry.</param>
internal sealed class RecordingSkillHost(ISkillHost inner, IncidentManager incidents, string? incident = null) : ISkillHost
{
    private readonly List<long> _served = [];

    public TimeProvider Time => inner.Time;

    public IReadOnlyList<long> Served => _served;

    /// <summary>Records a snapshot the daemon hands the runner directly (the one the finding was detected on).</summary>
    public async Task<JsonElement> ServeAsync(ClusterSnapshot snapshot, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        _served.Add(await incidents.Snapshots.RecordAsync(snapshot, IncidentOf(snapshot.Cluster), cancellationToken).ConfigureAwait(false));
        return SnapshotRecorder.ToElement(snapshot);
    }

    public async Task<JsonElement> GetSnapshotAsync(string cluster, CancellationToken cancellationToken)
    {
        var element = await inner.GetSnapshotAsync(cluster, cancellationToken).ConfigureAwait(false);
        try
        {
            var snapshot = SnapshotJson.Deserialize(element.GetRawText());
            _served.Add(await incidents.Snapshots.RecordAsync(snapshot, IncidentOf(cluster), cancellationToken).ConfigureAwait(false));
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException)
        {
            _served.Add(0); // not a snapshot this build can read: replay reports it
        }

        return element;
    }

    public Task<SkillActionOutcome> ExecuteActionAsync(SkillActionRequest request, CancellationToken cancellationToken) =>
        inner.ExecuteActionAsync(request, cancellationToken);

    public Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken) => inner.DelayAsync(delay, cancellationToken);

    public Task<SkillInvestigation> InvestigateAsync(SkillInvestigationRequest request, CancellationToken cancellationToken) =>
        inner.InvestigateAsync(request, cancellationToken);

    public async Task RecordAsync(SkillNote note, CancellationToken cancellationToken)
    {
        await inner.RecordAsync(note, cancellationToken).ConfigureAwait(false);
        await incidents.RecordNoteAsync(note, IncidentOf(note.Cluster), cancellationToken).ConfigureAwait(false);
    }

    private string? IncidentOf(string cluster) => incident ?? incidents.Current(cluster)?.Id;
}
