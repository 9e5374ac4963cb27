using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Tests.Sensing;

/// <summary>Fixture bodies and a small pg-test topology for sensing tests.</summary>
internal static class SensingFixtures
{
    public static string Recorded(params string[] parts) => File.ReadAllText(TestPaths.Fixture(["recorded", .. parts]));

    public static string Documented(params string[] parts) => File.ReadAllText(TestPaths.Fixture(["documented", .. parts]));

    public static PgCluster Cluster(string name = "pg-test", string declaredPrimary = "pg-test-1", SecretStore? secrets = null, int members = 3, string ipPrefix = "127.0.0.1")
    {
        SecretRef? patroniPassword = secrets?.Add($"{name}/patroni_password", "Patroni.API.secret", "test");
        SecretRef? monitorPassword = secrets?.Add($"{name}/monitor_password", "Monitor.secret", "test");
        return new PgCluster
        {
            Name = name,
            Members = Enumerable.Range(1, members).Select(i => new PgMember
            {
                Name = $"{name}-{i}",
                Cluster = name,
                Seq = i,
                Ip = members == 3 && ipPrefix == "127.0.0.1" ? $"127.0.0.{10 + i}" : ipPrefix,
                DeclaredRole = $"{name}-{i}" == declaredPrimary ? DeclaredRole.Primary : DeclaredRole.Replica,
                Ports = new MemberPorts(),
            }).ToList(),
            Ha = new HaSettings(),
            Backup = new BackupSettings { Stanza = name },
            Credentials = new ClusterCredentials { PatroniPassword = patroniPassword, MonitorPassword = monitorPassword },
        };
    }

    public static Topology Topology(params PgCluster[] clusters) => new()
    {
        SourcePath = "/tmp/test-inventory.yml",
        Generation = PigstyGeneration.V3,
        Clusters = clusters,
        Infra = new InfraEndpoints(),
    };
}
