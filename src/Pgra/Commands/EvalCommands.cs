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

        var check = new Command("check", "Load and validate the cases: one line per case, every problem as file:line:column. Exit 0 when every case loads, 1 when one does not.");
        check.SetAction((parse, ct) => CheckAsync(options, parse, cases, ct));
        eval.Subcommands.Add(check);
        return [eval];
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
