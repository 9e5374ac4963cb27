using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Incidents;

/// <summary>
/// Journals snapshots once each (kind <c>snapshot</c>; key: cluster and taken-at) and remembers their seqs, so the
/// incident manager and the skill host can both refer to the same entry. Reads them back for replay and post-mortems.
/// </summary>
internal sealed class SnapshotRecorder(IJournal journal)
{
    private readonly Dictionary<(string Cluster, DateTimeOffset At), long> _seqs = new();
    private readonly SemaphoreSlim _gate = new(1, 1);

    public IJournal Journal => journal;

    public bool TryGet(ClusterSnapshot snapshot, out long seq)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return _seqs.TryGetValue((snapshot.Cluster, snapshot.TakenAt), out seq);
    }

    /// <summary>Tells the recorder a snapshot is already in the journal (written by someone else) under <paramref name="seq"/>.</summary>
    public void Remember(ClusterSnapshot snapshot, long seq)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        _seqs[(snapshot.Cluster, snapshot.TakenAt)] = seq;
    }

    /// <summary>The journal seq of the snapshot, appending it when it is not there yet.</summary>
    public async Task<long> RecordAsync(ClusterSnapshot snapshot, string? incidentId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_seqs.TryGetValue((snapshot.Cluster, snapshot.TakenAt), out var known))
            {
                return known;
            }

            var entry = await journal.AppendAsync(new JournalRecord
            {
                Kind = JournalKinds.Snapshot,
                Summary = Summary(snapshot),
                Cluster = snapshot.Cluster,
                CorrelationId = incidentId,
                Payload = JsonNode.Parse(SnapshotJson.Serialize(snapshot, indented: false)),
            }, cancellationToken).ConfigureAwait(false);
            _seqs[(snapshot.Cluster, snapshot.TakenAt)] = entry.Seq;
            if (_seqs.Count > 4096)
            {
                foreach (var old in _seqs.Keys.OrderBy(k => k.At).Take(1024).ToList())
                {
                    _seqs.Remove(old);
                }
            }

            return entry.Seq;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Reads a journaled snapshot back (null when the entry is not a readable snapshot).</summary>
    public static ClusterSnapshot? Read(JournalEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.Kind != JournalKinds.Snapshot)
        {
            return null;
        }

        try
        {
            return SnapshotJson.Deserialize(entry.Payload);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>
    /// The JSON object a skill runner is given for a snapshot (compact <see cref="SnapshotJson"/>), with the failover
    /// facts (<see cref="SnapshotFusion.WithFailoverFacts"/>) filled in when the snapshot was built without them.
    /// </summary>
    public static JsonElement ToElement(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        using var doc = JsonDocument.Parse(SnapshotJson.Serialize(SnapshotFusion.WithFailoverFacts(snapshot, snapshot.LastWritable), indented: false));
        return doc.RootElement.Clone();
    }

    private static string Summary(ClusterSnapshot s)
    {
        var writable = SnapshotFacts.LeaderWritable(s) ? "writable" : "NOT writable";
        return $"snapshot of {s.Cluster}: leader {s.Leader ?? "none"} ({writable}), timeline {s.Timeline?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}, "
            + $"{s.Members.Count(m => m.Streaming == true)} streaming, {s.Drift.Count} drift";
    }
}
