using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.FileSystemGlobbing;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Lab;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Yaml;
using YamlDotNet.RepresentationModel;

namespace PgRuntimeAgent.Evals;

/// <summary>The cases read from a file, a directory or a glob, and every problem found in them.</summary>
/// <param name="Source">What was asked for (a path or a glob), as given.</param>
/// <param name="Files">The case files read, full paths, sorted by directory and case name.</param>
/// <param name="Cases">The cases that have no error, in file order.</param>
/// <param name="Problems">Every problem of every file, with file:line:column.</param>
internal sealed record EvalCaseSet(string Source, IReadOnlyList<string> Files, IReadOnlyList<EvalCase> Cases, IReadOnlyList<YamlProblem> Problems)
{
    public int Errors => Problems.Count(p => p.Severity == ProblemSeverity.Error);

    public int Warnings => Problems.Count(p => p.Severity == ProblemSeverity.Warning);
}

/// <summary>
/// Reads evaluation cases (docs/evals.md) with the located YAML reader, validating every key against what exists: the
/// lab's scenarios and where they may hit, Patroni's timing presets, the catalogue's action kinds and classes, the
/// detectors' finding codes. Every problem is reported as <c>file:line:column: what; what to do</c>; bad input never
/// throws (a path that names nothing is an <see cref="InputException"/>).
/// </summary>
internal static partial class EvalCaseLoader
{
    /// <summary>The directory of shipped cases, relative to a checkout or an install.</summary>
    public const string DirectoryName = "evals";

    private static readonly string[] TopKeys = ["name", "description", "category", "timing", "load", "faults", "autonomy", "approvals", "expect", "limits", "steps"];
    private static readonly string[] FaultKeys = ["scenario", "target", "after_seconds", "fixed"];
    private static readonly string[] ExpectKeys = ["root_cause", "findings", "actions", "tolerated"];
    private static readonly string[] ActionKeys = ["kind", "member", "object"];
    private static readonly string[] LimitKeys = ["rpo_bytes", "max_split_brain_seconds", "time_limit_seconds"];
    private static readonly string[] StepsKeys = ["setup", "during", "teardown"];
    private static readonly string[] StepKeys = ["sql", "shell", "patroni", "on", "timeout_seconds", "after_seconds"];
    private static readonly string[] StepKinds = ["sql", "shell", "patroni"];
    private static readonly string[] Loads = ["none", "workload", "pgbench"];
    private static readonly string[] ApprovalValues = ["none", "approve", "deny"];

    /// <summary>Longest time limit and step timeout a case may ask for (an hour).</summary>
    public const double MaxSeconds = 3600;

    /// <summary>
    /// <paramref name="message"/> with every quoted value longer than 80 characters cut to its first 60 and its length:
    /// a hostile or mistaken megabyte-long value is named, not echoed back whole.
    /// </summary>
    internal static string Clipped(string message) => LongQuoted().Replace(message, m =>
        $"'{m.Groups[1].Value[..60]}...' ({m.Groups[1].Value.Length.ToString(CultureInfo.InvariantCulture)} characters)");

    [GeneratedRegex(@"'([^']{81,})'", RegexOptions.CultureInvariant)]
    private static partial Regex LongQuoted();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex CaseNamePattern();

    /// <summary>A Pigsty instance name, <c>&lt;pg_cluster&gt;-&lt;pg_seq&gt;</c> (resolved against the lab when the case runs).</summary>
    [GeneratedRegex(@"^[a-z][a-z0-9_-]*-[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex MemberNamePattern();

    /// <summary>
    /// The shipped cases' directory: ./evals, else the first evals/ above <paramref name="binaryDirectory"/> (a
    /// checkout or an install beside the binary); null when there is none.
    /// </summary>
    public static string? DefaultDirectory(string currentDirectory, string binaryDirectory)
    {
        var local = Path.Combine(currentDirectory, DirectoryName);
        if (Directory.Exists(local))
        {
            return local;
        }

        for (var dir = new DirectoryInfo(binaryDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, DirectoryName);
            if (Directory.Exists(candidate) && Directory.EnumerateFiles(candidate, "*.yml").Any())
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>
    /// Reads every case <paramref name="pathOrGlob"/> names: a case file, a directory (its <c>*.yml</c> and
    /// <c>*.yaml</c>, not below), or a glob (<c>evals/disk-*.yml</c>, <c>evals/**/*.yml</c>). Never throws for bad
    /// content; throws <see cref="InputException"/> when the path or glob names no case file.
    /// </summary>
    public static EvalCaseSet LoadAll(string pathOrGlob, string? currentDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(pathOrGlob);
        var cwd = currentDirectory ?? Directory.GetCurrentDirectory();
        var files = ResolveFiles(pathOrGlob, cwd);
        var problems = new List<YamlProblem>();
        var cases = new List<EvalCase>();
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            var loaded = Load(file, problems);
            if (loaded is null)
            {
                continue;
            }

            if (names.TryGetValue(loaded.Name, out var first))
            {
                problems.Add(new YamlProblem(loaded.File, 0, 0, "name", $"a case named '{loaded.Name}' is also in {first}",
                    "case names are unique (reports compare cases by name): rename one of the files"));
                continue;
            }

            names[loaded.Name] = loaded.File;
            cases.Add(loaded);
        }

        return new EvalCaseSet(pathOrGlob, files, cases, problems);
    }

    /// <summary>The case files <paramref name="pathOrGlob"/> names, sorted; <see cref="InputException"/> when none.</summary>
    public static IReadOnlyList<string> ResolveFiles(string pathOrGlob, string currentDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pathOrGlob);
        var full = Path.GetFullPath(pathOrGlob, currentDirectory);
        if (Directory.Exists(full))
        {
            var inDir = ByName(Directory.EnumerateFiles(full).Where(IsCaseFile));
            return inDir.Count > 0 ? inDir
                : throw new InputException($"no case file (*.yml) in {full}", ["add one (docs/evals.md shows the format) or point --cases at the directory that has them"]);
        }

        if (File.Exists(full))
        {
            return [full];
        }

        if (pathOrGlob.IndexOfAny(['*', '?', '[']) < 0)
        {
            throw new InputException($"no case file or directory {full}",
                ["pass a case file, a directory of them (default: evals/) or a glob in quotes, such as --cases 'evals/disk-full-*.yml'"]);
        }

        var segments = full.Replace('\\', '/').Split('/');
        var wild = Array.FindIndex(segments, s => s.IndexOfAny(['*', '?', '[']) >= 0);
        var baseDir = string.Join('/', segments[..wild]);
        baseDir = baseDir.Length == 0 ? "/" : baseDir;
        var pattern = string.Join('/', segments[wild..]);
        if (!Directory.Exists(baseDir))
        {
            throw new InputException($"no directory {baseDir} for the glob {pathOrGlob}", ["check the path before the first wildcard"]);
        }

        var matcher = new Matcher(StringComparison.Ordinal);
        matcher.AddInclude(pattern);
        var matched = ByName(matcher.GetResultsInFullPath(baseDir).Where(IsCaseFile).Select(Path.GetFullPath));
        return matched.Count > 0 ? matched
            : throw new InputException($"no case file matches {pathOrGlob}", [$"case files are *.yml or *.yaml; the glob was matched below {baseDir}"]);
    }

    /// <summary>Sorted by directory, then case name (so archive-broken comes before archive-broken-disk-full).</summary>
    private static List<string> ByName(IEnumerable<string> files) =>
        [.. files.OrderBy(f => Path.GetDirectoryName(f), StringComparer.Ordinal).ThenBy(f => Path.GetFileNameWithoutExtension(f), StringComparer.Ordinal)
            .ThenBy(f => f, StringComparer.Ordinal)];

    private static bool IsCaseFile(string path) =>
        path.EndsWith(".yml", StringComparison.Ordinal) || path.EndsWith(".yaml", StringComparison.Ordinal);

    /// <summary>Reads one case file; null when it has an error (the problems say which).</summary>
    public static EvalCase? Load(string fullPath, ICollection<YamlProblem> problems)
    {
        ArgumentNullException.ThrowIfNull(fullPath);
        ArgumentNullException.ThrowIfNull(problems);
        var yaml = YamlFile.Load(fullPath, problems);
        return Read(yaml, problems);
    }

    /// <summary>Reads one case from text (tests, editors); <paramref name="displayPath"/> names it in problems.</summary>
    public static EvalCase? Parse(string text, string fullPath, string displayPath, ICollection<YamlProblem> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        var yaml = YamlFile.Parse(text, fullPath, displayPath, problems);
        return Read(yaml, problems);
    }

    /// <summary>The case, or null when the file has an error; the file's problems are added in line order.</summary>
    private static EvalCase? Read(YamlFile yaml, ICollection<YamlProblem> problems)
    {
        if (yaml.Root is null)
        {
            if (!problems.Any(p => p.File == yaml.DisplayPath && p.Severity == ProblemSeverity.Error))
            {
                problems.Add(new YamlProblem(yaml.DisplayPath, 0, 0, null, "the file is empty",
                    "a case is a YAML mapping with description, category, faults, expect and limits (docs/evals.md)"));
            }

            return null;
        }

        var found = new List<YamlProblem>();
        var result = new Reader(yaml, found).Case();
        foreach (var problem in found.OrderBy(p => p.Line).ThenBy(p => p.Column))
        {
            problems.Add(problem);
        }

        return found.Any(p => p.Severity == ProblemSeverity.Error) ? null : result;
    }

    /// <summary>Walks one case file, collecting every problem; the case it returns is only used when none is an error.</summary>
    private sealed class Reader(YamlFile yaml, ICollection<YamlProblem> problems)
    {
        private readonly string _stem = Path.GetFileNameWithoutExtension(yaml.FullPath);

        public EvalCase? Case()
        {
            if (Mapping(yaml.Root!, "") is not { } root)
            {
                return null;
            }

            CheckKeys(root, "", TopKeys);
            var name = ReadName(root);
            var description = Required(root, "description", "") is { } d ? Text(d, "description") : null;
            if (description is not null && description.Trim().Length == 0)
            {
                Error(YamlNodes.Get(root, "description"), "description", "the description is empty", "say in a sentence what the case tests");
            }

            var faultsNode = Required(root, "faults", "");
            var faults = faultsNode is null ? [] : Faults(faultsNode);
            var noFault = faultsNode is not null && IsNone(faultsNode);
            var category = ReadCategory(root, noFault, faultsNode);
            var timing = Optional(root, "timing") is { } t ? Choice(t, "timing", LabUp.HaPresets, "Patroni timing presets") : null;
            var load = Optional(root, "load") is { } l ? Choice(l, "load", Loads, "loads") : null;
            var approvals = Optional(root, "approvals") is { } a ? Choice(a, "approvals", ApprovalValues, "values") : null;
            var autonomy = Optional(root, "autonomy") is { } au ? Autonomy(au) : new EvalAutonomy();
            var limits = Required(root, "limits", "") is { } lim ? Limits(lim) : null;
            var expect = Required(root, "expect", "") is { } e ? Expect(e, noFault, faults, autonomy) : null;
            var (setup, during, teardown) = Optional(root, "steps") is { } s ? Steps(s, limits) : ([], [], []);
            CheckFaultTimes(faults, limits);

            if (name is null || description is null || category is null || limits is null || expect is null)
            {
                return null;
            }

            return new EvalCase
            {
                Name = name,
                Description = description.Trim(),
                Category = category,
                File = yaml.DisplayPath,
                Timing = timing ?? "fast",
                Load = load is null ? EvalLoad.None : Enum.Parse<EvalLoad>(load, ignoreCase: true),
                Faults = [.. faults.Select(f => f.Fault)],
                Autonomy = autonomy,
                Approvals = approvals is null ? EvalApprovals.None : Enum.Parse<EvalApprovals>(approvals, ignoreCase: true),
                Expect = expect,
                Limits = limits,
                Setup = setup,
                During = during,
                Teardown = teardown,
            };
        }

        // ------------------------------------------------------------------ top level

        private string? ReadName(YamlMappingNode root)
        {
            if (!CaseNamePattern().IsMatch(_stem))
            {
                problems.Add(new YamlProblem(yaml.DisplayPath, 0, 0, "name", $"the file name '{_stem}' is not a case name",
                    "name case files in lower case with digits and dashes, by what they test (disk-full-norm.yml)"));
                return null;
            }

            if (Optional(root, "name") is { } node && Text(node, "name") is { } given && !string.Equals(given, _stem, StringComparison.Ordinal))
            {
                Error(node, "name", $"the name '{given}' differs from the file name '{_stem}'", "a case is named by its file: rename the file or drop the name key");
                return null;
            }

            return _stem;
        }

        private string? ReadCategory(YamlMappingNode root, bool noFault, YamlNode? faultsNode)
        {
            if (Required(root, "category", "") is not { } node || Choice(node, "category", EvalCategories.All, "categories") is not { } category)
            {
                return null;
            }

            if (noFault && category != EvalCategories.Noise)
            {
                Error(node, "category", $"a case without faults is a 'nothing wrong' case, and its category is '{EvalCategories.Noise}', not '{category}'",
                    $"add a fault, or set category: {EvalCategories.Noise}");
                return null;
            }

            if (!noFault && category == EvalCategories.Noise && faultsNode is not null)
            {
                Error(node, "category", $"a '{EvalCategories.Noise}' case has no fault, and this one has",
                    "remove the faults (faults: none), or pick the category of what they break");
                return null;
            }

            return category;
        }

        // ------------------------------------------------------------------ faults

        private sealed record ReadFault(EvalFault Fault, YamlNode Node, YamlNode? AfterNode);

        /// <summary>faults: none, an empty list, or nothing: a "nothing wrong" case.</summary>
        private static bool IsNone(YamlNode node) =>
            YamlNodes.IsNull(node) || node is YamlScalarNode { Value: "none" } || node is YamlSequenceNode { Children.Count: 0 };

        private List<ReadFault> Faults(YamlNode node)
        {
            var result = new List<ReadFault>();
            if (IsNone(node))
            {
                return result;
            }

            if (node is not YamlSequenceNode list)
            {
                Error(node, "faults", $"faults is {YamlNodes.Describe(node)}; it is a list of faults, or none",
                    "write faults: [ { scenario: disk-full } ] or a block list of '- scenario: NAME' items; faults: none for a 'nothing wrong' case");
                return result;
            }

            for (var i = 0; i < list.Children.Count; i++)
            {
                var path = $"faults[{i.ToString(CultureInfo.InvariantCulture)}]";
                var item = list.Children[i];
                if (item is YamlScalarNode scalar && YamlNodes.Text(scalar) is { } onlyName)
                {
                    // "- disk-full": a scenario on its default target.
                    if (Scenario(scalar, path, onlyName) is { } info)
                    {
                        result.Add(new ReadFault(new EvalFault { Scenario = info.Name, Target = DefaultTarget(info) }, scalar, null));
                    }

                    continue;
                }

                if (Mapping(item, path) is not { } map)
                {
                    continue;
                }

                CheckKeys(map, path, FaultKeys);
                if (Required(map, "scenario", path) is not { } scenarioNode || Text(scenarioNode, path + ".scenario") is not { } scenarioName
                    || Scenario(scenarioNode, path + ".scenario", scenarioName) is not { } scenario)
                {
                    continue;
                }

                var target = DefaultTarget(scenario);
                if (Optional(map, "target") is { } targetNode && Text(targetNode, path + ".target") is { } given)
                {
                    target = Target(targetNode, path + ".target", scenario, given) ?? target;
                }

                var afterNode = Optional(map, "after_seconds");
                var after = afterNode is null ? 0 : Number(afterNode, path + ".after_seconds", 0, MaxSeconds) ?? 0;
                var fix = Optional(map, "fixed") is { } fixedNode ? Bool(fixedNode, path + ".fixed") ?? true : true;
                if (result.FindIndex(r => r.Fault.Scenario == scenario.Name) is var twice and >= 0)
                {
                    Error(scenarioNode, path + ".scenario", $"{scenario.Name} is already faults[{twice.ToString(CultureInfo.InvariantCulture)}] of this case",
                        "the lab injects a scenario once at a time: keep one");
                    continue;
                }

                result.Add(new ReadFault(new EvalFault { Scenario = scenario.Name, Target = target, AfterSeconds = after, Fixed = fix }, map, afterNode));
            }

            return result;
        }

        private LabScenarioInfo? Scenario(YamlNode node, string path, string name)
        {
            var info = LabScenarios.All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.Ordinal));
            if (info is null)
            {
                Unknown(node, path, "scenario", name, LabScenarios.All.Select(s => s.Name), "the lab's scenarios (pgra lab inject --help)");
            }

            return info;
        }

        private static string DefaultTarget(LabScenarioInfo scenario) => scenario.Target == LabTargetKind.Leader ? "leader" : "replica";

        private string? Target(YamlNode node, string path, LabScenarioInfo scenario, string target)
        {
            var isRole = target is "leader" or "replica";
            if (!isRole && !MemberNamePattern().IsMatch(target))
            {
                Error(node, path, $"'{target}' is neither leader, replica nor a member name (<cluster>-<seq>, such as pg-test-2)",
                    "target the leader, a replica, or a member by its instance name");
                return null;
            }

            if (scenario.Target == LabTargetKind.Leader && target == "replica")
            {
                Error(node, path, $"{scenario.Name} hits the leader; the lab cannot inject it on a replica", "target: leader (or leave target out)");
                return null;
            }

            if (scenario.Target == LabTargetKind.Replica && target == "leader")
            {
                Error(node, path, $"{scenario.Name} hits a replica; the lab cannot inject it on the leader", "target: replica, or a replica's member name (or leave target out)");
                return null;
            }

            return target;
        }

        private void CheckFaultTimes(List<ReadFault> faults, EvalLimits? limits)
        {
            if (faults.Count == 0)
            {
                return;
            }

            if (faults[0].Fault.AfterSeconds > 0)
            {
                Error(faults[0].AfterNode, "faults[0].after_seconds", "the first fault starts the case: its after_seconds is 0",
                    "after_seconds counts from the first fault; drop it on the first one");
            }

            for (var i = 1; i < faults.Count; i++)
            {
                if (faults[i].Fault.AfterSeconds < faults[i - 1].Fault.AfterSeconds)
                {
                    Error(faults[i].AfterNode ?? faults[i].Node, $"faults[{i.ToString(CultureInfo.InvariantCulture)}].after_seconds",
                        "faults are listed in the order they are injected: after_seconds may not go down", "reorder the faults");
                }
            }

            if (limits is not null && faults.FirstOrDefault(f => f.Fault.AfterSeconds >= limits.TimeLimitSeconds) is { } late)
            {
                var index = faults.IndexOf(late).ToString(CultureInfo.InvariantCulture);
                Error(late.AfterNode ?? late.Node, $"faults[{index}].after_seconds",
                    FormattableString.Invariant($"the fault starts after {late.Fault.AfterSeconds:0.#} s, at or past the time limit ({limits.TimeLimitSeconds:0.#} s)"),
                    "inject it sooner or raise limits.time_limit_seconds");
            }
        }

        // ------------------------------------------------------------------ autonomy

        private EvalAutonomy Autonomy(YamlNode node)
        {
            if (node is YamlScalarNode)
            {
                return new EvalAutonomy { DefaultLevel = Level(node, "autonomy") ?? 1 };
            }

            if (Mapping(node, "autonomy") is not { } map)
            {
                return new EvalAutonomy();
            }

            var level = 1;
            var classes = new Dictionary<string, int>(StringComparer.Ordinal);
            var known = SkillActionClasses.Known;
            var families = known.Where(k => k.Contains('.', StringComparison.Ordinal)).Select(k => k[..k.IndexOf('.', StringComparison.Ordinal)]).Distinct(StringComparer.Ordinal).ToList();
            foreach (var (key, value) in YamlNodes.Entries(map))
            {
                var name = key.Value ?? "";
                var path = "autonomy." + name;
                if (name == "default")
                {
                    level = Level(value, path) ?? level;
                    continue;
                }

                if (!known.Contains(name, StringComparer.Ordinal) && !families.Contains(name, StringComparer.Ordinal))
                {
                    Unknown(key, path, "action class", name, ["default", .. known, .. families],
                        "action classes (pgra catalog; a family such as 'patroni' covers patroni.*), and 'default' for every other class");
                    continue;
                }

                if (Level(value, path) is { } classLevel)
                {
                    classes[name] = classLevel;
                }
            }

            return new EvalAutonomy { DefaultLevel = level, Classes = classes };
        }

        private int? Level(YamlNode node, string path)
        {
            if (Text(node, path) is not { } text)
            {
                return null;
            }

            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var level) && level is >= 0 and <= 5)
            {
                return level;
            }

            Error(node, path, $"'{text}' is not an autonomy level", "a whole number from 0 (observe) to 5 (full); AGENT.md says what each allows");
            return null;
        }

        // ------------------------------------------------------------------ expect

        private EvalExpectation? Expect(YamlNode node, bool noFault, List<ReadFault> faults, EvalAutonomy autonomy)
        {
            if (Mapping(node, "expect") is not { } map)
            {
                return null;
            }

            CheckKeys(map, "expect", ExpectKeys);
            var ok = true;
            var rootNode = Optional(map, "root_cause");
            var root = rootNode is null ? [] : Codes(rootNode, "expect.root_cause", ref ok);
            var findingsNode = Optional(map, "findings");
            var findings = findingsNode is null ? [] : Codes(findingsNode, "expect.findings", ref ok);
            if (noFault && (root.Count > 0 || findings.Count > 0))
            {
                Error(rootNode ?? findingsNode, root.Count > 0 ? "expect.root_cause" : "expect.findings",
                    "a case without faults expects no finding: it passes when the agent raises nothing critical, takes no action and opens no incident",
                    "remove the codes, or add the fault that should raise them");
                ok = false;
            }
            else if (!noFault && rootNode is not null && root.Count == 0 && ok)
            {
                Error(rootNode, "expect.root_cause", "a case with faults names the root-cause code(s) a good agent finds", "list at least one finding code");
                ok = false;
            }
            else if (!noFault && rootNode is null)
            {
                Error(map, "expect.root_cause", "expect has no root_cause", "list the finding code(s) that name the fault's cause, e.g. root_cause: [primary-disk-full]");
                ok = false;
            }

            var actionsNode = Optional(map, "actions");
            List<EvalExpectedAction> actions = [];
            if (actionsNode is null)
            {
                Error(map, "expect.actions", "expect has no actions", "list the action kinds a good agent takes, or write actions: none");
                ok = false;
            }
            else
            {
                actions = Actions(actionsNode, "expect.actions", faults, autonomy, expected: true, ref ok);
                if (noFault && actions.Count > 0)
                {
                    Error(actionsNode, "expect.actions", "a case without faults expects no action", "write actions: none");
                    ok = false;
                }
            }

            var tolerated = Optional(map, "tolerated") is { } tol ? Actions(tol, "expect.tolerated", faults, autonomy, expected: false, ref ok) : [];
            return ok ? new EvalExpectation { RootCause = root, Findings = findings, Actions = actions, Tolerated = tolerated } : null;
        }

        private List<string> Codes(YamlNode node, string path, ref bool ok)
        {
            var codes = new List<string>();
            foreach (var (item, itemPath) in Items(node, path))
            {
                if (Text(item, itemPath) is not { } code)
                {
                    ok = false;
                    continue;
                }

                if (!FindingCodes.IsKnown(code))
                {
                    Unknown(item, itemPath, "finding code", code, FindingCodes.Stable, "finding codes (pgra catalog, docs/detection.md)");
                    ok = false;
                    continue;
                }

                if (!codes.Contains(code, StringComparer.Ordinal))
                {
                    codes.Add(code);
                }
            }

            return codes;
        }

        private List<EvalExpectedAction> Actions(YamlNode node, string path, List<ReadFault> faults, EvalAutonomy autonomy, bool expected, ref bool ok)
        {
            var result = new List<EvalExpectedAction>();
            if (node is YamlScalarNode { Value: "none" })
            {
                return result;
            }

            if (YamlNodes.IsNull(node))
            {
                Error(node, path, $"{path} is empty", "list action kinds, or write none");
                ok = false;
                return result;
            }

            foreach (var (item, itemPath) in Items(node, path))
            {
                var action = ExpectedAction(item, itemPath, faults);
                if (action is null)
                {
                    ok = false;
                    continue;
                }

                if (expected && CheckReachable(item, itemPath, action, autonomy) is false)
                {
                    ok = false;
                    continue;
                }

                result.Add(action);
            }

            return result;
        }

        private EvalExpectedAction? ExpectedAction(YamlNode item, string path, List<ReadFault> faults)
        {
            if (item is YamlScalarNode scalar)
            {
                if (YamlNodes.Text(scalar) is "none")
                {
                    Error(item, path, "'none' stands alone: it cannot be one of several actions", "write actions: none, or list the kinds without it");
                    return null;
                }

                return Text(item, path) is { } kind && Kind(item, path, kind) ? new EvalExpectedAction { Kind = kind } : null;
            }

            if (Mapping(item, path) is not { } map)
            {
                return null;
            }

            CheckKeys(map, path, ActionKeys);
            if (Required(map, "kind", path) is not { } kindNode || Text(kindNode, path + ".kind") is not { } mapKind || !Kind(kindNode, path + ".kind", mapKind))
            {
                return null;
            }

            var rule = EvalMemberRule.Any;
            string? scenario = null;
            if (Optional(map, "member") is { } memberNode && Text(memberNode, path + ".member") is { } member)
            {
                switch (member)
                {
                    case "any":
                        break;
                    case "fault":
                        rule = EvalMemberRule.Fault;
                        break;
                    case "other":
                        rule = EvalMemberRule.Other;
                        break;
                    default:
                        if (faults.Any(f => f.Fault.Scenario == member))
                        {
                            rule = EvalMemberRule.Fault;
                            scenario = member;
                            break;
                        }

                        Unknown(memberNode, path + ".member", "member rule", member, ["any", "fault", "other", .. faults.Select(f => f.Fault.Scenario)],
                            "member rules: any, fault (a member a fault hit), other (a member no fault hit), or the scenario of one of this case's faults");
                        return null;
                }
            }

            var fromFault = false;
            if (Optional(map, "object") is { } objectNode && Text(objectNode, path + ".object") is { } obj)
            {
                if (obj is not ("fault" or "any"))
                {
                    Unknown(objectNode, path + ".object", "object rule", obj, ["any", "fault"], "object rules: any, or fault (the session or table a fault created)");
                    return null;
                }

                fromFault = obj == "fault";
            }

            return new EvalExpectedAction { Kind = mapKind, Member = rule, Scenario = scenario, ObjectFromFault = fromFault };
        }

        private bool Kind(YamlNode node, string path, string kind)
        {
            if (AgentCatalog.Default.FindAction(kind) is not null)
            {
                return true;
            }

            Unknown(node, path, "action kind", kind, AgentCatalog.Default.Actions.Select(a => a.Kind), "action kinds (pgra catalog; skills/*.md list the ones each skill takes)");
            return false;
        }

        /// <summary>False (and a problem) when the action could never be taken under the case's autonomy or policy.</summary>
        private bool CheckReachable(YamlNode node, string path, EvalExpectedAction action, EvalAutonomy autonomy)
        {
            var cls = AgentCatalog.Default.FindAction(action.Kind)!.PolicyClass;
            if (PolicySettings.DefaultForbidden.Any(f => cls == f || cls.StartsWith(f + ".", StringComparison.Ordinal)))
            {
                Error(node, path, $"{action.Kind} is forbidden by policy: the agent never takes it", "expect another action, or none");
                return false;
            }

            if (autonomy.LevelFor(cls) == 0)
            {
                Error(node, path, $"{action.Kind} is at autonomy 0 in this case (class {cls}): the agent proposes nothing of it, so it can never be expected",
                    $"raise autonomy.{cls} (1 recommends, 2 asks for an approval, 3 acts), or expect none");
                return false;
            }

            return true;
        }

        // ------------------------------------------------------------------ limits

        private EvalLimits? Limits(YamlNode node)
        {
            if (Mapping(node, "limits") is not { } map)
            {
                return null;
            }

            CheckKeys(map, "limits", LimitKeys);
            long? rpo = null;
            if (Optional(map, "rpo_bytes") is { } rpoNode && Text(rpoNode, "limits.rpo_bytes") is { } rpoText)
            {
                if (long.TryParse(rpoText, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes))
                {
                    rpo = bytes;
                }
                else
                {
                    Error(rpoNode, "limits.rpo_bytes", $"'{rpoText}' is not a number of bytes",
                        "a whole number of bytes, such as 1048576; leave it out for the cluster's maximum_lag_on_failover");
                }
            }

            var split = Optional(map, "max_split_brain_seconds") is { } splitNode ? Number(splitNode, "limits.max_split_brain_seconds", 0, MaxSeconds) ?? 0 : 0;
            if (Required(map, "time_limit_seconds", "limits") is not { } limitNode || Number(limitNode, "limits.time_limit_seconds", 1, MaxSeconds) is not { } limit)
            {
                return null;
            }

            return new EvalLimits { RpoBytes = rpo, MaxSplitBrainSeconds = split, TimeLimitSeconds = limit };
        }

        // ------------------------------------------------------------------ steps

        private (IReadOnlyList<EvalStep> Setup, IReadOnlyList<EvalStep> During, IReadOnlyList<EvalStep> Teardown) Steps(YamlNode node, EvalLimits? limits)
        {
            if (Mapping(node, "steps") is not { } map)
            {
                return ([], [], []);
            }

            CheckKeys(map, "steps", StepsKeys);
            var setup = Optional(map, "setup") is { } s ? StepList(s, "steps.setup", null) : [];
            var during = Optional(map, "during") is { } d ? StepList(d, "steps.during", limits) : [];
            var teardown = Optional(map, "teardown") is { } t ? StepList(t, "steps.teardown", null) : [];
            return (setup, during, teardown);
        }

        /// <summary>The steps of one list; <paramref name="limits"/> is given for steps.during only (after_seconds is allowed there and checked against the time limit).</summary>
        private List<EvalStep> StepList(YamlNode node, string path, EvalLimits? limits)
        {
            var steps = new List<EvalStep>();
            if (YamlNodes.IsNull(node))
            {
                return steps;
            }

            if (node is not YamlSequenceNode list)
            {
                Error(node, path, $"{path} is {YamlNodes.Describe(node)}; it is a list of steps", "write '- sql: ...', '- shell: ...' or '- patroni: ...' items");
                return steps;
            }

            var during = path == "steps.during";
            for (var i = 0; i < list.Children.Count; i++)
            {
                var itemPath = $"{path}[{i.ToString(CultureInfo.InvariantCulture)}]";
                if (Mapping(list.Children[i], itemPath) is { } map && Step(map, itemPath, during, limits) is { } step)
                {
                    steps.Add(step);
                }
            }

            return steps;
        }

        private EvalStep? Step(YamlMappingNode map, string path, bool during, EvalLimits? limits)
        {
            CheckKeys(map, path, StepKeys);
            var given = StepKinds.Where(k => Optional(map, k) is not null).ToList();
            if (given.Count != 1)
            {
                Error(map, path, given.Count == 0 ? "the step has none of sql, shell and patroni"
                        : given.Count == 2 ? $"the step has both {given[0]} and {given[1]}" : "the step has sql, shell and patroni",
                    "a step is one of: '- sql: STATEMENT' (with on: leader|replica|MEMBER), '- shell: COMMAND' (with timeout_seconds) or '- patroni: switchover|restart' (with on:)");
                return null;
            }

            var kind = given[0] switch
            {
                "sql" => EvalStepKind.Sql,
                "shell" => EvalStepKind.Shell,
                _ => EvalStepKind.Patroni,
            };
            var textNode = Optional(map, given[0])!;
            var text = Text(textNode, path + "." + given[0]);
            if (text is not null && text.Trim().Length == 0)
            {
                Error(textNode, path, "the step's text is empty", "write the statement or the command");
                text = null;
            }

            if (kind == EvalStepKind.Patroni && text is not null && !EvalStep.PatroniVerbs.Contains(text, StringComparer.Ordinal))
            {
                Unknown(textNode, path + ".patroni", "patroni verb", text, EvalStep.PatroniVerbs, "patroni verbs");
                text = null;
            }

            var on = kind == EvalStepKind.Patroni && text == EvalStep.Restart ? "replica" : "leader";
            if (Optional(map, "on") is { } onNode && Text(onNode, path + ".on") is { } where)
            {
                if (kind == EvalStepKind.Shell)
                {
                    Error(onNode, path + ".on", "a shell step runs on the admin node (where pgra runs); 'on' is for sql and patroni steps",
                        "remove 'on'; the command gets the leader's libpq variables (PGHOST, PGPORT, ...) in its environment");
                }
                else if (where is not ("leader" or "replica") && !MemberNamePattern().IsMatch(where))
                {
                    Error(onNode, path + ".on", $"'{where}' is neither leader, replica nor a member name (<cluster>-<seq>)",
                        kind == EvalStepKind.Sql ? "run the SQL on the leader, a replica or a named member" : "name the leader, a replica or a member by its instance name");
                }
                else if (kind == EvalStepKind.Patroni && text == EvalStep.Switchover && where == "replica")
                {
                    Error(onNode, path + ".on", "a switchover leaves the leader; 'on' names the leader (leader, or its member name), not a replica",
                        "leave 'on' out: the switchover goes from the leader to a healthy replica");
                }
                else
                {
                    on = where;
                }
            }

            var timeout = Optional(map, "timeout_seconds") is { } timeoutNode ? Number(timeoutNode, path + ".timeout_seconds", 1, MaxSeconds) ?? 60 : 60;
            var after = 0.0;
            if (YamlNodes.GetEntry(map, "after_seconds") is { } afterEntry)
            {
                if (!during)
                {
                    Error(afterEntry.Key, path + ".after_seconds", "after_seconds is only for steps.during: setup and teardown steps run one after another, not at a time",
                        "remove it, or move the step to steps.during (started in the background, after_seconds from the case's start)");
                }
                else if (!YamlNodes.IsNull(afterEntry.Value) && Number(afterEntry.Value, path + ".after_seconds", 0, MaxSeconds) is { } seconds)
                {
                    if (limits is not null && seconds >= limits.TimeLimitSeconds)
                    {
                        Error(afterEntry.Value, path + ".after_seconds",
                            FormattableString.Invariant($"the step starts after {seconds:0.#} s, at or past the time limit ({limits.TimeLimitSeconds:0.#} s)"),
                            "start it sooner or raise limits.time_limit_seconds");
                    }

                    after = seconds;
                }
            }

            return text is null ? null : new EvalStep { Kind = kind, Text = text, On = on, TimeoutSeconds = timeout, AfterSeconds = after };
        }

        // ------------------------------------------------------------------ helpers

        private YamlMappingNode? Mapping(YamlNode node, string path)
        {
            if (node is YamlMappingNode map)
            {
                return map;
            }

            Error(node, path.Length == 0 ? null : path, $"{(path.Length == 0 ? "the file" : path)} is {YamlNodes.Describe(node)}; a mapping (key: value lines) is expected",
                path.Length == 0 ? "a case file is a mapping with description, category, faults, expect and limits (docs/evals.md)" : "indent its keys under it");
            return null;
        }

        private void CheckKeys(YamlMappingNode map, string path, IReadOnlyList<string> known)
        {
            foreach (var pair in map.Children)
            {
                if (pair.Key is not YamlScalarNode key || key.Value is not { } name)
                {
                    Error(pair.Key, path, "a key is not a plain name", "keys are names such as " + string.Join(", ", known));
                    continue;
                }

                if (name == YamlNodes.MergeKey || known.Contains(name, StringComparer.Ordinal))
                {
                    continue;
                }

                var where = path.Length == 0 ? "a case" : path;
                var nearest = SettingsBinder.Nearest(name, known);
                Error(key, path.Length == 0 ? name : path + "." + name, $"unknown key '{name}' in {where}",
                    (nearest is null ? "" : $"did you mean '{nearest}'? ") + $"known keys in {where}: {string.Join(", ", known)}");
            }
        }

        private YamlNode? Optional(YamlMappingNode map, string key) => YamlNodes.Get(map, key) is { } node && !YamlNodes.IsNull(node) ? node : null;

        private YamlNode? Required(YamlMappingNode map, string key, string path)
        {
            if (Optional(map, key) is { } node)
            {
                return node;
            }

            var where = path.Length == 0 ? "the case" : path;
            Error(YamlNodes.Get(map, key) ?? map, path.Length == 0 ? key : path + "." + key, $"{where} has no {key}", RequiredHint(key));
            return null;
        }

        private static string RequiredHint(string key) => key switch
        {
            "description" => "say in a sentence what the case tests",
            "category" => "categories: " + string.Join(", ", EvalCategories.All),
            "faults" => "list the lab scenarios to inject, or write faults: none for a 'nothing wrong' case",
            "expect" => "say what a good agent finds and does: root_cause and actions (docs/evals.md)",
            "limits" => "give at least time_limit_seconds",
            "time_limit_seconds" => "seconds from the first fault within which detection and the fix count",
            "scenario" => "scenarios: " + string.Join(", ", LabScenarios.All.Select(s => s.Name)),
            "kind" => "an action kind from the catalogue (pgra catalog)",
            _ => "see docs/evals.md",
        };

        private string? Text(YamlNode node, string path)
        {
            if (node is YamlScalarNode && YamlNodes.Text(node) is { } text)
            {
                return text;
            }

            Error(node, path, $"{path} is {YamlNodes.Describe(node)}; a single value is expected", "write one value on the key's line");
            return null;
        }

        private string? Choice(YamlNode node, string path, IReadOnlyList<string> allowed, string what)
        {
            if (Text(node, path) is not { } text)
            {
                return null;
            }

            if (allowed.Contains(text, StringComparer.Ordinal))
            {
                return text;
            }

            Unknown(node, path, path, text, allowed, what);
            return null;
        }

        private double? Number(YamlNode node, string path, double min, double max)
        {
            if (Text(node, path) is not { } text)
            {
                return null;
            }

            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) && value >= min && value <= max)
            {
                return value;
            }

            Error(node, path, $"'{text}' is not a number of seconds from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}",
                "write seconds as a plain number, such as 120");
            return null;
        }

        private bool? Bool(YamlNode node, string path)
        {
            if (Text(node, path) is not { } text)
            {
                return null;
            }

            if (text is "true" or "false")
            {
                return text == "true";
            }

            Error(node, path, $"'{text}' is not true or false", "write true or false");
            return null;
        }

        /// <summary>A list's items with their paths; a single scalar stands for a list of one.</summary>
        private IEnumerable<(YamlNode Item, string Path)> Items(YamlNode node, string path)
        {
            if (node is YamlSequenceNode list)
            {
                for (var i = 0; i < list.Children.Count; i++)
                {
                    yield return (list.Children[i], $"{path}[{i.ToString(CultureInfo.InvariantCulture)}]");
                }
            }
            else if (node is YamlScalarNode)
            {
                yield return (node, path);
            }
            else
            {
                Error(node, path, $"{path} is {YamlNodes.Describe(node)}; a list is expected", "write [a, b] or one '- item' per line");
            }
        }

        private void Unknown(YamlNode node, string path, string what, string value, IEnumerable<string> known, string listName)
        {
            var list = known.Distinct(StringComparer.Ordinal).ToList();
            var nearest = SettingsBinder.Nearest(value, list);
            Error(node, path, $"unknown {what} '{value}'", (nearest is null ? "" : $"did you mean '{nearest}'? ") + $"{listName}: {string.Join(", ", list)}");
        }

        private void Error(YamlNode? node, string? subject, string message, string hint) =>
            problems.Add(yaml.Problem(node, subject, Clipped(message), hint));
    }
}
