using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Brain;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Reads;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Tools;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary>
/// <c>pgra ask CLUSTER "QUESTION" [--read-only]</c>: one question to the configured language model, which investigates
/// through the catalogue's tools (reads; actions through policy as proactive requests of <c>model:MODEL</c>) and
/// answers with its evidence. Journaled as <c>brain.exchange</c> (docs/brain.md).
/// </summary>
internal sealed class AskCommands : ICommandGroup
{
    public int Order => 98;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var cluster = new Argument<string>("CLUSTER") { Description = "Cluster name (pg_cluster)." };
        var question = new Argument<string>("QUESTION") { Description = "The question, in words." };
        var readOnly = new Option<bool>("--read-only") { Description = "Give the model the reads only: it can request no action." };
        var ask = new Command("ask", "Ask the configured language model (settings llm:) about a cluster: it reads through the agent's tools and answers with the evidence; actions it requests go through policy (an approval below their level). Exit 0 answered, 1 not answered (timed out, failed, step limit), 2 bad input or no llm: section.")
        {
            cluster, question, readOnly,
        };
        ask.SetAction((parse, ct) => AskAsync(options, parse, parse.GetValue(cluster)!, parse.GetValue(question)!, parse.GetValue(readOnly), ct));
        yield return ask;
    }

    /// <summary>
    /// One question to the configured model (ask, diagnose --llm): the client is made first, so a missing llm: section
    /// fails before anything is sensed; then the context, the catalogue's tools (reads only when
    /// <paramref name="readOnly"/>) and the standing orders; the exchange is journaled.
    /// </summary>
    internal static async Task<BrainExchange> AskModelAsync(GlobalOptions options, Workspace workspace, string cluster, string question, bool readOnly,
        string? skillsDir, Func<ReadContext, CancellationToken, Task<string>> context, CancellationToken cancellationToken)
    {
        var llm = workspace.Settings.Llm;
        using var client = ChatClients.Create(llm, workspace.Secrets);
        await using var reads = workspace.ReadContext(options.Time);
        await using var acting = await workspace.OpenActingAsync(options.Time, logging: null, journal: null, cancellationToken).ConfigureAwait(false);
        var tools = AgentToolbox.Build(AgentCatalog.Default, new ToolboxOptions
        {
            Caller = "model:" + llm.Model,
            Reads = reads,
            Acting = readOnly ? null : acting,
            MaxResultChars = llm.MaxToolResultChars,
        });
        var investigator = new Investigator(client, llm, workspace.Secrets, acting.Journal, options.Time,
            await StandingOrders.ReadAsync(skillsDir, Directory.GetCurrentDirectory(), cancellationToken).ConfigureAwait(false));
        return await investigator.AskAsync(cluster, question, await context(reads, cancellationToken).ConfigureAwait(false), tools, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<int> AskAsync(GlobalOptions options, ParseResult parse, string clusterName, string question, bool readOnly, CancellationToken cancellationToken)
    {
        var workspace = CliWorkspace.Load(options, parse);
        var cluster = workspace.Topology.FindCluster(clusterName)
            ?? throw new InputException($"unknown cluster '{clusterName}'", [$"clusters: {string.Join(", ", workspace.Topology.Clusters.Select(c => c.Name))}"]);
        string? skillsDir = null;
        try
        {
            skillsDir = SkillCommands.ResolveDirectory(workspace.Settings.Agent.SkillsDir, Directory.GetCurrentDirectory(), AppContext.BaseDirectory);
        }
        catch (InputException)
        {
            // No skills directory: the standing orders are looked for in the current directory only.
        }

        var exchange = await AskModelAsync(options, workspace, cluster.Name, question, readOnly, skillsDir, async (reads, ct) =>
        {
            // What the model starts from: a fresh snapshot's summary, its findings, the past incidents most like them.
            using var snapshots = new SnapshotService(workspace.Topology, workspace.Settings.Sensing, workspace.Settings.Endpoints, workspace.Secrets, options.Time);
            var snapshot = await snapshots.TakeAsync(cluster.Name, ct).ConfigureAwait(false);
            var verdict = OneOffDetection.Judge(cluster.Name, workspace.Settings.Detection, DetectionContext.For(cluster), [snapshot]);
            var incidents = await ReadCatalog.RunAsync(reads, "incidents.list", new ReadRequest
            {
                Cluster = cluster.Name,
                Parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["limit"] = IncidentsListRead.MaxIncidents.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            }, ct).ConfigureAwait(false);
            IReadOnlyList<Finding> findings = [.. verdict.Persisted, .. verdict.SingleSample];
            var similar = Investigator.Similar(incidents["result"]?["incidents"] as JsonArray ?? [], findings.Select(f => f.Code), 5);
            return Investigator.Context(snapshot, findings, similar);
        }, cancellationToken).ConfigureAwait(false);
        if (parse.GetValue(options.Json))
        {
            await options.Out.WriteLineAsync(JsonSerializer.Serialize(exchange, CliOutput.Json)).ConfigureAwait(false);
        }
        else
        {
            await options.Out.WriteLineAsync(exchange.Answer.Length > 0 ? exchange.Answer : $"({exchange.Status}: {exchange.Error})").ConfigureAwait(false);
            await options.Out.WriteLineAsync(
                $"-- {exchange.Model} via {exchange.Provider}: {exchange.Status}, {exchange.ToolCalls.Count} tool call(s) ({string.Join(", ", exchange.ToolCalls.Select(c => c.Tool))}), "
                + $"{exchange.InputTokens?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"} tokens in, {exchange.OutputTokens?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"} out, "
                + $"{exchange.LatencyMs / 1000:0.0} s; journal #{exchange.JournalSeq}").ConfigureAwait(false);
        }

        return exchange.Status == "answered" ? ExitCodes.Ok : ExitCodes.Failure;
    }
}
