using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Yaml;

namespace PgRuntimeAgent.Skills;

/// <summary>
/// Every skill of a skills directory, validated together (names are unique), with the trigger lookups the daemon
/// uses. Skills with errors are left out of <see cref="Skills"/> and reported in <see cref="Diagnostics"/>.
/// </summary>
public sealed class SkillCatalog
{
    private SkillCatalog(string directory, IReadOnlyList<Skill> skills, IReadOnlyList<SkillDiagnostic> diagnostics, int files)
    {
        Directory = directory;
        Skills = skills;
        Diagnostics = diagnostics;
        FileCount = files;
    }

    public string Directory { get; }

    /// <summary>Valid skills, ordered by name.</summary>
    public IReadOnlyList<Skill> Skills { get; }

    public IReadOnlyList<SkillDiagnostic> Diagnostics { get; }

    /// <summary>How many .md files were read.</summary>
    public int FileCount { get; }

    public bool HasErrors => Diagnostics.Any(d => d.IsError);

    /// <summary>Reads every <c>*.md</c> directly under <paramref name="directory"/> (README.md excepted).</summary>
    /// <param name="displayBase">Diagnostics name files relative to this directory (for example the current one).</param>
    public static SkillCatalog Load(string directory, SkillVocabulary? vocabulary = null, string? displayBase = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!System.IO.Directory.Exists(directory))
        {
            throw new InputException($"skills directory not found: {directory}");
        }

        var files = System.IO.Directory.EnumerateFiles(directory, "*.md")
            .Where(f => !string.Equals(Path.GetFileName(f), "README.md", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .ToList();
        return FromFiles(directory, files, vocabulary, displayBase);
    }

    /// <summary>Reads the given skill files as one set.</summary>
    public static SkillCatalog FromFiles(string directory, IReadOnlyList<string> files, SkillVocabulary? vocabulary = null, string? displayBase = null)
    {
        ArgumentNullException.ThrowIfNull(files);
        var skills = new List<Skill>();
        var diagnostics = new List<SkillDiagnostic>();
        var byName = new Dictionary<string, Skill>(StringComparer.Ordinal);
        foreach (var path in files)
        {
            var display = Display(path, displayBase);
            string content;
            try
            {
                if (YamlLimits.ReadBounded(path, out var read) is not { } bounded)
                {
                    diagnostics.Add(new SkillDiagnostic(display, 1, 1, SkillDiagnosticSeverity.Error, SkillDiagnosticCodes.BadFile, YamlLimits.TooLargeMessage(read)));
                    continue;
                }

                content = bounded;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                diagnostics.Add(new SkillDiagnostic(display, 1, 1, SkillDiagnosticSeverity.Error, SkillDiagnosticCodes.BadFile, $"cannot read: {ex.Message}"));
                continue;
            }

            var result = SkillParser.Parse(display, content, vocabulary);
            diagnostics.AddRange(result.Diagnostics);
            if (result.Skill is not { } skill)
            {
                continue;
            }

            if (byName.TryGetValue(skill.Name, out var first))
            {
                diagnostics.Add(new SkillDiagnostic(display, 1, 1, SkillDiagnosticSeverity.Error, SkillDiagnosticCodes.DuplicateSkill,
                    $"skill '{skill.Name}' is also defined in {first.FilePath}"));
                continue;
            }

            byName[skill.Name] = skill;
            skills.Add(skill);
        }

        return new SkillCatalog(directory, skills.OrderBy(s => s.Name, StringComparer.Ordinal).ToList(), diagnostics, files.Count);
    }

    private static string Display(string path, string? displayBase)
    {
        if (displayBase is null)
        {
            return path;
        }

        var relative = Path.GetRelativePath(displayBase, Path.GetFullPath(path));
        return relative.StartsWith("..", StringComparison.Ordinal) ? Path.GetFullPath(path) : relative;
    }

    public Skill? Find(string name) => Skills.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.Ordinal));

    /// <summary>Skills a finding code triggers, by name.</summary>
    public IReadOnlyList<Skill> ForFinding(string code) =>
        Skills.Where(s => s.Triggers.Findings.Contains(code, StringComparer.Ordinal)).ToList();

    /// <summary>Skills an alert (alertname) triggers, by name.</summary>
    public IReadOnlyList<Skill> ForAlert(string alertName) =>
        Skills.Where(s => s.Triggers.Alerts.Contains(alertName, StringComparer.Ordinal)).ToList();

    /// <summary>Skills whose schedule fires in (from, to], with the first firing time in that window.</summary>
    public IReadOnlyList<(Skill Skill, DateTimeOffset At)> DueBetween(DateTimeOffset from, DateTimeOffset to)
    {
        var due = new List<(Skill, DateTimeOffset)>();
        foreach (var skill in Skills)
        {
            var first = skill.Triggers.Schedules
                .Select(s => s.NextAfter(from))
                .Where(t => t is { } at && at <= to)
                .Min();
            if (first is { } at)
            {
                due.Add((skill, at));
            }
        }

        return due;
    }
}
