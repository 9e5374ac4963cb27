namespace PgRuntimeAgent.Incidents;

/// <summary>One incident as <c>pgra incidents --json</c> lists it and the API's <c>/api/v1/incidents</c> answers it (snake_case with <see cref="IncidentJson.Options"/>).</summary>
internal static class IncidentSummary
{
    public static object Of(Incident i)
    {
        ArgumentNullException.ThrowIfNull(i);
        return new
        {
            id = i.Id,
            cluster = i.Cluster,
            state = i.State,
            severity = i.Severity,
            title = i.Title,
            opened_at = i.OpenedAt,
            mitigating_at = i.MitigatingAt,
            resolved_at = i.ResolvedAt,
            leader_before = i.LeaderBefore,
            codes = i.Codes,
            active_findings = i.ActiveFindings,
            links = i.Links.Count,
        };
    }
}
