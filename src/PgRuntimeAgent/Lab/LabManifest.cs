using System.Text.Json;
using System.Text.Json.Serialization;

namespace PgRuntimeAgent.Lab;

/// <summary>
/// <c>&lt;lab dir&gt;/lab.json</c>: what the lab playbook built (members, services, credentials, endpoints). Written by
/// ansible/roles/lab_inventory; read by every <c>pgra lab</c> verb and by the lab tests.
/// </summary>
internal sealed record LabManifest
{
    public const string FileName = "lab.json";

    public int Version { get; init; }
    public string Mode { get; init; } = "loopback";
    public required string Dir { get; init; }
    public required string Cluster { get; init; }
    public string Database { get; init; } = "test";
    public required string InfraIp { get; init; }
    public string HaPreset { get; init; } = "fast";
    public LabHa Ha { get; init; } = new();
    public int MaxConnections { get; init; }
    public required LabCredentials Credentials { get; init; }
    public required LabEndpoints Endpoints { get; init; }
    public required LabPgBackRest Pgbackrest { get; init; }
    public string HoldHelper { get; init; } = "";
    public string Inventory { get; init; } = "";
    public string Settings { get; init; } = "";
    public required IReadOnlyList<LabMember> Members { get; init; }
    public required IReadOnlyList<LabService> Services { get; init; }

    public LabMember? FindMember(string name) =>
        Members.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal));

    public string RunDir => Path.Combine(Dir, "run");

    public string FaultsDir => Path.Combine(Dir, "faults");

    /// <summary>
    /// The lab's pg-meta database for the agents' shared journal (<c>journal.connection_string</c>, without the password:
    /// that is <see cref="LabCredentials.Journal"/>), or null when this lab.json predates pg-meta.
    /// </summary>
    public string? JournalConnectionString(string application = "pgra-journal")
    {
        if (Endpoints.Journal is not { } journal)
        {
            return null;
        }

        return new Npgsql.NpgsqlConnectionStringBuilder
        {
            Host = journal.Host,
            Port = journal.IsDefaultPort ? 5432 : journal.Port,
            Database = journal.AbsolutePath.Trim('/') is { Length: > 0 } database ? database : "meta",
            Username = Credentials.Journal.Username,
            ApplicationName = application,
            Timeout = 5,
        }.ConnectionString;
    }

    /// <summary>Pid file of a service: postmaster.pid for PostgreSQL, else run/&lt;name&gt;.pid.</summary>
    public string PidFile(LabService service)
    {
        ArgumentNullException.ThrowIfNull(service);
        return service.Pidfile ?? Path.Combine(RunDir, service.Name + ".pid");
    }

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        PropertyNameCaseInsensitive = true,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static LabManifest Parse(string json) =>
        JsonSerializer.Deserialize<LabManifest>(json, Json) ?? throw new JsonException("lab.json is empty");

    /// <summary>The manifest of the lab in <paramref name="dir"/>, or null when there is none (never brought up).</summary>
    public static async Task<LabManifest?> TryLoadAsync(string dir, CancellationToken cancellationToken)
    {
        var path = Path.Combine(dir, FileName);
        if (!File.Exists(path))
        {
            return null;
        }

        var text = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        return Parse(text);
    }
}

internal sealed record LabHa
{
    public int Ttl { get; init; } = 10;
    public int LoopWait { get; init; } = 2;
    public int RetryTimeout { get; init; } = 4;
    public int PrimaryStartTimeout { get; init; } = 10;
}

internal sealed record LabLogin(string Username, string Password);

internal sealed record LabCredentials
{
    public required LabLogin Superuser { get; init; }
    public required LabLogin Replication { get; init; }
    public required LabLogin Admin { get; init; }
    public required LabLogin Monitor { get; init; }
    public required LabLogin Patroni { get; init; }
    public required LabLogin App { get; init; }

    /// <summary>The login of the journal database on pg-meta (Pigsty's dbuser_meta); its default for a lab.json that predates it.</summary>
    public LabLogin Journal { get; init; } = new("dbuser_meta", "DBUser.Meta");
}

/// <summary>
/// The lab's HTTP endpoints, and <paramref name="Journal"/>: pg-meta, the plain PostgreSQL on the admin address for the
/// agents' shared journal (<c>postgres://127.0.0.10:5432/meta</c>); null in a lab.json that predates it.
/// </summary>
internal sealed record LabEndpoints(Uri Etcd, Uri Prometheus, Uri Alertmanager, Uri? Journal = null);

internal sealed record LabPgBackRest
{
    public required string Config { get; init; }
    public required string Stanza { get; init; }
    public required string Repo { get; init; }
    public required string BackupCommand { get; init; }
    public string RunAs { get; init; } = "postgres";
}

internal sealed record LabPorts
{
    public int Postgres { get; init; } = 5432;
    public int Pgbouncer { get; init; } = 6432;
    public int Patroni { get; init; } = 8008;
    public int PgExporter { get; init; } = 9630;
    public int NodeExporter { get; init; } = 9100;
    public int HaproxyExporter { get; init; } = 9101;
    public int HaproxyPrimary { get; init; } = 5433;
    public int HaproxyReplica { get; init; } = 5434;
}

internal sealed record LabMember
{
    public required string Name { get; init; }
    public int Seq { get; init; }
    public required string Ip { get; init; }
    public string DeclaredRole { get; init; } = "replica";
    public required string Dir { get; init; }
    public required string DataDir { get; init; }
    public required string WalMount { get; init; }
    public string WalImage { get; init; } = "";
    public required string SocketDir { get; init; }
    public required string LogDir { get; init; }
    public string PostgresLog { get; init; } = "";
    public string PatroniLog { get; init; } = "";
    public LabPorts Ports { get; init; } = new();

    public Uri PatroniUrl => new($"http://{Ip}:{Ports.Patroni}");
}

internal sealed record LabService
{
    public required string Name { get; init; }
    public required string Kind { get; init; }
    public string? Member { get; init; }
    public required string User { get; init; }
    public required string Address { get; init; }

    /// <summary>http(s) URL answered with 2xx when healthy, or "tcp" (a TCP connect to <see cref="Address"/>).</summary>
    public string Health { get; init; } = "tcp";

    public string? Log { get; init; }

    /// <summary>Launcher script; <c>start NAME</c> starts this service unless running. Null for PostgreSQL (Patroni runs it).</summary>
    public string? Start { get; init; }

    /// <summary>Explicit pid file (PostgreSQL: postmaster.pid); else run/&lt;name&gt;.pid.</summary>
    public string? Pidfile { get; init; }

    public IReadOnlyList<string> AlsoListens { get; init; } = [];

    /// <summary>The signal that stops it cleanly (pg-meta's PostgreSQL: INT, a fast shutdown); TERM when null.</summary>
    public string? StopSignal { get; init; }
}
