using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Lab;
using PgRuntimeAgent.Web;

namespace PgRuntimeAgent.LabTests.Agent;

/// <summary>
/// A real Alertmanager notification starts a skill: the lab's Prometheus fires <c>PostgresLockPileup</c> during the
/// lock-pileup fault, the lab's Alertmanager posts it with its own token to the agent's web host (127.0.0.1:8765, as
/// the lab's settings say), and the skill whose trigger names that alert runs with the alert as its trigger; the
/// journal holds the alert and the run.
/// </summary>
public sealed class AlertmanagerLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string AlertEcho = """
        ---
        name: alert-echo
        description: Records the alert that started it (a lab test of the Alertmanager intake).
        triggers:
          alerts: [PostgresLockPileup]
        ---
        # alert-echo

        ```yaml steps
        - id: seen
          record: "alert {{ $trigger.alertname }} on {{ $trigger.member }} of {{ $trigger.cluster }}, fingerprint {{ $trigger.fingerprint }}"
        ```

        """;

    [Fact]
    public async Task PostgresLockPileup_FromTheLabsAlertmanager_StartsTheSkillThatNamesIt_WithTheAlertAsTrigger()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        var skills = Directory.CreateTempSubdirectory("pgra-alert-skills-").FullName;
        await File.WriteAllTextAsync(Path.Combine(skills, "alert-echo.md"), AlertEcho, Ct);
        var faults = new LabFaults(lab.Manifest, TimeProvider.System);
        await using var agent = await AgentLab.CreateAsync(lab, level: 0, skillsDirectory: skills);
        Assert.True(agent.Workspace.Settings.Http.Enabled, "the lab's settings have no http: tokens (pgra lab up writes them)");
        await using var web = await AgentWebHosting.StartAsync(agent.Workspace, agent.Runtime.Acting, skills, agent.Runtime, TimeProvider.System,
            NullLoggerFactory.Instance, Ct);
        await using var running = RunningAgent.Start(agent);
        Assert.NotNull(await running.WaitAsync(e => e.Name == AgentEventNames.Snapshot, TimeSpan.FromSeconds(20)));

        AgentEvent? finished;
        var injected = TimeProvider.System.GetUtcNow();
        try
        {
            await faults.InjectAsync("lock-pileup", null, Ct);
            finished = await running.WaitAsync(e => e.Name == AgentEventNames.SkillFinished && (e.Title ?? "").Contains("alert-echo", StringComparison.Ordinal),
                TimeSpan.FromSeconds(120));
        }
        finally
        {
            await faults.HealAsync("lock-pileup", Ct);
        }

        var alerts = await agent.Journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.AlertReceived] }, Ct);
        AgentLab.Report($"PostgresLockPileup from the lab's Alertmanager: alert-echo finished {(finished is null ? "never" : $"{(finished.At - injected).TotalSeconds:0.0} s after the fault")}; "
            + $"{alerts.Count} alert entries: {string.Join(", ", alerts.Select(a => a.Summary))}");
        Assert.True(finished is not null, "no alert-echo run: " + string.Join(Environment.NewLine, running.Timeline()));
        var alert = Assert.Single(alerts, a => a.Topic == "PostgresLockPileup" && a.Summary.Contains("queued", StringComparison.Ordinal));
        Assert.Equal("pg-test", alert.Cluster);
        var run = Assert.Single(await agent.Journal.QueryAsync(new JournalQuery { Kinds = [IncidentKinds.SkillRun] }, Ct),
            e => e.PayloadAs<SkillRunRecord>()?.Run.Skill == "alert-echo").PayloadAs<SkillRunRecord>()!.Run;
        var trigger = run.Trigger!.Value;
        Assert.Equal("alert", trigger.GetProperty("kind").GetString());
        Assert.Equal("PostgresLockPileup", trigger.GetProperty("alertname").GetString());
        Assert.Equal(leader.Name, trigger.GetProperty("member").GetString());
        var note = Assert.Single(await agent.Journal.QueryAsync(new JournalQuery { Kinds = [IncidentKinds.SkillNote] }, Ct),
            e => e.Summary.Contains("alert-echo", StringComparison.Ordinal));
        Assert.Contains($"alert PostgresLockPileup on {leader.Name} of pg-test", note.Summary, StringComparison.Ordinal);

        // The same web host is the lab Prometheus' target `pgra`: the agent's sense cycle time is queryable there.
        var series = await SenseCycleSeriesAsync(lab);
        AgentLab.Report($"Prometheus job pgra: {series}");
        Assert.Contains("\"cluster\":\"pg-test\"", series, StringComparison.Ordinal);
    }

    /// <summary>The lab Prometheus' answer to the agent's sense cycle count for pg-test, once it has one (at most 30 s).</summary>
    private static async Task<string> SenseCycleSeriesAsync(LabInfo lab)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var query = new Uri(lab.Manifest.Endpoints.Prometheus, "/api/v1/query?query=" + Uri.EscapeDataString("pgra_sensing_snapshot_duration_seconds_count{job=\"pgra\",cluster=\"pg-test\"} > 0"));
        var body = "";
        for (var i = 0; i < 30; i++)
        {
            body = await http.GetStringAsync(query, Ct);
            if (body.Contains("\"cluster\":\"pg-test\"", StringComparison.Ordinal))
            {
                return body;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), Ct);
        }

        return body;
    }
}
