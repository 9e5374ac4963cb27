using System.CommandLine;
using System.Globalization;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Workspaces;
using PgRuntimeAgent.Yaml;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary><c>pgra inventory show|check</c>: what the inventory describes, and whether it is valid.</summary>
internal sealed class InventoryCommands : ICommandGroup
{
    public int Order => 10;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var inventory = new Command("inventory", "Read the Pigsty inventory: show the topology it describes, or check it.");

        var show = new Command("show", "Clusters (members, IPs, roles, ports), HA and backup settings, the endpoints pgra will use and where each came from, and warnings.");
        show.SetAction((parse, ct) => ShowAsync(options, parse, ct));
        inventory.Subcommands.Add(show);

        var check = new Command("check", "Validate the inventory and the settings file: list every problem with file:line:column. Exit 0 when valid, 2 when not.");
        check.SetAction((parse, ct) => CheckAsync(options, parse, ct));
        inventory.Subcommands.Add(check);
        inventory.Subcommands.Add(InventoryDriftCommand.Create(options));

        return [inventory];
    }

    // ------------------------------------------------------------------ show

    private static async Task<int> ShowAsync(GlobalOptions options, ParseResult parse, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var workspace = CliWorkspace.Load(options, parse);
        var (_, how) = SettingsLoader.Locate(parse.GetValue(options.Settings), workspace.Topology.SourcePath, Workspace.ProcessEnvironment());
        var json = parse.GetValue(options.Json);
        var text = json
            ? System.Text.Json.JsonSerializer.Serialize(InventoryJson.Show(workspace.Topology, workspace.Settings.SourcePath, how, InventoryOverrides.From(workspace.Settings)), CliOutput.Json)
            : RenderShow(workspace.Topology, workspace.Settings, how);
        await options.Out.WriteLineAsync((json ? workspace.Secrets.RedactJson(text) : workspace.Secrets.Redact(text)).TrimEnd()).ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    private static string RenderShow(Topology topology, AgentSettings settings, string how)
    {
        using var buffer = new StringWriter(CultureInfo.InvariantCulture);
        var console = CreateConsole(buffer);
        var header = new Grid().AddColumn(new GridColumn().NoWrap().PadRight(2)).AddColumn();
        header.AddRow(new Text("Inventory"), new Text($"{YamlFile.Display(topology.SourcePath)}  (Pigsty {topology.Version ?? "version not set"}; generation {Gen(topology.Generation)}: {topology.GenerationReason})"));
        header.AddRow(new Text("Settings"), new Text(settings.SourcePath is null ? "none (defaults)" : $"{YamlFile.Display(settings.SourcePath)}  ({how})"));
        header.AddRow(new Text("Admin IP"), new Text(topology.AdminIp ?? "not set"));
        header.AddRow(new Text("Clusters"), new Text($"{topology.Clusters.Count} cluster(s), {topology.AllMembers.Count()} member(s)"));
        console.Write(header);

        foreach (var cluster in topology.Clusters)
        {
            console.WriteLine();
            console.Write(new Text($"Cluster {cluster.Name}", new Style(decoration: Decoration.Bold)));
            console.WriteLine();
            var facts = new Grid().AddColumn(new GridColumn().NoWrap().PadLeft(2).PadRight(2)).AddColumn();
            var identity = $"group {cluster.InventoryGroup}, {cluster.Members.Count} member(s), declared primary {cluster.DeclaredPrimary?.Name ?? "none"}";
            if (cluster.Mode != "pgsql")
            {
                identity += $", pg_mode {cluster.Mode} (Patroni scope {cluster.PatroniScope}, group {cluster.ShardGroup?.ToString(CultureInfo.InvariantCulture) ?? "?"})";
            }

            if (cluster.IsStandbyCluster)
            {
                identity += $", standby cluster of {cluster.DeclaredPrimary!.Upstream}";
            }

            facts.AddRow(new Text("Identity"), new Text(identity));
            facts.AddRow(new Text("VIP"), new Text(cluster.Vip ?? "none"));
            var ha = cluster.Ha;
            facts.AddRow(new Text("HA"), new Text(
                $"pg_rto {ha.RtoPreset}: ttl {ha.TtlSeconds}s, loop_wait {ha.LoopWaitSeconds}s, retry_timeout {ha.RetryTimeoutSeconds}s, primary_start_timeout {ha.PrimaryStartTimeoutSeconds}s; " +
                $"pg_rpo {ha.MaximumLagOnFailoverBytes.ToString(CultureInfo.InvariantCulture)} bytes (maximum_lag_on_failover); " +
                $"{(ha.Synchronous ? ha.SynchronousStrict ? "synchronous (strict)" : "synchronous" : "asynchronous")}; pg_conf {ha.PgConf}; watchdog {ha.WatchdogMode}"));
            var b = cluster.Backup;
            facts.AddRow(new Text("Backup"), new Text(b.Enabled ? $"method {b.Method}, repo {b.Repo ?? "not defined"}, stanza {b.Stanza}" : "disabled (pgbackrest_enabled: false)"));
            var c = cluster.Credentials;
            facts.AddRow(new Text("Patroni API"), new Text($"{c.PatroniUsername} / {Secret(c.PatroniPassword)}  DCS {cluster.DcsNamespace}/{cluster.PatroniScope}/"));
            facts.AddRow(new Text("Monitor user"), new Text($"{c.MonitorUsername} / {Secret(c.MonitorPassword)}"));
            facts.AddRow(new Text("Admin user"), new Text($"{c.AdminUsername} / {Secret(c.AdminPassword)}"));
            facts.AddRow(new Text("Replication"), new Text($"{c.ReplicationUsername} / {Secret(c.ReplicationPassword)}"));
            console.Write(facts);

            var table = new Table().Border(TableBorder.Simple);
            foreach (var column in new[] { "member", "ip", "role", "offline", "postgres", "pgbouncer", "patroni", "pg_exporter", "node_exporter", "haproxy", "upstream" })
            {
                table.AddColumn(new TableColumn(column).NoWrap());
            }

            foreach (var m in cluster.Members)
            {
                table.AddRow(Cells(m.Name, m.Ip, m.DeclaredRole.ToString().ToLowerInvariant(), m.Offline ? "yes" : "no", P(m.Ports.Postgres), P(m.Ports.Pgbouncer),
                    $"{P(m.Ports.Patroni)}{(m.PatroniScheme == "https" ? " (https)" : "")}", P(m.Ports.PgExporter), P(m.Ports.NodeExporter), P(m.Ports.HaproxyExporter), m.Upstream ?? "-"));
            }

            console.Write(table);
        }

        console.WriteLine();
        console.Write(new Text("Endpoints", new Style(decoration: Decoration.Bold)));
        console.WriteLine();
        var endpoints = new Table().Border(TableBorder.Simple);
        foreach (var column in new[] { "endpoint", "url", "kind", "source", "from" })
        {
            endpoints.AddColumn(new TableColumn(column));
        }

        foreach (var e in InventoryJson.Endpoints(topology, InventoryOverrides.From(settings)).All())
        {
            endpoints.AddRow(Cells(e.Name, e.Url ?? "-", e.Kind, e.Source is null ? "-" : Kebab(e.Source.Value.ToString()), e.Origin ?? "-"));
        }

        console.Write(endpoints);

        if (topology.Etcd.Count > 0)
        {
            console.WriteLine($"etcd (DCS): {string.Join(", ", topology.Etcd.Select(e => $"{e.Name} {e.Ip}:{P(e.ClientPort)}"))}");
        }

        if (topology.InfraNodes.Count > 0)
        {
            console.WriteLine($"infra nodes: {string.Join(", ", topology.InfraNodes)}");
        }

        if (topology.RemoteInstances.Count > 0)
        {
            console.WriteLine();
            console.Write(new Text("Remote instances (monitored through pg_exporters, not managed)", new Style(decoration: Decoration.Bold)));
            console.WriteLine();
            var remote = new Table().Border(TableBorder.Simple);
            foreach (var column in new[] { "instance", "host", "port", "exporter", "monitor user", "monitor password" })
            {
                remote.AddColumn(new TableColumn(column));
            }

            foreach (var r in topology.RemoteInstances)
            {
                remote.AddRow(Cells(r.Name, r.Host, P(r.Port), $"{r.ExporterHost ?? "?"}:{P(r.ExporterPort)}", r.MonitorUsername, Secret(r.MonitorPassword)));
            }

            console.Write(remote);
        }

        if (topology.IgnoredGroups.Count > 0)
        {
            console.WriteLine($"ignored groups (not managed by pgra): {string.Join(", ", topology.IgnoredGroups)}");
        }

        if (topology.Warnings.Count > 0)
        {
            console.WriteLine();
            console.Write(new Text($"Warnings ({topology.Warnings.Count})", new Style(decoration: Decoration.Bold)));
            console.WriteLine();
            foreach (var w in topology.Warnings)
            {
                console.WriteLine("  - " + w);
            }
        }

        return string.Join('\n', buffer.ToString().Split('\n').Select(line => line.TrimEnd()));
    }

    // ------------------------------------------------------------------ check

    private static async Task<int> CheckAsync(GlobalOptions options, ParseResult parse, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var environment = Workspace.ProcessEnvironment();
        var path = InventoryLocator.Locate(parse.GetValue(options.Inventory), environment, Directory.GetCurrentDirectory(),
            Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
        var secrets = new SecretStore();
        var settingsResult = SettingsLoader.TryLoad(parse.GetValue(options.Settings), path, secrets, environment);
        var report = InventoryLoader.Check(path, secrets, InventoryOverrides.From(settingsResult.Settings));
        var problems = settingsResult.Problems.Where(p => p.Severity == ProblemSeverity.Error).Concat(report.Problems).ToList();
        var warnings = settingsResult.Problems.Where(p => p.Severity == ProblemSeverity.Warning).Concat(report.Warnings).ToList();
        var valid = problems.Count == 0;

        string text;
        var json = parse.GetValue(options.Json);
        if (json)
        {
            text = System.Text.Json.JsonSerializer.Serialize(InventoryJson.Check(report, settingsResult, problems, warnings), CliOutput.Json);
        }
        else
        {
            using var sb = new StringWriter(CultureInfo.InvariantCulture);
            sb.WriteLine($"Inventory {report.DisplayPath}; settings {(settingsResult.Path is null ? "none (defaults)" : YamlFile.Display(settingsResult.Path))}");
            foreach (var p in problems)
            {
                sb.WriteLine("error: " + p);
            }

            foreach (var w in warnings)
            {
                sb.WriteLine("warning: " + w);
            }

            var t = report.Topology;
            sb.WriteLine(valid
                ? $"OK: {t?.Clusters.Count ?? 0} cluster(s), {t?.AllMembers.Count() ?? 0} member(s), {warnings.Count} warning(s)"
                : $"INVALID: {problems.Count} problem(s), {warnings.Count} warning(s)");
            text = sb.ToString();
        }

        text = json ? secrets.RedactJson(text) : secrets.Redact(SecretText.MaskUrlUserInfo(text));
        await options.Out.WriteLineAsync(text.TrimEnd()).ConfigureAwait(false);
        return valid ? ExitCodes.Ok : ExitCodes.Usage;
    }

    // ------------------------------------------------------------------ helpers

    private static IAnsiConsole CreateConsole(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 240;
        return console;
    }

    private static IRenderable[] Cells(params string[] values) => values.Select(v => (IRenderable)new Text(v)).ToArray();

    private static string P(int port) => port.ToString(CultureInfo.InvariantCulture);

    private static string Gen(PigstyGeneration g) => g == PigstyGeneration.V4 ? "v4" : "v3";

    private static string Secret(SecretRef? secret) => secret is null ? "not set" : $"{SecretRef.Mask} (from {secret.Origin})";

    internal static string Kebab(string pascal) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(pascal);
}
