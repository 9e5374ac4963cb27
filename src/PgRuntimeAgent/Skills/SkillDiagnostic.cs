namespace PgRuntimeAgent.Skills;

public enum SkillDiagnosticSeverity
{
    Error,
    Warning,
}

/// <summary>
/// One problem in a skill file, located in the .md file itself (1-based line and column), so an editor can jump
/// to it: <c>skills/primary-failure.md:41:14: error bad-jmespath: ...</c>.
/// </summary>
/// <param name="Code">Stable kebab-case problem code (see <see cref="SkillDiagnosticCodes"/>).</param>
public sealed record SkillDiagnostic(string File, int Line, int Column, SkillDiagnosticSeverity Severity, string Code, string Message)
{
    public bool IsError => Severity == SkillDiagnosticSeverity.Error;

    public override string ToString() =>
        $"{File}:{Line}:{Column}: {(IsError ? "error" : "warning")} {Code}: {Message}";
}

/// <summary>The problem codes <c>pgra skills lint</c> reports.</summary>
public static class SkillDiagnosticCodes
{
    public const string BadFile = "bad-file";
    public const string BadYaml = "bad-yaml";
    public const string UnknownKey = "unknown-key";
    public const string MissingKey = "missing-key";
    public const string BadValue = "bad-value";
    public const string BadName = "bad-name";
    public const string DuplicateSkill = "duplicate-skill";
    public const string BadJmesPath = "bad-jmespath";
    public const string BadTemplate = "bad-template";
    public const string UnknownVariable = "unknown-variable";
    public const string UnknownParameter = "unknown-parameter";
    public const string UnknownAction = "unknown-action";
    public const string ActionNotDeclared = "action-not-declared";
    public const string UnknownStep = "unknown-step";
    public const string DuplicateStep = "duplicate-step";
    public const string BadStep = "bad-step";
    public const string UnknownFinding = "unknown-finding";
    public const string BadCron = "bad-cron";
    public const string BadDuration = "bad-duration";
    public const string NoSteps = "no-steps";
    public const string UnreachableStep = "unreachable-step";
}
