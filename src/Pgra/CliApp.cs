using System.CommandLine;
using System.Reflection;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Cli;

/// <summary>
/// Builds the <c>pgra</c> command tree from every <see cref="ICommandGroup"/> in this assembly, so each verb group
/// lives in its own file under Commands/ and nothing central has to change when one is added.
/// </summary>
internal static class CliApp
{
    public static RootCommand BuildRoot(GlobalOptions options)
    {
        var root = new RootCommand("pgra: PgRuntimeAgent, an ops agent for Pigsty-style PostgreSQL deployments.");
        options.AddTo(root);
        var groups = typeof(CliApp).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(ICommandGroup).IsAssignableFrom(t))
            .Select(t => (ICommandGroup)Activator.CreateInstance(t)!)
            .OrderBy(g => g.Order)
            .ThenBy(g => g.GetType().Name, StringComparer.Ordinal);
        foreach (var group in groups)
        {
            foreach (var command in group.Build(options))
            {
                root.Subcommands.Add(command);
            }
        }

        return root;
    }

    /// <summary>Parses and runs; usage errors exit 2 without running anything.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        var options = new GlobalOptions(stdout, stderr);
        var root = BuildRoot(options);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                await stderr.WriteLineAsync($"error: {error.Message}").ConfigureAwait(false);
            }

            await stderr.WriteLineAsync("Run 'pgra --help' (or 'pgra VERB --help') for usage.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            return await parse.InvokeAsync(config, cancellationToken).ConfigureAwait(false);
        }
        catch (InputException ex)
        {
            await CliOutput.WriteInputErrorAsync(stderr, ex).ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (JournalException ex)
        {
            // A journal that cannot be read (missing, not a journal, damaged): one line that says which and what to do.
            await stderr.WriteLineAsync($"error: {SecretText.MaskUrlUserInfo(ex.Message)}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await stderr.WriteLineAsync("cancelled").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (TargetInvocationException ex) when (ex.InnerException is InputException inner)
        {
            await CliOutput.WriteInputErrorAsync(stderr, inner).ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (TargetInvocationException ex) when (ex.InnerException is JournalException inner)
        {
            await stderr.WriteLineAsync($"error: {SecretText.MaskUrlUserInfo(inner.Message)}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
    }
}

/// <summary>A group of verbs (for example <c>inventory show|check</c>). Implementations are discovered by reflection.</summary>
internal interface ICommandGroup
{
    /// <summary>Position in <c>pgra --help</c>.</summary>
    int Order { get; }

    IEnumerable<Command> Build(GlobalOptions options);
}

/// <summary>Process exit codes, the same for every verb.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The command ran and found a problem (a finding, a failed action, an unhealthy component).</summary>
    public const int Failure = 1;

    /// <summary>Usage or input error: bad arguments, a bad inventory, an unknown cluster or member.</summary>
    public const int Usage = 2;
}
