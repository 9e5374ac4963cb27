using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using PgRuntimeAgent.Evals;
using PgRuntimeAgent.Yaml;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary><c>pgra eval check</c>: the evaluation cases under evals/ (docs/evals.md), loaded and validated.</summary>
internal sealed class EvalCommands : ICommandGroup
{
    public int Order => 92;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var cases = new Option<string?>("--cases")
        {
            Description = "Case file, directory or glob (quote it: 'evals/disk-full-*.yml'). Default: ./evals, else evals/ beside the pgra binary or its repository.",
            Recursive = true,
        };
        var eval = new Command("eval", "Evaluation cases: real faults injected into the lab, the agent scored against the truth (docs/evals.md).");
        eval.Options.Add(cases);

        var run = new Command("run", "Run the cases on the lab (pgra lab up first; as root): inject each case's faults, let a fresh agent work, score it against the truth, write the report (markdown, JSON, SVG plots). Exit 1 when a case was unsafe.");
        var outDir = new Option<string?>("--out") { Description = "Where the report goes (default: evals/reports beside the cases)." };
        var stem = new Option<string>("--name") { Description = "The report's file name stem (STEM.md, STEM.json, STEM-times.svg, STEM-accuracy.svg).", DefaultValueFactory = _ => "latest" };
        var compare = new Option<string?>("--compare") { Description = "A previous report's JSON to compare with (default: the STEM.json being replaced, if any)." };
        var model = new Option<string?>("--model") { Description = "Run with this model through the settings' llm: section (provider, endpoint, key); default: the deterministic agent alone." };
        var noFault = new Option<double?>("--no-fault-seconds") { Description = "Run the cases without a fault this long instead of their time limit (a quick pass)." };
        var labDir = new Option<string?>("--lab-dir") { Description = "The lab's directory (default: $PGRA_LAB_DIR, else /var/lib/pgra-lab)." };
        var skip = new Option<string[]>("--skip") { Description = "Leave out this case (repeatable): --skip noise-soak runs the set without its 20-minute soak.", AllowMultipleArgumentsPerToken = false };
        run.Options.Add(outDir);
        run.Options.Add(stem);
        run.Options.Add(compare);
        run.Options.Add(model);
        run.Options.Add(noFault);
        run.Options.Add(labDir);
        run.Options.Add(skip);
        run.SetAction((parse, ct) => RunAsync(options, parse, new RunArgs(parse.GetValue(cases), parse.GetValue(outDir), parse.GetValue(stem) ?? "latest", parse.GetValue(compare),
            parse.GetValue(model), parse.GetValue(noFault), parse.GetValue(labDir), parse.GetValue(skip) ?? []), ct));
        eval.Subcommands.Add(run);

        var rescore = new Command("rescore", "Score a report's observations again against the cases as they are now (after an expectation changed): nothing is run. Writes the report beside the old one unless --out/--name say otherwise.");
        var reportArg = new Argument<string>("report") { Description = "The .json report `pgra eval run` wrote." };
        rescore.Arguments.Add(reportArg);
        rescore.Options.Add(outDir);
        var rescoreStem = new Option<string?>("--name") { Description = "The new report's file name stem (default: the old one's, replaced)." };
        rescore.Options.Add(rescoreStem);
        var with = new Option<string[]>("--with")
        {
            Description = "A later report (repeatable): its observations replace those of the same cases and add the cases the report did not run, each noted as from a later run.",
            AllowMultipleArgumentsPerToken = false,
        };
        rescore.Options.Add(with);
        rescore.SetAction((parse, ct) => RescoreAsync(options, parse.GetValue(reportArg)!, parse.GetValue(with) ?? [], parse.GetValue(cases), parse.GetValue(outDir), parse.GetValue(rescoreStem), ct));
        eval.Subcommands.Add(rescore);

        var check = new Command("check", "Load and validate the cases: one line per case, every problem as file:line:column. Exit 0 when every case loads, 1 when one does not.");
        check.SetAction((parse, ct) => CheckAsync(options, parse, cases, ct));
        eval.Subcommands.Add(check);
        return [eval];
    }

    private sealed record RunArgs(string? Cases, string? Out, string Stem, string? Compare, string? Model, double? NoFaultSeconds, string? LabDir, string[] Skip);

    private static async Task<int> RunAsync(GlobalOptions options, ParseResult parse, RunArgs a, CancellationToken cancellationToken)
    {
        var o = options.Out;
        var cwd = Directory.GetCurrentDirectory();
        var source = a.Cases
            ?? EvalCaseLoader.DefaultDirectory(cwd, AppContext.BaseDirectory)
            ?? throw new InputException("no evals/ directory here or beside pgra", ["pass --cases DIR|FILE|GLOB, or run from a checkout (it has evals/)"]);
        var set = EvalCaseLoader.LoadAll(source, cwd);
        if (set.Errors > 0)
        {
            foreach (var problem in set.Problems.Where(p => p.Severity == ProblemSeverity.Error))
            {
                await options.Error.WriteLineAsync("error: " + problem).ConfigureAwait(false);
            }

            throw new InputException($"{set.Errors.ToString(CultureInfo.InvariantCulture)} error(s) in the cases: nothing was run", ["fix them (pgra eval check lists them), then run again"]);
        }

        var unknown = a.Skip.Where(n => !set.Cases.Any(c => c.Name == n)).ToList();
        if (unknown.Count > 0)
        {
            throw new InputException($"--skip {string.Join(", ", unknown)}: no such case in {source}", [$"cases: {string.Join(", ", set.Cases.Select(c => c.Name))}"]);
        }

        var cases = set.Cases.Where(c => !a.Skip.Contains(c.Name, StringComparer.Ordinal)).ToList();
        if (cases.Count == 0)
        {
            throw new InputException($"no case to run in {source}", ["pass --cases with a directory, file or glob of case files"]);
        }

        if (a.NoFaultSeconds is <= 0)
        {
            throw new InputException("--no-fault-seconds must be positive");
        }

        if (Environment.UserName != "root")
        {
            throw new InputException("pgra eval run must run as root", ["it injects the lab's faults (mounts, signals, services), as pgra lab inject does"]);
        }

        var manifest = await Lab.LabFaults.RequireRunningAsync(Lab.LabPaths.ResolveDir(a.LabDir), options.Time, cancellationToken).ConfigureAwait(false);
        var skillsDir = SkillCommands.ResolveDirectory(null, cwd, AppContext.BaseDirectory);
        Microsoft.Extensions.AI.IChatClient? client = null;
        Func<Settings.AgentSettings, Settings.AgentSettings>? tweak = null;
        if (a.Model is { } name)
        {
            var workspace = CliWorkspace.Load(options, parse);
            if (!workspace.Settings.Llm.Configured && workspace.Settings.Llm.Provider is null)
            {
                throw new InputException("--model needs a model provider in the settings' llm: section", ["set llm.provider (and llm.endpoint, llm.api_key) in the settings; docs/brain.md"]);
            }

            var llm = workspace.Settings.Llm with { Model = name };
            client = Brain.ChatClients.Create(llm, workspace.Secrets);
            tweak = s => s with { Llm = llm };
        }

        var outDir = Path.GetFullPath(a.Out ?? Path.Combine(Directory.Exists(source) ? source : Path.GetDirectoryName(Path.GetFullPath(set.Files.FirstOrDefault() ?? cwd)) ?? cwd, "reports"));
        var previousPath = a.Compare ?? Path.Combine(outDir, a.Stem + ".json");
        EvalReport? previous = null;
        if (File.Exists(previousPath))
        {
            previous = EvalJson.Deserialize(await File.ReadAllTextAsync(previousPath, cancellationToken).ConfigureAwait(false), previousPath);
        }
        else if (a.Compare is not null)
        {
            throw new InputException($"--compare {a.Compare}: no such file");
        }

        var runner = new EvalRunner(manifest, options.Time);
        var scores = new List<EvalCaseScore>();
        var observations = new List<EvalObservation>();
        var started = options.Time.GetTimestamp();
        try
        {
            foreach (var (c, i) in cases.Select((c, i) => (c, i)))
            {
                await o.WriteLineAsync($"[{(i + 1).ToString(CultureInfo.InvariantCulture)}/{cases.Count.ToString(CultureInfo.InvariantCulture)}] {c.Name}: {c.Description}").ConfigureAwait(false);
                var result = await runner.RunAsync(c, new EvalRunOptions
                {
                    SkillsDirectory = skillsDir,
                    ChatClient = client,
                    ModelName = a.Model,
                    Tweak = tweak,
                    NoFaultSeconds = a.NoFaultSeconds,
                    Progress = line => o.WriteLine("    " + line),
                }, cancellationToken).ConfigureAwait(false);
                scores.Add(result.Score);
                observations.Add(result.Observation);
                if (i < cases.Count - 1)
                {
                    // What has run so far is on disk as it goes (STEM.partial.*): an interrupted run keeps its cases.
                    await EvalReportWriter.WriteAsync(outDir, a.Stem + ".partial", EvalReportWriter.Build(scores, source, a.Model, options.Time.GetUtcNow(), null, observations),
                        cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            client?.Dispose();
        }

        foreach (var partial in Directory.Exists(outDir) ? Directory.GetFiles(outDir, a.Stem + ".partial*") : [])
        {
            File.Delete(partial);
        }

        var report = EvalReportWriter.Build(scores, source, a.Model, options.Time.GetUtcNow(), previous, observations);
        return await WriteReportAsync(options, report, outDir, a.Stem, options.Time.GetElapsedTime(started), cancellationToken).ConfigureAwait(false);
    }

    /// <summary><c>pgra eval rescore REPORT</c>: the observations a report holds, scored again against the cases as they are now.</summary>
    private static async Task<EvalReport> ReadReportAsync(string reportPath, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(reportPath);
        if (!File.Exists(full))
        {
            throw new InputException($"{reportPath}: no such file", ["pass the .json report `pgra eval run` wrote"]);
        }

        var report = EvalJson.Deserialize(await File.ReadAllTextAsync(full, cancellationToken).ConfigureAwait(false), reportPath);
        if (report.Observations.Count == 0)
        {
            throw new InputException($"{reportPath} holds no observations to score", ["reports written by `pgra eval run` hold them; run the cases again"]);
        }

        return report;
    }

    private static async Task<int> RescoreAsync(GlobalOptions options, string reportPath, string[] reruns, string? casesPath, string? outDir, string? stem, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(reportPath);
        var old = await ReadReportAsync(reportPath, cancellationToken).ConfigureAwait(false);
        var wallSeconds = old.Summary.WallSeconds;
        foreach (var rerunPath in reruns)
        {
            // A rerun of some cases: its observations take the place of the same cases' in the report, in the report's order.
            var rerun = await ReadReportAsync(rerunPath, cancellationToken).ConfigureAwait(false);
            var newer = rerun.Observations.ToDictionary(o => o.Case, o => o with { Notes = [.. o.Notes, $"from a later run: {Path.GetFileName(rerunPath)} ({rerun.GeneratedAt:yyyy-MM-dd HH:mm}Z)"] }, StringComparer.Ordinal);
            var merged = old.Observations.Select(o => newer.Remove(o.Case, out var again) ? again : o).Concat(newer.Values).ToList();
            old = old with { Observations = merged };
            wallSeconds += rerun.Summary.WallSeconds;
        }

        var cwd = Directory.GetCurrentDirectory();
        var source = casesPath ?? old.Source;
        var set = EvalCaseLoader.LoadAll(source, cwd);
        var byName = set.Cases.ToDictionary(c => c.Name, StringComparer.Ordinal);
        var missing = old.Observations.Where(o => !byName.ContainsKey(o.Case)).Select(o => o.Case).ToList();
        if (missing.Count > 0)
        {
            throw new InputException($"no case file for {string.Join(", ", missing)} in {source}", ["pass --cases with the directory the report was run from"]);
        }

        var scores = old.Observations.Select(o => EvalScoring.Score(byName[o.Case], o)).ToList();
        var report = EvalReportWriter.Build(scores, source, old.Model, options.Time.GetUtcNow(), old, old.Observations);
        var wall = TimeSpan.FromSeconds(wallSeconds);
        return await WriteReportAsync(options, report, outDir ?? Path.GetDirectoryName(full)!, stem ?? Path.GetFileNameWithoutExtension(full), wall, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<int> WriteReportAsync(GlobalOptions options, EvalReport report, string outDir, string stem, TimeSpan wall, CancellationToken cancellationToken)
    {
        var o = options.Out;
        var scores = report.Cases;
        var files = await EvalReportWriter.WriteAsync(outDir, stem, report, cancellationToken).ConfigureAwait(false);
        var sum = report.Summary;
        static string Pct(double? rate) => rate is { } r ? string.Create(CultureInfo.InvariantCulture, $"{r * 100:0}%") : "-";
        static string Sec(double? s) => s is { } v ? string.Create(CultureInfo.InvariantCulture, $"{v:0.0} s") : "-";
        await o.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"{scores.Count} case(s) in {wall.TotalMinutes:0.0} min: root cause {Pct(sum.RootCauseAccuracy)}, safe-pass {Pct(sum.SafePassRate)} ({sum.SafePasses}/{sum.Cases}), "
            + $"MTTD {Sec(sum.Mttd.Mean)}, MTTR {Sec(sum.Mttr.Mean)}, false actions {sum.FalseActions}, unsafe cases {sum.UnsafeCases}")).ConfigureAwait(false);
        await o.WriteLineAsync($"report: {files.Markdown} (and {Path.GetFileName(files.Json)}, {Path.GetFileName(files.TimesSvg)}, {Path.GetFileName(files.AccuracySvg)})").ConfigureAwait(false);
        return scores.All(x => x.Safe) ? ExitCodes.Ok : ExitCodes.Failure;
    }

    private static async Task<int> CheckAsync(GlobalOptions options, ParseResult parse, Option<string?> casesOption, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var cwd = Directory.GetCurrentDirectory();
        var source = parse.GetValue(casesOption)
            ?? EvalCaseLoader.DefaultDirectory(cwd, AppContext.BaseDirectory)
            ?? throw new InputException("no evals/ directory here or beside pgra", ["pass --cases DIR|FILE|GLOB, or run from a checkout (it has evals/)"]);
        var set = EvalCaseLoader.LoadAll(source, cwd);
        if (parse.GetValue(options.Json))
        {
            await CliOutput.WriteJsonAsync(options.Out, new
            {
                source,
                files = set.Files.Count,
                cases = set.Cases.Select(c => JsonSerializer.SerializeToNode(c, EvalJson.Options)).ToList(),
                errors = set.Errors,
                warnings = set.Warnings,
                problems = set.Problems.Select(p => new
                {
                    location = p.Location,
                    file = p.File,
                    line = p.Line,
                    column = p.Column,
                    subject = p.Subject,
                    message = p.Message,
                    hint = p.Hint,
                    severity = p.Severity == ProblemSeverity.Error ? "error" : "warning",
                }).ToList(),
            }).ConfigureAwait(false);
        }
        else
        {
            var rows = set.Cases.Select(c => new[]
            {
                c.Name,
                c.Category,
                c.DescribeFaults(),
                c.IsNoFault ? "root cause: -" : "root cause: " + string.Join(" | ", c.Expect.RootCause),
                "actions: " + (c.Expect.Actions.Count == 0 ? "none" : string.Join(", ", c.Expect.Actions.Select(a => a.Describe()))),
                string.Create(CultureInfo.InvariantCulture, $"limit {c.Limits.TimeLimitSeconds:0} s"),
            }).ToList();
            var widths = Enumerable.Range(0, 6).Select(i => rows.Count == 0 ? 0 : rows.Max(r => r[i].Length)).ToList();
            foreach (var row in rows)
            {
                await options.Out.WriteLineAsync(string.Join("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))).TrimEnd()).ConfigureAwait(false);
            }

            foreach (var problem in set.Problems)
            {
                await options.Out.WriteLineAsync((problem.Severity == ProblemSeverity.Error ? "error: " : "warning: ") + problem).ConfigureAwait(false);
            }

            await options.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{set.Files.Count} case file(s) checked: {set.Cases.Count} case(s) load, {set.Errors} error(s), {set.Warnings} warning(s)")).ConfigureAwait(false);
        }

        return set.Errors > 0 ? ExitCodes.Failure : ExitCodes.Ok;
    }
}
