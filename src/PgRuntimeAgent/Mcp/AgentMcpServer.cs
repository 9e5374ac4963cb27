using System.Reflection;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Tools;

namespace PgRuntimeAgent.Mcp;

/// <summary>
/// The agent's body for outside agents (Claude Code, Codex, any MCP client), built from the same catalogue as the
/// model's tools: every read and action is a tool, annotated read-only or destructive; the catalogue, the standing
/// orders and every skill are resources; every skill is a prompt that asks for its runbook to be followed on a
/// cluster. Actions requested here go through policy as a proactive request of the caller (<c>mcp:USER</c> on stdio,
/// <c>mcp:TOKEN/CLIENT</c> over HTTP), so what needs an approval waits for an operator exactly as it would for a skill.
/// One definition serves both transports (<see cref="Configure"/>); every tool call is journaled as <c>mcp.call</c>
/// when a journal is given.
/// </summary>
internal static class AgentMcpServer
{
    public const string ServerName = "pgra";

    public const string CatalogUri = "pgra://catalog";

    public const string OrdersUri = "pgra://agent.md";

    public const string SkillUriPrefix = "pgra://skills/";

    /// <summary>The server's options for <paramref name="tools"/> (stdio in tests: no identity, no journal).</summary>
    public static McpServerOptions Options(IReadOnlyList<AgentTool> tools, AgentCatalog catalog, SkillCatalog? skills, string? standingOrders) =>
        Options(new McpServeOptions { Tools = tools, Catalog = catalog, Skills = skills, StandingOrders = standingOrders });

    /// <summary>The server's options: every transport serves this one definition.</summary>
    public static McpServerOptions Options(McpServeOptions serve) => Configure(new McpServerOptions(), serve);

    /// <summary>
    /// Sets <paramref name="target"/>'s server info, instructions, tools, resources and prompts from
    /// <paramref name="serve"/> (the HTTP transport calls it once per session, on options of its own).
    /// </summary>
    public static McpServerOptions Configure(McpServerOptions target, McpServeOptions serve)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(serve);
        var catalog = serve.Catalog;
        var standingOrders = serve.StandingOrders;
        var resources = new List<McpServerResource>
        {
            McpServerResource.Create(() => catalog.ToJson().ToJsonString(), new McpServerResourceCreateOptions
            {
                UriTemplate = CatalogUri,
                Name = "catalog",
                MimeType = "application/json",
                Description = "Every action, read and detector the agent has, with parameters, risk, reversibility and thresholds (pgra catalog --json).",
            }),
        };
        if (standingOrders is not null)
        {
            resources.Add(McpServerResource.Create(() => standingOrders, new McpServerResourceCreateOptions
            {
                UriTemplate = OrdersUri,
                Name = "standing-orders",
                MimeType = "text/markdown",
                Description = "AGENT.md: the standing orders the agent and anyone driving it work under (autonomy levels, what is never done).",
            }));
        }

        if (serve.Workspace is { } workspace)
        {
            resources.Add(McpServerResource.Create(() => workspace.Secrets.RedactJson(System.Text.Json.JsonSerializer.Serialize(
                Inventory.InventoryJson.Show(workspace.Topology, workspace.Settings.SourcePath, workspace.Settings.SourcePath is null ? "defaults" : "settings file",
                    Inventory.InventoryOverrides.From(workspace.Settings)), Web.ApiJson.Options)), new McpServerResourceCreateOptions
            {
                UriTemplate = TopologyUri,
                Name = "topology",
                MimeType = "application/json",
                Description = "The deployment as the inventory declares it (pgra inventory show --json): clusters, members, roles, ports, endpoints and where each value came from; secrets masked.",
            }));
        }

        if (serve.Journal is { } journaled)
        {
            resources.AddRange(IncidentResources(journaled));
        }

        var prompts = new List<McpServerPrompt>();
        foreach (var skill in serve.Skills?.Skills ?? [])
        {
            var body = skill.Body;
            resources.Add(McpServerResource.Create(() => body, new McpServerResourceCreateOptions
            {
                UriTemplate = SkillUriPrefix + skill.Name,
                Name = "skill-" + skill.Name,
                MimeType = "text/markdown",
                Description = skill.Description,
            }));
            var name = skill.Name;
            prompts.Add(McpServerPrompt.Create((string cluster) => Prompt(name, body, cluster), new McpServerPromptCreateOptions
            {
                Name = skill.Name,
                Description = $"Follow the {skill.Name} runbook on a cluster: {skill.Description}",
            }));
        }

        target.ServerInfo = new Implementation { Name = ServerName, Version = Version };
        target.ServerInstructions = Instructions;
        target.ToolCollection = [.. serve.Tools.Select(t => (McpServerTool)new AgentMcpTool(t, serve))];
        target.ResourceCollection = [.. resources];
        target.PromptCollection = [.. prompts];
        return target;
    }

    public const string TopologyUri = "pgra://topology";

    public const string IncidentsUri = "pgra://incidents";

    public const string PostmortemUriTemplate = "pgra://incidents/{id}/postmortem";

    /// <summary>The most incidents the list resource names, newest first (incidents_list pages further).</summary>
    public const int MaxListedIncidents = 50;

    /// <summary>
    /// The journal's incidents as resources: the list (newest first) and each one's post-mortem, rendered from the
    /// journal as <c>pgra postmortem</c> renders it, with the deployment's secrets masked.
    /// </summary>
    private static IEnumerable<McpServerResource> IncidentResources(McpCallJournal journaled)
    {
        yield return McpServerResource.Create(async (CancellationToken ct) =>
        {
            var incidents = await Incidents.IncidentStore.ListAsync(journaled.Journal, ct).ConfigureAwait(false);
            // Each as pgra incidents --json and /api/v1/incidents list it, with the URI of its post-mortem.
            var list = new System.Text.Json.Nodes.JsonArray([.. incidents.OrderByDescending(i => i.OpenedAt).Take(MaxListedIncidents).Select(i =>
            {
                var item = System.Text.Json.JsonSerializer.SerializeToNode(Incidents.IncidentSummary.Of(i), Incidents.IncidentJson.Options)!.AsObject();
                item["postmortem"] = PostmortemUriTemplate.Replace("{id}", i.Id, StringComparison.Ordinal);
                return (System.Text.Json.Nodes.JsonNode)item;
            })]);
            return journaled.Secrets.RedactJson(list.ToJsonString());
        }, new McpServerResourceCreateOptions
        {
            UriTemplate = IncidentsUri,
            Name = "incidents",
            MimeType = "application/json",
            Description = $"The deployment's incidents, newest first (at most {MaxListedIncidents}): cluster, state, severity, finding codes, and the URI of each post-mortem.",
        });
        yield return McpServerResource.Create(async (string id, CancellationToken ct) =>
        {
            if (!Incidents.IncidentIds.IsValid(id))
            {
                throw new ModelContextProtocol.McpException($"'{id}' is not an incident id ({Incidents.IncidentIds.Pattern}): read {IncidentsUri}");
            }

            var report = await Incidents.PostMortemWriter.BuildAsync(journaled.Journal, id, ct).ConfigureAwait(false)
                ?? throw new ModelContextProtocol.McpException($"no incident {id} in the journal: read {IncidentsUri}");
            return journaled.Secrets.Redact(Incidents.PostMortemWriter.Markdown(report));
        }, new McpServerResourceCreateOptions
        {
            UriTemplate = PostmortemUriTemplate,
            Name = "postmortem",
            MimeType = "text/markdown",
            Description = "One incident's post-mortem, rendered from the journal: impact, timeline, root cause, what the agent did and why, follow-ups.",
        });
    }

    /// <summary>The instructions every client gets on connecting.</summary>
    public const string Instructions =
        "PgRuntimeAgent's body for a Pigsty PostgreSQL deployment. Read before you act: cluster_snapshot, cluster_member, postgres_probe, "
        + "metrics_query, logs_search, journal_search, incidents_list. Tools named act_* request an action: each goes through the agent's "
        + "policy, prechecks, journal and verification; above the autonomy level it becomes a pending approval for an operator (the result "
        + "says so), it is never run around the policy. Give every action a reason that names the evidence. Try dry_run=true first. "
        + "The inventory's topology is the resource pgra://topology, the standing orders pgra://agent.md, the catalogue pgra://catalog, the runbooks pgra://skills/NAME, "
        + "the incidents pgra://incidents and each one's post-mortem pgra://incidents/ID/postmortem.";

    private static string Prompt(string skill, string body, string cluster) =>
        $"""
        Follow the runbook "{skill}" below on the cluster {cluster}, with the pgra tools. Read the cluster's state first
        (cluster_snapshot, and the reads the runbook names), say what you found with the evidence (metric names, log
        lines, journal ids), and request actions only through the act_* tools with a reason; a pending approval is an
        answer, not a failure.

        {body}
        """;

    private static string Version { get; } =
        typeof(AgentMcpServer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
}
