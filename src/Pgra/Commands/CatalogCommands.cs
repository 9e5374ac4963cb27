using System.CommandLine;
using System.Globalization;
using System.Text;
using PgRuntimeAgent.Catalog;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary><c>pgra catalog [--json]</c>: every action, read and detector with its parameters, risk and defaults.</summary>
internal sealed class CatalogCommands : ICommandGroup
{
    public int Order => 95;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var catalog = new Command("catalog", "Every action, read and detector the agent has, with parameters (schemas), risk, reversibility and defaults. --json is the interface tools are generated from (docs/catalog.md).");
        catalog.SetAction(async (parse, ct) =>
        {
            ct.ThrowIfCancellationRequested();
            var c = AgentCatalog.Default;
            if (parse.GetValue(options.Json))
            {
                await options.Out.WriteLineAsync(c.ToJson().ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true })).ConfigureAwait(false);
            }
            else
            {
                await options.Out.WriteAsync(Render(c)).ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        });
        yield return catalog;
    }

    /// <summary>The catalogue as text: one block per entry, parameters indented under it.</summary>
    internal static string Render(AgentCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"actions ({catalog.Actions.Count})");
        foreach (var a in catalog.Actions)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {a.Kind}  risk {a.Risk.ToString().ToLowerInvariant()}, {(a.Reversible ? "reversible" : a.LossBound is null ? "irreversible" : "irreversible, loss bounded")}, member {a.Member.ToString().ToLowerInvariant()}{(a.Class is null ? "" : $", policy class {a.Class}")}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"      {a.Summary}");
            Parameters(sb, a.Parameters);
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"reads ({catalog.Reads.Count})");
        foreach (var r in catalog.Reads)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {r.Name}  from {r.Source.ToString().ToLowerInvariant()}, member {r.Member.ToString().ToLowerInvariant()}, {r.Bound}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"      {r.Summary}");
            Parameters(sb, r.Parameters);
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"detectors ({catalog.Detectors.Count})");
        foreach (var d in catalog.Detectors)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {d.Code}  {d.Severity.ToString().ToLowerInvariant()}, {d.ConsecutiveSnapshots} snapshot(s), {d.MinimumSeconds.ToString(CultureInfo.InvariantCulture)} s, root-cause rank {d.RootCauseRank}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"      {d.Summary}");
            foreach (var t in d.Thresholds)
            {
                var extra = string.Join(", ", new[] { t.Type.ToString().ToLowerInvariant(), t.Unit, t.Default is null ? "no default" : $"default {t.Default}" }.OfType<string>());
                sb.AppendLine(CultureInfo.InvariantCulture, $"      - threshold {t.Name} ({extra}): {t.Description}");
            }

            Parameters(sb, d.Settings);
        }

        return sb.ToString();
    }

    private static void Parameters(StringBuilder sb, IReadOnlyList<ParameterSpec> parameters)
    {
        foreach (var p in parameters)
        {
            var extra = new List<string> { p.Type.ToString().ToLowerInvariant(), p.Required ? "required" : "optional" };
            if (p.Default is not null)
            {
                extra.Add($"default {p.Default}");
            }

            if (p.AllowedValues.Count > 0)
            {
                extra.Add($"one of {string.Join("|", p.AllowedValues)}");
            }

            sb.AppendLine(CultureInfo.InvariantCulture, $"      - {p.Name} ({string.Join(", ", extra)}): {p.Description}");
        }
    }
}
