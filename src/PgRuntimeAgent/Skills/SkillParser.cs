using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Cronos;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Yaml;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PgRuntimeAgent.Skills;

/// <summary>The outcome of reading one skill file: the skill when it has no errors, and every problem found.</summary>
public sealed record SkillParseResult(Skill? Skill, IReadOnlyList<SkillDiagnostic> Diagnostics)
{
    public bool HasErrors => Diagnostics.Any(d => d.IsError);
}

/// <summary>
/// Reads a skill file (front matter + markdown + one <c>```yaml steps</c> block) and validates all of it, collecting
/// every problem with its line and column in the .md file instead of stopping at the first.
/// </summary>
public sealed partial class SkillParser
{
    private static readonly string[] FrontMatterKeys = ["name", "description", "triggers", "actions", "cooldown", "autonomy", "parameters"];
    private static readonly string[] TriggerKeys = ["findings", "schedules", "alerts"];
    private static readonly string[] CommonStepKeys = ["id", "title", "when", "next", "on_fail"];

    private static readonly Dictionary<string, SkillStepKind> KindKeys = new(StringComparer.Ordinal)
    {
        ["check"] = SkillStepKind.Check,
        ["wait"] = SkillStepKind.Wait,
        ["action"] = SkillStepKind.Action,
        ["verify"] = SkillStepKind.Verify,
        ["record"] = SkillStepKind.Record,
        ["investigate"] = SkillStepKind.Investigate,
    };

    private static readonly Dictionary<SkillStepKind, string[]> KindExtraKeys = new()
    {
        [SkillStepKind.Check] = ["then", "else"],
        [SkillStepKind.Wait] = ["timeout", "interval"],
        [SkillStepKind.Verify] = ["timeout", "interval"],
        [SkillStepKind.Action] = ["with", "reason", "timeout"],
        [SkillStepKind.Record] = ["kind", "data"],
        [SkillStepKind.Investigate] = ["timeout"],
    };

    [GeneratedRegex(@"^[a-z0-9][a-z0-9-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex SkillNamePattern();

    [GeneratedRegex(@"^[a-z][a-z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex StepIdPattern();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex IdentifierPattern();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_:.-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex AlertNamePattern();

    [GeneratedRegex(@"\$([A-Za-z_][A-Za-z0-9_]*)(?:\s*\.\s*([A-Za-z_][A-Za-z0-9_]*))?", RegexOptions.CultureInvariant)]
    private static partial Regex VariableReference();

    [GeneratedRegex(@"\$([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)", RegexOptions.CultureInvariant)]
    private static partial Regex LetBinding();

    [GeneratedRegex(@"^[-+]?[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex FloatPattern();

    private readonly string file;
    private readonly string text;
    private readonly SkillVocabulary vocabulary;
    private readonly List<SkillDiagnostic> diagnostics = [];
    private readonly List<int> lineStarts = [0];

    // Work collected while reading steps and checked once every step id is known.
    private readonly List<(string Target, int At)> targets = [];
    private readonly List<(string Text, Func<int, int> Map)> expressions = [];
    private readonly List<(string ActionClass, int At)> stepActions = [];

    private SkillParser(string file, string text, SkillVocabulary vocabulary)
    {
        this.file = file;
        this.text = text;
        this.vocabulary = vocabulary;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                lineStarts.Add(i + 1);
            }
        }
    }

    /// <summary>Parses and validates one skill. <paramref name="displayPath"/> is how diagnostics name the file.</summary>
    public static SkillParseResult Parse(string displayPath, string content, SkillVocabulary? vocabulary = null)
    {
        ArgumentNullException.ThrowIfNull(displayPath);
        ArgumentNullException.ThrowIfNull(content);
        if (content.Length > YamlLimits.MaxDocumentChars)
        {
            return new SkillParseResult(null,
                [new SkillDiagnostic(displayPath, 1, 1, SkillDiagnosticSeverity.Error, SkillDiagnosticCodes.BadFile, YamlLimits.TooLargeMessage(content.Length))]);
        }

        var normalized = content.Replace("\r\n", "\n", StringComparison.Ordinal).TrimStart('\uFEFF');
        var parser = new SkillParser(displayPath, normalized, vocabulary ?? SkillVocabulary.Default);
        var skill = parser.Run();
        var diagnostics = parser.diagnostics
            .OrderBy(d => d.Line)
            .ThenBy(d => d.Column)
            .ToList();
        return new SkillParseResult(diagnostics.Any(d => d.IsError) ? null : skill, diagnostics);
    }

    private Skill? Run()
    {
        if (!text.StartsWith("---\n", StringComparison.Ordinal))
        {
            Error(0, SkillDiagnosticCodes.BadFile, "a skill file starts with YAML front matter: a first line '---', the keys, then a line '---'");
            return null;
        }

        var closing = FindFrontMatterEnd();
        if (closing < 0)
        {
            Error(0, SkillDiagnosticCodes.BadFile, "the front matter is not closed: add a line '---' after its last key");
            return null;
        }

        const int frontBase = 4;
        var frontText = text[frontBase..closing];
        var bodyStart = text.IndexOf('\n', closing) is var nl and >= 0 ? nl + 1 : text.Length;
        var header = ReadFrontMatter(frontText, frontBase);

        var steps = new List<SkillStep>();
        var block = FindStepsBlock(bodyStart);
        if (block is { } b)
        {
            steps = ReadSteps(b.Text, b.Base);
        }
        else
        {
            Warning(closing, SkillDiagnosticCodes.NoSteps,
                "no ```yaml steps block: the runner has nothing to execute (the prose is still read by operators and the LLM)");
        }

        CheckCrossReferences(steps, header);
        if (header.Name is null || header.Description is null)
        {
            return null;
        }

        return new Skill
        {
            Name = header.Name,
            Description = header.Description,
            FilePath = file,
            Triggers = header.Triggers,
            Actions = header.Actions.Select(a => a.Pattern).ToList(),
            Cooldown = header.Cooldown,
            Autonomy = header.Autonomy,
            Parameters = header.Parameters,
            Body = text[bodyStart..],
            Steps = steps,
            Digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16],
        };
    }

    private int FindFrontMatterEnd()
    {
        for (var line = 1; line < lineStarts.Count; line++)
        {
            var start = lineStarts[line];
            var end = line + 1 < lineStarts.Count ? lineStarts[line + 1] - 1 : text.Length;
            var content = text[start..end].TrimEnd();
            if (content is "---" or "...")
            {
                return start;
            }
        }

        return -1;
    }

    // ---------------------------------------------------------------- front matter

    private sealed class Header
    {
        public string? Name { get; set; }
        public string? Description { get; set; }
        public SkillTriggers Triggers { get; set; } = SkillTriggers.None;
        public List<(string Pattern, int At)> Actions { get; } = [];
        public TimeSpan Cooldown { get; set; } = SkillDefaults.Cooldown;
        public SkillAutonomy? Autonomy { get; set; }
        public YamlNode? AutonomyNode { get; set; }
        public Dictionary<string, string> Parameters { get; } = new(StringComparer.Ordinal);
    }

    private Header ReadFrontMatter(string frontText, int frontBase)
    {
        var header = new Header();
        if (LoadYaml(frontText, frontBase, "front matter") is not { } root)
        {
            return header;
        }

        if (root is not YamlMappingNode map)
        {
            Error(At(root, frontBase), SkillDiagnosticCodes.BadYaml, "the front matter must be a mapping (name: ..., description: ...)");
            return header;
        }

        foreach (var (keyNode, value) in map.Children)
        {
            var key = KeyName(keyNode, frontBase);
            switch (key)
            {
                case null:
                    break;
                case "name":
                    header.Name = ReadName(value, frontBase);
                    break;
                case "description":
                    header.Description = RequireText(value, frontBase, "description");
                    break;
                case "triggers":
                    header.Triggers = ReadTriggers(value, frontBase);
                    break;
                case "actions":
                    foreach (var (pattern, at) in ReadTextList(value, frontBase, "actions"))
                    {
                        if (!vocabulary.ActionClasses.Any(c => SkillActionClasses.Matches(pattern, c)))
                        {
                            Error(at, SkillDiagnosticCodes.UnknownAction,
                                $"unknown action class '{pattern}' (known: {string.Join(", ", vocabulary.ActionClasses.Order(StringComparer.Ordinal))})");
                        }

                        header.Actions.Add((pattern, at));
                    }

                    break;
                case "cooldown":
                    header.Cooldown = ReadDuration(value, frontBase, "cooldown") ?? header.Cooldown;
                    break;
                case "autonomy":
                    header.AutonomyNode = value;
                    header.Autonomy = ReadAutonomy(value, frontBase);
                    break;
                case "parameters":
                    ReadParameters(value, frontBase, header.Parameters);
                    break;
                default:
                    Error(At(keyNode, frontBase), SkillDiagnosticCodes.UnknownKey,
                        $"unknown front-matter key '{key}' (allowed: {string.Join(", ", FrontMatterKeys)})");
                    break;
            }
        }

        if (header.Name is null && !HasKey(map, "name"))
        {
            Error(0, SkillDiagnosticCodes.MissingKey, "the front matter needs 'name:' (the file name without .md)");
        }

        if (header.Description is null && !HasKey(map, "description"))
        {
            Error(0, SkillDiagnosticCodes.MissingKey, "the front matter needs 'description:' (one line: what the skill restores)");
        }

        if (header.Autonomy is { } autonomy && header.AutonomyNode is { } node)
        {
            foreach (var cls in autonomy.Classes.Keys)
            {
                if (!header.Actions.Any(a => SkillActionClasses.Matches(a.Pattern, cls) || SkillActionClasses.Matches(cls, a.Pattern)))
                {
                    Error(At(node, frontBase), SkillDiagnosticCodes.ActionNotDeclared,
                        $"autonomy names '{cls}', which is not in this skill's actions");
                }
            }
        }

        return header;
    }

    private static bool HasKey(YamlMappingNode map, string key) =>
        map.Children.Keys.OfType<YamlScalarNode>().Any(k => string.Equals(k.Value, key, StringComparison.Ordinal));

    private string? ReadName(YamlNode node, int b)
    {
        var name = RequireText(node, b, "name");
        if (name is null)
        {
            return null;
        }

        if (!SkillNamePattern().IsMatch(name))
        {
            Error(At(node, b), SkillDiagnosticCodes.BadName, $"skill name '{name}' must be lower-case letters, digits and '-'");
            return null;
        }

        var stem = Path.GetFileNameWithoutExtension(file);
        if (!string.IsNullOrEmpty(stem) && !string.Equals(stem, name, StringComparison.Ordinal))
        {
            Error(At(node, b), SkillDiagnosticCodes.BadName, $"skill name '{name}' does not match its file name '{Path.GetFileName(file)}'");
        }

        return name;
    }

    private SkillTriggers ReadTriggers(YamlNode node, int b)
    {
        if (node is not YamlMappingNode map)
        {
            Error(At(node, b), SkillDiagnosticCodes.BadValue, "triggers must be a mapping with findings:, schedules: and/or alerts: lists");
            return SkillTriggers.None;
        }

        var findings = new List<string>();
        var schedules = new List<SkillSchedule>();
        var alerts = new List<string>();
        foreach (var (keyNode, value) in map.Children)
        {
            switch (KeyName(keyNode, b))
            {
                case null:
                    break;
                case "findings":
                    foreach (var (code, at) in ReadTextList(value, b, "triggers.findings"))
                    {
                        if (!vocabulary.FindingCodes.Contains(code))
                        {
                            Error(at, SkillDiagnosticCodes.UnknownFinding,
                                $"unknown finding code '{code}' (known: {string.Join(", ", vocabulary.FindingCodes.Order(StringComparer.Ordinal))})");
                        }

                        findings.Add(code);
                    }

                    break;
                case "schedules":
                    foreach (var (cron, at) in ReadTextList(value, b, "triggers.schedules"))
                    {
                        if (ParseCron(cron, at) is { } schedule)
                        {
                            schedules.Add(schedule);
                        }
                    }

                    break;
                case "alerts":
                    foreach (var (alert, at) in ReadTextList(value, b, "triggers.alerts"))
                    {
                        if (!AlertNamePattern().IsMatch(alert))
                        {
                            Error(at, SkillDiagnosticCodes.BadValue, $"'{alert}' is not an alert name (Prometheus alertname: letters, digits, '_')");
                        }

                        alerts.Add(alert);
                    }

                    break;
                case var other:
                    Error(At(keyNode, b), SkillDiagnosticCodes.UnknownKey,
                        $"unknown trigger kind '{other}' (allowed: {string.Join(", ", TriggerKeys)})");
                    break;
            }
        }

        return new SkillTriggers(findings, schedules, alerts);
    }

    private SkillSchedule? ParseCron(string expression, int at)
    {
        var fields = expression.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        var format = fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard;
        try
        {
            var cron = CronExpression.Parse(expression, format);
            if (cron.GetNextOccurrence(new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero), TimeZoneInfo.Utc) is null)
            {
                Error(at, SkillDiagnosticCodes.BadCron, $"cron schedule '{expression}' never fires");
                return null;
            }

            return new SkillSchedule(expression) { Cron = cron };
        }
        catch (MissingSeedException)
        {
            // Cronos reads H (a hashed value, as Jenkins has it) only with a seed the agent does not give.
            Error(at, SkillDiagnosticCodes.BadCron,
                $"bad cron schedule '{expression}': H (a hashed value) is not supported; write the minute and hour (5 fields: minute hour day-of-month month day-of-week, in UTC)");
            return null;
        }
        catch (CronFormatException ex)
        {
            var detail = ex.Message.Replace("The given cron expression has an invalid format. ", "", StringComparison.Ordinal);
            Error(at, SkillDiagnosticCodes.BadCron,
                $"bad cron schedule '{expression}': {detail.TrimEnd('.')} (5 fields: minute hour day-of-month month day-of-week, in UTC)");
            return null;
        }
    }

    private SkillAutonomy? ReadAutonomy(YamlNode node, int b)
    {
        if (node is YamlScalarNode)
        {
            return ReadLevel(node, b) is { } level ? new SkillAutonomy(level, new Dictionary<string, int>()) : null;
        }

        if (node is not YamlMappingNode map)
        {
            Error(At(node, b), SkillDiagnosticCodes.BadValue, "autonomy is a level 0-5, or a mapping of action class to level");
            return null;
        }

        var classes = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in map.Children)
        {
            if (KeyName(keyNode, b) is not { } cls)
            {
                continue;
            }

            if (!vocabulary.ActionClasses.Any(c => SkillActionClasses.Matches(cls, c)))
            {
                Error(At(keyNode, b), SkillDiagnosticCodes.UnknownAction, $"unknown action class '{cls}' in autonomy");
                continue;
            }

            if (ReadLevel(value, b) is { } level)
            {
                classes[cls] = level;
            }
        }

        return new SkillAutonomy(null, classes);
    }

    private int? ReadLevel(YamlNode node, int b)
    {
        if (node is YamlScalarNode { Value: { } value } && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var level) && level is >= 0 and <= 5)
        {
            return level;
        }

        Error(At(node, b), SkillDiagnosticCodes.BadValue, "an autonomy level is a whole number from 0 (observe) to 5 (full)");
        return null;
    }

    private void ReadParameters(YamlNode node, int b, Dictionary<string, string> parameters)
    {
        if (node is not YamlMappingNode map)
        {
            Error(At(node, b), SkillDiagnosticCodes.BadValue, "parameters is a mapping of parameter name to its description");
            return;
        }

        foreach (var (keyNode, value) in map.Children)
        {
            if (KeyName(keyNode, b) is not { } name)
            {
                continue;
            }

            if (!IdentifierPattern().IsMatch(name))
            {
                Error(At(keyNode, b), SkillDiagnosticCodes.BadName, $"parameter name '{name}' must be an identifier (letters, digits, '_')");
                continue;
            }

            parameters[name] = RequireText(value, b, $"parameters.{name}") ?? "";
        }
    }

    // ---------------------------------------------------------------- steps

    private (string Text, int Base)? FindStepsBlock(int bodyStart)
    {
        (string Text, int Base)? found = null;
        var line = LineIndexOf(bodyStart);
        while (line < lineStarts.Count)
        {
            var (content, start) = LineAt(line);
            if (OpeningFence(content) is not { } fence)
            {
                line++;
                continue;
            }

            var info = content.TrimStart()[fence.Length..].Trim();
            var isSteps = string.Equals(info, "yaml steps", StringComparison.OrdinalIgnoreCase)
                || string.Equals(info, "steps", StringComparison.OrdinalIgnoreCase);
            var contentLine = line + 1;
            var close = contentLine;
            while (close < lineStarts.Count && !IsClosingFence(LineAt(close).Content, fence))
            {
                close++;
            }

            if (isSteps)
            {
                var fenceAt = start + (content.Length - content.TrimStart().Length);
                if (close >= lineStarts.Count)
                {
                    Error(fenceAt, SkillDiagnosticCodes.BadFile, $"the steps block opened here is not closed with {fence}");
                    return found;
                }

                if (found is not null)
                {
                    Error(fenceAt, SkillDiagnosticCodes.BadFile, "a skill has one steps block; merge this one into the first");
                }
                else
                {
                    var from = contentLine < lineStarts.Count ? lineStarts[contentLine] : text.Length;
                    found = (text[from..lineStarts[close]], from);
                }
            }

            line = close + 1;
        }

        return found;
    }

    private static string? OpeningFence(string line)
    {
        var trimmed = line.TrimStart(' ');
        if (line.Length - trimmed.Length > 3 || trimmed.Length < 3 || (trimmed[0] != '`' && trimmed[0] != '~'))
        {
            return null;
        }

        var length = 0;
        while (length < trimmed.Length && trimmed[length] == trimmed[0])
        {
            length++;
        }

        if (length < 3 || (trimmed[0] == '`' && trimmed[length..].Contains('`', StringComparison.Ordinal)))
        {
            return null;
        }

        return trimmed[..length];
    }

    private static bool IsClosingFence(string line, string fence)
    {
        var trimmed = line.Trim();
        return trimmed.Length >= fence.Length && trimmed.All(c => c == fence[0]);
    }

    private List<SkillStep> ReadSteps(string blockText, int b)
    {
        var steps = new List<SkillStep>();
        if (LoadYaml(blockText, b, "steps block") is not { } root)
        {
            return steps;
        }

        if (root is not YamlSequenceNode sequence)
        {
            Error(At(root, b), SkillDiagnosticCodes.BadYaml, "the steps block must be a YAML list of steps ('- id: ...')");
            return steps;
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in sequence.Children)
        {
            if (item is not YamlMappingNode map)
            {
                Error(At(item, b), SkillDiagnosticCodes.BadStep, "each step is a mapping: '- id: name' followed by one of check, wait, action, verify, record");
                continue;
            }

            if (ReadStep(map, b) is { } step)
            {
                if (!ids.Add(step.Id))
                {
                    Error(At(map, b), SkillDiagnosticCodes.DuplicateStep, $"step id '{step.Id}' is used twice");
                    continue;
                }

                steps.Add(step);
            }
        }

        return steps;
    }

    private SkillStep? ReadStep(YamlMappingNode map, int b)
    {
        var entries = new Dictionary<string, (YamlNode Key, YamlNode Value)>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in map.Children)
        {
            if (KeyName(keyNode, b) is { } key)
            {
                entries[key] = (keyNode, value);
            }
        }

        var kinds = entries.Keys.Where(KindKeys.ContainsKey).ToList();
        var id = entries.TryGetValue("id", out var idEntry) ? ReadStepId(idEntry.Value, b) : null;
        if (!entries.ContainsKey("id"))
        {
            Error(At(map, b), SkillDiagnosticCodes.MissingKey, "a step needs an 'id:' (lower_snake_case, unique in the skill)");
        }

        var label = id is null ? "this step" : $"step '{id}'";
        if (kinds.Count == 0)
        {
            Error(At(map, b), SkillDiagnosticCodes.BadStep, $"{label} needs one of: check, wait, action, verify, record, investigate");
            return null;
        }

        if (kinds.Count > 1)
        {
            Error(At(entries[kinds[1]].Key, b), SkillDiagnosticCodes.BadStep,
                $"{label} has both '{kinds[0]}' and '{kinds[1]}': split it into two steps");
            return null;
        }

        var kindKey = kinds[0];
        var kind = KindKeys[kindKey];
        var allowed = new HashSet<string>(CommonStepKeys.Concat(KindExtraKeys[kind]).Append(kindKey), StringComparer.Ordinal);
        if (kind == SkillStepKind.Record)
        {
            allowed.Remove("on_fail");
        }

        foreach (var (key, (keyNode, _)) in entries)
        {
            if (allowed.Contains(key))
            {
                continue;
            }

            var owner = KindExtraKeys.Where(k => k.Value.Contains(key)).Select(k => k.Key.ToString().ToLowerInvariant()).ToList();
            var message = owner.Count > 0 || CommonStepKeys.Contains(key)
                ? $"'{key}' is not valid on {("aeiou".Contains(kindKey[0], StringComparison.Ordinal) ? "an" : "a")} {kindKey} step" + (owner.Count > 0 ? $" (it belongs to {string.Join(" and ", owner)} steps)" : "")
                : $"unknown step key '{key}' (a {kindKey} step takes: {string.Join(", ", allowed.Order(StringComparer.Ordinal))})";
            Error(At(keyNode, b), SkillDiagnosticCodes.UnknownKey, message);
        }

        YamlNode? Get(string key) => entries.TryGetValue(key, out var e) ? e.Value : null;
        string? Target(string key)
        {
            if (Get(key) is not { } node || !allowed.Contains(key))
            {
                return null;
            }

            var value = RequireText(node, b, key);
            if (value is not null)
            {
                targets.Add((value, At(node, b)));
                if (id is not null && string.Equals(value, id, StringComparison.Ordinal))
                {
                    // A step that jumps to itself runs again at once, forever: nothing between the runs can change.
                    Error(At(node, b), SkillDiagnosticCodes.BadStep,
                        $"{label} jumps to itself with '{key}: {value}' (a loop that never ends): point it at another step, end or fail; to poll, use a wait step with a timeout");
                }
            }

            return value;
        }

        var kindNode = entries[kindKey].Value;
        var step = new SkillStep
        {
            Id = id ?? "",
            Kind = kind,
            Location = Pos(At(map, b)),
            Title = Get("title") is { } t ? RequireText(t, b, "title") : null,
            When = Get("when") is { } w ? ReadExpression(w, b, "when") : null,
            Next = Target("next"),
            OnFail = Target("on_fail"),
            Then = Target("then"),
            Else = Target("else"),
        };

        if (step.Then is not null && step.Next is not null)
        {
            Error(At(entries["next"].Key, b), SkillDiagnosticCodes.BadStep, $"{label} has both 'then' and 'next': keep one");
        }

        if (step.Else is not null && step.OnFail is not null)
        {
            Error(At(entries["on_fail"].Key, b), SkillDiagnosticCodes.BadStep, $"{label} has both 'else' and 'on_fail': keep one");
        }

        TimeSpan? Duration(string key) =>
            Get(key) is { } node && allowed.Contains(key) ? ReadDuration(node, b, key) : null;

        switch (kind)
        {
            case SkillStepKind.Check:
                step = step with { Condition = ReadExpression(kindNode, b, "check") };
                break;
            case SkillStepKind.Wait:
            case SkillStepKind.Verify:
                step = step with
                {
                    Condition = ReadExpression(kindNode, b, kindKey),
                    Timeout = Duration("timeout"),
                    Interval = Duration("interval"),
                };
                if (kind == SkillStepKind.Wait && Get("timeout") is null)
                {
                    Error(At(entries[kindKey].Key, b), SkillDiagnosticCodes.MissingKey, $"{label}: a wait step needs 'timeout:' (for example 30s)");
                }

                if (step.Interval is { } interval && interval <= TimeSpan.Zero)
                {
                    Error(At(entries["interval"].Value, b), SkillDiagnosticCodes.BadDuration, "interval must be longer than 0");
                }

                break;
            case SkillStepKind.Action:
                var actionClass = RequireText(kindNode, b, "action");
                if (actionClass is not null)
                {
                    stepActions.Add((actionClass, At(kindNode, b)));
                    CheckActionParameters(actionClass, kindNode, Get("with"), b);
                }

                step = step with
                {
                    ActionClass = actionClass,
                    With = Get("with") is { } with ? ReadWith(with, b) : null,
                    Reason = Get("reason") is { } reason ? ReadTemplate(reason, b, "reason") : null,
                    Timeout = Duration("timeout"),
                };
                break;
            case SkillStepKind.Investigate:
                step = step with
                {
                    Text = ReadTemplate(kindNode, b, "investigate"),
                    Timeout = Duration("timeout"),
                };
                break;
            case SkillStepKind.Record:
                var recordKind = Get("kind") is { } k ? RequireText(k, b, "kind") : SkillRecordKinds.Note;
                if (recordKind is not null && !SkillRecordKinds.All.Contains(recordKind))
                {
                    Error(At(Get("kind")!, b), SkillDiagnosticCodes.BadValue,
                        $"record kind '{recordKind}' is not one of: {string.Join(", ", SkillRecordKinds.All)}");
                }

                step = step with
                {
                    Text = ReadTemplate(kindNode, b, "record"),
                    RecordKind = recordKind ?? SkillRecordKinds.Note,
                    Data = Get("data") is { } data ? ReadValue(data, b) : null,
                };
                break;
        }

        return id is null ? null : step;
    }

    private string? ReadStepId(YamlNode node, int b)
    {
        var id = RequireText(node, b, "id");
        if (id is null)
        {
            return null;
        }

        if (!StepIdPattern().IsMatch(id))
        {
            Error(At(node, b), SkillDiagnosticCodes.BadName,
                $"step id '{id}' must be lower_snake_case (a-z, 0-9, '_'), so expressions can say $steps.{id.Replace('-', '_')}");
            return null;
        }

        if (SkillTargets.IsReserved(id))
        {
            Error(At(node, b), SkillDiagnosticCodes.BadName, $"step id '{id}' is reserved (end and fail are jump targets)");
            return null;
        }

        return id;
    }

    /// <summary>
    /// Checks a step's <c>with:</c> against its action's descriptor: every name is a parameter (or <c>member</c>, or
    /// informative), the required ones are there, and a literal value (not a <c>{{ expression }}</c>) has the
    /// parameter's type and one of its allowed values.
    /// </summary>
    private void CheckActionParameters(string actionClass, YamlNode actionNode, YamlNode? withNode, int b)
    {
        if (!vocabulary.Actions.TryGetValue(actionClass, out var action))
        {
            return;
        }

        var given = new HashSet<string>(StringComparer.Ordinal);
        IEnumerable<KeyValuePair<YamlNode, YamlNode>> pairs = withNode is YamlMappingNode map ? map.Children : [];
        foreach (var (keyNode, valueNode) in pairs)
        {
            if (keyNode is not YamlScalarNode { Value: { } name })
            {
                continue;
            }

            given.Add(name);
            if (name == "member")
            {
                if (action.Member == MemberUse.None)
                {
                    Error(At(keyNode, b), SkillDiagnosticCodes.UnknownParameter, $"{actionClass} acts on the cluster as a whole: it takes no member");
                }

                continue;
            }

            if (action.Informative.Contains(name, StringComparer.Ordinal))
            {
                continue;
            }

            if (action.FindParameter(name) is not { } spec)
            {
                Error(At(keyNode, b), SkillDiagnosticCodes.UnknownParameter,
                    $"{actionClass} takes no parameter '{name}' ({action.DescribeParameters()}{(action.Member == MemberUse.None ? "" : ", member")})");
            }
            else if (LiteralParameter(valueNode) is { } literal && spec.Check(literal) is { } problem)
            {
                Error(At(valueNode, b), SkillDiagnosticCodes.BadValue, $"{actionClass}: {problem}");
            }
        }

        foreach (var spec in action.Parameters.Where(p => p.Required && !given.Contains(p.Name)))
        {
            Error(At(actionNode, b), SkillDiagnosticCodes.MissingKey, $"{actionClass} needs '{spec.Name}' under with: ({spec.Description})");
        }

        if (action.Member == MemberUse.Required && !given.Contains("member"))
        {
            Error(At(actionNode, b), SkillDiagnosticCodes.MissingKey, $"{actionClass} needs 'member' under with: (the member it acts on)");
        }
    }

    /// <summary>A scalar's value as the action receives it (YAML's true, numbers and null read as the skill host passes them); null for an expression, a null or a structure.</summary>
    private static string? LiteralParameter(YamlNode node)
    {
        if (node is not YamlScalarNode scalar || (scalar.Value ?? "").Contains("{{", StringComparison.Ordinal))
        {
            return null;
        }

        var raw = scalar.Value ?? "";
        if (scalar.Style == ScalarStyle.Plain && scalar.Tag.IsEmpty && PlainLiteral(raw) is { } literal)
        {
            return literal == "null" ? null : literal;
        }

        return raw;
    }

    private SkillValue? ReadWith(YamlNode node, int b)
    {
        if (node is not YamlMappingNode)
        {
            Error(At(node, b), SkillDiagnosticCodes.BadValue, "'with' is a mapping of action parameters (name: value)");
            return null;
        }

        return ReadValue(node, b);
    }

    private SkillValue? ReadValue(YamlNode node, int b)
    {
        switch (node)
        {
            case YamlMappingNode map:
                if (map.Style == YamlDotNet.Core.Events.MappingStyle.Flow && map.Children.Keys.Any(k => k is YamlMappingNode))
                {
                    Error(At(map, b), SkillDiagnosticCodes.BadTemplate,
                        "YAML read '{{ ... }}' as a mapping: put quotes around a value that starts with {{");
                    return null;
                }

                var members = new List<KeyValuePair<string, SkillValue>>();
                foreach (var (keyNode, child) in map.Children)
                {
                    if (KeyName(keyNode, b) is { } key && ReadValue(child, b) is { } parsed)
                    {
                        members.Add(new(key, parsed));
                    }
                }

                return new SkillObjectValue(members);
            case YamlSequenceNode sequence:
                var items = new List<SkillValue>();
                foreach (var child in sequence.Children)
                {
                    if (ReadValue(child, b) is { } parsed)
                    {
                        items.Add(parsed);
                    }
                }

                return new SkillArrayValue(items);
            case YamlScalarNode scalar:
                var raw = scalar.Value ?? "";
                if (scalar.Style == ScalarStyle.Plain && scalar.Tag.IsEmpty && PlainLiteral(raw) is { } literal)
                {
                    return new SkillLiteralValue(literal);
                }

                if (raw.Contains("{{", StringComparison.Ordinal))
                {
                    return ReadTemplate(scalar, b, "value") is { } template ? new SkillTemplateValue(template) : null;
                }

                return new SkillLiteralValue(JsonSerializer.Serialize(raw));
            default:
                Error(At(node, b), SkillDiagnosticCodes.BadValue, "unsupported YAML value");
                return null;
        }
    }

    /// <summary>YAML 1.2 core schema scalars that are not strings, as JSON.</summary>
    private static string? PlainLiteral(string value)
    {
        switch (value)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return "null";
            case "true" or "True" or "TRUE":
                return "true";
            case "false" or "False" or "FALSE":
                return "false";
        }

        if (IntegerPattern().IsMatch(value) && long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            return integer.ToString(CultureInfo.InvariantCulture);
        }

        if (FloatPattern().IsMatch(value) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
        {
            return number.ToString("R", CultureInfo.InvariantCulture);
        }

        return null;
    }

    private SkillExpression? ReadExpression(YamlNode node, int b, string field)
    {
        if (node is not YamlScalarNode scalar)
        {
            Error(At(node, b), SkillDiagnosticCodes.BadValue,
                $"'{field}' is a JMESPath expression; YAML read a {(node is YamlMappingNode ? "mapping" : "list")} here: put the expression in double quotes");
            return null;
        }

        if (!scalar.Tag.IsEmpty && scalar.Style == ScalarStyle.Plain)
        {
            Error(At(node, b), SkillDiagnosticCodes.BadValue,
                $"YAML read '{field}' as a tagged value ({scalar.Tag.Value}): put an expression that starts with '!' in double quotes");
            return null;
        }

        var value = scalar.Value ?? "";
        var map = OffsetMap(scalar, b);
        var expression = value.Trim();
        var lead = value.Length - value.TrimStart().Length;
        if (!CheckJmesPath(expression, o => map(lead + o)))
        {
            return null;
        }

        return new SkillExpression(expression, Pos(map(lead)));
    }

    private SkillTemplate? ReadTemplate(YamlNode node, int b, string field)
    {
        if (node is not YamlScalarNode scalar)
        {
            Error(At(node, b), SkillDiagnosticCodes.BadValue,
                $"'{field}' is text (with {{{{ expr }}}} holes); YAML read a {(node is YamlMappingNode ? "mapping" : "list")}: put it in double quotes");
            return null;
        }

        var value = scalar.Value ?? "";
        var map = OffsetMap(scalar, b);
        var parts = new List<SkillTemplatePart>();
        var position = 0;
        var ok = true;
        while (position < value.Length)
        {
            var open = value.IndexOf("{{", position, StringComparison.Ordinal);
            if (open < 0)
            {
                parts.Add(new SkillTemplatePart(value[position..], null));
                break;
            }

            if (open > position)
            {
                parts.Add(new SkillTemplatePart(value[position..open], null));
            }

            var close = value.IndexOf("}}", open + 2, StringComparison.Ordinal);
            if (close < 0)
            {
                Error(map(open), SkillDiagnosticCodes.BadTemplate, "'{{' is not closed with '}}'");
                return null;
            }

            var inner = value[(open + 2)..close];
            var lead = inner.Length - inner.TrimStart().Length;
            var expressionText = inner.Trim();
            var start = open + 2 + lead;
            if (expressionText.Length == 0)
            {
                Error(map(open), SkillDiagnosticCodes.BadTemplate, "'{{ }}' holds no expression");
                ok = false;
            }
            else if (CheckJmesPath(expressionText, o => map(start + o)))
            {
                parts.Add(new SkillTemplatePart(null, new SkillExpression(expressionText, Pos(map(start)))));
            }
            else
            {
                ok = false;
            }

            position = close + 2;
        }

        return ok ? new SkillTemplate(value, parts) : null;
    }

    private bool CheckJmesPath(string expression, Func<int, int> map)
    {
        if (SkillJmesPath.Validate(expression) is { } problem)
        {
            Error(map(problem.Offset), SkillDiagnosticCodes.BadJmesPath, problem.Message);
            return false;
        }

        expressions.Add((expression, map));
        return true;
    }

    // ---------------------------------------------------------------- cross references

    private void CheckCrossReferences(List<SkillStep> steps, Header header)
    {
        var ids = steps.Select(s => s.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var (target, at) in targets)
        {
            if (!ids.Contains(target) && !SkillTargets.IsReserved(target))
            {
                Error(at, SkillDiagnosticCodes.UnknownStep,
                    $"no step with id '{target}' (steps: {string.Join(", ", steps.Select(s => s.Id))}; or end, fail)");
            }
        }

        foreach (var (expression, map) in expressions)
        {
            CheckVariables(expression, map, ids, header.Parameters);
        }

        foreach (var (actionClass, at) in stepActions)
        {
            if (!vocabulary.ActionClasses.Contains(actionClass))
            {
                Error(at, SkillDiagnosticCodes.UnknownAction,
                    $"unknown action class '{actionClass}' (known: {string.Join(", ", vocabulary.ActionClasses.Order(StringComparer.Ordinal))})");
            }
            else if (!header.Actions.Any(a => SkillActionClasses.Matches(a.Pattern, actionClass)))
            {
                Error(at, SkillDiagnosticCodes.ActionNotDeclared,
                    $"action '{actionClass}' is not declared in the front matter's actions: add it there so policy reviews see it");
            }
        }

        CheckReachability(steps);
    }

    private void CheckVariables(string expression, Func<int, int> map, HashSet<string> stepIds, IReadOnlyDictionary<string, string> parameters)
    {
        var masked = MaskLiterals(expression);
        var declared = LetBinding().Matches(masked).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        foreach (Match match in VariableReference().Matches(masked))
        {
            var name = match.Groups[1].Value;
            var member = match.Groups[2].Success ? match.Groups[2].Value : null;
            if (declared.Contains(name))
            {
                continue;
            }

            if (!SkillJmesPath.Variables.Contains(name))
            {
                Error(map(match.Index), SkillDiagnosticCodes.UnknownVariable,
                    $"unknown variable '${name}' (the runner binds {string.Join(", ", SkillJmesPath.Variables.Select(v => "$" + v))})");
            }
            else if (name == "steps" && member is not null && !stepIds.Contains(member))
            {
                Error(map(match.Groups[2].Index), SkillDiagnosticCodes.UnknownStep, $"'$steps.{member}' refers to no step of this skill");
            }
            else if (name == "params" && member is not null && !parameters.ContainsKey(member))
            {
                Error(map(match.Groups[2].Index), SkillDiagnosticCodes.UnknownParameter,
                    $"'$params.{member}' is not declared under the front matter's parameters:");
            }
        }
    }

    /// <summary>Blanks out raw strings, JSON literals and quoted identifiers, keeping every offset.</summary>
    private static string MaskLiterals(string expression)
    {
        var chars = expression.ToCharArray();
        var i = 0;
        while (i < chars.Length)
        {
            var quote = chars[i];
            if (quote is not ('\'' or '`' or '"'))
            {
                i++;
                continue;
            }

            i++;
            while (i < chars.Length && chars[i] != quote)
            {
                if (chars[i] == '\\' && i + 1 < chars.Length)
                {
                    chars[i] = ' ';
                    i++;
                }

                chars[i] = ' ';
                i++;
            }

            i++;
        }

        return new string(chars);
    }

    private void CheckReachability(List<SkillStep> steps)
    {
        if (steps.Count == 0)
        {
            return;
        }

        var index = steps.Select((s, i) => (s.Id, i)).ToDictionary(p => p.Id, p => p.i, StringComparer.Ordinal);
        var seen = new HashSet<int>();
        var queue = new Queue<int>([0]);
        while (queue.TryDequeue(out var i))
        {
            if (i >= steps.Count || !seen.Add(i))
            {
                continue;
            }

            var step = steps[i];
            foreach (var target in new[] { step.Then, step.Else, step.Next, step.OnFail })
            {
                if (target is not null && index.TryGetValue(target, out var j))
                {
                    queue.Enqueue(j);
                }
            }

            if (step.When is not null || (step.Next is null && step.Then is null))
            {
                queue.Enqueue(i + 1);
            }
        }

        for (var i = 0; i < steps.Count; i++)
        {
            if (!seen.Contains(i))
            {
                var loc = steps[i].Location;
                diagnostics.Add(new SkillDiagnostic(file, loc.Line, loc.Column, SkillDiagnosticSeverity.Warning, SkillDiagnosticCodes.UnreachableStep,
                    $"step '{steps[i].Id}' can never run: no step jumps to it and the step before it never falls through"));
            }
        }
    }

    // ---------------------------------------------------------------- YAML and positions

    /// <summary>
    /// Reads embedded YAML (front matter, steps block) starting at offset <paramref name="b"/>, the start of a line,
    /// through the one YAML loader (<see cref="YamlFile"/>, with its limits); its problems keep the .md file's lines.
    /// Skills are strict: every problem the loader reports, a second document included, is an error.
    /// </summary>
    private YamlNode? LoadYaml(string yaml, int b, string what)
    {
        var problems = new List<YamlProblem>();
        var start = Pos(b);
        var loaded = YamlFile.Parse(yaml, file, file, problems, start.Line);
        foreach (var problem in problems)
        {
            var hint = string.IsNullOrEmpty(problem.Hint) ? "" : $" ({problem.Hint})";
            var line = problem.Line > 0 ? (int)problem.Line : start.Line;
            var column = problem.Column > 0 ? (int)problem.Column : start.Column;
            diagnostics.Add(new SkillDiagnostic(file, line, column, SkillDiagnosticSeverity.Error, SkillDiagnosticCodes.BadYaml, $"{what}: {problem.Message}{hint}"));
        }

        if (loaded.Root is null && problems.Count == 0)
        {
            Error(b, SkillDiagnosticCodes.BadYaml, $"the {what} is empty");
        }

        return loaded.Root; // null after every problem but a second document, which is reported above
    }

    private string? KeyName(YamlNode keyNode, int b)
    {
        if (keyNode is YamlScalarNode { Value: { } key })
        {
            return key;
        }

        Error(At(keyNode, b), SkillDiagnosticCodes.BadYaml, "a key must be plain text");
        return null;
    }

    private string? RequireText(YamlNode node, int b, string what)
    {
        if (node is YamlScalarNode { Value: { } value } && value.Trim().Length > 0)
        {
            return value.Trim();
        }

        Error(At(node, b), SkillDiagnosticCodes.BadValue,
            node is YamlScalarNode ? $"'{what}' is empty" : $"'{what}' must be text, not a {(node is YamlMappingNode ? "mapping" : "list")}");
        return null;
    }

    private List<(string Value, int At)> ReadTextList(YamlNode node, int b, string what)
    {
        var list = new List<(string, int)>();
        if (node is not YamlSequenceNode sequence)
        {
            Error(At(node, b), SkillDiagnosticCodes.BadValue, $"'{what}' must be a list, for example [a, b]");
            return list;
        }

        foreach (var child in sequence.Children)
        {
            if (RequireText(child, b, what) is { } value)
            {
                list.Add((value, At(child, b)));
            }
        }

        return list;
    }

    private TimeSpan? ReadDuration(YamlNode node, int b, string what)
    {
        var value = RequireText(node, b, what);
        if (value is null)
        {
            return null;
        }

        if (SkillDuration.TryParse(value, out var duration))
        {
            return duration;
        }

        Error(At(node, b), SkillDiagnosticCodes.BadDuration,
            $"'{what}: {value}' is not a duration: use a number with a unit, ms s m h d (30s, 10m, 1h30m)");
        return null;
    }

    /// <summary>Maps an offset in a scalar's value to an absolute offset in the file, exactly where the value appears
    /// verbatim (plain, quoted without escapes, literal blocks) and at the scalar's start otherwise.</summary>
    private Func<int, int> OffsetMap(YamlScalarNode scalar, int b)
    {
        var start = b + (int)scalar.Start.Index;
        var end = Math.Min(b + (int)scalar.End.Index, text.Length);
        var value = scalar.Value ?? "";
        if (end <= start || value.Length == 0)
        {
            return _ => start;
        }

        var region = text[start..end];
        if (!value.Contains('\n', StringComparison.Ordinal) && region.IndexOf(value, StringComparison.Ordinal) is var found and >= 0)
        {
            return o => start + found + Math.Clamp(o, 0, value.Length);
        }

        if (scalar.Style is ScalarStyle.Literal or ScalarStyle.Folded)
        {
            var firstContent = text.IndexOf('\n', start) + 1;
            var contentLine = LineIndexOf(firstContent);
            var indent = 0;
            for (var l = contentLine; l < lineStarts.Count; l++)
            {
                var line = LineAt(l).Content;
                if (line.Trim().Length > 0)
                {
                    indent = line.Length - line.TrimStart(' ').Length;
                    break;
                }
            }

            var separator = scalar.Style == ScalarStyle.Literal ? '\n' : ' ';
            return o =>
            {
                var clamped = Math.Clamp(o, 0, value.Length);
                var lineNo = 0;
                var lineStart = 0;
                for (var i = 0; i < clamped; i++)
                {
                    if (value[i] == separator && separator == '\n')
                    {
                        lineNo++;
                        lineStart = i + 1;
                    }
                }

                var fileLine = Math.Min(contentLine + lineNo, lineStarts.Count - 1);
                return lineStarts[fileLine] + indent + (clamped - lineStart);
            };
        }

        return _ => start;
    }

    private static int At(YamlNode node, int b) => b + (int)node.Start.Index;

    private int LineIndexOf(int offset)
    {
        var index = lineStarts.BinarySearch(offset);
        return index >= 0 ? index : ~index - 1;
    }

    private (string Content, int Start) LineAt(int line)
    {
        var start = lineStarts[line];
        var end = line + 1 < lineStarts.Count ? lineStarts[line + 1] - 1 : text.Length;
        return (text[start..end], start);
    }

    private SkillLocation Pos(int offset)
    {
        offset = Math.Clamp(offset, 0, text.Length);
        var line = LineIndexOf(offset);
        return new SkillLocation(line + 1, offset - lineStarts[line] + 1);
    }

    private void Error(int offset, string code, string message) => Add(offset, SkillDiagnosticSeverity.Error, code, message);

    private void Warning(int offset, string code, string message) => Add(offset, SkillDiagnosticSeverity.Warning, code, message);

    private void Add(int offset, SkillDiagnosticSeverity severity, string code, string message)
    {
        var pos = Pos(offset);
        diagnostics.Add(new SkillDiagnostic(file, pos.Line, pos.Column, severity, code, message));
    }
}
