using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Tests.Telemetry;

namespace PgRuntimeAgent.Tests.Inventory;

public sealed class InventoryLogTests
{
    [Fact]
    public void Load_LabInventory_LogsTheClustersAndMembers()
    {
        var logs = new LogRecorder();
        var path = Path.Combine(TestPaths.RepoRoot, "inventory", "lab.yml");

        var topology = InventoryLoader.Load(path, new SecretStore(), InventoryOverrides.None, logs.Logger());

        var log = logs.Single(1000, LogLevel.Information);
        Assert.Contains($"{topology.Clusters.Count} cluster(s), {topology.AllMembers.Count()} member(s)", log.Message, StringComparison.Ordinal);
        Assert.Empty(logs.WithId(1001));
    }

    [Fact]
    public void Load_InvalidInventory_LogsTheProblemsAsAnErrorWithoutTheSecret()
    {
        var logs = new LogRecorder();
        var path = Path.Combine(Path.GetTempPath(), $"pgra-invalid-{Guid.NewGuid():N}.yml");
        File.WriteAllText(path, """
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: boss }
                    10.0.0.2: { pg_seq: 1 }
                  vars: { pg_cluster: pg-test, patroni_password: Sup3r.Secret-Value }
            """);
        try
        {
            Assert.Throws<InputException>(() => InventoryLoader.Load(path, new SecretStore(), InventoryOverrides.None, logs.Logger()));

            var log = logs.Single(1001, LogLevel.Error);
            Assert.Contains("3 problem(s)", log.Message, StringComparison.Ordinal);
            Assert.Empty(logs.WithId(1000));
            Assert.DoesNotContain(logs.Logs, l => l.Everything.Contains("Sup3r.Secret-Value", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
