using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using PgRuntimeAgent.Hostile;

namespace PgRuntimeAgent.Tests.Hostile;

/// <summary>
/// The mutation corpus: the real inputs under tests/fixtures/hostile/seeds/, broken in deterministic, seeded ways
/// (<see cref="Mutator"/>), fed to the inventory loader, the settings loader, the skill parser and the sensors' JSON
/// parsers in-process, each with a time limit. Every mutant must be read, or refused with the project's own error
/// (<see cref="InputException"/>, skill diagnostics, <see cref="Sensing.SensorResponseException"/>) that names the file
/// (and the line, for YAML syntax errors), and nothing it prints may hold a secret of the input. Any other exception,
/// a hang, a nameless error or a leaked secret is a failure; all of them are collected and reported together with how
/// to make each mutant again, and the failing inputs are written under artifacts/hostile-failures/.
/// CI runs a small corpus (well under 30 s); PGRA_MUTATIONS=10000 runs the full one, PGRA_MUTATION_SEED varies it.
/// </summary>
public sealed partial class MutationCorpusTests
{
    /// <summary>Per input. Generous: the inputs take milliseconds; only a hang or a blow-up comes near it.</summary>
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(5);

    /// <summary>After this many hangs a corpus stops: each hang leaves a thread spinning until the test host exits.</summary>
    private const int MaxHangs = 3;

    [Fact]
    public void Inventory_Mutants_AreReadOrRefusedNamingTheFile() => Run("inventory", HostileKit.Count(1500, 1.0));

    [Fact]
    public void Settings_Mutants_AreReadOrRefusedNamingTheFile() => Run("settings", HostileKit.Count(300, 0.15));

    [Fact]
    public void Skill_Mutants_AreReadOrRefusedNamingTheFile() => Run("skill", HostileKit.Count(300, 0.15));

    [Theory]
    [InlineData("patroni-json")]
    [InlineData("prometheus-json")]
    [InlineData("pgbackrest-info-json")]
    [InlineData("loki-json")]
    [InlineData("victorialogs-jsonl")]
    public void SensorJson_Mutants_AreReadOrRefusedNamingTheEndpoint(string target) => Run(target, HostileKit.Count(200, 0.05));

    /// <summary>Log text never refuses: every mutant is read and every entry keeps its line's text (ParserTargets.PostgresLog).</summary>
    [Theory]
    [InlineData("postgres-log")]
    public void LogText_Mutants_AreReadKeepingTheLineText(string target) => Run(target, HostileKit.Count(200, 0.05));

    /// <summary>Alertmanager's webhook body: read or refused with the JSON path, never beyond the limits (ParserTargets.Alertmanager).</summary>
    [Fact]
    public void AlertmanagerJson_Mutants_AreReadOrRefusedWithinTheLimits() => Run("alertmanager-json", HostileKit.Count(200, 0.05));

    /// <summary>Evaluation cases are operators' files: read or refused at file:line:column (ParserTargets.EvalCaseFile).</summary>
    [Fact]
    public void EvalCase_Mutants_AreReadOrRefusedAtFileLineColumn() => Run("eval-case", HostileKit.Count(300, 0.15));

    [Fact]
    public void Mutator_IsDeterministic()
    {
        var seeds = HostileKit.Seeds("inventory");
        var a = Mutator.Mutants(seeds, 50, 42).ToArray();
        var b = Mutator.Mutants(seeds, 50, 42).ToArray();
        Assert.All(a.Zip(b), p => Assert.Equal(p.First.Bytes, p.Second.Bytes));
        Assert.Contains(a, m => !m.Bytes.AsSpan().SequenceEqual(seeds[0].Bytes));
    }

    private static void Run(string target, int count)
    {
        var seeds = HostileKit.Seeds(target);
        var secretsBySeed = seeds.ToDictionary(s => s.Name, s => target is "inventory" or "settings" ? HostileKit.SeedSecrets(s.Bytes) : [], StringComparer.Ordinal);
        var dir = Directory.CreateTempSubdirectory("pgra-hostile-");
        var path = Path.Combine(dir.FullName, HostileKit.InputName(target));
        var failures = new List<(Mutant Mutant, string Category, string Detail)>();
        var hangs = 0;
        var accepted = 0;
        var ran = 0;
        var slowest = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        using var guarded = new Guarded();
        try
        {
            foreach (var mutant in Mutator.Mutants(seeds, count, HostileKit.BaseSeed(target)))
            {
                ran++;
                if (target == "skill")
                {
                    // Named as its seed: the parser checks that a skill's name matches its file name.
                    path = Path.Combine(dir.FullName, hangs.ToString(CultureInfo.InvariantCulture), mutant.Seed);
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                }

                File.WriteAllBytes(path, mutant.Bytes);
                var result = guarded.Invoke(() => ParserTargets.Run(target, path), Limit);
                slowest = result.Elapsed > slowest ? result.Elapsed : slowest;
                if (result.TimedOut)
                {
                    failures.Add((mutant, "hang", $"no answer within {Limit.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s"));
                    if (++hangs >= MaxHangs)
                    {
                        failures.Add((mutant, "stopped", $"corpus stopped after {MaxHangs.ToString(CultureInfo.InvariantCulture)} hangs"));
                        break;
                    }

                    path = Path.Combine(dir.FullName, hangs.ToString(CultureInfo.InvariantCulture) + "-" + HostileKit.InputName(target)); // the hung thread may still read the old file
                    continue;
                }

                if (result.Error is { } error)
                {
                    failures.Add((mutant, "unhandled " + error.GetType().Name, HostileKit.Brief(error)));
                    continue;
                }

                var outcome = result.Value!;
                accepted += outcome.Accepted ? 1 : 0;
                foreach (var (category, detail) in Check(target, path, mutant, outcome, secretsBySeed[mutant.Seed]))
                {
                    failures.Add((mutant, category, detail));
                }
            }
        }
        finally
        {
            if (hangs == 0)
            {
                dir.Delete(recursive: true);
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{target}: {ran} mutants of {seeds.Count} seeds in {clock.Elapsed.TotalSeconds:F1} s (slowest {slowest.TotalMilliseconds:F0} ms), {accepted} read, {ran - accepted} refused, {failures.Count} failures");
        if (failures.Count > 0)
        {
            Assert.Fail(Report(target, ran, failures));
        }
    }

    /// <summary>What a handled mutant must satisfy: a refusal names the file (and the line of a syntax error); no secret in what is printed.</summary>
    private static IEnumerable<(string Category, string Detail)> Check(string target, string path, Mutant mutant, ParseOutcome outcome, HashSet<string> seedSecrets)
    {
        var file = Path.GetFileName(path);
        if (!outcome.Accepted)
        {
            switch (target)
            {
                case "inventory" or "settings":
                    if (!outcome.Output.Contains(file, StringComparison.Ordinal))
                    {
                        yield return ("error does not name the file", First(outcome.Output));
                    }

                    foreach (var problem in outcome.Problems)
                    {
                        if (!problem.Contains(file, StringComparison.Ordinal))
                        {
                            yield return ("problem does not name the file", First(problem));
                        }
                        else if (problem.Contains("YAML syntax error", StringComparison.Ordinal) && !LineAndColumn().IsMatch(problem))
                        {
                            yield return ("syntax error without a line", First(problem));
                        }
                    }

                    if (outcome.Problems.Count == 0 && !outcome.Output.Contains(file, StringComparison.Ordinal))
                    {
                        yield return ("refused without a problem", First(outcome.Output));
                    }

                    break;
                case "skill":
                    foreach (var problem in outcome.Problems.Where(p => p.Contains(": error ", StringComparison.Ordinal)))
                    {
                        if (!problem.StartsWith(file + ":", StringComparison.Ordinal) || !LineAndColumn().IsMatch(problem))
                        {
                            yield return ("diagnostic does not name file:line:column", First(problem));
                        }
                    }

                    if (!outcome.Problems.Any(p => p.Contains(": error ", StringComparison.Ordinal)))
                    {
                        yield return ("refused without an error diagnostic", First(outcome.Output));
                    }

                    break;
                case "eval-case":
                    if (outcome.Problems.Count == 0)
                    {
                        yield return ("refused without an error", First(outcome.Output));
                    }

                    foreach (var problem in outcome.Problems.Where(p => !p.Contains(file, StringComparison.Ordinal)))
                    {
                        yield return ("problem does not name the file", First(problem));
                    }

                    break;
                case "alertmanager-json":
                    if (outcome.Problems.Count != 1 || !outcome.Problems[0].StartsWith('$'))
                    {
                        yield return ("refusal does not say where (a JSON path)", First(outcome.Output));
                    }

                    break;
                default:
                    if (outcome.Problems.Any(p => !p.StartsWith("GET ", StringComparison.Ordinal) && !p.StartsWith("pgbackrest ", StringComparison.Ordinal)))
                    {
                        yield return ("sensor error does not name the endpoint", First(outcome.Output));
                    }

                    break;
            }
        }

        if (target is "inventory" or "settings")
        {
            // Decoded as the loaders decode files (File.ReadAllText: UTF-8 unless a BOM says otherwise).
            using var reader = new StreamReader(new MemoryStream(mutant.Bytes), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            var input = reader.ReadToEnd();
            foreach (var secret in HostileKit.LeakedSecrets(input, outcome.Output, path, seedSecrets.Concat(outcome.Secrets)))
            {
                yield return ("secret in output", $"'{secret}' appears in what {(outcome.Accepted ? "inventory show --json" : "the error")} prints");
            }
        }
    }

    private static string First(string text)
    {
        var line = text.Split('\n')[0];
        return line.Length > 240 ? line[..240] + "..." : line;
    }

    private static string Report(string target, int ran, List<(Mutant Mutant, string Category, string Detail)> failures)
    {
        var saveDir = HostileKit.FailureDir(target);
        Directory.CreateDirectory(saveDir);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{failures.Count} failure(s) in {ran} {target} mutants. Failing inputs: {saveDir}\n");
        sb.Append("Known defects being fixed on other branches show up here as: hangs and unhandled exceptions on deep nesting or alias/merge chains ")
            .Append("(YAML depth/alias limits), and 'secret in output' (secret masking). Anything else is new.\n");
        foreach (var group in failures.GroupBy(f => (f.Category, Key: f.Detail.Length > 90 ? f.Detail[..90] : f.Detail)).OrderByDescending(g => g.Count()))
        {
            var first = group.First();
            var saved = Path.Combine(saveDir, $"{first.Mutant.Seed}-{first.Mutant.CaseSeed.ToString(CultureInfo.InvariantCulture)}.bin");
            File.WriteAllBytes(saved, first.Mutant.Bytes);
            sb.Append(CultureInfo.InvariantCulture, $"- {group.Key.Category} x{group.Count()}: {first.Detail}\n    e.g. {first.Mutant.Describe()} -> {saved}\n");
        }

        return sb.ToString();
    }

    [GeneratedRegex(@":\d+:\d+")]
    private static partial Regex LineAndColumn();
}
