using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.InventoryPatches;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary>
/// <c>pgra inventory drift CLUSTER [--patch]</c>: compares the inventory's <c>pg_role</c> with Patroni's leader and,
/// with <c>--patch</c>, proposes the inventory change through the action pipeline (<c>inventory.propose_patch</c>):
/// a unified diff written beside the journal. The inventory itself is never modified.
/// </summary>
internal static class InventoryDriftCommand
{
    public static Command Create(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var cluster = new Argument<string>("CLUSTER") { Description = "The cluster (pg_cluster)." };
        var patch = new Option<bool>("--patch")
        {
            Description = "Propose the change: write a unified diff of the inventory beside the journal (through the action pipeline; the inventory is not modified).",
        };
        var reason = new Option<string?>("--reason") { Description = "Why (journaled with the proposal)." };
        var drift = new Command("drift", "Does the inventory's pg_role name Patroni's leader as the primary? Exit 0 when it does, 1 when it does not (or with --patch, when the proposal failed).")
        {
            cluster, patch, reason,
        };
        drift.SetAction((parse, ct) => RunAsync(options, parse, parse.GetValue(cluster)!, parse.GetValue(patch), parse.GetValue(reason) is { } why ? SecretText.RedactFreeText(why) : null, ct));
        return drift;
    }

    private static async Task<int> RunAsync(GlobalOptions options, ParseResult parse, string clusterName, bool patch, string? reason, CancellationToken cancellationToken)
    {
        var workspace = CliWorkspace.Load(options, parse);
        var cluster = workspace.Topology.FindCluster(clusterName)
            ?? throw new InputException($"no cluster '{clusterName}' in {workspace.Topology.SourcePath}",
                [$"clusters: {string.Join(", ", workspace.Topology.Clusters.Select(c => c.Name))}"]);
        var context = workspace.ActingContext(options.Time);
        var snapshot = await ActionSensing.For(context).SenseAsync(cluster.Name, cancellationToken).ConfigureAwait(false);
        var json = parse.GetValue(options.Json);
        var verdict = InventoryDrift.Judge(cluster, snapshot);
        var result = new JsonObject
        {
            ["cluster"] = cluster.Name,
            ["file"] = workspace.Topology.SourcePath,
            ["declared_primary"] = verdict.DeclaredPrimary,
            ["leader"] = verdict.Leader,
            ["status"] = ActionPipeline.Kebab(verdict.Status),
            ["message"] = verdict.Message,
        };
        if (verdict.Status == InventoryDriftStatus.LeaderUnknown)
        {
            return await WriteAsync(options, json, result, ExitCodes.Failure).ConfigureAwait(false);
        }

        var changes = verdict.Changes;
        result["changes"] = JsonNode.Parse(InventoryChange.ToJson(changes));
        if (verdict.Status == InventoryDriftStatus.InAgreement)
        {
            return await WriteAsync(options, json, result, ExitCodes.Ok).ConfigureAwait(false);
        }

        if (!patch)
        {
            result["next"] = $"pgra inventory drift {cluster.Name} --patch   (writes a patch for review; the inventory is not modified)";
            return await WriteAsync(options, json, result, ExitCodes.Failure).ConfigureAwait(false);
        }

        await using var session = await ActingSession.OpenAsync(options, parse, cancellationToken).ConfigureAwait(false);
        var action = InventoryPatchActuator.PlanRequest(workspace.Topology, cluster.Name, null, InventoryChange.ToJson(changes), ActionTrigger.Operator,
            ActingSession.OperatorName(), reason ?? result["message"]!.GetValue<string>());
        var run = await session.Pipeline.RunAsync(action, dryRun: false, cancellationToken).ConfigureAwait(false);
        var details = run.Execution?.Details ?? new Dictionary<string, string>(StringComparer.Ordinal);
        result["status"] = run.Status == ActionStatus.Succeeded ? "proposed" : ActionPipeline.Kebab(run.Status);
        result["action"] = JsonSerializer.SerializeToNode(run, CliOutput.Json);
        result["path"] = details.GetValueOrDefault("path");
        result["sha256"] = details.GetValueOrDefault("sha256");
        result["diff"] = details.GetValueOrDefault("diff") is { } d ? workspace.Secrets.Redact(d) : null;
        result["apply"] = details.GetValueOrDefault("apply");
        if (json)
        {
            await options.Out.WriteLineAsync(result.ToJsonString(CliOutput.Json)).ConfigureAwait(false);
        }
        else
        {
            await options.Out.WriteLineAsync($"Drift     {result["message"]}").ConfigureAwait(false);
            await options.Out.WriteAsync(ActionReport.Render(run)).ConfigureAwait(false);
            if (result["diff"] is { } diff)
            {
                await options.Out.WriteLineAsync().ConfigureAwait(false);
                await options.Out.WriteAsync(diff.GetValue<string>()).ConfigureAwait(false);
                await options.Out.WriteLineAsync().ConfigureAwait(false);
                await options.Out.WriteLineAsync($"Review it, then apply: {result["apply"]}").ConfigureAwait(false);
            }
        }

        return ActionReport.ExitCode(run);
    }

    private static async Task<int> WriteAsync(GlobalOptions options, bool json, JsonObject result, int exitCode)
    {
        if (json)
        {
            await options.Out.WriteLineAsync(result.ToJsonString(CliOutput.Json)).ConfigureAwait(false);
            return exitCode;
        }

        await options.Out.WriteLineAsync($"{result["status"]}: {result["message"]}").ConfigureAwait(false);
        if (result["changes"] is JsonArray { Count: > 0 } changes)
        {
            foreach (var c in changes)
            {
                await options.Out.WriteLineAsync($"  {c!["member"]} {c["key"]}: {c["from"]} -> {c["to"]}").ConfigureAwait(false);
            }
        }

        if (result["next"] is { } next)
        {
            await options.Out.WriteLineAsync($"next: {next}").ConfigureAwait(false);
        }

        return exitCode;
    }
}
