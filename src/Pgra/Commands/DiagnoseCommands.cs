using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Brain;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Reads;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Tools;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary>
/// <c>pgra diagnose CLUSTER [--samples N] [--llm]</c>: what is wrong with a cluster and what the agent would do about it,
/// without doing it. The findings of a few snapshots, most likely root cause first (the detectors' ranks), each with the
/// detector's explanation and a dry run of the runbook that handles it; with <c>--llm</c>, the configured model reads
/// the same evidence with the read-only tools and its reading is printed after, marked as the model's (docs/brain.md).
/// </summary>
internal sealed class DiagnoseCommands : ICommandGroup
{
    public int Order => 61;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var cluster = new Argument<string>("CLUSTER") { Description = "Cluster name (pg_cluster)." };
        var samples = new Option<int>("--samples") { Description = "Snapshots to judge, one sensing interval apart (persistence rules need more than one).", DefaultValueFactory = _ => 3 };
        var llm = new Option<bool>("--llm") { Description = "Also ask the configured language model (settings llm:) to read the evidence with the read-only tools." };
        var skills = new Option<string?>("--skills") { Description = "Skills directory (default: ./skills, the skills/ above the binary, /etc/pgra/skills)." };
        var diagnose = new Command("diagnose", "What is wrong with a cluster and what the agent would do, without doing it: findings with the most likely root cause first, each detector's explanation, a dry run of the runbook that handles it; --llm adds the model's reading, marked as such. Exit 0 nothing found, 1 findings (or the model failed), 2 bad input.")
        {
            cluster, samples, llm, skills,
        };
        diagnose.SetAction((parse, ct) => DiagnoseAsync(options, parse, parse.GetValue(cluster)!, parse.GetValue(samples), parse.GetValue(llm), parse.GetValue(skills), ct));
        yield return diagnose;
    }

    private static async Task<int> DiagnoseAsync(GlobalOptions options, ParseResult parse, string clusterName, int samples, bool useModel, string? skillsOption,
        CancellationToken cancellationToken)
    {
        if (samples < 1)
        {
            throw new InputException("--samples must be 1 or more");
        }

        var workspace = CliWorkspace.Load(options, parse);
        var cluster = workspace.Topology.FindCluster(clusterName)
            ?? throw new InputException($"unknown cluster '{clusterName}'", [$"clusters: {string.Join(", ", workspace.Topology.Clusters.Select(c => c.Name))}"]);
        var cwd = Directory.GetCurrentDirectory();
        var skillsDir = SkillCommands.ResolveDirectory(skillsOption ?? workspace.Settings.Agent.SkillsDir, cwd, AppContext.BaseDirectory);
        var skills = SkillCatalog.Load(skillsDir, SkillVocabulary.Default, cwd);

        using var service = new SnapshotService(workspace.Topology, workspace.Settings.Sensing, workspace.Settings.Endpoints, workspace.Secrets, options.Time);
        var snapshots = await IncidentCommands.SampleAsync(service, cluster.Name, samples, workspace.Settings.Sensing.IntervalSeconds, options.Time, cancellationToken)
            .ConfigureAwait(false);

        var verdict = OneOffDetection.Judge(cluster.Name, workspace.Settings.Detection, DetectionContext.For(cluster), snapshots);
        var findings = Ranked([.. verdict.Persisted, .. verdict.SingleSample]);
        var last = SnapshotRecorder.ToElement(verdict.Last);
        var text = new StringBuilder();
        var json = new JsonArray();
        text.AppendLine(CultureInfo.InvariantCulture, $"{cluster.Name}: leader {verdict.Last.Leader ?? "none"}, {snapshots.Count} snapshot(s), {findings.Count} finding(s){(verdict.CouldNotSense is null ? "" : $"; could not sense: {verdict.CouldNotSense}")}");
        var first = true;
        foreach (var f in findings)
        {
            var persisted = verdict.Persisted.Contains(f);
            var detector = AgentCatalog.Default.FindDetector(f.Code);
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"{(first ? "Root cause" : "Also"),-11}{f.Code} ({FindingJson.SeverityName(f.Severity)}{(persisted ? "" : ", one sample: not persisted yet")}): {f.Summary}");
            if (detector is not null)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"{"",-11}{detector.Explanation}");
            }

            var node = new JsonObject
            {
                ["code"] = f.Code,
                ["severity"] = FindingJson.SeverityName(f.Severity),
                ["persisted"] = persisted,
                ["root_cause"] = first,
                ["summary"] = f.Summary,
                ["members"] = new JsonArray([.. f.Members.Select(m => (JsonNode?)JsonValue.Create(m))]),
                ["explanation"] = detector?.Explanation,
            };
            var runbook = skills.Skills.FirstOrDefault(s => s.Triggers.Findings.Contains(f.Code, StringComparer.Ordinal));
            if (runbook is null)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"{"",-11}no skill handles {f.Code}: an operator decides");
            }
            else
            {
                var run = await new SkillRunner().RunAsync(runbook, new SkillRunRequest(cluster.Name) { Snapshot = last, Trigger = f.ToTrigger(), DryRun = true },
                    new StaticSnapshotSkillHost(last, options.Time), cancellationToken).ConfigureAwait(false);
                text.AppendLine(CultureInfo.InvariantCulture, $"{"",-11}runbook {runbook.Name}, dry run on the last snapshot (nothing executed):");
                text.Append(SkillCommands.RenderRun(run));
                node["skill"] = runbook.Name;
                node["dry_run"] = JsonSerializer.SerializeToNode(run, CliOutput.Json);
            }

            json.Add(node);
            first = false;
        }

        BrainExchange? exchange = null;
        if (useModel)
        {
            // Diagnosis reads only: the model gets no act_* tool here.
            var diagnosis = text.ToString();
            exchange = await AskCommands.AskModelAsync(options, workspace, cluster.Name,
                "Diagnose this cluster: is the agent's root cause right, what else explains the symptoms, and what should an operator do? Read what you need with the tools and cite it.",
                readOnly: true, skillsDir,
                (_, _) => Task.FromResult(Investigator.Context(verdict.Last, findings, []) + "\nThe agent's own diagnosis (detectors and runbook dry runs):\n" + diagnosis),
                cancellationToken).ConfigureAwait(false);
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"The model's reading ({exchange.Model} via {exchange.Provider}; the model's words, not the agent's verdict; journal #{exchange.JournalSeq}):");
            text.AppendLine(exchange.Answer.Length > 0 ? exchange.Answer : $"({exchange.Status}: {exchange.Error})");
        }

        if (parse.GetValue(options.Json))
        {
            var doc = new JsonObject
            {
                ["cluster"] = cluster.Name,
                ["leader"] = verdict.Last.Leader,
                ["snapshots"] = snapshots.Count,
                ["could_not_sense"] = verdict.CouldNotSense,
                ["findings"] = json,
                ["model"] = exchange is null ? null : JsonSerializer.SerializeToNode(exchange, CliOutput.Json),
            };
            await options.Out.WriteLineAsync(doc.ToJsonString(CliOutput.Json)).ConfigureAwait(false);
        }
        else
        {
            await options.Out.WriteAsync(text.ToString()).ConfigureAwait(false);
        }

        return findings.Count > 0 || verdict.CouldNotSense is not null || exchange is { Status: not "answered" } ? ExitCodes.Failure : ExitCodes.Ok;
    }

    /// <summary>Most likely root cause first: the detectors' root-cause rank, then severity, then code.</summary>
    internal static List<Finding> Ranked(IEnumerable<Finding> findings) =>
        [.. findings.OrderBy(f => AgentCatalog.Default.FindDetector(f.Code)?.RootCauseRank ?? int.MaxValue)
            .ThenByDescending(f => f.Severity).ThenBy(f => f.Code, StringComparer.Ordinal)];
}
