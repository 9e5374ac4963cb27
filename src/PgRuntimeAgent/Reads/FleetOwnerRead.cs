using System.Text.Json.Nodes;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Fleet;

namespace PgRuntimeAgent.Reads;

/// <summary><c>fleet.owner</c>: which agent owns the cluster now when several share the clusters through etcd (docs/fleet.md).</summary>
internal sealed class FleetOwnerRead : IRead
{
    public ReadDescriptor Descriptor { get; } = new()
    {
        Name = "fleet.owner",
        Summary = "Which agent owns the cluster now when several agents share the clusters through etcd (fleet:), as 'pgra fleet' shows it: the owner and its fencing token, the live agents, and whether this agent is configured for a fleet at all.",
        Source = ReadSource.Fleet,
        Member = MemberUse.None,
        Parameters = [],
        Bound = "two etcd range reads under fleet.prefix (the live agents and the owner keys); the cluster's owner only",
    };

    public async Task<JsonNode> ReadAsync(ReadContext context, ReadRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        if (!context.Fleet.Enabled)
        {
            return new JsonObject
            {
                ["fleet"] = false,
                ["owner"] = null,
                ["note"] = "fleet.agent_id is not set: this agent is alone and owns every cluster it watches",
            };
        }

        if (context.FleetEtcd.Count == 0)
        {
            return ReadResults.Failed("no etcd to read: set fleet.etcd_urls or give the inventory an etcd group");
        }

        var view = await FleetView.ReadAsync(context.Fleet, context.FleetEtcd, cancellationToken).ConfigureAwait(false);
        if (view.Error is { } error)
        {
            return ReadResults.Failed($"etcd ({string.Join(", ", context.FleetEtcd)}): {error}");
        }

        var owner = view.Owners.FirstOrDefault(o => string.Equals(o.Cluster, request.Cluster, StringComparison.Ordinal));
        return new JsonObject
        {
            ["fleet"] = true,
            ["agent_id"] = context.Fleet.AgentId,
            ["prefix"] = context.Fleet.Prefix,
            ["owner"] = owner is null ? null : new JsonObject { ["agent"] = owner.Agent, ["token"] = owner.Token, ["this_agent"] = owner.Agent == context.Fleet.AgentId },
            ["note"] = owner is null ? $"no agent owns {request.Cluster} now: a free cluster is taken within a lease ttl ({context.Fleet.LeaseTtlSeconds} s)" : null,
            ["agents"] = new JsonArray([.. view.Agents.Select(a => (JsonNode)new JsonObject { ["id"] = a.Id, ["host"] = a.Host, ["pid"] = a.Pid, ["since"] = a.Since })]),
        };
    }
}
