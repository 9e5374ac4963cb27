using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Npgsql;
using PgRuntimeAgent.Cli;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Lab;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.LabTests.Acting;

/// <summary>
/// A lab test's own deployment: the lab's inventory with a copy of its settings whose journal is a file of this test
/// (so tests never share or pollute the lab's journal) and an optional policy. pgra runs in-process against it.
/// Every test restores the leader it found (<see cref="DisposeAsync"/>).
/// </summary>
internal sealed partial class ActingLab : IAsyncDisposable
{
    private ActingLab(LabInfo lab, string dir, string originalLeader)
    {
        Lab = lab;
        Dir = dir;
        OriginalLeader = originalLeader;
    }

    public LabInfo Lab { get; }

    public string Dir { get; }

    public string OriginalLeader { get; }

    public string SettingsPath => Path.Combine(Dir, "lab.pgra.yml");

    public string JournalPath => Path.Combine(Dir, "journal.db");

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The healthy lab (fails in CI, skips elsewhere, when absent) and a deployment with <paramref name="policyYaml"/> (lines under <c>policy:</c>).</summary>
    /// <param name="extraSettings">Whole sections appended to the settings as they are (an <c>llm:</c> section).</param>
    public static async Task<ActingLab> StartAsync(string? policyYaml = null, string? extraSettings = null)
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var dir = Directory.CreateTempSubdirectory("pgra-acting-lab-").FullName;
        var settings = await File.ReadAllTextAsync(lab.SettingsPath, Ct);
        Assert.DoesNotMatch(new Regex(@"^policy:", RegexOptions.Multiline), settings);
        settings = JournalPathLine().Replace(settings, $"  path: {Path.Combine(dir, "journal.db")}");
        if (policyYaml is not null)
        {
            settings += "\npolicy:\n" + string.Join("\n", policyYaml.Split('\n').Select(l => "  " + l)) + "\n";
        }

        if (extraSettings is not null)
        {
            settings += "\n" + extraSettings.TrimEnd() + "\n";
        }

        await File.WriteAllTextAsync(Path.Combine(dir, "lab.pgra.yml"), settings, Ct);
        var leader = (await lab.LeaderAsync(Ct)).Name;
        var acting = new ActingLab(lab, dir, leader);

        // A test that switches over must not inherit the previous test's replication lag (Patroni refuses then).
        await acting.WaitCaughtUpAsync();
        return acting;
    }

    public sealed record Run(int ExitCode, string Out, string Error)
    {
        public JsonElement Json()
        {
            using var doc = JsonDocument.Parse(Out);
            return doc.RootElement.Clone();
        }

        public override string ToString() => $"exit {ExitCode}\n{Out}\n{Error}";
    }

    /// <summary>pgra in-process with this deployment's inventory and settings.</summary>
    public async Task<Run> PgraAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await CliApp.RunAsync(["-i", Lab.InventoryPath, "--settings", SettingsPath, .. args], stdout, stderr, Ct);
        return new Run(code, stdout.ToString(), stderr.ToString());
    }

    public async Task<string> LeaderAsync() => (await Lab.LeaderAsync(Ct)).Name;

    public async Task<int> TimelineAsync()
    {
        using var cluster = Lab.NewCluster();
        var members = await cluster.GetMembersAsync(Ct);
        return members.First(m => m.Role is "leader" or "master" or "primary").Timeline ?? -1;
    }

    /// <summary>Waits (up to 15 s) until Patroni's /cluster shows the leader on a timeline above <paramref name="timeline"/>; members publish it at their next loop.</summary>
    public async Task<bool> WaitTimelineAboveAsync(int timeline)
    {
        for (var i = 0; i < 30; i++)
        {
            if (await TimelineAsync() > timeline)
            {
                return true;
            }

            await Task.Delay(500, Ct);
        }

        return false;
    }

    /// <summary>Number of timeline switches in Patroni's /history.</summary>
    public async Task<int> HistoryCountAsync()
    {
        using var cluster = Lab.NewCluster();
        var leader = await Lab.LeaderAsync(Ct);
        var (status, body) = await cluster.SendAsync(HttpMethod.Get, leader, "/history", null, Ct);
        Assert.Equal(200, status);
        return JsonNode.Parse(body)!.AsArray().Count;
    }

    public async Task WaitHealthyAsync(TimeSpan? timeout = null)
    {
        using var cluster = Lab.NewCluster();
        var (ok, health) = await cluster.WaitHealthyAsync(timeout ?? TimeSpan.FromSeconds(90), Ct);
        Assert.True(ok, $"the lab did not become healthy: {health.Describe()}");
    }

    /// <summary>
    /// Healthy, and every replica within 256 KiB of the leader: a switchover right after a previous test's writes is
    /// refused (correctly) while the replicas are more than maximum_lag_on_failover (1 MiB) behind.
    /// </summary>
    public async Task WaitCaughtUpAsync()
    {
        await WaitHealthyAsync();
        using var cluster = Lab.NewCluster();
        var (ok, members) = await cluster.WaitCaughtUpAsync(256 * 1024, TimeSpan.FromSeconds(90), Ct);
        Assert.True(ok, "the replicas did not catch up: " + string.Join(", ", members.Select(m => $"{m.Name} {m.Role} lag {m.Lag ?? "?"}")));
    }

    /// <summary>The dynamic configuration as one member's Patroni serves it.</summary>
    public async Task<JsonObject> ConfigAsync(LabMember member)
    {
        using var cluster = Lab.NewCluster();
        var (status, body) = await cluster.SendAsync(HttpMethod.Get, member, "/config", null, Ct);
        Assert.Equal(200, status);
        return JsonNode.Parse(body)!.AsObject();
    }

    public async Task PatchConfigAsync(JsonObject patch)
    {
        using var cluster = Lab.NewCluster();
        var leader = await Lab.LeaderAsync(Ct);
        var (status, body) = await cluster.SendAsync(HttpMethod.Patch, leader, "/config", patch.ToJsonString(), Ct);
        Assert.True(status == 200, $"PATCH /config: {status} {body}");
    }

    public async Task<object?> SqlAsync(LabMember member, string sql, string? database = null)
    {
        using var cluster = Lab.NewCluster();
        return await cluster.ScalarAsync(member, sql, Ct, database ?? Lab.Manifest.Database, Lab.Credentials.Superuser);
    }

    public async Task<object?> SqlAsync(LabMember member, string sql, object?[] parameters, string? database = null)
    {
        await using var connection = new NpgsqlConnection(Lab.ConnectionString(member, Lab.Credentials.Superuser, database ?? Lab.Manifest.Database));
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var p in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = p ?? DBNull.Value });
        }

        var value = await command.ExecuteScalarAsync(Ct);
        return value is DBNull ? null : value;
    }

    /// <summary>Every entry of this deployment's journal (read-only).</summary>
    public async Task<IReadOnlyList<JournalEntry>> JournalAsync(string? correlation = null)
    {
        await using var journal = await SqliteJournal.OpenAsync(JournalPath, new SecretStore(), TimeProvider.System, Ct);
        return await journal.QueryAsync(new JournalQuery { CorrelationId = correlation }, Ct);
    }

    /// <summary>Intents in the journal, read without writing (another process may be appending); 0 while there is no journal yet.</summary>
    public async Task<long> CountIntentsAsync()
    {
        if (!File.Exists(JournalPath))
        {
            return 0;
        }

        try
        {
            await using var connection = new SqliteConnection($"Data Source={JournalPath};Mode=ReadOnly;Pooling=False");
            await connection.OpenAsync(Ct);
            await using var command = connection.CreateCommand();
            command.CommandText = "select count(*) from journal_entries where kind = 'action.intent'";
            return (long)(await command.ExecuteScalarAsync(Ct))!;
        }
        catch (SqliteException)
        {
            return 0;
        }
    }

    /// <summary>Nothing secret of the lab's inventory and settings appears in the journal file or its export.</summary>
    public async Task AssertNoSecretsInJournalAsync()
    {
        var workspace = Workspace.Load(Lab.InventoryPath, SettingsPath, Workspace.ProcessEnvironment(), Directory.GetCurrentDirectory(), null);
        var secrets = workspace.Secrets.MaskedValues.Where(v => v.Length >= 3).ToList();
        Assert.NotEmpty(secrets);
        var export = await PgraAsync("journal", "export", "--jsonl");
        Assert.Equal(0, export.ExitCode);
        Assert.NotEmpty(export.Out);
        SqliteConnection.ClearAllPools();
        var raw = string.Concat(new[] { JournalPath, JournalPath + "-wal" }.Where(File.Exists).Select(p =>
        {
            using var stream = new FileStream(p, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return reader.ReadToEnd();
        }));
        foreach (var secret in secrets)
        {
            Assert.False(SecretStore.ContainsStandalone(export.Out, secret), $"a secret from the inventory ({secret.Length} characters) is in the journal export");
            Assert.False(SecretStore.ContainsStandalone(raw, secret), $"a secret from the inventory ({secret.Length} characters) is in the journal file");
        }
    }

    /// <summary>Puts the leader back where the test found it (a direct Patroni switchover), then waits for a healthy cluster.</summary>
    public async Task RestoreLeaderAsync()
    {
        await WaitHealthyAsync(TimeSpan.FromSeconds(60));
        var leader = await Lab.LeaderAsync(Ct);
        if (leader.Name == OriginalLeader)
        {
            return;
        }

        await WaitCaughtUpAsync();
        using var cluster = Lab.NewCluster();
        var body = new JsonObject { ["leader"] = leader.Name, ["candidate"] = OriginalLeader }.ToJsonString();
        var (status, text) = await cluster.SendAsync(HttpMethod.Post, leader, "/switchover", body, Ct, TimeSpan.FromSeconds(40));
        Assert.True(status == 200, $"could not restore the leader {OriginalLeader}: {status} {text}");
        await WaitHealthyAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await RestoreLeaderAsync();
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(Dir, recursive: true);
            }
            catch (IOException)
            {
                // left in the temp directory
            }
        }
    }

    public static void Report(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    [GeneratedRegex(@"^  path: .*$", RegexOptions.Multiline)]
    private static partial Regex JournalPathLine();
}
