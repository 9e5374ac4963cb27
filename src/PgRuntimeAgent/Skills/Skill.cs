using System.Text.Json.Serialization;
using Cronos;

namespace PgRuntimeAgent.Skills;

/// <summary>A 1-based line and column inside a skill's .md file.</summary>
public readonly record struct SkillLocation(int Line, int Column)
{
    public override string ToString() => $"{Line}:{Column}";
}

/// <summary>
/// A validated skill: a markdown runbook under skills/ with YAML front matter (what triggers it, which action classes
/// it may use, its cooldown) and a fenced <c>yaml steps</c> block the deterministic runner executes. Immutable; the
/// runner compiles expressions per run, so one instance can serve many clusters at once.
/// </summary>
public sealed record Skill
{
    public required string Name { get; init; }

    public required string Description { get; init; }

    /// <summary>Path of the .md file as it was given to the loader.</summary>
    public required string FilePath { get; init; }

    public required SkillTriggers Triggers { get; init; }

    /// <summary>Action classes (or families such as <c>sql.*</c>) the steps may use.</summary>
    public required IReadOnlyList<string> Actions { get; init; }

    /// <summary>Minimum time between two runs of this skill on one cluster (default 10m).</summary>
    public TimeSpan Cooldown { get; init; } = SkillDefaults.Cooldown;

    /// <summary>Optional ceiling on the autonomy level of this skill's actions; null: the policy alone decides.</summary>
    public SkillAutonomy? Autonomy { get; init; }

    /// <summary>Run parameters an operator (or an alert) may pass, name to description; read as <c>$params.NAME</c>.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>();

    /// <summary>The markdown after the front matter (prose and the steps block), as an operator or an LLM reads it.</summary>
    public required string Body { get; init; }

    public required IReadOnlyList<SkillStep> Steps { get; init; }

    /// <summary>sha256 of the file's text (first 16 hex digits): which version of the skill a run used.</summary>
    public required string Digest { get; init; }

    public bool AllowsAction(string actionClass) => Actions.Any(p => SkillActionClasses.Matches(p, actionClass));

    public SkillStep? FindStep(string id) => Steps.FirstOrDefault(s => string.Equals(s.Id, id, StringComparison.Ordinal));

    /// <summary>True while a run that finished at <paramref name="lastRunAt"/> still holds this skill off the cluster.</summary>
    public bool InCooldown(DateTimeOffset? lastRunAt, DateTimeOffset now) =>
        lastRunAt is { } last && now - last < Cooldown;
}

public static class SkillDefaults
{
    public static TimeSpan Cooldown { get; } = TimeSpan.FromMinutes(10);

    public static TimeSpan PollInterval { get; } = TimeSpan.FromSeconds(2);
}

/// <summary>What starts a skill: detector findings, cron schedules (UTC), or alert names from Alertmanager.</summary>
public sealed record SkillTriggers(IReadOnlyList<string> Findings, IReadOnlyList<SkillSchedule> Schedules, IReadOnlyList<string> Alerts)
{
    public static SkillTriggers None { get; } = new([], [], []);

    public bool IsEmpty => Findings.Count == 0 && Schedules.Count == 0 && Alerts.Count == 0;
}

/// <summary>A cron schedule (Cronos: 5 fields, 6 with seconds, or a macro such as <c>@daily</c>), evaluated in UTC.</summary>
public sealed record SkillSchedule(string Expression)
{
    [JsonIgnore]
    internal CronExpression? Cron { get; init; }

    /// <summary>The next time the schedule fires strictly after <paramref name="from"/>, or null if it never does.</summary>
    public DateTimeOffset? NextAfter(DateTimeOffset from) =>
        Cron?.GetNextOccurrence(from, TimeZoneInfo.Utc, inclusive: false);
}

/// <summary>
/// A skill can make itself more cautious than the policy, never bolder: the effective autonomy level of an action
/// is min(policy level, ceiling). Raising a level is done in the policy settings only.
/// </summary>
public sealed record SkillAutonomy(int? Level, IReadOnlyDictionary<string, int> Classes)
{
    public int? CeilingFor(string actionClass)
    {
        int? perClass = null;
        foreach (var (pattern, level) in Classes)
        {
            if (SkillActionClasses.Matches(pattern, actionClass))
            {
                perClass = perClass is { } p ? Math.Min(p, level) : level;
            }
        }

        return (perClass, Level) switch
        {
            ({ } c, { } l) => Math.Min(c, l),
            ({ } c, null) => c,
            (null, var l) => l,
        };
    }
}

public enum SkillStepKind
{
    Check,
    Wait,
    Action,
    Verify,
    Record,

    /// <summary>Asks the configured language model a question with the run's evidence; its answer is recorded, never required.</summary>
    Investigate,
}

/// <summary>Reserved jump targets for <c>then</c>, <c>else</c>, <c>next</c> and <c>on_fail</c>.</summary>
public static class SkillTargets
{
    /// <summary>Stop here; the run completed.</summary>
    public const string End = "end";

    /// <summary>Stop here; the run failed.</summary>
    public const string Fail = "fail";

    public static bool IsReserved(string id) => id is End or Fail;
}

/// <summary>One machine step. Which members are set depends on <see cref="Kind"/>.</summary>
public sealed record SkillStep
{
    public required string Id { get; init; }

    public required SkillStepKind Kind { get; init; }

    public required SkillLocation Location { get; init; }

    public string? Title { get; init; }

    /// <summary>Guard: when it is falsy the step is skipped and the run goes on with the next step.</summary>
    public SkillExpression? When { get; init; }

    /// <summary>The condition of a check, wait or verify step.</summary>
    public SkillExpression? Condition { get; init; }

    public string? ActionClass { get; init; }

    /// <summary>Action parameters (literals and <c>{{ expr }}</c> templates).</summary>
    public SkillValue? With { get; init; }

    /// <summary>Why the action is taken (journaled and shown with an approval request).</summary>
    public SkillTemplate? Reason { get; init; }

    /// <summary>Wait/verify: how long to keep polling; action: the pipeline's time limit.</summary>
    public TimeSpan? Timeout { get; init; }

    public TimeSpan? Interval { get; init; }

    public string? Then { get; init; }

    public string? Else { get; init; }

    public string? Next { get; init; }

    public string? OnFail { get; init; }

    /// <summary>Record: the note's text; investigate: the question for the model.</summary>
    public SkillTemplate? Text { get; init; }

    /// <summary>Record: note, follow-up or patch.</summary>
    public string RecordKind { get; init; } = SkillRecordKinds.Note;

    /// <summary>Record: structured data attached to the note.</summary>
    public SkillValue? Data { get; init; }
}

public static class SkillRecordKinds
{
    public const string Note = "note";
    public const string FollowUp = "follow-up";
    public const string Patch = "patch";

    /// <summary>
    /// A language model's answer to an investigate step, written by the runner (a record step cannot use it): the
    /// post-mortem shows it apart from the deterministic narrative, marked as the model's.
    /// </summary>
    public const string Investigation = "investigation";

    public static IReadOnlyList<string> All { get; } = [Note, FollowUp, Patch];
}

/// <summary>A JMESPath expression as written in the file, with where it starts.</summary>
public sealed record SkillExpression(string Text, SkillLocation Location);

/// <summary>
/// Text with <c>{{ expr }}</c> holes, as in Ansible. A template that is exactly one hole yields the expression's value
/// with its JSON type; otherwise each hole is rendered as text (strings as they are, other values as JSON).
/// </summary>
public sealed record SkillTemplate(string Text, IReadOnlyList<SkillTemplatePart> Parts)
{
    public bool IsSingleExpression => Parts is [{ Expression: not null }];

    public IEnumerable<SkillExpression> Expressions => Parts.Where(p => p.Expression is not null).Select(p => p.Expression!);
}

public sealed record SkillTemplatePart(string? Literal, SkillExpression? Expression);

/// <summary>A parameter value: a literal, a template, or an object or array of values.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(SkillLiteralValue), "literal")]
[JsonDerivedType(typeof(SkillTemplateValue), "template")]
[JsonDerivedType(typeof(SkillObjectValue), "object")]
[JsonDerivedType(typeof(SkillArrayValue), "array")]
public abstract record SkillValue;

/// <summary>A literal, as JSON text (<c>"pgsql.yml"</c>, <c>30</c>, <c>true</c>, <c>null</c>).</summary>
public sealed record SkillLiteralValue(string Json) : SkillValue;

public sealed record SkillTemplateValue(SkillTemplate Template) : SkillValue;

public sealed record SkillObjectValue(IReadOnlyList<KeyValuePair<string, SkillValue>> Members) : SkillValue;

public sealed record SkillArrayValue(IReadOnlyList<SkillValue> Items) : SkillValue;
