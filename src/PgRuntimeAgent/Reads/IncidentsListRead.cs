using System.Text.Json.Nodes;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;

namespace PgRuntimeAgent.Reads;

/// <summary><c>incidents.list</c>: the cluster's incidents as the journal tells them, newest first, bounded.</summary>
internal sealed class IncidentsListRead : IRead
{
    public const int MaxIncidents = 200;

    public ReadDescriptor Descriptor { get; } = new()
    {
        Name = "incidents.list",
        Summary = "The cluster's incidents, rebuilt from the journal as 'pgra incidents' shows them: id, state, severity, title, when opened/mitigated/resolved, finding codes, the leader before; newest first.",
        Source = ReadSource.Journal,
        Member = MemberUse.None,
        Parameters =
        [
            new ParameterSpec("state", ParameterType.String, "Only incidents in this state.") { AllowedValues = ["open", "mitigating", "resolved"] },
            new ParameterSpec("limit", ParameterType.Integer, "Most incidents returned (the newest).")
            {
                Default = "20",
                Minimum = 1,
                Maximum = MaxIncidents,
            },
        ],
        Bound = $"at most {MaxIncidents} incidents (default 20), newest first, without their journal links",
    };

    public async Task<JsonNode> ReadAsync(ReadContext context, ReadRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var limit = (int)request.Integer("limit")!.Value;
        var state = request.Text("state") is { } s ? Enum.Parse<IncidentState>(s, ignoreCase: true) : (IncidentState?)null;
        IReadOnlyList<Incident> all;
        try
        {
            all = await context.ListIncidentsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (JournalException ex)
        {
            return ReadResults.Failed(ex.Message);
        }

        var matching = all.Where(i => string.Equals(i.Cluster, request.Cluster, StringComparison.Ordinal) && (state is null || i.State == state))
            .OrderByDescending(i => i.OpenedAt).ThenByDescending(i => i.OpenedSeq).ToList();
        var (incidents, truncated) = ReadResults.Take(matching, limit);
        return new JsonObject
        {
            ["limit"] = limit,
            ["total"] = matching.Count,
            ["truncated"] = truncated,
            ["incidents"] = new JsonArray([.. incidents.Select(i => (JsonNode)new JsonObject
            {
                ["id"] = i.Id,
                ["state"] = i.State.ToString().ToLowerInvariant(),
                ["severity"] = i.Severity.ToString().ToLowerInvariant(),
                ["title"] = i.Title,
                ["opened_at"] = i.OpenedAt,
                ["mitigating_at"] = i.MitigatingAt,
                ["resolved_at"] = i.ResolvedAt,
                ["leader_before"] = i.LeaderBefore,
                ["codes"] = ReadResults.ToNode(i.Codes),
                ["active_findings"] = ReadResults.ToNode(i.ActiveFindings),
                ["opened_seq"] = i.OpenedSeq,
                ["links"] = i.Links.Count,
            })]),
        };
    }
}
