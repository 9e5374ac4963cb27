using System.CommandLine;
using System.Globalization;
using System.Text;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary>
/// What a verb that acts opens: the deployment's <see cref="ActingServices"/>, the same the agent acts through (the
/// journal, the policy gate, approvals, the pipeline with every discovered actuator, the planner).
/// </summary>
internal static class ActingSession
{
    public static Task<ActingServices> OpenAsync(GlobalOptions options, ParseResult parse, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        return CliWorkspace.Load(options, parse).OpenActingAsync(options.Time, logging: null, journal: null, cancellationToken);
    }

    /// <summary>Who is at the keyboard: $PGRA_OPERATOR, else the OS user.</summary>
    public static string OperatorName() =>
        Environment.GetEnvironmentVariable("PGRA_OPERATOR") is { Length: > 0 } name ? name : Environment.UserName;
}

/// <summary>Opening the journal for verbs that only read it (or append a note).</summary>
internal static class JournalAccess
{
    public static Option<string?> CreateOption() => new("--journal")
    {
        Description = "Journal file (SQLite) to use instead of the one the settings name (journal.path).",
        Recursive = true,
    };

    /// <summary>
    /// The journal: the file given with --journal, else the one the workspace's settings name. With --journal the
    /// inventory is still read when it can be found, so its secrets are redacted from anything written. A SQLite
    /// journal opened for a verb that only reads (<paramref name="writing"/> false) is opened read-only: it must
    /// exist and be a pgra journal, and nothing is created or migrated in it.
    /// </summary>
    public static async Task<(IJournal Journal, SecretStore Secrets)> OpenAsync(GlobalOptions options, ParseResult parse, Option<string?> journalOption,
        bool writing, CancellationToken cancellationToken)
    {
        var explicitPath = parse.GetValue(journalOption);
        if (explicitPath is null)
        {
            var workspace = CliWorkspace.Load(options, parse);
            var baseDirectory = workspace.BaseDirectory;
            var journal = !writing && workspace.Settings.Journal.Backend != JournalBackend.Postgres
                ? await SqliteJournal.OpenReadOnlyAsync(JournalFactory.ResolvePath(workspace.Settings.Journal, baseDirectory), workspace.Secrets, options.Time, cancellationToken).ConfigureAwait(false)
                : await JournalFactory.OpenAsync(workspace.Settings.Journal, baseDirectory, workspace.Secrets, options.Time, cancellationToken).ConfigureAwait(false);
            return (journal, workspace.Secrets);
        }

        var full = Path.GetFullPath(explicitPath);

        SecretStore secrets;
        try
        {
            secrets = CliWorkspace.Load(options, parse).Secrets;
        }
        catch (InputException) when (!writing)
        {
            secrets = new SecretStore();
        }

        var opened = writing
            ? await SqliteJournal.OpenAsync(full, secrets, options.Time, cancellationToken).ConfigureAwait(false)
            : await SqliteJournal.OpenReadOnlyAsync(full, secrets, options.Time, cancellationToken).ConfigureAwait(false);
        return (opened, secrets);
    }

    public static string FormatTime(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}

/// <summary>How an action's run is printed: plan, policy, prechecks, result, verification, undo and journal ids.</summary>
internal static class ActionReport
{
    public static async Task<int> WriteAsync(GlobalOptions options, ParseResult parse, ActionRunResult result)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(result);
        if (parse.GetValue(options.Json))
        {
            await CliOutput.WriteJsonAsync(options.Out, result).ConfigureAwait(false);
        }
        else
        {
            await options.Out.WriteAsync(Render(result)).ConfigureAwait(false);
        }

        return ExitCode(result);
    }

    public static int ExitCode(ActionRunResult result) => result.IsFailure ? ExitCodes.Failure : ExitCodes.Ok;

    public static string Render(ActionRunResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var a = result.Action;
        var text = new StringBuilder();
        void Line(string label, string value) => text.Append(CultureInfo.InvariantCulture, $"{label,-10}{value}\n");
        Line("Action", $"{a.Id}  {a.Kind} on {a.Cluster}{(a.Member is null ? "" : $" ({a.Member})")}, {a.Risk.ToString().ToLowerInvariant()} risk, {(a.Reversible ? "reversible" : "irreversible")}");
        Line("Plan", a.Summary);
        foreach (var (name, value) in a.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Line("", $"{name} = {value}");
        }

        if (result.Decision is { } d)
        {
            Line("Policy", $"{ActionPipeline.Kebab(d.Verdict)}{(d.DryRun ? " (dry run)" : "")}: level {(int)d.Level}{(d.Ceiling is null ? "" : " (capped by the skill)")}, this action needs {(int)d.RequiredLevel} to run alone");
            foreach (var reason in d.Reasons)
            {
                Line("", $"{(reason.Blocking ? "BLOCKED" : "-")} {reason.Code}: {reason.Message}");
            }
        }

        if (result.Precheck is { } p)
        {
            var first = true;
            foreach (var check in p.Checks)
            {
                Line(first ? "Precheck" : "", $"{(check.Passed ? "ok  " : "FAIL")} {check.Name}: {check.Detail}");
                first = false;
            }
        }

        if (result.Execution is { } e)
        {
            Line("Execute", $"{(e.Succeeded ? "ok" : "failed")}: {e.Message}");
        }

        if (result.Verification is { } v)
        {
            Line("Verify", $"{v.Status.ToString().ToLowerInvariant()}: {v.Message}");
        }

        Line("Result", $"{ActionPipeline.Kebab(result.Status)}: {result.Message}");
        if (result.Undo is not null)
        {
            Line("Undo", $"pgra undo {a.Id}  ({result.Undo.Summary})");
        }

        if (result.JournalSeqs.Count > 0)
        {
            Line("Journal", $"{string.Join(" ", result.JournalSeqs.Select(s => "#" + s.ToString(CultureInfo.InvariantCulture)))}  (pgra journal show {a.Id})");
        }

        return text.ToString();
    }
}
