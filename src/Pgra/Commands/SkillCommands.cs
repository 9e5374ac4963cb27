using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary><c>pgra skills list|show|lint|run</c>: the runbooks under skills/, validated and runnable.</summary>
internal sealed class SkillCommands : ICommandGroup
{
    public int Order => 60;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var directory = new Option<string?>("--skills")
        {
            Description = "Skills directory. Default: ./skills, else skills/ beside the pgra binary or its repository, else /etc/pgra/skills.",
            Recursive = true,
        };
        var skills = new Command("skills", "Skills: markdown runbooks with machine steps the agent runs on findings, schedules and alerts.");
        skills.Options.Add(directory);

        var list = new Command("list", "Every valid skill: triggers, action classes, cooldown, number of steps.");
        list.SetAction((parse, ct) => ListAsync(options, parse, directory, ct));
        skills.Subcommands.Add(list);

        var name = new Argument<string>("NAME") { Description = "Skill name (the file name without .md)." };
        var show = new Command("show", "One skill: its front matter, prose and steps.");
        show.Arguments.Add(name);
        show.SetAction((parse, ct) => ShowAsync(options, parse, directory, name, ct));
        skills.Subcommands.Add(show);

        var files = new Argument<string[]>("FILES")
        {
            Description = "Skill files to lint (default: every .md in the skills directory).",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var lint = new Command("lint", "Validate skills; report every problem as file:line:column. Exit 0 when there are no errors, 1 when there are.");
        lint.Arguments.Add(files);
        lint.SetAction((parse, ct) => LintAsync(options, parse, directory, files, ct));
        skills.Subcommands.Add(lint);

        var runName = new Argument<string>("NAME") { Description = "Skill to run." };
        var cluster = new Option<string>("--cluster", "-c") { Description = "Cluster (pg_cluster) to run the skill for.", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "Checks and plans only: no action is executed, nothing is recorded, waits are not waited." };
        var snapshot = new Option<string?>("--snapshot") { Description = "Cluster snapshot JSON file to run against (pgra snapshot CLUSTER --json)." };
        var finding = new Option<string?>("--finding") { Description = "Run as if triggered by this finding code ($trigger.code)." };
        var member = new Option<string?>("--member") { Description = "Member the triggering finding is about ($trigger.member)." };
        var parameters = new Option<string[]>("--param", "-p")
        {
            Description = "Run parameter NAME=VALUE ($params.NAME); repeatable.",
            Arity = ArgumentArity.ZeroOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var run = new Command("run", "Run a skill for a cluster by hand: on live sensing through the action pipeline (policy, approvals, prechecks, journal, verification), "
            + "as the daemon runs it; with --dry-run it plans only; with --snapshot FILE it runs against a saved snapshot (--dry-run only). "
            + "--finding CODE makes the cluster's active finding of that code the trigger (refused when none is active).");
        run.Arguments.Add(runName);
        run.Options.Add(cluster);
        run.Options.Add(dryRun);
        run.Options.Add(snapshot);
        run.Options.Add(finding);
        run.Options.Add(member);
        run.Options.Add(parameters);
        run.SetAction((parse, ct) => RunAsync(options, parse, directory, new RunOptions(runName, cluster, dryRun, snapshot, finding, member, parameters), ct));
        skills.Subcommands.Add(run);

        return [skills];
    }

    /// <summary>
    /// The skills directory: <paramref name="explicitPath"/> (--skills), else ./skills, else the first skills/ above
    /// the binary (a checkout or an install beside the binary), else /etc/pgra/skills.
    /// </summary>
    internal static string ResolveDirectory(string? explicitPath, string currentDirectory, string binaryDirectory)
    {
        if (explicitPath is not null)
        {
            var full = Path.GetFullPath(explicitPath, currentDirectory);
            return Directory.Exists(full) ? full : throw new InputException($"skills directory not found: {full}");
        }

        var local = Path.Combine(currentDirectory, "skills");
        if (Directory.Exists(local))
        {
            return local;
        }

        for (var dir = new DirectoryInfo(binaryDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "skills");
            if (Directory.Exists(candidate) && Directory.EnumerateFiles(candidate, "*.md").Any())
            {
                return candidate;
            }
        }

        const string system = "/etc/pgra/skills";
        return Directory.Exists(system)
            ? system
            : throw new InputException("no skills directory: pass --skills DIR, or run from a directory with skills/ (the repository has one), or install them to /etc/pgra/skills");
    }

    private static SkillCatalog LoadCatalog(ParseResult parse, Option<string?> directory)
    {
        var cwd = Directory.GetCurrentDirectory();
        var dir = ResolveDirectory(parse.GetValue(directory), cwd, AppContext.BaseDirectory);
        return SkillCatalog.Load(dir, SkillVocabulary.Default, cwd);
    }

    // ------------------------------------------------------------------ list

    private static async Task<int> ListAsync(GlobalOptions options, ParseResult parse, Option<string?> directory, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var catalog = LoadCatalog(parse, directory);
        if (parse.GetValue(options.Json))
        {
            var array = new JsonArray(catalog.Skills.Select(s => (JsonNode)Summary(s)).ToArray());
            await CliOutput.WriteJsonAsync(options.Out, array).ConfigureAwait(false);
        }
        else
        {
            using var buffer = new StringWriter(CultureInfo.InvariantCulture);
            var console = CreateConsole(buffer);
            var table = new Table().Border(TableBorder.Simple);
            foreach (var column in new[] { "skill", "triggers", "actions", "cooldown", "steps", "file" })
            {
                table.AddColumn(new TableColumn(column));
            }

            foreach (var skill in catalog.Skills)
            {
                table.AddRow(Cells(skill.Name, Triggers(skill.Triggers), skill.Actions.Count == 0 ? "-" : string.Join(", ", skill.Actions),
                    SkillDuration.Format(skill.Cooldown), skill.Steps.Count.ToString(CultureInfo.InvariantCulture), skill.FilePath));
            }

            console.Write(table);
            console.WriteLine($"{catalog.Skills.Count} skill(s) in {catalog.Directory}");
            await options.Out.WriteAsync(buffer.ToString()).ConfigureAwait(false);
        }

        var broken = catalog.Diagnostics.Where(d => d.IsError).Select(d => d.File).Distinct(StringComparer.Ordinal).ToList();
        if (broken.Count > 0)
        {
            await options.Error.WriteLineAsync(
                $"warning: {broken.Count} skill file(s) have errors and are left out ({string.Join(", ", broken)}): run 'pgra skills lint'").ConfigureAwait(false);
        }

        return ExitCodes.Ok;
    }

    private static string Triggers(SkillTriggers triggers)
    {
        var parts = triggers.Findings.Select(f => "finding " + f)
            .Concat(triggers.Schedules.Select(s => "cron " + s.Expression))
            .Concat(triggers.Alerts.Select(a => "alert " + a))
            .ToList();
        return parts.Count == 0 ? "manual" : string.Join(", ", parts);
    }

    private static JsonObject Summary(Skill skill) => new()
    {
        ["name"] = skill.Name,
        ["description"] = skill.Description,
        ["file"] = skill.FilePath,
        ["triggers"] = new JsonObject
        {
            ["findings"] = new JsonArray(skill.Triggers.Findings.Select(f => (JsonNode)JsonValue.Create(f)).ToArray()),
            ["schedules"] = new JsonArray(skill.Triggers.Schedules.Select(s => (JsonNode)JsonValue.Create(s.Expression)).ToArray()),
            ["alerts"] = new JsonArray(skill.Triggers.Alerts.Select(a => (JsonNode)JsonValue.Create(a)).ToArray()),
        },
        ["actions"] = new JsonArray(skill.Actions.Select(a => (JsonNode)JsonValue.Create(a)).ToArray()),
        ["cooldown"] = SkillDuration.Format(skill.Cooldown),
        ["autonomy"] = skill.Autonomy is null ? null : JsonSerializer.SerializeToNode(skill.Autonomy, CliOutput.Json),
        ["parameters"] = JsonSerializer.SerializeToNode(skill.Parameters, CliOutput.Json),
        ["steps"] = skill.Steps.Count,
        ["digest"] = skill.Digest,
    };

    // ------------------------------------------------------------------ show

    private static async Task<int> ShowAsync(GlobalOptions options, ParseResult parse, Option<string?> directory, Argument<string> name, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var catalog = LoadCatalog(parse, directory);
        var skill = FindOrThrow(catalog, parse.GetValue(name)!);
        if (parse.GetValue(options.Json))
        {
            var json = Summary(skill);
            json["steps"] = JsonSerializer.SerializeToNode(skill.Steps, CliOutput.Json);
            json["body"] = skill.Body;
            await CliOutput.WriteJsonAsync(options.Out, json).ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Skill        {skill.Name}  ({skill.FilePath}, digest {skill.Digest})");
        text.AppendLine(CultureInfo.InvariantCulture, $"Description  {skill.Description}");
        text.AppendLine(CultureInfo.InvariantCulture, $"Triggers     {Triggers(skill.Triggers)}");
        text.AppendLine(CultureInfo.InvariantCulture, $"Actions      {(skill.Actions.Count == 0 ? "none" : string.Join(", ", skill.Actions))}");
        text.AppendLine(CultureInfo.InvariantCulture, $"Cooldown     {SkillDuration.Format(skill.Cooldown)}");
        if (skill.Autonomy is { } autonomy)
        {
            var parts = autonomy.Classes.Select(c => $"{c.Key} <= {c.Value}").ToList();
            if (autonomy.Level is { } level)
            {
                parts.Insert(0, $"every action <= {level}");
            }

            text.AppendLine(CultureInfo.InvariantCulture, $"Autonomy     {string.Join(", ", parts)} (a ceiling under the policy)");
        }

        foreach (var (parameter, description) in skill.Parameters)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"Parameter    {parameter}: {description}");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"Steps        {string.Join(" -> ", skill.Steps.Select(s => $"{s.Id} ({Kind(s.Kind)})"))}");
        text.AppendLine();
        text.Append(skill.Body.TrimEnd());
        await options.Out.WriteLineAsync(text.ToString()).ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    private static Skill FindOrThrow(SkillCatalog catalog, string name)
    {
        if (catalog.Find(name) is { } skill)
        {
            return skill;
        }

        var errors = catalog.Diagnostics
            .Where(d => d.IsError && string.Equals(Path.GetFileNameWithoutExtension(d.File), name, StringComparison.Ordinal))
            .Select(d => d.ToString())
            .ToList();
        if (errors.Count > 0)
        {
            throw new InputException($"skill '{name}' has errors:", errors);
        }

        throw new InputException($"no skill named '{name}' in {catalog.Directory} (skills: {string.Join(", ", catalog.Skills.Select(s => s.Name))})");
    }

    // ------------------------------------------------------------------ lint

    private static async Task<int> LintAsync(GlobalOptions options, ParseResult parse, Option<string?> directory, Argument<string[]> files, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var cwd = Directory.GetCurrentDirectory();
        var given = parse.GetValue(files) ?? [];
        SkillCatalog catalog;
        if (given.Length > 0)
        {
            var missing = given.Where(f => !File.Exists(Path.GetFullPath(f, cwd))).ToList();
            if (missing.Count > 0)
            {
                throw new InputException("skill file(s) not found:", missing);
            }

            catalog = SkillCatalog.FromFiles(cwd, given.Select(f => Path.GetFullPath(f, cwd)).ToList(), SkillVocabulary.Default, cwd);
        }
        else
        {
            catalog = LoadCatalog(parse, directory);
        }

        var errors = catalog.Diagnostics.Count(d => d.IsError);
        var warnings = catalog.Diagnostics.Count - errors;
        if (parse.GetValue(options.Json))
        {
            await CliOutput.WriteJsonAsync(options.Out, new
            {
                directory = catalog.Directory,
                files = catalog.FileCount,
                valid = catalog.Skills.Select(s => s.Name).ToList(),
                errors,
                warnings,
                diagnostics = catalog.Diagnostics,
            }).ConfigureAwait(false);
        }
        else
        {
            foreach (var diagnostic in catalog.Diagnostics)
            {
                await options.Out.WriteLineAsync(diagnostic.ToString()).ConfigureAwait(false);
            }

            await options.Out.WriteLineAsync(
                $"{catalog.FileCount} skill file(s) checked: {errors} error(s), {warnings} warning(s)").ConfigureAwait(false);
        }

        return errors > 0 ? ExitCodes.Failure : ExitCodes.Ok;
    }

    // ------------------------------------------------------------------ run

    private sealed record RunOptions(
        Argument<string> Name,
        Option<string> Cluster,
        Option<bool> DryRun,
        Option<string?> Snapshot,
        Option<string?> Finding,
        Option<string?> Member,
        Option<string[]> Parameters);

    private static async Task<int> RunAsync(GlobalOptions options, ParseResult parse, Option<string?> directory, RunOptions o, CancellationToken cancellationToken)
    {
        var catalog = LoadCatalog(parse, directory);
        var skill = FindOrThrow(catalog, parse.GetValue(o.Name)!);
        var cluster = parse.GetValue(o.Cluster)!;
        var snapshotPath = parse.GetValue(o.Snapshot);
        var dryRun = parse.GetValue(o.DryRun);
        var parameters = Parameters(skill, parse.GetValue(o.Parameters) ?? []);
        SkillRun result;
        if (snapshotPath is not null)
        {
            if (!dryRun)
            {
                throw new InputException(
                    "a saved snapshot can only be dry-run: add --dry-run, or leave out --snapshot to run on live sensing through the action pipeline");
            }

            var trigger = Trigger(parse.GetValue(o.Finding), parse.GetValue(o.Member), cluster);

            // The same loader and validation as 'pgra detect --snapshot': a file one refuses, the other refuses too.
            var (_, snapshot) = SnapshotFile.Read(snapshotPath, cluster);
            var host = new StaticSnapshotSkillHost(snapshot, options.Time);
            var request = new SkillRunRequest(cluster) { Snapshot = snapshot, Trigger = trigger, Parameters = parameters, DryRun = true };
            result = await new SkillRunner().RunAsync(skill, request, host, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            result = await RunLiveAsync(options, parse, catalog, skill, cluster, dryRun, parse.GetValue(o.Finding), parse.GetValue(o.Member), parameters, cancellationToken)
                .ConfigureAwait(false);
        }

        if (parse.GetValue(options.Json))
        {
            await CliOutput.WriteJsonAsync(options.Out, result).ConfigureAwait(false);
        }
        else
        {
            await options.Out.WriteAsync(RenderRun(result)).ConfigureAwait(false);
        }

        return result.Status is SkillRunStatus.Completed or SkillRunStatus.Stopped or SkillRunStatus.AwaitingApproval
            ? ExitCodes.Ok
            : ExitCodes.Failure;
    }

    /// <summary>
    /// A run on live sensing: the agent is assembled for the one cluster as <c>pgra run</c> assembles it, and the skill
    /// runs through its loop's own path (<see cref="AgentLoop.RunSkillByHandAsync"/>): a fresh snapshot, the pipeline
    /// with policy, approvals, prechecks, journal and verification, the run journaled for the cluster's open incident.
    /// A dry run plans on one fresh snapshot and journals nothing. With --finding the trigger is the finding of that code
    /// detection raises on fresh snapshots now (with its facts, as the daemon would hand it): never a made-up one.
    /// </summary>
    /// <summary>
    /// Snapshots judged for --finding, one sensing interval apart: enough for the finding's detector to hold as long as
    /// it must (its consecutive snapshots and its minimum seconds, with one to spare), at least 3, at most 30.
    /// </summary>
    internal static int SamplesFor(string code, double intervalSeconds)
    {
        var detector = PgRuntimeAgent.Catalog.AgentCatalog.Default.FindDetector(code);
        var bySeconds = detector is null ? 0 : (int)Math.Ceiling(detector.MinimumSeconds / Math.Max(0.5, intervalSeconds)) + 2;
        return Math.Clamp(Math.Max(bySeconds, (detector?.ConsecutiveSnapshots ?? 1) + 1), 3, 30);
    }

    private static async Task<SkillRun> RunLiveAsync(GlobalOptions options, ParseResult parse, SkillCatalog catalog, Skill skill, string cluster, bool dryRun,
        string? finding, string? member, JsonElement parameters, CancellationToken cancellationToken)
    {
        var workspace = CliWorkspace.Load(options, parse);
        var topology = workspace.Topology.FindCluster(cluster)
            ?? throw new InputException($"unknown cluster '{cluster}'", [$"clusters: {string.Join(", ", workspace.Topology.Clusters.Select(c => c.Name))}"]);
        JsonElement? trigger = null;
        if (finding is not null || member is not null)
        {
            _ = Trigger(finding, member, cluster); // the same checks as with a snapshot file: a known code, --member only with it
            using var service = new SnapshotService(workspace.Topology, workspace.Settings.Sensing, workspace.Settings.Endpoints, workspace.Secrets, options.Time);
            var samples = await IncidentCommands.SampleAsync(service, cluster, SamplesFor(finding!, workspace.Settings.Sensing.IntervalSeconds),
                workspace.Settings.Sensing.IntervalSeconds, options.Time, cancellationToken).ConfigureAwait(false);
            var verdict = OneOffDetection.Judge(cluster, workspace.Settings.Detection, DetectionContext.For(topology), samples);
            var active = verdict.Persisted.Concat(verdict.SingleSample).ToList();
            var match = active.FirstOrDefault(f => f.Code == finding && (member is null || f.Member == member))
                ?? throw new InputException($"no active {finding} finding on {cluster}{(member is null ? "" : " for " + member)}: the skill is not run on a guess",
                    [active.Count == 0 ? "nothing is raised on it now ('pgra detect " + cluster + "')" : "active now: " + string.Join(", ", active.Select(f => f.Code + (f.Member is null ? "" : "@" + f.Member)))]);
            trigger = match.ToTrigger();
        }

        await using var runtime = await AgentRuntime.CreateAsync(workspace, new AgentRuntimeOptions
        {
            SkillsDirectory = catalog.Directory,
            Time = options.Time,
            Clusters = [cluster],
        }, cancellationToken).ConfigureAwait(false);
        if (!dryRun)
        {
            return await runtime.Loop.RunSkillByHandAsync(cluster, skill.Name, trigger, parameters, cancellationToken).ConfigureAwait(false);
        }

        var snapshot = SnapshotRecorder.ToElement(await runtime.Snapshots.TakeAsync(cluster, cancellationToken).ConfigureAwait(false));
        var request = new SkillRunRequest(cluster) { Snapshot = snapshot, Trigger = trigger, Parameters = parameters, DryRun = true };
        return await new SkillRunner().RunAsync(skill, request, new StaticSnapshotSkillHost(snapshot, options.Time), cancellationToken).ConfigureAwait(false);
    }

    private static JsonElement? Trigger(string? finding, string? member, string cluster)
    {
        if (finding is null)
        {
            return member is null ? null : throw new InputException("--member goes with --finding CODE");
        }

        if (!FindingCodes.IsKnown(finding))
        {
            throw new InputException($"unknown finding code '{finding}' (known: {string.Join(", ", FindingCodes.Stable)})");
        }

        var json = new JsonObject { ["code"] = finding, ["cluster"] = cluster, ["member"] = member };
        return JsonSerializer.SerializeToElement(json);
    }

    private static JsonElement Parameters(Skill skill, string[] pairs)
    {
        var json = new JsonObject();
        var problems = new List<string>();
        foreach (var pair in pairs)
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                problems.Add($"'{pair}': write NAME=VALUE");
                continue;
            }

            var key = pair[..eq];
            if (!skill.Parameters.ContainsKey(key))
            {
                problems.Add($"'{key}': {skill.Name} takes {(skill.Parameters.Count == 0 ? "no parameters" : string.Join(", ", skill.Parameters.Keys))}");
                continue;
            }

            json[key] = pair[(eq + 1)..];
        }

        return problems.Count > 0
            ? throw new InputException("bad --param:", problems)
            : JsonSerializer.SerializeToElement(json);
    }

    internal static string RenderRun(SkillRun run)
    {
        using var buffer = new StringWriter(CultureInfo.InvariantCulture);
        var console = CreateConsole(buffer);
        console.WriteLine($"Skill {run.Skill} on {run.Cluster}{(run.DryRun ? " (dry run)" : "")}: {Kebab(run.Status.ToString())}: {run.Message}");
        var table = new Table().Border(TableBorder.Simple);
        foreach (var column in new[] { "#", "step", "kind", "status", "next", "detail" })
        {
            table.AddColumn(new TableColumn(column));
        }

        foreach (var step in run.Steps)
        {
            table.AddRow(Cells(step.Sequence.ToString(CultureInfo.InvariantCulture), step.StepId, Kind(step.Kind), Kebab(step.Status.ToString()),
                step.Next ?? "-", Detail(step)));
        }

        console.Write(table);
        return buffer.ToString();
    }

    private static string Detail(SkillStepRun step)
    {
        var parts = new List<string>();
        if (step.ActionClass is { } actionClass)
        {
            parts.Add(actionClass);
        }

        foreach (var input in step.Inputs)
        {
            var value = input.Value.ValueKind == JsonValueKind.String ? input.Value.GetString()! : input.Value.GetRawText();
            parts.Add(input.Field == "with" ? value : $"{input.Field} = {Truncate(value, 160)}");
        }

        if (step.Message is { } message)
        {
            parts.Add(message);
        }

        return string.Join("; ", parts);
    }

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..(max - 3)] + "...";

    private static string Kind(SkillStepKind kind) => kind.ToString().ToLowerInvariant();

    private static string Kebab(string name) => JsonNamingPolicy.KebabCaseLower.ConvertName(name);

    private static IRenderable[] Cells(params string[] values) => values.Select(v => (IRenderable)new Text(v)).ToArray();

    private static IAnsiConsole CreateConsole(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 240;
        return console;
    }
}
