using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary><c>pgra detect</c>, <c>pgra incidents</c>, <c>pgra postmortem</c> and <c>pgra replay</c>.</summary>
internal sealed class IncidentCommands : ICommandGroup
{
    public int Order => 60;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var journal = JournalAccess.CreateOption();

        var detectCluster = new Argument<string>("CLUSTER") { Description = "Cluster name (pg_cluster)." };
        var samples = new Option<int>("--samples") { Description = "Snapshots to take, sensing.interval_seconds apart. With 1, findings that held as the detection rules require are told apart from symptoms seen on that single sample.", DefaultValueFactory = _ => 1 };
        var files = new Option<string[]>("--snapshot") { Description = "Detect on saved snapshot JSON files (pgra snapshot --json), in order, instead of sensing.", AllowMultipleArgumentsPerToken = true };
        var detect = new Command("detect", "Take a snapshot of a cluster now and print the findings (code, severity, members, evidence): persisted findings apart from single-sample symptoms. Exit 1 when there is either, or when every member's probes timed out.");
        detect.Arguments.Add(detectCluster);
        detect.Options.Add(samples);
        detect.Options.Add(files);
        detect.SetAction((parse, ct) => DetectAsync(options, parse, parse.GetValue(detectCluster)!, parse.GetValue(samples), parse.GetValue(files) ?? [], ct));

        var incidents = new Command("incidents", "Incidents in the journal: id, cluster, state (open, mitigating, resolved), severity, findings, times.");
        incidents.Options.Add(journal);
        incidents.SetAction((parse, ct) => IncidentsAsync(options, parse, journal, ct));

        var pmId = new Argument<string>("ID") { Description = "Incident id (pgra incidents lists them)." };
        var outDir = new Option<string?>("--out") { Description = "Also write <ID>.md and <ID>.json into this directory." };
        var postmortem = new Command("postmortem", "The post-mortem of an incident, rendered from the journal alone: summary, timeline, impact, root cause, actions, unknowns, follow-ups.");
        postmortem.Arguments.Add(pmId);
        postmortem.Options.Add(outDir);
        postmortem.Options.Add(journal);
        postmortem.SetAction((parse, ct) => PostMortemAsync(options, parse, journal, parse.GetValue(pmId)!, parse.GetValue(outDir), ct));

        var replayId = new Argument<string>("INCIDENT") { Description = "Incident id." };
        var skillsDir = new Option<string?>("--skills") { Description = "Skills directory (default: ./skills, the skills/ above the binary, /etc/pgra/skills)." };
        var replay = new Command("replay", "Feed an incident's journaled snapshots through the detectors and its skill runs through the runner (nothing is executed) and compare the decisions. Exit 1 when they differ.");
        replay.Arguments.Add(replayId);
        replay.Options.Add(skillsDir);
        replay.Options.Add(journal);
        replay.SetAction((parse, ct) => ReplayAsync(options, parse, journal, parse.GetValue(replayId)!, parse.GetValue(skillsDir), ct));

        return [detect, incidents, postmortem, replay];
    }

    // ------------------------------------------------------------------ detect

    /// <summary><paramref name="samples"/> snapshots of <paramref name="cluster"/>, one sensing interval apart (at least half a second), for the persistence rules.</summary>
    internal static async Task<List<ClusterSnapshot>> SampleAsync(SnapshotService service, string cluster, int samples, double intervalSeconds, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var snapshots = new List<ClusterSnapshot>();
        for (var i = 0; i < samples; i++)
        {
            if (i > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds(Math.Max(0.5, intervalSeconds)), time, cancellationToken).ConfigureAwait(false);
            }

            snapshots.Add(await service.TakeAsync(cluster, cancellationToken).ConfigureAwait(false));
        }

        return snapshots;
    }

    private static async Task<int> DetectAsync(GlobalOptions options, ParseResult parse, string cluster, int samples, string[] files, CancellationToken cancellationToken)
    {
        if (samples < 1)
        {
            throw new InputException("--samples must be 1 or more");
        }

        var snapshots = new List<ClusterSnapshot>();
        DetectionSettings settings;
        DetectionContext context;
        if (files.Length > 0)
        {
            foreach (var file in files)
            {
                snapshots.Add(SnapshotFile.Read(file).Snapshot);
            }

            cluster = snapshots[0].Cluster == cluster ? cluster : throw new InputException($"{files[0]} is a snapshot of {snapshots[0].Cluster}, not {cluster}");
            settings = DetectionSettings.Default;
            context = DetectionContext.Empty;
            try
            {
                var ws = CliWorkspace.Load(options, parse);
                settings = ws.Settings.Detection;
                context = ContextOf(ws, cluster);
            }
            catch (InputException)
            {
                // Saved snapshots can be judged without an inventory: default thresholds, no backup schedule.
            }
        }
        else
        {
            var workspace = CliWorkspace.Load(options, parse);
            if (workspace.Topology.FindCluster(cluster) is null)
            {
                throw new InputException($"unknown cluster '{cluster}'", [$"clusters: {string.Join(", ", workspace.Topology.Clusters.Select(c => c.Name))}"]);
            }

            settings = workspace.Settings.Detection;
            context = ContextOf(workspace, cluster);
            using var service = new SnapshotService(workspace.Topology, workspace.Settings.Sensing, workspace.Settings.Endpoints, workspace.Secrets, options.Time);
            snapshots.AddRange(await SampleAsync(service, cluster, samples, workspace.Settings.Sensing.IntervalSeconds, options.Time, cancellationToken).ConfigureAwait(false));
        }

        var verdict = OneOffDetection.Judge(cluster, settings, context, snapshots);
        if (parse.GetValue(options.Json))
        {
            var doc = DetectVerdictJson.ToJson(cluster, verdict, snapshots.Count);
            await options.Out.WriteLineAsync(doc.ToJsonString(IncidentJson.Options)).ConfigureAwait(false);
        }
        else
        {
            await options.Out.WriteAsync(RenderFindings(cluster, verdict, snapshots.Count)).ConfigureAwait(false);
        }

        return verdict.Persisted.Count > 0 || verdict.SingleSample.Count > 0 || verdict.CouldNotSense is not null ? ExitCodes.Failure : ExitCodes.Ok;
    }

    internal static DetectionContext ContextOf(Workspace workspace, string cluster) => DetectionContext.For(workspace.Topology.FindCluster(cluster));

    internal static string RenderFindings(string cluster, DetectVerdict verdict, int count)
    {
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"{cluster} at {FindingJson.Time(verdict.Last.TakenAt)} ({count} snapshot{(count == 1 ? "" : "s")}): ");
        if (verdict.CouldNotSense is { } why)
        {
            b.Append(CultureInfo.InvariantCulture, $"could not sense: {why}. ");
            b.Append("Sensing itself is slow (a busy admin node, or timeouts too short for it): those timeouts say nothing about "
                + "the members and no primary is called frozen on them; retry, run with --samples 3, or raise sensing.timeout_seconds.\n");
        }

        if (verdict.Persisted.Count == 0 && verdict.SingleSample.Count == 0)
        {
            b.Append(verdict.CouldNotSense is null ? "no findings\n" : "no findings either\n");
            return b.ToString();
        }

        b.Append(CultureInfo.InvariantCulture, $"{verdict.Persisted.Count} persisted finding(s)");
        if (count == 1)
        {
            b.Append(CultureInfo.InvariantCulture, $", {verdict.SingleSample.Count} single-sample symptom(s)");
        }

        b.Append('\n');
        if (verdict.Persisted.Count > 0)
        {
            b.Append("\nPersisted findings (held as long as the detection rules require):\n");
            Append(b, verdict.Persisted);
        }

        if (verdict.SingleSample.Count > 0)
        {
            b.Append("\nSingle-sample symptoms (seen on this one snapshot only; the agent raises them only once they hold over "
                + "consecutive snapshots: confirm with --samples 3):\n");
            Append(b, verdict.SingleSample);
        }

        return b.ToString();
    }

    private static void Append(StringBuilder b, IReadOnlyList<Finding> findings)
    {
        foreach (var f in findings.OrderByDescending(f => f.Severity).ThenBy(f => RootCause.Rank(f.Code)))
        {
            b.Append(CultureInfo.InvariantCulture, $"\n{FindingJson.SeverityName(f.Severity).ToUpperInvariant(),-8} {f.Code}{(f.Members.Count > 0 ? " [" + string.Join(", ", f.Members) + "]" : "")}\n");
            b.Append(CultureInfo.InvariantCulture, $"         {f.Summary}\n");
            b.Append(CultureInfo.InvariantCulture, $"         first seen {FindingJson.Time(f.FirstSeen)}, last seen {FindingJson.Time(f.LastSeen)}\n");
            foreach (var e in f.Evidence)
            {
                b.Append(CultureInfo.InvariantCulture, $"         - {FindingJson.Time(e.At)} [{e.Source}] {e.Observation}\n");
            }
        }
    }

    // ------------------------------------------------------------------ incidents

    private static async Task<int> IncidentsAsync(GlobalOptions options, ParseResult parse, Option<string?> journalOption, CancellationToken cancellationToken)
    {
        var (journal, secrets) = await JournalAccess.OpenAsync(options, parse, journalOption, writing: false, cancellationToken).ConfigureAwait(false);
        await using (journal.ConfigureAwait(false))
        {
            var list = await IncidentStore.ListAsync(journal, cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(options.Json))
            {
                var doc = list.Select(IncidentSummary.Of);
                await options.Out.WriteLineAsync(secrets.RedactJson(JsonSerializer.Serialize(doc, IncidentJson.Options))).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            if (list.Count == 0)
            {
                await options.Out.WriteLineAsync($"no incidents in {journal.Location}").ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var rows = list.Select(i => new[]
            {
                i.Id, i.Cluster, i.State.ToString().ToLowerInvariant(), FindingJson.SeverityName(i.Severity), JournalAccess.FormatTime(i.OpenedAt),
                i.ResolvedAt is { } r ? JournalAccess.FormatTime(r) : "-", string.Join(", ", i.Codes), SnapshotFactsShort(i.Title),
            }).ToList();
            await JournalCommands.WriteTableAsync(options.Out, ["incident", "cluster", "state", "severity", "opened", "resolved", "findings", "title"], rows).ConfigureAwait(false);
            return ExitCodes.Ok;
        }
    }

    private static string SnapshotFactsShort(string text) => SnapshotFacts.Short(text, 80);

    // ------------------------------------------------------------------ postmortem

    private static async Task<int> PostMortemAsync(GlobalOptions options, ParseResult parse, Option<string?> journalOption, string id, string? outDir,
        CancellationToken cancellationToken)
    {
        var (journal, secrets) = await JournalAccess.OpenAsync(options, parse, journalOption, writing: false, cancellationToken).ConfigureAwait(false);
        await using (journal.ConfigureAwait(false))
        {
            var report = await PostMortemWriter.BuildAsync(journal, id, cancellationToken).ConfigureAwait(false)
                ?? throw new InputException($"no incident {id} in {journal.Location}", ["'pgra incidents' lists the incidents"]);
            if (outDir is not null)
            {
                var (md, json) = await PostMortemWriter.WriteAsync(report, Path.GetFullPath(outDir), cancellationToken).ConfigureAwait(false);
                await options.Error.WriteLineAsync($"wrote {md} and {json}").ConfigureAwait(false);
            }

            var asJson = parse.GetValue(options.Json);
            var text = asJson ? PostMortemWriter.Json(report) : PostMortemWriter.Markdown(report);
            await options.Out.WriteLineAsync((asJson ? secrets.RedactJson(text) : secrets.Redact(text)).TrimEnd()).ConfigureAwait(false);
            return ExitCodes.Ok;
        }
    }

    // ------------------------------------------------------------------ replay

    private static async Task<int> ReplayAsync(GlobalOptions options, ParseResult parse, Option<string?> journalOption, string id, string? skillsDir,
        CancellationToken cancellationToken)
    {
        SkillCatalog? catalog = null;
        try
        {
            var dir = SkillCommands.ResolveDirectory(skillsDir, Directory.GetCurrentDirectory(), AppContext.BaseDirectory);
            catalog = SkillCatalog.Load(dir);
        }
        catch (InputException) when (skillsDir is null)
        {
            // Without skills, detection is still replayed; skill runs are reported as not replayable.
        }

        var (journal, _) = await JournalAccess.OpenAsync(options, parse, journalOption, writing: false, cancellationToken).ConfigureAwait(false);
        await using (journal.ConfigureAwait(false))
        {
            var report = await IncidentReplay.ReplayAsync(journal, id, catalog, cancellationToken).ConfigureAwait(false)
                ?? throw new InputException($"no incident {id} in {journal.Location}", ["'pgra incidents' lists the incidents"]);
            if (parse.GetValue(options.Json))
            {
                await options.Out.WriteLineAsync(JsonSerializer.Serialize(report, IncidentJson.Options)).ConfigureAwait(false);
            }
            else
            {
                var b = new StringBuilder();
                b.Append(CultureInfo.InvariantCulture, $"replay of {report.Incident} ({report.Cluster}): {report.Snapshots} snapshots, {report.Findings.Count} findings, {report.SkillRuns.Count} skill runs\n");
                foreach (var f in report.Findings)
                {
                    b.Append(CultureInfo.InvariantCulture, $"  {(f.Same ? "same" : "DIFF")}  finding {f.Key}: live {(f.Journaled is { } j ? FindingJson.Time(j) : "-")}, replay {(f.Replayed is { } r ? FindingJson.Time(r) : "-")}{(f.Note is null ? "" : " (" + f.Note + ")")}\n");
                }

                foreach (var run in report.SkillRuns)
                {
                    b.Append(CultureInfo.InvariantCulture, $"  {(run.Same ? "same" : "DIFF")}  skill {run.Skill} (#{run.JournalSeq}, trigger {run.Trigger ?? "-"}): live {run.JournaledStatus}, replay {run.ReplayedStatus?.ToString() ?? "-"}, {run.JournaledDecisions.Count} decisions{(run.Note is null ? "" : ": " + run.Note)}\n");
                }

                foreach (var n in report.Notes)
                {
                    b.Append(CultureInfo.InvariantCulture, $"  note: {n}\n");
                }

                b.Append(report.Same ? "the same decisions\n" : $"{report.Differences.Count} difference(s):\n" + string.Concat(report.Differences.Select(d => "  - " + d + "\n")));
                await options.Out.WriteAsync(b.ToString()).ConfigureAwait(false);
            }

            return report.Same ? ExitCodes.Ok : ExitCodes.Failure;
        }
    }
}
