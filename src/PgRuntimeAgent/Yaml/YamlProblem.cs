namespace PgRuntimeAgent.Yaml;

internal enum ProblemSeverity
{
    Error,
    Warning,
}

/// <summary>
/// One thing wrong with (or worth saying about) an input file, with where it is and what to do:
/// <c>file:line:column: subject: message; hint</c>. Never carries a secret value.
/// </summary>
/// <param name="File">The file as shown to the operator.</param>
/// <param name="Line">1-based line; 0 when the problem concerns the whole file.</param>
/// <param name="Column">1-based column; 0 when the problem concerns the whole file.</param>
/// <param name="Subject">What it concerns: <c>cluster/host</c>, a group, a settings key.</param>
/// <param name="Message">What is wrong.</param>
/// <param name="Hint">What to do about it.</param>
internal sealed record YamlProblem(
    string File,
    long Line,
    long Column,
    string? Subject,
    string Message,
    string? Hint,
    ProblemSeverity Severity = ProblemSeverity.Error)
{
    public string Location => Line > 0 ? $"{File}:{Line}:{Column}" : File;

    public override string ToString()
    {
        var subject = string.IsNullOrEmpty(Subject) ? "" : Subject + ": ";
        var hint = string.IsNullOrEmpty(Hint) ? "" : "; " + Hint;
        return $"{Location}: {subject}{Message}{hint}";
    }
}
