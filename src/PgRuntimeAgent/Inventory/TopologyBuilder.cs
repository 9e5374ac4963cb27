using System.Globalization;
using System.Net;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Yaml;
using YamlDotNet.RepresentationModel;

namespace PgRuntimeAgent.Inventory;

/// <summary>
/// Turns an <see cref="AnsibleInventory"/> into a <see cref="Topology"/> with Pigsty's semantics, collecting every
/// problem (with file:line:column and the cluster/host it concerns) instead of stopping at the first.
/// </summary>
internal sealed partial class TopologyBuilder
{
    private static readonly string[] Roles = ["primary", "replica", "offline"];

    private readonly AnsibleInventory _inv;
    private readonly YamlFile _file;
    private readonly InventorySecrets _secrets;
    private readonly InventoryOverrides _overrides;
    private readonly List<YamlProblem> _problems;
    private readonly List<YamlProblem> _warnings = [];
    private readonly HashSet<(YamlNode, string)> _reported = new(NodeMessageComparer.Instance);
    private readonly List<(string Var, YamlNode Node)> _publishedDefaults = [];
    private readonly List<string> _unsetDefaults = [];
    private PigstyGeneration _generation;
    private string? _adminIp;
    private string? _version;

    private TopologyBuilder(AnsibleInventory inv, InventorySecrets secrets, InventoryOverrides overrides, List<YamlProblem> problems)
    {
        _inv = inv;
        _file = inv.File;
        _secrets = secrets;
        _overrides = overrides;
        _problems = problems;
    }

    public static InventoryReport Build(YamlFile file, SecretStore store, InventoryOverrides overrides, List<YamlProblem> problems)
    {
        ArgumentNullException.ThrowIfNull(file);
        var warnings = problems.Where(p => p.Severity == ProblemSeverity.Warning).ToList();
        problems.RemoveAll(p => p.Severity == ProblemSeverity.Warning);
        if (file.Root is null)
        {
            if (problems.Count == 0)
            {
                problems.Add(file.Problem(null, null, "the inventory is empty", "write an Ansible YAML inventory starting with 'all:' (see inventory/pigsty-sample.yml)"));
            }

            return new InventoryReport { SourcePath = file.FullPath, DisplayPath = file.DisplayPath, Problems = problems, Warnings = warnings };
        }

        var structural = new List<YamlProblem>();
        var inv = AnsibleInventory.Read(file, structural);
        problems.AddRange(structural.Where(p => p.Severity == ProblemSeverity.Error));
        warnings.AddRange(structural.Where(p => p.Severity == ProblemSeverity.Warning));
        if (!inv.IsInventory)
        {
            return new InventoryReport { SourcePath = file.FullPath, DisplayPath = file.DisplayPath, Problems = problems, Warnings = warnings };
        }

        var secrets = InventorySecrets.Scan(file, store, inv.Groups.Values.Select(g => g.NameNode).OfType<YamlScalarNode>());
        var builder = new TopologyBuilder(inv, secrets, overrides, problems);
        builder._warnings.AddRange(warnings);
        var topology = builder.BuildTopology();
        return new InventoryReport
        {
            SourcePath = file.FullPath,
            DisplayPath = file.DisplayPath,
            Topology = topology,
            Problems = problems,
            Warnings = builder._warnings,
        };
    }

    private Topology BuildTopology()
    {
        _adminIp = Text(_inv.All.Vars.GetValueOrDefault("admin_ip"), GlobalResolver);
        _version = Text(_inv.All.Vars.GetValueOrDefault("version"), GlobalResolver);
        var (generation, reason) = DetectGeneration();
        _generation = generation;
        CheckAdminIp();

        var infraHosts = InfraHosts();
        var clusters = BuildClusters();
        var etcd = BuildEtcd();
        var remote = BuildRemoteInstances(infraHosts);
        var infra = BuildInfraEndpoints(infraHosts);
        var ignored = IgnoredGroups(clusters);
        DefaultCredentialWarnings();
        NamedSecretWarnings();
        PlatformWarnings(clusters, etcd, infraHosts, remote);

        return new Topology
        {
            SourcePath = _file.FullPath,
            Generation = _generation,
            GenerationReason = reason,
            Version = _version,
            AdminIp = _adminIp,
            Clusters = clusters,
            Infra = infra,
            InfraNodes = infraHosts.Select(h => HostIp(h)).ToArray(),
            Etcd = etcd,
            RemoteInstances = remote,
            IgnoredGroups = ignored,
            Warnings = _warnings.Select(w => w.ToString()).ToArray(),
        };
    }

    // ---------------------------------------------------------------- generation

    private (PigstyGeneration Generation, string Reason) DetectGeneration()
    {
        var fromVars = GenerationFromVars(out var varsReason, out var varsNode);
        var versionEntry = _inv.All.Vars.GetValueOrDefault("version");
        if (_version is not null && TryMajor(_version, out var major))
        {
            var gen = major >= 4 ? PigstyGeneration.V4 : PigstyGeneration.V3;
            if (fromVars is { } other && other != gen && varsNode is not null)
            {
                Warn(varsNode, null, $"{varsReason}, but all.vars.version is {_version}: using the {Describe(gen)} defaults",
                    "set endpoints.metrics_url / endpoints.logs_url in the settings file if the inventory's stack differs from its version");
            }

            return (gen, $"all.vars.version is {_version}" + (major < 3 ? " (Pigsty 2 and earlier are read as generation v3: Prometheus and Loki)" : ""));
        }

        if (versionEntry is not null && _version is not null)
        {
            Warn(versionEntry.Value, "all.vars", $"version '{_version}' is not a Pigsty version like v4.5.0", "write the version as vMAJOR.MINOR.PATCH");
        }

        if (fromVars is { } g)
        {
            return (g, varsReason!);
        }

        Warn(null, null, "cannot tell the Pigsty generation (no all.vars.version, no prometheus/loki or vmetrics/vlogs settings); assuming v4 (VictoriaMetrics, VictoriaLogs)",
            "set all.vars.version (for example v4.5.0 or v3.7.0)");
        return (PigstyGeneration.V4, "assumed v4: no version and no generation-specific infra settings");
    }

    private PigstyGeneration? GenerationFromVars(out string? reason, out YamlNode? node)
    {
        foreach (var scope in AllVarScopes())
        {
            foreach (var (name, entry) in scope)
            {
                if (name.StartsWith("vmetrics_", StringComparison.Ordinal) || name.StartsWith("vlogs_", StringComparison.Ordinal)
                    || name.StartsWith("vmalert_", StringComparison.Ordinal) || name.StartsWith("vtraces_", StringComparison.Ordinal))
                {
                    reason = $"{entry.Scope} sets {name} (VictoriaMetrics/VictoriaLogs: Pigsty 4)";
                    node = entry.KeyNode;
                    return PigstyGeneration.V4;
                }

                if (name.StartsWith("prometheus_", StringComparison.Ordinal) || name.StartsWith("loki_", StringComparison.Ordinal)
                    || name.StartsWith("promtail_", StringComparison.Ordinal))
                {
                    reason = $"{entry.Scope} sets {name} (Prometheus/Loki: Pigsty 3)";
                    node = entry.KeyNode;
                    return PigstyGeneration.V3;
                }

                if (name == "infra_portal" && entry.Value is YamlMappingNode portal)
                {
                    foreach (var (key, _) in YamlNodes.Entries(portal))
                    {
                        switch (key.Value)
                        {
                            case "prometheus" or "loki":
                                reason = $"infra_portal names {key.Value} (Prometheus/Loki: Pigsty 3)";
                                node = key;
                                return PigstyGeneration.V3;
                            case "vmetrics" or "vlogs" or "vmalert" or "vtraces":
                                reason = $"infra_portal names {key.Value} (VictoriaMetrics/VictoriaLogs: Pigsty 4)";
                                node = key;
                                return PigstyGeneration.V4;
                        }
                    }
                }
            }
        }

        reason = null;
        node = null;
        return null;
    }

    private IEnumerable<Dictionary<string, VarEntry>> AllVarScopes()
    {
        foreach (var g in _inv.Groups.Values)
        {
            yield return g.Vars;
        }

        foreach (var h in _inv.Hosts.Values)
        {
            yield return h.HostVars;
        }
    }

    private static bool TryMajor(string version, out int major)
    {
        var v = version.TrimStart('v', 'V');
        var dot = v.IndexOf('.', StringComparison.Ordinal);
        return int.TryParse(dot < 0 ? v : v[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out major);
    }

    private static string Describe(PigstyGeneration g) =>
        g == PigstyGeneration.V4 ? "Pigsty 4 (VictoriaMetrics, VictoriaLogs)" : "Pigsty 3 (Prometheus, Loki)";

    private void CheckAdminIp()
    {
        var entry = _inv.All.Vars.GetValueOrDefault("admin_ip");
        if (entry is null)
        {
            Warn(null, "all.vars", "no admin_ip", "set all.vars.admin_ip to the admin node's IP (Pigsty templates use it as ${admin_ip})");
        }
        else if (_adminIp is not null && !IPAddress.TryParse(_adminIp, out _))
        {
            Warn(entry.Value, "all.vars", $"admin_ip '{_adminIp}' is not an IP address", "Pigsty expects the admin node's IPv4 address");
        }
    }

    // ---------------------------------------------------------------- clusters

    private sealed class MemberDraft
    {
        public required InventoryHost Host { get; init; }

        public required HostListing Listing { get; init; }

        public required string Cluster { get; init; }

        public int? Seq { get; set; }

        public YamlNode? SeqNode { get; set; }

        public DeclaredRole Role { get; set; } = DeclaredRole.Replica;

        public YamlNode? RoleNode { get; set; }

        /// <summary>A member variable: as written on this listing first (identity belongs to the listing), then as Ansible resolves it.</summary>
        public VarEntry? Get(string name) => Listing.Vars.GetValueOrDefault(name) ?? Host.Get(name);
    }

    private List<PgCluster> BuildClusters()
    {
        var drafts = new Dictionary<string, List<MemberDraft>>(StringComparer.Ordinal);
        var firstListing = new Dictionary<string, HostListing>(StringComparer.Ordinal);
        var placed = new HashSet<InventoryHost>();
        if (_inv.All.Vars.TryGetValue("pg_cluster", out var globalCluster))
        {
            Warn(globalCluster.KeyNode, "all.vars", "all.vars sets pg_cluster; it is ignored for cluster membership",
                "set pg_cluster in each cluster group's vars");
        }

        // Every listing that puts a host in a cluster, in document order.
        var claims = new List<(HostListing Listing, string Cluster)>();
        foreach (var group in _inv.Groups.Values)
        {
            if (group == _inv.All || PigstyDefaults.IsPlatformGroup(group.Name))
            {
                continue;
            }

            foreach (var listing in group.Listings)
            {
                var clusterEntry = GroupScoped(listing, "pg_cluster");
                if (clusterEntry is null)
                {
                    var pgVar = GroupScoped(listing, "pg_seq") ?? GroupScoped(listing, "pg_role");
                    if (pgVar is not null)
                    {
                        Error(listing.KeyNode, $"{group.Name}/{listing.HostName}",
                            $"host has {pgVar.Name} but its group '{group.Name}' names no pg_cluster",
                            $"add 'pg_cluster: {group.Name}' to the vars of group '{group.Name}' (or to the host)");
                    }

                    continue;
                }

                var clusterName = Text(clusterEntry, n => ListingResolver(listing, n));
                if (string.IsNullOrWhiteSpace(clusterName))
                {
                    Error(clusterEntry.Value, group.Name, $"pg_cluster is {YamlNodes.Describe(clusterEntry.Value)}", "give the cluster a name, for example 'pg_cluster: pg-test'");
                    continue;
                }

                claims.Add((listing, clusterName));
            }
        }

        var chosen = ChooseClusterPerHost(claims);
        foreach (var (listing, clusterName) in claims)
        {
            var host = _inv.Hosts[listing.HostName];
            if (!string.Equals(chosen[host], clusterName, StringComparison.Ordinal) || !placed.Add(host))
            {
                continue; // listed for another cluster (warned), or listed twice for this one: one member
            }

            if (!drafts.TryGetValue(clusterName, out var list))
            {
                list = [];
                drafts[clusterName] = list;
                firstListing[clusterName] = listing;
            }

            list.Add(new MemberDraft { Host = host, Listing = listing, Cluster = clusterName });
        }

        var clusters = new List<PgCluster>();
        foreach (var (name, members) in drafts)
        {
            clusters.Add(BuildCluster(name, members, firstListing[name]));
        }

        return clusters;
    }

    /// <summary>
    /// The one cluster each host belongs to. A host listed in the groups of two clusters (Pigsty v3.7.0's
    /// conf/demo/kernels.yml lists 10.10.10.10 in 'nodes' with pg_cluster: pg_meta and in 'pg-meta' whose vars say
    /// pg-meta) is not an error, because Ansible merges a host's variables across all its groups and so gives it one
    /// pg_cluster. The rule is Ansible's: the host's effective pg_cluster (host vars over group vars, deeper groups,
    /// then ansible_group_priority, then group name) wins; when that value is none of the claims (it comes from
    /// a scope that lists no cluster), the last listing in the document wins, as the last definition does in Ansible.
    /// Each listing left out is a warning naming both groups and the host.
    /// </summary>
    private Dictionary<InventoryHost, string> ChooseClusterPerHost(List<(HostListing Listing, string Cluster)> claims)
    {
        var chosen = new Dictionary<InventoryHost, string>();
        foreach (var byHost in claims.GroupBy(c => _inv.Hosts[c.Listing.HostName]))
        {
            var host = byHost.Key;
            var names = byHost.Select(c => c.Cluster).Distinct(StringComparer.Ordinal).ToList();
            if (names.Count == 1)
            {
                chosen[host] = names[0];
                continue;
            }

            var effective = Text(host.Get("pg_cluster"), n => HostResolver(host, n));
            var matching = byHost.Where(c => string.Equals(c.Cluster, effective, StringComparison.Ordinal)).ToList();
            var winner = matching.Count > 0 ? matching[^1] : byHost.Last();

            chosen[host] = winner.Cluster;
            foreach (var loser in byHost.Where(c => !string.Equals(c.Cluster, winner.Cluster, StringComparison.Ordinal)))
            {
                Warn(loser.Listing.KeyNode, $"{loser.Cluster}/{host.Name}",
                    $"{host.Name} is listed in group '{loser.Listing.Group.Name}' (cluster {loser.Cluster}) and in group '{winner.Listing.Group.Name}' (cluster {winner.Cluster}, {_file.Where(winner.Listing.KeyNode)}); "
                    + $"Ansible gives the host one pg_cluster, {winner.Cluster}, so pgra counts it in cluster {winner.Cluster} only",
                    "list the host in one cluster's group, or give both groups the same pg_cluster");
            }
        }

        return chosen;
    }

    private PgCluster BuildCluster(string name, List<MemberDraft> drafts, HostListing first)
    {
        // Identity: pg_seq and pg_role per member.
        var bySeq = new Dictionary<int, MemberDraft>();
        foreach (var d in drafts)
        {
            var subject = $"{name}/{d.Host.Name}";
            var seqEntry = d.Get("pg_seq");
            if (seqEntry is null)
            {
                Error(d.Listing.KeyNode, subject, "missing pg_seq", $"give every member a unique instance number, for example '{d.Host.Name}: {{ pg_seq: {drafts.IndexOf(d) + 1}, pg_role: replica }}'");
            }
            else if (!TryInt(seqEntry.Value, d, out var seq) || seq < 0)
            {
                Error(seqEntry.Value, subject, $"pg_seq '{Raw(seqEntry.Value)}' is not a non-negative integer", "pg_seq is the instance number: 1, 2, 3...");
            }
            else
            {
                d.Seq = seq;
                d.SeqNode = seqEntry.Value;
                if (bySeq.TryGetValue(seq, out var other))
                {
                    Error(seqEntry.Value, subject, $"duplicate pg_seq {seq}: {other.Host.Name} already is {name}-{seq} ({_file.Where(other.SeqNode!)})",
                        "pg_seq must be unique within a cluster; renumber one of them");
                }
                else
                {
                    bySeq[seq] = d;
                }
            }

            var roleEntry = d.Get("pg_role");
            if (roleEntry is not null)
            {
                var role = Text(roleEntry, n => MemberResolver(d, n, null));
                d.RoleNode = roleEntry.Value;
                switch (role?.ToLowerInvariant())
                {
                    case "primary":
                        d.Role = DeclaredRole.Primary;
                        break;
                    case "replica":
                        d.Role = DeclaredRole.Replica;
                        break;
                    case "offline":
                        d.Role = DeclaredRole.Offline;
                        break;
                    default:
                        Error(roleEntry.Value, subject, $"unknown pg_role '{role ?? YamlNodes.Describe(roleEntry.Value)}'", $"use one of: {string.Join(", ", Roles)}");
                        break;
                }
            }
        }

        var primaries = drafts.Where(d => d.Role == DeclaredRole.Primary).ToList();
        if (primaries.Count == 0)
        {
            Error(first.Group.NameNode ?? first.KeyNode, name, "no member has pg_role: primary",
                "mark exactly one member 'pg_role: primary' (Patroni bootstraps the cluster from it)");
        }

        foreach (var extra in primaries.Skip(1))
        {
            var firstPrimary = primaries[0];
            Error(extra.RoleNode ?? extra.Listing.KeyNode, $"{name}/{extra.Host.Name}",
                $"second primary: {firstPrimary.Host.Name} is already pg_role: primary ({_file.Where(firstPrimary.RoleNode ?? firstPrimary.Listing.KeyNode)})",
                "a cluster has exactly one primary; make the others 'pg_role: replica'");
        }

        // Cluster-wide parameters are read from the primary's effective vars (they are cluster-scope in Pigsty).
        var lead = primaries.FirstOrDefault() ?? drafts.OrderBy(d => d.Seq ?? int.MaxValue).First();
        string? Lead(string var) => Text(lead.Get(var), n => MemberResolver(lead, n, name));

        var patroniSsl = Truthy(lead.Get("patroni_ssl_enabled"), false);
        var members = drafts
            .Where(d => d.Seq is not null)
            .OrderBy(d => d.Seq)
            .Select(d => BuildMember(name, d, patroniSsl))
            .ToList();

        foreach (var unnumbered in drafts.Where(d => d.Seq is null))
        {
            _ = MemberPortsOf(name, unnumbered); // still report bad ports of members that cannot be numbered
        }

        var mode = Lead("pg_mode") ?? PigstyDefaults.PgMode;
        int? shardGroup = null;
        if (lead.Get("pg_group") is { } groupEntry)
        {
            if (TryInt(groupEntry.Value, lead, out var g))
            {
                shardGroup = g;
            }
            else
            {
                Error(groupEntry.Value, name, $"pg_group '{Raw(groupEntry.Value)}' is not an integer", "pg_group is the Citus group number (0 for the coordinator)");
            }
        }

        var vip = BuildVip(name, lead);
        var ha = BuildHa(name, lead);
        var backup = BuildBackup(name, lead);
        var credentials = BuildCredentials(lead);
        if (lead.Get("pg_instances") is { } instances)
        {
            Warn(instances.KeyNode, name, "pg_instances (several instances per node) is not supported; only the node's main instance is read", null);
        }

        return new PgCluster
        {
            Name = name,
            Members = members,
            Ha = ha,
            Vip = vip,
            Backup = backup,
            BackupSchedule = ScheduleOf(drafts),
            Credentials = credentials,
            Mode = mode,
            Shard = Lead("pg_shard"),
            ShardGroup = shardGroup,
            DcsNamespace = Lead("pg_namespace") ?? PigstyDefaults.PgNamespace,
            InventoryGroup = first.Group.Name,
            Databases = DatabasesOf(name, lead.Get("pg_databases")),
        };
    }

    /// <summary>The names of pg_databases (a list of mappings with <c>name</c>); entries with <c>state: absent</c> are left out.</summary>
    private List<string> DatabasesOf(string cluster, VarEntry? entry)
    {
        var names = new List<string>();
        if (entry?.Value is null or YamlScalarNode { Value: null or "" or "~" or "null" })
        {
            return names;
        }

        if (entry.Value is not YamlSequenceNode list)
        {
            Warn(entry.Value, cluster, "pg_databases is not a list; per-database statistics are read in the sensing database only", "pg_databases: [ { name: app } ]");
            return names;
        }

        foreach (var item in list.Children)
        {
            if (item is not YamlMappingNode map || !map.Children.TryGetValue(new YamlScalarNode("name"), out var nameNode)
                || nameNode is not YamlScalarNode { Value: { Length: > 0 } dbName })
            {
                Warn(item, cluster, "a pg_databases entry without a name is ignored", "each entry is a mapping like { name: app, owner: app }");
                continue;
            }

            var absent = map.Children.TryGetValue(new YamlScalarNode("state"), out var stateNode) && stateNode is YamlScalarNode { Value: "absent" };
            if (!absent && !names.Contains(dbName, StringComparer.Ordinal))
            {
                names.Add(dbName);
            }
        }

        return names;
    }

    /// <summary>The backup lines of every member's pg_crontab (else node_crontab), each once, with its file:line.</summary>
    private BackupSchedule ScheduleOf(IEnumerable<MemberDraft> drafts)
    {
        var lines = new List<(string, string)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var d in drafts)
        {
            if ((d.Get("pg_crontab") ?? d.Get("node_crontab"))?.Value is not YamlSequenceNode sequence)
            {
                continue;
            }

            foreach (var item in sequence.Children.OfType<YamlScalarNode>())
            {
                if (item.Value is { Length: > 0 } value && seen.Add(value))
                {
                    lines.Add((value, _file.WhereLine(item)));
                }
            }
        }

        return BackupSchedule.Parse(lines);
    }

    private PgMember BuildMember(string cluster, MemberDraft d, bool patroniSsl)
    {
        // ansible_host, when set, is the address Ansible (and pgra) connects to; the host key is then only a name.
        var ansibleHost = d.Get("ansible_host");
        var fromAnsibleHost = Text(ansibleHost, n => MemberResolver(d, n, cluster));
        var ip = fromAnsibleHost ?? d.Host.Name;
        var at = fromAnsibleHost is null ? d.Listing.KeyNode : ansibleHost!.Value;
        if (Uri.CheckHostName(ip) == UriHostNameType.Unknown)
        {
            Error(at, $"{cluster}/{d.Host.Name}",
                fromAnsibleHost is null
                    ? $"'{ip}' is neither an IP address nor a host name"
                    : $"ansible_host '{ip}' is neither an IP address nor a host name",
                fromAnsibleHost is null
                    ? "use the node's IP as the host key, or set ansible_host to its IP"
                    : "set ansible_host to the node's IP (it is used instead of the host key)");
            ip = "invalid.invalid";
        }
        else if (!IPAddress.TryParse(ip, out _))
        {
            if (fromAnsibleHost is null)
            {
                Warn(at, $"{cluster}/{d.Host.Name}",
                    $"the host key '{ip}' is not an IP address and no ansible_host is set, so pgra connects to '{ip}'; Pigsty identifies nodes by IP",
                    "use the node's IP as the host key, or set ansible_host to its IP");
            }
            else
            {
                Warn(at, $"{cluster}/{d.Host.Name}",
                    $"ansible_host '{ip}' is not an IP address; pgra connects to it (ansible_host overrides the host key '{d.Host.Name}'), but Pigsty identifies nodes by IP",
                    "set ansible_host to the node's IP, or remove it if the host key is the IP");
            }
        }

        var ports = MemberPortsOf(cluster, d);

        return new PgMember
        {
            Name = $"{cluster}-{d.Seq!.Value.ToString(CultureInfo.InvariantCulture)}",
            Cluster = cluster,
            Seq = d.Seq.Value,
            Ip = ip,
            DeclaredRole = d.Role,
            Offline = d.Role == DeclaredRole.Offline || Truthy(d.Get("pg_offline_query"), false),
            Ports = ports,
            Upstream = Text(d.Get("pg_upstream"), n => MemberResolver(d, n, cluster)),
            PatroniScheme = patroniSsl ? "https" : "http",
        };
    }

    private MemberPorts MemberPortsOf(string cluster, MemberDraft d) => new()
    {
        Postgres = Port(d, cluster, "pg_port", PigstyDefaults.PgPort),
        Pgbouncer = Port(d, cluster, "pgbouncer_port", PigstyDefaults.PgbouncerPort),
        Patroni = Port(d, cluster, "patroni_port", PigstyDefaults.PatroniPort),
        PgExporter = Port(d, cluster, "pg_exporter_port", PigstyDefaults.PgExporterPort),
        NodeExporter = Port(d, cluster, "node_exporter_port", PigstyDefaults.NodeExporterPort),
        HaproxyExporter = Port(d, cluster, "haproxy_exporter_port", PigstyDefaults.HaproxyExporterPort),
    };

    private int Port(MemberDraft d, string cluster, string var, int fallback) =>
        PortOf(d.Get(var), var, $"{cluster}/{d.Host.Name}", n => MemberResolver(d, n, cluster), fallback);

    private int PortOf(VarEntry? entry, string var, string subject, Func<string, string?> resolve, int fallback)
    {
        if (entry is null)
        {
            return fallback;
        }

        var text = Text(entry, resolve);
        if (text is not null && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536)
        {
            return port;
        }

        var why = text is null ? YamlNodes.Describe(entry.Value) : $"'{text}'";
        Error(entry.Value, ScopeSubject(entry, subject), $"{var} {why} is not a port number",
            $"write a number from 1 to 65535 (Pigsty's default is {fallback.ToString(CultureInfo.InvariantCulture)})");
        return fallback;
    }

    private string? BuildVip(string cluster, MemberDraft lead)
    {
        if (!Truthy(lead.Get("pg_vip_enabled"), false))
        {
            return null;
        }

        var entry = lead.Get("pg_vip_address");
        var address = Text(entry, n => MemberResolver(lead, n, cluster));
        if (address is null)
        {
            Warn(lead.Get("pg_vip_enabled")!.KeyNode, cluster, "pg_vip_enabled is true but pg_vip_address is not set", "set pg_vip_address: <ipv4>/<mask> for the cluster");
            return null;
        }

        var ip = address.Split('/')[0];
        if (!IPAddress.TryParse(ip, out _))
        {
            Error(entry!.Value, cluster, $"pg_vip_address '{address}' is not <ipv4>/<mask>", "write it like 10.10.10.3/24");
            return null;
        }

        return ip;
    }

    private HaSettings BuildHa(string cluster, MemberDraft lead)
    {
        string? Get(string var) => Text(lead.Get(var), n => MemberResolver(lead, n, cluster));
        var pgConf = Get("pg_conf") ?? PigstyDefaults.PgConf;
        var plans = RtoPlans(lead, cluster);
        var rtoEntry = lead.Get("pg_rto");
        var rtoText = Get("pg_rto");
        string preset;
        RtoPlan plan;
        if (rtoText is null)
        {
            if (_generation == PigstyGeneration.V4)
            {
                preset = PigstyDefaults.PgRtoV4Preset;
                plan = plans[preset];
            }
            else
            {
                preset = PigstyDefaults.PgRtoV3Seconds.ToString(CultureInfo.InvariantCulture);
                plan = V3Plan(PigstyDefaults.PgRtoV3Seconds);
            }
        }
        else if (plans.TryGetValue(rtoText.ToLowerInvariant(), out var named))
        {
            preset = rtoText.ToLowerInvariant();
            plan = named;
        }
        else if (int.TryParse(rtoText, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
        {
            if (_generation == PigstyGeneration.V4)
            {
                // Pigsty 4 maps a number of seconds to the preset whose ttl is closest (ties go to the larger, safer one).
                var closest = plans.OrderBy(p => Math.Abs(p.Value.Ttl - seconds)).ThenByDescending(p => p.Value.Ttl).First();
                preset = closest.Key;
                plan = closest.Value;
            }
            else
            {
                preset = rtoText;
                plan = V3Plan(seconds);
            }
        }
        else
        {
            Error(rtoEntry!.Value, ScopeSubject(rtoEntry, cluster), $"pg_rto '{rtoText}' is neither a preset nor a number of seconds",
                $"use one of {string.Join(", ", plans.Keys)} or seconds (for example 30)");
            preset = PigstyDefaults.PgRtoV4Preset;
            plan = plans[preset];
        }

        long rpo = PigstyDefaults.PgRpo;
        if (lead.Get("pg_rpo") is { } rpoEntry)
        {
            var text = Text(rpoEntry, n => MemberResolver(lead, n, cluster));
            if (text is null || !TryBytes(text, out rpo))
            {
                Error(rpoEntry.Value, ScopeSubject(rpoEntry, cluster), $"pg_rpo '{text ?? YamlNodes.Describe(rpoEntry.Value)}' is not a byte count",
                    "pg_rpo is the lag limit in bytes for failover candidates (1048576 = 1 MiB; 0 = synchronous)");
                rpo = PigstyDefaults.PgRpo;
            }
        }

        var crit = pgConf.StartsWith("crit", StringComparison.OrdinalIgnoreCase);
        return new HaSettings
        {
            RtoPreset = preset,
            TtlSeconds = plan.Ttl,
            LoopWaitSeconds = plan.LoopWait,
            RetryTimeoutSeconds = plan.RetryTimeout,
            PrimaryStartTimeoutSeconds = plan.PrimaryStartTimeout,
            MaximumLagOnFailoverBytes = rpo,
            Synchronous = rpo == 0 || crit,
            SynchronousStrict = crit && _generation == PigstyGeneration.V4,
            PgConf = pgConf,
            WatchdogMode = Get("patroni_watchdog_mode") ?? "off",
        };
    }

    /// <summary>Pigsty 3 templates: ttl = pg_rto; loop_wait = retry_timeout = primary_start_timeout = ceil(pg_rto / 3).</summary>
    private static RtoPlan V3Plan(int seconds)
    {
        var third = (seconds + 2) / 3;
        return new RtoPlan(seconds, third, third, third);
    }

    private Dictionary<string, RtoPlan> RtoPlans(MemberDraft lead, string cluster)
    {
        var plans = new Dictionary<string, RtoPlan>(PigstyDefaults.RtoPlans, StringComparer.Ordinal);
        if (lead.Get("pg_rto_plan") is not { } entry || entry.Value is not YamlMappingNode mapping)
        {
            return plans;
        }

        foreach (var (key, value) in YamlNodes.Entries(mapping))
        {
            var numbers = value is YamlSequenceNode seq
                ? seq.Children.Take(4).Select(n => int.TryParse(YamlNodes.Text(n), NumberStyles.None, CultureInfo.InvariantCulture, out var x) ? x : -1).ToArray()
                : [];
            if (numbers.Length < 4 || numbers.Any(n => n <= 0))
            {
                Error(value, ScopeSubject(entry, cluster), $"pg_rto_plan.{key.Value} must start with four positive integers [ttl, loop_wait, retry_timeout, primary_start_timeout]",
                    "copy the row format from Pigsty's pg_rto_plan");
                continue;
            }

            plans[key.Value ?? ""] = new RtoPlan(numbers[0], numbers[1], numbers[2], numbers[3]);
        }

        return plans;
    }

    private BackupSettings BuildBackup(string cluster, MemberDraft lead)
    {
        var enabled = Truthy(lead.Get("pgbackrest_enabled"), true);
        var methodEntry = lead.Get("pgbackrest_method");
        var method = Text(methodEntry, n => MemberResolver(lead, n, cluster)) ?? PigstyDefaults.BackupMethod;
        string? repo = null;
        var repos = lead.Get("pgbackrest_repo");
        if (repos?.Value is YamlMappingNode repoMap && YamlNodes.Get(repoMap, method) is YamlMappingNode chosen)
        {
            repo = DescribeRepo(chosen, lead, cluster);
            if (YamlNodes.GetEntry(chosen, "cipher_pass") is { } cipher && YamlNodes.Text(cipher.Value) is { } raw && Placeholders.HasPlaceholder(raw))
            {
                var expanded = Placeholders.Expand(raw, n => MemberResolver(lead, n, cluster), out _);
                _secrets.AddDerived($"{cluster}:pgbackrest_repo.{method}.cipher_pass", expanded, cipher.Value, $"pgbackrest_repo.{method}.cipher_pass for {cluster}");
            }
        }
        else if (PigstyDefaults.DefaultRepos.TryGetValue(method, out var fallback))
        {
            repo = fallback;
        }
        else if (enabled)
        {
            Warn(methodEntry?.Value, ScopeSubject(methodEntry, cluster), $"pgbackrest_method '{method}' has no entry in pgbackrest_repo",
                $"define pgbackrest_repo.{method} or use 'local' / 'minio'");
        }

        return new BackupSettings { Method = method, Repo = repo, Stanza = cluster, Enabled = enabled };
    }

    private static string DescribeRepo(YamlMappingNode repo, MemberDraft lead, string cluster)
    {
        _ = lead;
        _ = cluster;
        var type = YamlNodes.Text(YamlNodes.Get(repo, "type")) ?? "posix";
        if (type is "s3" or "gcs" or "azure")
        {
            var endpoint = YamlNodes.Text(YamlNodes.Get(repo, "s3_endpoint")) ?? "?";
            var port = YamlNodes.Text(YamlNodes.Get(repo, "storage_port"));
            var bucket = YamlNodes.Text(YamlNodes.Get(repo, "s3_bucket"));
            return $"{type} {endpoint}{(port is null ? "" : ":" + port)}{(bucket is null ? "" : " bucket " + bucket)}";
        }

        return $"{type} {YamlNodes.Text(YamlNodes.Get(repo, "path")) ?? "/pg/backup"}";
    }

    private ClusterCredentials BuildCredentials(MemberDraft lead)
    {
        var creds = _overrides.Credentials;
        return new ClusterCredentials
        {
            PatroniUsername = creds.PatroniUsername ?? Text(lead.Get("patroni_username"), GlobalResolver) ?? PigstyDefaults.PatroniUsername,
            PatroniPassword = creds.PatroniPassword ?? Password(lead, "patroni_password"),
            MonitorUsername = creds.MonitorUsername ?? Text(lead.Get("pg_monitor_username"), GlobalResolver) ?? PigstyDefaults.MonitorUsername,
            MonitorPassword = creds.MonitorPassword ?? Password(lead, "pg_monitor_password"),
            AdminUsername = creds.AdminUsername ?? Text(lead.Get("pg_admin_username"), GlobalResolver) ?? PigstyDefaults.AdminUsername,
            AdminPassword = creds.AdminPassword ?? Password(lead, "pg_admin_password"),
            ReplicationUsername = Text(lead.Get("pg_replication_username"), GlobalResolver) ?? PigstyDefaults.ReplicationUsername,
            ReplicationPassword = Password(lead, "pg_replication_password"),
        };
    }

    private SecretRef? Password(MemberDraft lead, string var)
    {
        var entry = lead.Get(var);
        if (entry is null)
        {
            var fallback = PigstyDefaults.DefaultPasswords[var];
            if (!_unsetDefaults.Contains(var))
            {
                _unsetDefaults.Add(var);
            }

            return _secrets.Store.Add("pigsty-default:" + var, fallback, $"Pigsty default {var} (not set in {_file.DisplayPath})");
        }

        if (entry.Value is YamlMappingNode or YamlSequenceNode)
        {
            // Not "not set": a structure where a password belongs is a mistake, and falling back to Pigsty's default
            // (or to nothing) would hide it until a login fails.
            Error(entry.Value, entry.Scope, $"{var} must be a text value, found {YamlNodes.Describe(entry.Value)}",
                $"write it as '{var}: <password>' (quote it if it starts with '{{' or '[')");
            return null;
        }

        if (_secrets.IsVaulted(entry.Value))
        {
            Warn(entry.Value, entry.Scope, $"{var} is Ansible-vault encrypted; pgra cannot read it",
                $"give pgra the value in the settings file (credentials) or as PGRA_CREDENTIALS__{var.Replace("pg_", "", StringComparison.Ordinal).ToUpperInvariant()}");
            return null;
        }

        var secret = _secrets.For(entry.Value);
        if (secret is not null && _secrets.Store.TryReveal(secret, out var value)
            && PigstyDefaults.DefaultPasswords.TryGetValue(var, out var published) && string.Equals(value, published, StringComparison.Ordinal))
        {
            if (!_publishedDefaults.Any(d => ReferenceEquals(d.Node, entry.Value)))
            {
                _publishedDefaults.Add((var, entry.Value));
            }
        }

        return secret;
    }

    // ---------------------------------------------------------------- etcd, infra, remote

    private IReadOnlyList<EtcdMember> BuildEtcd()
    {
        var result = new List<(int Seq, EtcdMember Member)>();
        var seen = new Dictionary<string, HostListing>(StringComparer.Ordinal);
        foreach (var group in _inv.Groups.Values.Where(g => g.Name == "etcd" || g.Vars.ContainsKey("etcd_cluster")))
        {
            foreach (var listing in group.Listings)
            {
                var host = _inv.Hosts[listing.HostName];
                string? Resolve(string n) => HostResolver(host, n);
                var subject = $"{group.Name}/{host.Name}";
                var cluster = Text(host.Get("etcd_cluster"), Resolve) ?? PigstyDefaults.EtcdCluster;
                var seqEntry = host.Get("etcd_seq");
                if (seqEntry is null)
                {
                    Error(listing.KeyNode, subject, "missing etcd_seq", "give every etcd member a unique etcd_seq (1, 2, 3)");
                    continue;
                }

                if (!int.TryParse(Text(seqEntry, Resolve), NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
                {
                    Error(seqEntry.Value, subject, $"etcd_seq '{Raw(seqEntry.Value)}' is not an integer", "etcd_seq is the member number: 1, 2, 3");
                    continue;
                }

                var name = $"{cluster}-{seq.ToString(CultureInfo.InvariantCulture)}";
                if (seen.TryGetValue(name, out var other))
                {
                    if (other.HostName != listing.HostName)
                    {
                        Error(seqEntry.Value, subject, $"duplicate etcd_seq {seq}: {other.HostName} already is {name}", "etcd_seq must be unique in the etcd cluster");
                    }

                    continue;
                }

                seen[name] = listing;
                var port = PortOf(host.Get("etcd_port"), "etcd_port", subject, Resolve, PigstyDefaults.EtcdPort);
                result.Add((seq, new EtcdMember(name, Text(host.Get("ansible_host"), Resolve) ?? host.Name, port)));
            }
        }

        return result.OrderBy(r => r.Seq).Select(r => r.Member).ToArray();
    }

    private List<InventoryHost> InfraHosts()
    {
        if (!_inv.Groups.TryGetValue("infra", out var infra))
        {
            return [];
        }

        var hosts = infra.SelfAndDescendants().SelectMany(g => g.Listings).Select(l => _inv.Hosts[l.HostName]).Distinct().ToList();
        var withSeq = new List<(InventoryHost Host, int Seq)>();
        foreach (var host in hosts)
        {
            var entry = host.Get("infra_seq");
            var seq = int.MaxValue;
            if (entry is null)
            {
                Warn(host.Listings.First(l => l.Group.Name == "infra" || infra.SelfAndDescendants().Contains(l.Group)).KeyNode, $"infra/{host.Name}", "missing infra_seq",
                    "Pigsty requires infra_seq on every infra node (1, 2, 3)");
            }
            else if (!int.TryParse(Text(entry, n => HostResolver(host, n)), NumberStyles.None, CultureInfo.InvariantCulture, out seq))
            {
                Warn(entry.Value, $"infra/{host.Name}", $"infra_seq '{Raw(entry.Value)}' is not an integer", "infra_seq is the node number: 1, 2, 3");
                seq = int.MaxValue;
            }

            withSeq.Add((host, seq));
        }

        return withSeq.OrderBy(h => h.Seq).Select(h => h.Host).ToList();
    }

    private List<RemotePgInstance> BuildRemoteInstances(List<InventoryHost> infraHosts)
    {
        var result = new List<RemotePgInstance>();
        foreach (var group in _inv.Groups.Values)
        {
            if (!group.Vars.TryGetValue("pg_exporters", out var entry) || entry.Value is not YamlMappingNode exporters)
            {
                continue;
            }

            var exporterHost = group.Listings.Select(l => _inv.Hosts[l.HostName]).FirstOrDefault() ?? infraHosts.FirstOrDefault();
            foreach (var (key, value) in YamlNodes.Entries(exporters))
            {
                var subject = $"{group.Name}/pg_exporters.{key.Value}";
                if (!int.TryParse(key.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var exporterPort) || exporterPort is <= 0 or >= 65536)
                {
                    Error(key, subject, $"pg_exporters key '{key.Value}' is not a port number", "each key is the local port of one exporter, for example 20001");
                    continue;
                }

                if (value is not YamlMappingNode spec)
                {
                    Error(value, subject, $"pg_exporters.{key.Value} must be a mapping, found {YamlNodes.Describe(value)}", "write { pg_cluster: ..., pg_seq: 1, pg_host: ... }");
                    continue;
                }

                string? Field(string name) => YamlNodes.Text(YamlNodes.Get(spec, name)) is { } t ? Placeholders.Expand(t, n => exporterHost is null ? GlobalResolver(n) : HostResolver(exporterHost, n), out _) : null;
                var cluster = Field("pg_cluster");
                var host = Field("pg_host");
                var seqText = Field("pg_seq");
                if (cluster is null || host is null || seqText is null || !int.TryParse(seqText, NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
                {
                    Error(key, subject, "a remote instance needs pg_cluster, an integer pg_seq and pg_host", "add the missing identity keys");
                    continue;
                }

                var port = PigstyDefaults.PgPort;
                if (YamlNodes.Get(spec, "pg_port") is { } portNode && !int.TryParse(YamlNodes.Text(portNode), NumberStyles.None, CultureInfo.InvariantCulture, out port))
                {
                    Error(portNode, subject, $"pg_port '{Raw(portNode)}' is not a port number", "write a number from 1 to 65535");
                    port = PigstyDefaults.PgPort;
                }

                var pw = YamlNodes.Get(spec, "pg_monitor_password");
                if (pw is YamlMappingNode or YamlSequenceNode)
                {
                    Error(pw, subject, $"pg_monitor_password must be a text value, found {YamlNodes.Describe(pw)}", "write it as 'pg_monitor_password: <password>'");
                    pw = null;
                }

                var monitorPassword = pw is not null ? _secrets.For(pw)
                    : exporterHost?.Get("pg_monitor_password") is { } inherited ? _secrets.For(inherited.Value)
                    : null;
                result.Add(new RemotePgInstance
                {
                    Name = $"{cluster}-{seq.ToString(CultureInfo.InvariantCulture)}",
                    Cluster = cluster,
                    Seq = seq,
                    Host = host,
                    Port = port,
                    ExporterPort = exporterPort,
                    ExporterHost = exporterHost is null ? null : HostIp(exporterHost),
                    MonitorUsername = Field("pg_monitor_username") ?? (exporterHost is null ? null : Text(exporterHost.Get("pg_monitor_username"), GlobalResolver)) ?? PigstyDefaults.MonitorUsername,
                    MonitorPassword = monitorPassword,
                });
            }
        }

        return result;
    }

    private InfraEndpoints BuildInfraEndpoints(List<InventoryHost> infraHosts)
    {
        var host = infraHosts.FirstOrDefault(h => HostIp(h) == _adminIp) ?? infraHosts.FirstOrDefault();
        var v4 = _generation == PigstyGeneration.V4;
        var legacy = _version is not null && TryMajor(_version, out var major) && major < 3;
        Endpoint? metrics = null, logs = null, alertmanager = null;
        if (host is not null)
        {
            metrics = v4
                ? InfraEndpoint(host, "VictoriaMetrics", "vmetrics", "vmetrics_enabled", "vmetrics_port", PigstyDefaults.VmetricsPort)
                : InfraEndpoint(host, "Prometheus", "prometheus", "prometheus_enabled", "prometheus_port", legacy ? PigstyDefaults.PrometheusPortV2 : PigstyDefaults.PrometheusPort);
            logs = v4
                ? InfraEndpoint(host, "VictoriaLogs", "vlogs", "vlogs_enabled", "vlogs_port", PigstyDefaults.VlogsPort)
                : InfraEndpoint(host, "Loki", "loki", "loki_enabled", "loki_port", PigstyDefaults.LokiPort);
            alertmanager = InfraEndpoint(host, "Alertmanager", "alertmanager", "alertmanager_enabled", "alertmanager_port", PigstyDefaults.AlertmanagerPort);
        }

        var ep = _overrides.Endpoints;
        var metricsKind = ep.MetricsKind ?? (v4 ? MetricsKind.VictoriaMetrics : MetricsKind.Prometheus);
        var logsKind = ep.LogsKind ?? (v4 ? LogsKind.VictoriaLogs : LogsKind.Loki);
        metrics = Override(ep.MetricsUrl, "endpoints.metrics_url") ?? metrics;
        alertmanager = Override(ep.AlertmanagerUrl, "endpoints.alertmanager_url") ?? alertmanager;
        logs = logsKind == LogsKind.Files ? null : Override(ep.LogsUrl, "endpoints.logs_url") ?? logs;

        if (metrics is null)
        {
            Warn(null, null, host is null ? "no infra group, so no metrics endpoint" : "metrics are disabled on the infra node, so no metrics endpoint",
                "set endpoints.metrics_url in the settings file (or PGRA_ENDPOINTS__METRICS_URL) to use metrics");
        }

        if (logs is null && logsKind != LogsKind.Files)
        {
            Warn(null, null, host is null ? "no infra group, so no logs endpoint" : "logs are disabled on the infra node, so no logs endpoint",
                "set endpoints.logs_url, or endpoints.logs_kind: files to read log files");
        }

        if (alertmanager is null)
        {
            Warn(null, null, host is null ? "no infra group, so no alertmanager endpoint" : "alertmanager is disabled on the infra node",
                "set endpoints.alertmanager_url in the settings file to use alerts");
        }

        return new InfraEndpoints { Metrics = metrics, MetricsKind = metricsKind, Logs = logs, LogsKind = logsKind, Alertmanager = alertmanager };
    }

    private Endpoint? Override(Uri? url, string key)
    {
        if (url is null)
        {
            return null;
        }

        var origin = _overrides.OriginOf(key);
        return new Endpoint(url, origin?.Source ?? ValueSource.Settings) { Origin = origin?.Where ?? key };
    }

    private Endpoint? InfraEndpoint(InventoryHost host, string what, string portalName, string enabledVar, string portVar, int defaultPort)
    {
        string? Resolve(string n) => HostResolver(host, n);
        var ip = UrlHost(HostIp(host));
        if (host.Get(enabledVar) is { } enabled && !Truthy(enabled, true))
        {
            return null;
        }

        if (Uri.CheckHostName(HostIp(host)) == UriHostNameType.Unknown)
        {
            Error(host.Listings[0].KeyNode, $"infra/{host.Name}", $"'{HostIp(host)}' is neither an IP address nor a host name", "use the node's IP as the host key");
            return null;
        }

        if (host.Get("infra_portal") is { Value: YamlMappingNode portal } portalEntry
            && YamlNodes.Get(portal, portalName) is YamlMappingNode service
            && YamlNodes.GetEntry(service, "endpoint") is { } endpointEntry
            && YamlNodes.Text(endpointEntry.Value) is { } raw)
        {
            var expanded = Placeholders.Expand(raw, Resolve, out var unresolved);
            var scheme = YamlNodes.Text(YamlNodes.Get(service, "scheme")) ?? "http";
            if (unresolved.Count == 0 && Uri.TryCreate($"{scheme}://{expanded}", UriKind.Absolute, out var url) && !string.IsNullOrEmpty(url.Host))
            {
                return new Endpoint(url, ValueSource.Inventory) { Origin = $"{_file.Where(endpointEntry.Value)} (infra_portal.{portalName}.endpoint '{raw}')" };
            }

            Warn(endpointEntry.Value, portalEntry.Scope, $"infra_portal.{portalName}.endpoint '{raw}' cannot be read as host:port{(unresolved.Count > 0 ? " (cannot expand " + string.Join(", ", unresolved) + ")" : "")}",
                $"using {what}'s default port on the infra node instead");
        }

        if (host.Get(portVar) is { } portEntry)
        {
            var port = PortOf(portEntry, portVar, $"infra/{host.Name}", Resolve, defaultPort);
            return new Endpoint(new Uri($"http://{ip}:{port.ToString(CultureInfo.InvariantCulture)}"), ValueSource.Inventory)
            {
                Origin = $"{_file.Where(portEntry.Value)} ({portVar} on infra node {ip})",
            };
        }

        return new Endpoint(new Uri($"http://{ip}:{defaultPort.ToString(CultureInfo.InvariantCulture)}"), ValueSource.PigstyDefault)
        {
            Origin = $"Pigsty default: {what} port {defaultPort.ToString(CultureInfo.InvariantCulture)} on infra node {ip}",
        };
    }

    private List<string> IgnoredGroups(List<PgCluster> clusters)
    {
        var pgGroups = new HashSet<string>(clusters.Select(c => c.InventoryGroup), StringComparer.Ordinal);
        foreach (var group in _inv.Groups.Values)
        {
            if (group.Listings.Any(l => GroupScoped(l, "pg_cluster") is not null))
            {
                pgGroups.Add(group.Name);
            }
        }

        return _inv.Groups.Values
            .Where(g => g != _inv.All && g.Listings.Count > 0 && !PigstyDefaults.IsPlatformGroup(g.Name) && !g.Vars.ContainsKey("etcd_cluster") && !pgGroups.Contains(g.Name))
            .Select(g => g.Name)
            .ToList();
    }

    private void DefaultCredentialWarnings()
    {
        if (_publishedDefaults.Count > 0)
        {
            var list = string.Join(", ", _publishedDefaults.Select(d => $"{d.Var} (line {d.Node.Start.Line.ToString(CultureInfo.InvariantCulture)})"));
            Warn(_publishedDefaults[0].Node, null, $"Pigsty's published default credentials are in use: {list}",
                "anyone who knows Pigsty knows them; change them in the inventory and the deployment");
        }

        if (_unsetDefaults.Count > 0)
        {
            Warn(null, null, $"not set in the inventory, so Pigsty's published defaults apply: {string.Join(", ", _unsetDefaults)}",
                "set them in all.vars (and in the deployment) to private values, or give pgra the real ones in the settings file (credentials)");
        }
    }

    private void NamedSecretWarnings()
    {
        foreach (var named in _secrets.NamedSecrets)
        {
            Warn(named.Secret, null,
                $"the secret at {named.Path} is the same text as a name at line {named.Name.Start.Line.ToString(CultureInfo.InvariantCulture)}: pgra cannot mask it in its output without masking that name too, so it does not",
                "use a password that is not also a user, database or cluster name");
        }
    }

    private void PlatformWarnings(List<PgCluster> clusters, IReadOnlyList<EtcdMember> etcd, List<InventoryHost> infraHosts, List<RemotePgInstance> remote)
    {
        _ = infraHosts;
        if (clusters.Count == 0)
        {
            Warn(null, null, remote.Count > 0
                    ? $"no PostgreSQL cluster managed by Patroni; {remote.Count.ToString(CultureInfo.InvariantCulture)} remote instance(s) are monitored through pg_exporters only"
                    : "no PostgreSQL cluster (no group names a pg_cluster)",
                remote.Count > 0 ? "the agent can read metrics of remote instances but cannot act on them" : "define a group with 'vars: { pg_cluster: <name> }'");
            return;
        }

        if (etcd.Count == 0)
        {
            Warn(null, null, "no etcd group: Patroni needs a DCS", "add the etcd group (Pigsty's 'etcd' with etcd_seq per host)");
        }
        else if (etcd.Count % 2 == 0)
        {
            Warn(null, "etcd", $"{etcd.Count.ToString(CultureInfo.InvariantCulture)} etcd members: an even count tolerates no more failures than one member fewer", "run 3 or 5 etcd members");
        }
        else if (etcd.Count == 1 && clusters.Any(c => c.Members.Count > 1))
        {
            Warn(null, "etcd", "one etcd member: losing it stops automatic failover in every cluster", "run 3 or 5 etcd members in production");
        }

        foreach (var c in clusters.Where(c => c.Members.Count == 1))
        {
            Warn(null, c.Name, "one member: no replica to fail over to", "add replicas for high availability");
        }
    }

    // ---------------------------------------------------------------- variable helpers

    /// <summary>A variable as the group that lists the host sees it: listing vars, the group, its ancestors (not all.vars).</summary>
    private static VarEntry? GroupScoped(HostListing listing, string name)
    {
        if (listing.Vars.TryGetValue(name, out var v))
        {
            return v;
        }

        var group = listing.Group;
        if (group.Vars.TryGetValue(name, out v))
        {
            return v;
        }

        if (group.Parents.All(p => p.Name == AnsibleInventory.AllGroup))
        {
            return null; // the common case: a top-level group under all.children
        }

        var queue = new Queue<InventoryGroup>();
        queue.Enqueue(group);
        var seen = new HashSet<InventoryGroup>();
        while (queue.Count > 0)
        {
            var g = queue.Dequeue();
            if (!seen.Add(g) || g.Name == AnsibleInventory.AllGroup)
            {
                continue;
            }

            if (g.Vars.TryGetValue(name, out v))
            {
                return v;
            }

            foreach (var p in g.Parents)
            {
                queue.Enqueue(p);
            }
        }

        return null;
    }

    private string? Text(VarEntry? entry, Func<string, string?> resolve)
    {
        if (entry is null)
        {
            return null;
        }

        var text = YamlNodes.Text(entry.Value);
        return text is null || YamlNodes.IsUnsafe(entry.Value) ? text : Placeholders.Expand(text, resolve, out _);
    }

    private string? GlobalResolver(string name) => name switch
    {
        "lo" => "127.0.0.1",
        _ => _inv.All.Vars.TryGetValue(name, out var v) ? YamlNodes.Text(v.Value) : null,
    };

    private string? HostResolver(InventoryHost host, string name) => name switch
    {
        "ip" => HostIp(host),
        "lo" => "127.0.0.1",
        "dbsu" => YamlNodes.Text(host.Get("pg_dbsu")?.Value) ?? PigstyDefaults.Dbsu,
        "repl" => YamlNodes.Text(host.Get("pg_replication_username")?.Value) ?? PigstyDefaults.ReplicationUsername,
        "monitor" => YamlNodes.Text(host.Get("pg_monitor_username")?.Value) ?? PigstyDefaults.MonitorUsername,
        "admin" => YamlNodes.Text(host.Get("pg_admin_username")?.Value) ?? PigstyDefaults.AdminUsername,
        "vip" => YamlNodes.Text(host.Get("pg_vip_address")?.Value)?.Split('/')[0],
        _ => YamlNodes.Text(host.Get(name)?.Value),
    };

    private string? ListingResolver(HostListing listing, string name) => HostResolver(_inv.Hosts[listing.HostName], name);

    private string? MemberResolver(MemberDraft d, string name, string? cluster) =>
        name == "pg_cluster" && cluster is not null ? cluster : HostResolver(d.Host, name);

    private string HostIp(InventoryHost host) => YamlNodes.Text(host.Get("ansible_host")?.Value) ?? host.Name;

    /// <summary>A host as it goes into a URL (IPv6 in brackets).</summary>
    internal static string UrlHost(string host) => host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? $"[{host}]" : host;

    private bool TryInt(YamlNode node, MemberDraft d, out int value)
    {
        value = 0;
        var text = YamlNodes.Text(node);
        if (text is not null && Placeholders.HasPlaceholder(text))
        {
            text = Placeholders.Expand(text, n => HostResolver(d.Host, n), out _);
        }

        return text is not null && int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    private static bool Truthy(VarEntry? entry, bool fallback)
    {
        var text = entry is null ? null : YamlNodes.Text(entry.Value);
        return text?.ToLowerInvariant() switch
        {
            null => fallback,
            "true" or "yes" or "on" or "y" or "1" => true,
            "false" or "no" or "off" or "n" or "0" => false,
            _ => fallback,
        };
    }

    internal static bool TryBytes(string text, out long bytes)
    {
        bytes = 0;
        var t = text.Trim();
        var i = 0;
        while (i < t.Length && char.IsAsciiDigit(t[i]))
        {
            i++;
        }

        if (i == 0 || !long.TryParse(t[..i], NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return false;
        }

        long unit = t[i..].Trim().ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "K" or "KB" or "KIB" => 1L << 10,
            "M" or "MB" or "MIB" => 1L << 20,
            "G" or "GB" or "GIB" => 1L << 30,
            "T" or "TB" or "TIB" => 1L << 40,
            _ => -1,
        };
        if (unit < 0)
        {
            return false;
        }

        bytes = n * unit;
        return true;
    }

    private static string Raw(YamlNode node) => YamlNodes.Text(node) ?? YamlNodes.Describe(node);

    /// <summary>The subject of a problem with a variable: the scope that defines it when that is wider than the member.</summary>
    private static string ScopeSubject(VarEntry? entry, string fallback) => entry?.Level switch
    {
        VarLevel.Global => "all.vars",
        VarLevel.Group => entry.Scope.StartsWith("group ", StringComparison.Ordinal) ? entry.Scope[6..] : fallback,
        _ => fallback,
    };

    private void Error(YamlNode? node, string? subject, string message, string? hint)
    {
        if (node is not null && !_reported.Add((node, message)))
        {
            return;
        }

        _problems.Add(_file.Problem(node, subject, message, hint));
    }

    private void Warn(YamlNode? node, string? subject, string message, string? hint)
    {
        var key = node ?? _file.Root!;
        if (!_reported.Add((key, "w:" + message)))
        {
            return;
        }

        _warnings.Add(_file.Problem(node, subject, message, hint, ProblemSeverity.Warning));
    }

    private sealed class NodeMessageComparer : IEqualityComparer<(YamlNode, string)>
    {
        public static readonly NodeMessageComparer Instance = new();

        public bool Equals((YamlNode, string) x, (YamlNode, string) y) => ReferenceEquals(x.Item1, y.Item1) && string.Equals(x.Item2, y.Item2, StringComparison.Ordinal);

        public int GetHashCode((YamlNode, string) obj) => HashCode.Combine(System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj.Item1), obj.Item2);
    }
}
