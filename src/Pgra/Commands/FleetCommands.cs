using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Fleet;
using PgRuntimeAgent.Sensing.Dcs;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary><c>pgra fleet [--json]</c>: the agents registered in etcd and which one owns each cluster (docs/fleet.md).</summary>
internal sealed class FleetCommands : ICommandGroup
{
    public int Order => 97;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var fleet = new Command("fleet", "The agents sharing the clusters through etcd (fleet: settings) and the owner of each cluster with its fencing token; clusters of the inventory nobody owns are listed. Exit 1 when etcd cannot be read or a cluster has no owner.");
        fleet.SetAction(async (parse, ct) =>
        {
            var workspace = CliWorkspace.Load(options, parse);
            var settings = workspace.Settings.Fleet;
            var endpoints = settings.EtcdUrls.Count > 0 ? settings.ParsedEtcdUrls() : DcsLeaderKey.Endpoints(workspace.Topology);
            var view = await FleetView.ReadAsync(settings, endpoints, ct).ConfigureAwait(false);
            var owners = view.Owners.ToDictionary(o => o.Cluster, StringComparer.Ordinal);
            var clusters = workspace.Topology.Clusters.Select(c => c.Name).ToList();
            var unowned = clusters.Where(c => !owners.ContainsKey(c)).ToList();
            if (parse.GetValue(options.Json))
            {
                var json = new JsonObject
                {
                    ["prefix"] = settings.Prefix,
                    ["this_agent"] = settings.AgentId,
                    ["error"] = view.Error,
                    ["agents"] = new JsonArray(view.Agents.Select(a => (JsonNode)new JsonObject { ["id"] = a.Id, ["host"] = a.Host, ["pid"] = a.Pid, ["since"] = a.Since }).ToArray()),
                    ["clusters"] = new JsonArray(clusters.Select(c => (JsonNode)new JsonObject
                    {
                        ["cluster"] = c,
                        ["owner"] = owners.TryGetValue(c, out var o) ? o.Agent : null,
                        ["token"] = owners.TryGetValue(c, out var t) ? t.Token : null,
                    }).ToArray()),
                };
                await options.Out.WriteLineAsync(json.ToJsonString(new JsonSerializerOptions { WriteIndented = true })).ConfigureAwait(false);
            }
            else if (view.Error is not null)
            {
                await options.Out.WriteLineAsync($"etcd could not be read under {settings.Prefix}: {view.Error}").ConfigureAwait(false);
            }
            else
            {
                await options.Out.WriteLineAsync($"agents under {settings.Prefix} in etcd ({view.Agents.Count}){(settings.Enabled ? $"; this one is {settings.AgentId}" : "; fleet.agent_id is not set here")}").ConfigureAwait(false);
                foreach (var a in view.Agents)
                {
                    await options.Out.WriteLineAsync($"  {a.Id,-20} host {a.Host ?? "?"}, pid {a.Pid?.ToString(CultureInfo.InvariantCulture) ?? "?"}, since {a.Since ?? "?"}").ConfigureAwait(false);
                }

                await options.Out.WriteLineAsync("clusters").ConfigureAwait(false);
                foreach (var c in clusters)
                {
                    var line = owners.TryGetValue(c, out var o) ? $"owned by {o.Agent} (token {o.Token.ToString(CultureInfo.InvariantCulture)})" : "no owner: no agent senses or acts on it";
                    await options.Out.WriteLineAsync($"  {c,-20} {line}").ConfigureAwait(false);
                }
            }

            return view.Error is null && unowned.Count == 0 ? ExitCodes.Ok : ExitCodes.Failure;
        });
        yield return fleet;
    }
}
