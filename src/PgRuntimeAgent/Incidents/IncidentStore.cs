using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Journal;

namespace PgRuntimeAgent.Incidents;

/// <summary>Everything the journal holds about one incident.</summary>
internal sealed record IncidentData(
    Incident Incident,
    IReadOnlyList<JournalEntry> Events,
    IReadOnlyList<JournalEntry> Findings,
    IReadOnlyList<JournalEntry> Snapshots,
    IReadOnlyList<JournalEntry> Related);

/// <summary>Reads incidents back from the journal alone (for <c>pgra incidents</c>, post-mortems and replay).</summary>
internal static class IncidentStore
{
    /// <summary>Every incident, oldest first, as its events describe it.</summary>
    public static async Task<IReadOnlyList<Incident>> ListAsync(IJournal journal, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(journal);
        var entries = await journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.Incident] }, cancellationToken).ConfigureAwait(false);
        var findings = (await journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.Finding] }, cancellationToken).ConfigureAwait(false))
            .Where(e => e.CorrelationId is not null).GroupBy(e => e.CorrelationId!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        return entries.Where(e => e.CorrelationId is not null).GroupBy(e => e.CorrelationId!, StringComparer.Ordinal)
            .Select(g => Fold(g.ToList()) is { } incident ? WithFindings(incident, findings.GetValueOrDefault(g.Key) ?? []) : null)
            .OfType<Incident>().OrderBy(i => i.OpenedAt).ThenBy(i => i.Id, StringComparer.Ordinal).ToList();
    }

    /// <summary>Codes seen and (while open) findings still active, from the incident's finding entries.</summary>
    public static Incident WithFindings(Incident incident, IReadOnlyList<JournalEntry> findingEntries)
    {
        ArgumentNullException.ThrowIfNull(incident);
        var codes = incident.Codes.ToList();
        var active = new List<string>();
        foreach (var e in findingEntries.OrderBy(e => e.Seq))
        {
            FindingEntry? f;
            try
            {
                f = e.PayloadAs<FindingEntry>();
            }
            catch (System.Text.Json.JsonException)
            {
                continue;
            }

            if (f is null)
            {
                continue;
            }

            if (!codes.Contains(f.Finding.Code, StringComparer.Ordinal))
            {
                codes.Add(f.Finding.Code);
            }

            active.Remove(f.Finding.Key);
            if (f.Event == IncidentKinds.FindingRaised)
            {
                active.Add(f.Finding.Key);
            }
        }

        return incident with { Codes = codes, ActiveFindings = incident.IsOpen ? active : incident.ActiveFindings };
    }

    public static async Task<IReadOnlyList<JournalEntry>> EventsAsync(IJournal journal, string id, CancellationToken cancellationToken)
    {
        var entries = await journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.Incident], CorrelationId = id }, cancellationToken).ConfigureAwait(false);
        return entries.Where(e => string.Equals(e.CorrelationId, id, StringComparison.Ordinal)).ToList();
    }

    /// <summary>The incident with its events, findings, snapshots and every related entry (linked, or on the cluster
    /// between its opening and its resolution). Null when the journal has no such incident.</summary>
    public static async Task<IncidentData?> LoadAsync(IJournal journal, string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(journal);
        var events = await EventsAsync(journal, id, cancellationToken).ConfigureAwait(false);
        if (Fold(events) is not { } incident)
        {
            return null;
        }

        var correlated = await journal.QueryAsync(new JournalQuery { CorrelationId = id }, cancellationToken).ConfigureAwait(false);
        correlated = correlated.Where(e => string.Equals(e.CorrelationId, id, StringComparison.Ordinal)).ToList();
        var findings = correlated.Where(e => e.Kind == JournalKinds.Finding).ToList();
        var snapshots = correlated.Where(e => e.Kind == JournalKinds.Snapshot).ToDictionary(e => e.Seq);
        var related = new Dictionary<long, JournalEntry>();
        foreach (var e in correlated.Where(e => e.Kind is IncidentKinds.SkillRun or IncidentKinds.SkillNote))
        {
            related[e.Seq] = e;
        }

        // Linked entries (snapshots journaled earlier by someone else, actions, approvals).
        foreach (var link in incident.Links.Where(l => !snapshots.ContainsKey(l.Seq) && !related.ContainsKey(l.Seq) && l.Role != "finding"))
        {
            if (await journal.GetAsync(link.Seq, cancellationToken).ConfigureAwait(false) is { } e)
            {
                if (e.Kind == JournalKinds.Snapshot)
                {
                    snapshots[e.Seq] = e;
                }
                else
                {
                    related[e.Seq] = e;
                }
            }
        }

        // Actions on the cluster during the incident, linked or not, and their whole action history (an outcome after resolution).
        var window = await journal.QueryAsync(new JournalQuery
        {
            Cluster = incident.Cluster,
            Since = incident.OpenedAt.AddSeconds(-5),
            Until = (incident.ResolvedAt ?? DateTimeOffset.MaxValue.AddDays(-1)).AddSeconds(5),
            Kinds =
            [
                JournalKinds.Decision, JournalKinds.ActionPrecheck, JournalKinds.ActionIntent, JournalKinds.ActionOutcome,
                JournalKinds.ApprovalRequested, JournalKinds.ApprovalGranted, JournalKinds.ApprovalDenied, JournalKinds.Note,
            ],
        }, cancellationToken).ConfigureAwait(false);
        foreach (var e in window.Where(e => e.Time >= incident.OpenedAt.AddSeconds(-5)))
        {
            related[e.Seq] = e;
        }

        // Several agents sharing the journal: which agent owned the cluster when the incident opened.
        var owners = await journal.QueryAsync(new JournalQuery { Cluster = incident.Cluster, Until = incident.OpenedAt, Kinds = [JournalKinds.Note] }, cancellationToken)
            .ConfigureAwait(false);
        if (owners.LastOrDefault(e => e.Topic is JournalKinds.FleetGained or JournalKinds.FleetLost) is { Topic: JournalKinds.FleetGained } owner)
        {
            related[owner.Seq] = owner;
        }

        // Every action a decision in the window or one of the incident's skill runs names, with its whole history: a run
        // started during the incident belongs to it even when it acted after the incident resolved.
        var actionIds = related.Values.Where(e => e.Kind == JournalKinds.Decision && e.CorrelationId is not null).Select(e => e.CorrelationId!)
            .Concat(related.Values.Where(e => e.Kind == IncidentKinds.SkillRun).SelectMany(ActionIdsOf))
            .Distinct(StringComparer.Ordinal).ToList();
        foreach (var action in actionIds)
        {
            foreach (var e in await journal.QueryAsync(new JournalQuery { CorrelationId = action }, cancellationToken).ConfigureAwait(false))
            {
                related[e.Seq] = e;
            }
        }

        incident = WithFindings(incident, findings);
        return new IncidentData(incident, events, findings, snapshots.Values.OrderBy(e => e.Seq).ToList(), related.Values.OrderBy(e => e.Seq).ToList());
    }

    /// <summary>The action ids (journal correlation ids) a journaled skill run's action steps name.</summary>
    private static IEnumerable<string> ActionIdsOf(JournalEntry skillRun)
    {
        SkillRunRecord? record;
        try
        {
            record = skillRun.PayloadAs<SkillRunRecord>();
        }
        catch (System.Text.Json.JsonException)
        {
            return [];
        }

        return record?.Run.Steps.Where(s => s.Kind == Skills.SkillStepKind.Action).Select(s => s.JournalId).OfType<string>() ?? [];
    }

    /// <summary>Folds an incident's events (in seq order) into its current state.</summary>
    public static Incident? Fold(IReadOnlyList<JournalEntry> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        Incident? incident = null;
        var links = new List<IncidentLink>();
        var active = new List<string>();
        foreach (var entry in events.OrderBy(e => e.Seq))
        {
            IncidentEvent? e;
            try
            {
                e = entry.PayloadAs<IncidentEvent>();
            }
            catch (System.Text.Json.JsonException)
            {
                continue;
            }

            if (e is null)
            {
                continue;
            }

            links.AddRange(e.Links);
            if (e.Event == IncidentKinds.Opened || incident is null)
            {
                incident = new Incident
                {
                    Id = e.Incident,
                    Cluster = e.Cluster,
                    State = IncidentState.Open,
                    Severity = e.Severity,
                    Title = e.Finding?.Summary ?? e.Message,
                    OpenedAt = e.At,
                    OpenedSeq = entry.Seq,
                    LeaderBefore = e.LeaderBefore,
                    Settings = e.Settings,
                    BackupSchedule = e.BackupSchedule,
                    Codes = e.Finding is null ? [] : [e.Finding.Code],
                };
            }

            incident = incident with
            {
                Severity = e.Severity > incident.Severity ? e.Severity : incident.Severity,
                State = e.Event switch
                {
                    IncidentKinds.Mitigating => IncidentState.Mitigating,
                    IncidentKinds.Resolved => IncidentState.Resolved,
                    _ => incident.State,
                },
                MitigatingAt = e.Event == IncidentKinds.Mitigating ? e.At : incident.MitigatingAt,
                ResolvedAt = e.Event == IncidentKinds.Resolved ? e.At : incident.ResolvedAt,
            };
            if (e.Event == IncidentKinds.Resolved)
            {
                active = [.. e.Carried];
            }
        }

        return incident is null ? null : incident with { Links = links.DistinctBy(l => l.Seq).OrderBy(l => l.Seq).ToList(), ActiveFindings = active };
    }

    /// <summary>Finding codes of an incident from its finding entries (raised ones), in order.</summary>
    public static IReadOnlyList<FindingEntry> FindingEntries(IncidentData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return data.Findings.Select(e =>
        {
            try
            {
                return e.PayloadAs<FindingEntry>();
            }
            catch (System.Text.Json.JsonException)
            {
                return null;
            }
        }).OfType<FindingEntry>().ToList();
    }

    public static FindingSeverity SeverityOf(IncidentData data) => data.Incident.Severity;
}
