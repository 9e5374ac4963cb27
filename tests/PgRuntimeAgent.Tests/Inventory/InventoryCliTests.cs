using System.Text.Json;

namespace PgRuntimeAgent.Tests.Inventory;

/// <summary><c>pgra inventory show|check</c> run in-process: exit codes, tables and the documented JSON.</summary>
public sealed class InventoryCliTests
{
    private static string HaFull => InventoryTestKit.FixturePath("v4.5.0/ha-full.yml");

    [Fact]
    public async Task Show_V45HaFullJson_MatchesTheDoneMeansOfTheIssue()
    {
        var result = await CliRunner.RunAsync("inventory", "show", "-i", HaFull, "--json");

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Out);
        var root = doc.RootElement;
        Assert.Equal(1, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal("v4", root.GetProperty("generation").GetString());
        var clusters = root.GetProperty("clusters");
        Assert.Equal(["pg-meta", "pg-test"], clusters.EnumerateArray().Select(c => c.GetProperty("name").GetString()));
        Assert.Equal(1, clusters[0].GetProperty("members").GetArrayLength());
        var members = clusters[1].GetProperty("members").EnumerateArray().ToList();
        Assert.Equal(["pg-test-1", "pg-test-2", "pg-test-3"], members.Select(m => m.GetProperty("name").GetString()));
        Assert.Equal(["10.10.10.11", "10.10.10.12", "10.10.10.13"], members.Select(m => m.GetProperty("ip").GetString()));
        Assert.Equal(["primary", "replica", "replica"], members.Select(m => m.GetProperty("role").GetString()));
        Assert.Equal("pg-test-1", clusters[1].GetProperty("declaredPrimary").GetString());
        Assert.Equal(5432, members[0].GetProperty("ports").GetProperty("postgres").GetInt32());
        Assert.Equal("http://10.10.10.11:8008", members[0].GetProperty("patroniUrl").GetString());

        var endpoints = root.GetProperty("endpoints");
        Assert.Equal("http://10.10.10.10:8428", endpoints.GetProperty("metrics").GetProperty("url").GetString());
        Assert.Equal("victoria-metrics", endpoints.GetProperty("metrics").GetProperty("kind").GetString());
        Assert.Equal("pigsty-default", endpoints.GetProperty("metrics").GetProperty("source").GetString());
        Assert.Equal("http://10.10.10.10:9428", endpoints.GetProperty("logs").GetProperty("url").GetString());
        Assert.Equal("victoria-logs", endpoints.GetProperty("logs").GetProperty("kind").GetString());
        Assert.Equal("http://10.10.10.10:9059", endpoints.GetProperty("alertmanager").GetProperty("url").GetString());

        var password = clusters[1].GetProperty("credentials").GetProperty("patroniPassword");
        Assert.Equal("******", password.GetProperty("value").GetString());
        Assert.EndsWith("ha-full.yml:171 (all.vars.patroni_password)", password.GetProperty("origin").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("v3.7.0/ha-full.yml")]
    [InlineData("v3.7.0/ha-safe.yml")]
    [InlineData("v3.7.0/meta.yml")]
    public async Task Show_V37Json_HasPrometheusAndLokiEndpoints(string fixture)
    {
        var result = await CliRunner.RunAsync("inventory", "show", "-i", InventoryTestKit.FixturePath(fixture), "--json");

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Out);
        var endpoints = doc.RootElement.GetProperty("endpoints");
        Assert.Equal("http://10.10.10.10:9058", endpoints.GetProperty("metrics").GetProperty("url").GetString());
        Assert.Equal("prometheus", endpoints.GetProperty("metrics").GetProperty("kind").GetString());
        Assert.Equal("http://10.10.10.10:3100", endpoints.GetProperty("logs").GetProperty("url").GetString());
        Assert.Equal("loki", endpoints.GetProperty("logs").GetProperty("kind").GetString());
    }

    [Fact]
    public async Task Show_Table_PrintsMembersEndpointsSourcesAndWarnings()
    {
        var result = await CliRunner.RunAsync("inventory", "show", "-i", HaFull);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Cluster pg-test", result.Out, StringComparison.Ordinal);
        Assert.Matches(@"pg-test-1\s+10\.10\.10\.11\s+primary\s+no\s+5432\s+6432\s+8008\s+9630\s+9100\s+9101", result.Out);
        Assert.Matches(@"pg-test-3\s+10\.10\.10\.13\s+replica\s+yes", result.Out);
        Assert.Matches(@"metrics\s+http://10\.10\.10\.10:8428\s+victoria-metrics\s+pigsty-default\s+Pigsty default: VictoriaMetrics port 8428", result.Out);
        Assert.Matches(@"logs\s+http://10\.10\.10\.10:9428\s+victoria-logs\s+pigsty-default", result.Out);
        Assert.Contains("Warnings (", result.Out, StringComparison.Ordinal);
        Assert.Contains("****** (from ", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_V37Table_SaysTheMetricsUrlCameFromTheInventory()
    {
        var result = await CliRunner.RunAsync("inventory", "show", "-i", InventoryTestKit.FixturePath("v3.7.0/ha-full.yml"));

        Assert.Matches(@"metrics\s+http://10\.10\.10\.10:9058\s+prometheus\s+inventory\s+\S*ha-full\.yml:119:52 \(infra_portal\.prometheus\.endpoint", result.Out);
    }

    [Fact]
    public async Task Check_ValidInventory_ExitsZero()
    {
        var result = await CliRunner.RunAsync("inventory", "check", "-i", HaFull);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("OK: 2 cluster(s), 4 member(s)", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_InvalidInventory_ListsEveryProblemAndExitsTwo()
    {
        using var file = new TempFile("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary }
                    10.0.0.2: { pg_seq: 1, pg_role: primary, pg_port: high }
                  vars: { pg_cluster: pg-test }
            """);

        var result = await CliRunner.RunAsync("inventory", "check", "-i", file.Path);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"error: {file.Path}:6:29: pg-test/10.0.0.2: duplicate pg_seq 1", result.Out, StringComparison.Ordinal);
        Assert.Contains($"error: {file.Path}:6:41: pg-test/10.0.0.2: second primary", result.Out, StringComparison.Ordinal);
        Assert.Contains($"error: {file.Path}:6:59: pg-test/10.0.0.2: pg_port 'high' is not a port number", result.Out, StringComparison.Ordinal);
        Assert.Contains("INVALID: 3 problem(s)", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_InvalidInventoryJson_IsTheDocumentedShapeAndExitsTwo()
    {
        using var file = new TempFile("""
            all:
              children:
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: chief } }
                  vars: { pg_cluster: pg-test }
            """);

        var result = await CliRunner.RunAsync("inventory", "check", "-i", file.Path, "--json");

        Assert.Equal(2, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Out);
        var root = doc.RootElement;
        Assert.False(root.GetProperty("valid").GetBoolean());
        var problems = root.GetProperty("problems").EnumerateArray().ToList();
        Assert.Equal(2, problems.Count);
        var role = problems.Single(p => p.GetProperty("message").GetString()!.StartsWith("unknown pg_role", StringComparison.Ordinal));
        Assert.Equal((file.Path, 4L, 48L, "pg-test/10.0.0.1"), (role.GetProperty("file").GetString(), role.GetProperty("line").GetInt64(), role.GetProperty("column").GetInt64(), role.GetProperty("subject").GetString()));
        Assert.Equal("use one of: primary, replica, offline", role.GetProperty("hint").GetString());
        Assert.StartsWith($"{file.Path}:4:48: pg-test/10.0.0.1: unknown pg_role 'chief'", role.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, root.GetProperty("summary").GetProperty("clusters").GetInt32());
    }

    [Fact]
    public async Task Show_InvalidInventory_ExitsTwoWithProblemsOnStderr()
    {
        using var file = new TempFile("""
            all:
              children:
                pg-test:
                  hosts: { 10.0.0.1: { pg_role: primary } }
                  vars: { pg_cluster: pg-test }
            """);

        var result = await CliRunner.RunAsync("inventory", "show", "-i", file.Path);

        Assert.Equal(2, result.ExitCode);
        Assert.Empty(result.Out);
        Assert.Contains("1 problem in the inventory", result.Error, StringComparison.Ordinal);
        Assert.Contains($"{file.Path}:4:16: pg-test/10.0.0.1: missing pg_seq", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_YamlSyntaxError_ExitsTwoWithLocation()
    {
        using var file = new TempFile("all:\n  children:\n    pg-test: { hosts: [ }\n");

        var result = await CliRunner.RunAsync("inventory", "check", "-i", file.Path);

        Assert.Equal(2, result.ExitCode);
        Assert.Matches($@"error: {System.Text.RegularExpressions.Regex.Escape(file.Path)}:3:\d+: YAML syntax error", result.Out);
    }

    [Theory]
    [InlineData("show")]
    [InlineData("check")]
    public async Task Verb_MissingExplicitFile_ExitsTwoNamingThePath(string verb)
    {
        var missing = Path.Combine(Path.GetTempPath(), $"no-such-{Guid.NewGuid():N}.yml");

        var result = await CliRunner.RunAsync("inventory", verb, "-i", missing);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"inventory file {missing} (from --inventory) does not exist", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_NoInventoryAnywhere_ExitsTwoListingWhereItLooked()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("PGRA_INVENTORY"))
            || File.Exists(Path.Combine(Directory.GetCurrentDirectory(), "pigsty.yml"))
            || File.Exists(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), "pigsty", "pigsty.yml")))
        {
            Assert.Skip("an inventory is present in the default lookup on this machine");
        }

        var result = await CliRunner.RunAsync("inventory", "show");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no inventory found; pass -i FILE or set $PGRA_INVENTORY. Looked in:", result.Error, StringComparison.Ordinal);
        Assert.Contains("$PGRA_INVENTORY (not set)", result.Error, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(Directory.GetCurrentDirectory(), "pigsty.yml") + " (not found)", result.Error, StringComparison.Ordinal);
        Assert.Contains(Path.Combine("pigsty", "pigsty.yml") + " (not found)", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_BadSettingsFile_ExitsTwoWithTheKeyLocation()
    {
        using var settings = new TempFile("endpoints:\n  metrics_ulr: http://x:1\n");

        var result = await CliRunner.RunAsync("inventory", "show", "-i", HaFull, "--settings", settings.Path);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{settings.Path}:2:3: endpoints.metrics_ulr: unknown key 'metrics_ulr' in endpoints; did you mean 'metrics_url'?", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_BadSettingsFile_IsListedWithTheInventoryProblems()
    {
        using var settings = new TempFile("sensing:\n  interval_seconds: soon\n");

        var result = await CliRunner.RunAsync("inventory", "check", "-i", HaFull, "--settings", settings.Path);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"error: {settings.Path}:2:21: sensing.interval_seconds: 'soon' is not a number", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_WithSettings_PrintsTheSettingsSourceOfEachEndpoint()
    {
        using var settings = new TempFile("""
            endpoints:
              metrics_url: http://127.0.0.10:9090
              metrics_kind: prometheus
              logs_kind: files
            """);

        var result = await CliRunner.RunAsync("inventory", "show", "-i", HaFull, "--settings", settings.Path, "--json");

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Out);
        var endpoints = doc.RootElement.GetProperty("endpoints");
        Assert.Equal("http://127.0.0.10:9090", endpoints.GetProperty("metrics").GetProperty("url").GetString());
        Assert.Equal("settings", endpoints.GetProperty("metrics").GetProperty("source").GetString());
        Assert.Equal($"{settings.Path}:2:16", endpoints.GetProperty("metrics").GetProperty("origin").GetString());
        Assert.Equal("prometheus", endpoints.GetProperty("metrics").GetProperty("kind").GetString());
        Assert.Equal(JsonValueKind.Null, endpoints.GetProperty("logs").GetProperty("url").ValueKind);
        Assert.Equal("files", endpoints.GetProperty("logs").GetProperty("kind").GetString());
        Assert.Equal(settings.Path, doc.RootElement.GetProperty("settings").GetProperty("path").GetString());
        Assert.Equal("--settings", doc.RootElement.GetProperty("settings").GetProperty("how").GetString());
    }

    [Fact]
    public async Task Show_PasswordEqualToThePatroniPort_KeepsThePortAndTheJsonValid()
    {
        using var inventory = new TempFile("""
            all:
              children:
                pg-test:
                  hosts:
                    10.10.10.11: { pg_seq: 1, pg_role: primary }
                  vars: { pg_cluster: pg-test }
              vars:
                pg_admin_password: 8008
            """);

        var json = await CliRunner.RunAsync("inventory", "show", "-i", inventory.Path, "--json");
        var table = await CliRunner.RunAsync("inventory", "show", "-i", inventory.Path);

        Assert.Equal(0, json.ExitCode);
        using var doc = JsonDocument.Parse(json.Out);
        var member = doc.RootElement.GetProperty("clusters")[0].GetProperty("members")[0];
        Assert.Equal(8008, member.GetProperty("ports").GetProperty("patroni").GetInt32());
        Assert.Equal("http://10.10.10.11:8008", member.GetProperty("patroniUrl").GetString());
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("8008", table.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inventory_Help_ListsBothVerbs()
    {
        var result = await CliRunner.RunAsync("inventory", "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("show", result.Out, StringComparison.Ordinal);
        Assert.Contains("check", result.Out, StringComparison.Ordinal);
    }
}

/// <summary>A temporary file with the given text, deleted on dispose.</summary>
internal sealed class TempFile : IDisposable
{
    public TempFile(string text, string extension = ".yml")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"pgra-test-{Guid.NewGuid():N}{extension}");
        File.WriteAllText(Path, text);
    }

    public string Path { get; }

    public void Dispose() => File.Delete(Path);
}
