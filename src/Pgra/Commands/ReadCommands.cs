using System.CommandLine;
using System.Text.Json;
using PgRuntimeAgent.Reads;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary><c>pgra read NAME --cluster C [--member M] [-p key=value ...]</c>: one catalogued read, its JSON result printed.</summary>
internal sealed class ReadCommands : ICommandGroup
{
    public int Order => 96;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var name = new Argument<string>("NAME") { Description = $"The read ({string.Join(", ", ReadCatalog.All.Select(r => r.Descriptor.Name))}); 'pgra catalog' lists each with its parameters and bound." };
        var cluster = new Option<string>("--cluster", "-c") { Description = "Cluster name (pg_cluster).", Required = true };
        var member = new Option<string?>("--member", "-m") { Description = "The member, for reads about one (for example pg-test-1)." };
        var parameters = new Option<string[]>("--param", "-p") { Description = "A parameter NAME=VALUE (repeatable), for example -p probe=blocking -p max_rows=20." };
        var read = new Command("read", "Run one read of the catalogue (read-only, bounded) and print its JSON result: {read, cluster, member, at, ok, error, result}. Exit 0 when it answered, 1 when its source failed (unreachable, not configured), 2 on bad input.")
        {
            name, cluster, member, parameters,
        };
        read.SetAction((parse, ct) => ReadAsync(options, parse, parse.GetValue(name)!, parse.GetValue(cluster)!, parse.GetValue(member), parse.GetValue(parameters) ?? [], ct));
        yield return read;
    }

    private static async Task<int> ReadAsync(GlobalOptions options, ParseResult parse, string name, string cluster, string? member, string[] pairs,
        CancellationToken cancellationToken)
    {
        var read = ReadCatalog.Find(name) ?? throw new InputException($"no read '{name}'", [$"reads: {string.Join(", ", ReadCatalog.All.Select(r => r.Descriptor.Name))}"]);
        var request = new ReadRequest { Cluster = cluster, Member = member, Parameters = ParseParameters(pairs) };
        var workspace = CliWorkspace.Load(options, parse);
        await using var context = workspace.ReadContext(options.Time);
        var result = await ReadCatalog.RunAsync(context, read.Descriptor.Name, request, cancellationToken).ConfigureAwait(false);
        await options.Out.WriteLineAsync(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true })).ConfigureAwait(false);
        return result["ok"]?.GetValue<bool>() == true ? ExitCodes.Ok : ExitCodes.Failure;
    }

    /// <summary><c>key=value</c> pairs (split at the first '='); a pair without '=' or a key given twice is an input error.</summary>
    internal static IReadOnlyDictionary<string, string> ParseParameters(IEnumerable<string> pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var pair in pairs)
        {
            var at = pair.IndexOf('=', StringComparison.Ordinal);
            if (at <= 0)
            {
                problems.Add($"--param '{pair}' is not NAME=VALUE");
            }
            else if (!result.TryAdd(pair[..at].Trim(), pair[(at + 1)..]))
            {
                problems.Add($"--param {pair[..at].Trim()} is given twice");
            }
        }

        return problems.Count == 0 ? result : throw new InputException(problems.Count == 1 ? problems[0] : $"{problems.Count} bad --param values", problems);
    }
}
