using System.Text.Json;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Tests.Detection;

namespace PgRuntimeAgent.Tests.Cli;

/// <summary><c>pgra detect</c> on saved snapshots: persisted findings, single-sample symptoms, and slow sensing.</summary>
public sealed class DetectCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-detect-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Save(string name, ClusterSnapshot s)
    {
        var path = Path.Combine(_dir, name + ".json");
        File.WriteAllText(path, SnapshotJson.Serialize(s));
        return path;
    }

    private static string Lab(string name) => Path.Combine(DetectionKit.Dir, name + ".json");

    /// <summary>Every member's SQL connect timed out (a busy admin node), while Patroni answered.</summary>
    private static ClusterSnapshot EverySqlTimedOut(ClusterSnapshot s)
    {
        const string Error = "timed out after 2s (0 of 16 probes done)";
        return s with
        {
            SensorDetails = s.SensorDetails.Select(d => d.Sensor == SensorNames.Postgres ? d with { Health = SensorHealth.Unknown, Reason = Error } : d).ToList(),
            Postgres = s.Postgres.Select(p => p with { Reachable = false, Error = $"postgres://dbuser_monitor@{p.Member}:5432/postgres: {Error}" }).ToList(),
            Members = s.Members.Select(m => m with { PostgresReachable = false, InRecovery = null }).ToList(),
        };
    }

    [Fact]
    public async Task Detect_OneSnapshotOfAFrozenLeader_NamesItASingleSampleSymptom()
    {
        var file = Save("frozen", DetectionKit.Frozen(DetectionKit.Healthy(), rest: false));

        var r = await CliRunner.RunAsync("detect", "pg-test", "--snapshot", file, "-i", "/nonexistent/pigsty.yml");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("0 persisted finding(s), ", r.Out, StringComparison.Ordinal);
        var symptoms = r.Out.IndexOf("Single-sample symptoms (seen on this one snapshot only", StringComparison.Ordinal);
        Assert.True(symptoms > 0, r.Out);
        Assert.True(r.Out.IndexOf("CRITICAL primary-frozen [pg-test-3]", StringComparison.Ordinal) > symptoms, r.Out);
        Assert.DoesNotContain("could not sense", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Detect_OneSnapshotWhereEveryMembersSqlTimedOut_SaysItCouldNotSenseInsteadOfFrozen()
    {
        var file = Save("slow", EverySqlTimedOut(DetectionKit.Healthy()));

        var r = await CliRunner.RunAsync("detect", "pg-test", "--snapshot", file, "-i", "/nonexistent/pigsty.yml");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("could not sense: every member's SQL probes timed out in this sample (pg-test-1, pg-test-2, pg-test-3)", r.Out, StringComparison.Ordinal);
        Assert.Contains("Sensing itself is slow", r.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("primary-frozen", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Detect_JsonOnOneSnapshot_TagsEachFindingPersistedOrNot()
    {
        var file = Save("frozen", DetectionKit.Frozen(DetectionKit.Healthy(), rest: false));

        var r = await CliRunner.RunAsync("detect", "pg-test", "--json", "--snapshot", file, "-i", "/nonexistent/pigsty.yml");

        using var doc = JsonDocument.Parse(r.Out);
        var frozen = doc.RootElement.GetProperty("findings").EnumerateArray().Single(f => f.GetProperty("code").GetString() == "primary-frozen");
        Assert.False(frozen.GetProperty("persisted").GetBoolean());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("could_not_sense").ValueKind);
    }

    [Fact]
    public async Task Detect_ThreeLabSnapshotsOfAFullDisk_ReportsAPersistedFinding()
    {
        var r = await CliRunner.RunAsync("detect", "pg-test", "--json", "--snapshot", Lab("healthy"), Lab("disk-full-01"), Lab("disk-full-02"), "-i", "/nonexistent/pigsty.yml");

        using var doc = JsonDocument.Parse(r.Out);
        var full = doc.RootElement.GetProperty("findings").EnumerateArray().Single(f => f.GetProperty("code").GetString() == "primary-disk-full");
        Assert.True(full.GetProperty("persisted").GetBoolean());
    }
}
