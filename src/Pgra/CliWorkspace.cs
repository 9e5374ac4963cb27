using System.CommandLine;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Cli;

/// <summary>Opens the deployment a verb works on from the command line's -i/--settings and the process environment.</summary>
internal static class CliWorkspace
{
    /// <summary>
    /// <see cref="Workspace.Load"/> with -i (else $PGRA_INVENTORY, ./pigsty.yml, ~/pigsty/pigsty.yml) and --settings
    /// (else $PGRA_SETTINGS and the files beside the inventory). Bad or missing input throws
    /// <see cref="InputException"/> (the CLI prints it and exits 2).
    /// </summary>
    public static Workspace Load(GlobalOptions options, ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(parse);
        return Workspace.Load(
            parse.GetValue(options.Inventory),
            parse.GetValue(options.Settings),
            Workspace.ProcessEnvironment(),
            Directory.GetCurrentDirectory(),
            Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
    }
}
