using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Tests.Incidents;

public sealed class IncidentTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-incident-test-").FullName;
    private IJournal _journal = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() =>
        _journal = await SqliteJournal.OpenAsync(Path.Combine(_dir, "journal.db"), new SecretStore(), new FakeTimeProvider(IncidentScenario.T0), Ct);

    public async ValueTask DisposeAsync()
    {
        await _journal.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Observe_PrimaryFailureStream_OpensOneIncidentAndResolvesIt()
    {
        var (_, id, _) = await IncidentScenario.RunAsync(_journal, runSkill: false, Ct);

        var incidents = await IncidentStore.ListAsync(_journal, Ct);
        var incident = Assert.Single(incidents);
        Assert.Equal(id, incident.Id);
        Assert.Equal("inc-pg-test-" + IncidentScenario.T0.AddSeconds(8).UtcDateTime.ToString("yyyyMMdd-HHmmss", System.Globalization.CultureInfo.InvariantCulture), id);
        Assert.Equal(IncidentState.Resolved, incident.State);
        Assert.Equal(FindingSeverity.Critical, incident.Severity);
        Assert.Equal("pg-test-3", incident.LeaderBefore);
        Assert.Equal(IncidentScenario.T0.AddSeconds(8), incident.OpenedAt);
        Assert.Equal(IncidentScenario.T0.AddSeconds(14), incident.ResolvedAt);
        Assert.Contains(FindingCodes.LeaderMissing, incident.Codes);
    }

    [Fact]
    public async Task Observe_FollowUpFindingStillActive_IsCarriedAndDoesNotReopen()
    {
        await IncidentScenario.RunAsync(_journal, runSkill: false, Ct);

        // inventory-drift (pg_role says pg-test-1) stays active through and after the incident: no second incident.
        var incidents = await IncidentStore.ListAsync(_journal, Ct);
        Assert.Single(incidents);
        Assert.Contains(incidents[0].ActiveFindings, k => k.Contains(FindingCodes.InventoryDrift, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Observe_JournalsSnapshotsFindingsAndIncidentEvents()
    {
        var (_, id, _) = await IncidentScenario.RunAsync(_journal, runSkill: false, Ct);

        var data = (await IncidentStore.LoadAsync(_journal, id, Ct))!;
        Assert.Equal(8, data.Snapshots.Count); // the four detection-history snapshots up to the opening, then every one while open
        Assert.Contains(data.Events, e => e.Topic == IncidentKinds.Opened);
        Assert.Contains(data.Events, e => e.Topic == IncidentKinds.Resolved);
        Assert.Contains(data.Findings, e => e.Topic == FindingCodes.LeaderMissing && e.Summary.Contains("raised", StringComparison.Ordinal));
        Assert.Contains(data.Findings, e => e.Topic == FindingCodes.LeaderMissing && e.Summary.Contains("cleared", StringComparison.Ordinal));
        Assert.True((await _journal.VerifyAsync(Ct)).Ok);
    }

    [Fact]
    public async Task SkillRun_Recorded_MovesTheIncidentToMitigatingAndIsLinked()
    {
        var (_, id, run) = await IncidentScenario.RunAsync(_journal, runSkill: true, Ct);

        Assert.NotNull(run);
        Assert.Equal(SkillRunStatus.Completed, run.Status);
        var data = (await IncidentStore.LoadAsync(_journal, id, Ct))!;
        Assert.Contains(data.Related, e => e.Kind == IncidentKinds.SkillRun);
        Assert.Contains(data.Incident.Links, l => l.Role == "skill-run");
    }

    [Fact]
    public async Task PostMortem_FromJournalAlone_HasOutageDataLossAndOrderedTimeline()
    {
        var (_, id, _) = await IncidentScenario.RunAsync(_journal, runSkill: true, Ct);

        var report = (await PostMortemWriter.BuildAsync(_journal, id, Ct))!;

        Assert.Equal("pg-test-3", report.OldLeader);
        Assert.Equal("pg-test-2", report.NewLeader);
        Assert.Equal(13, report.NewTimeline);
        Assert.Equal(6.0, report.Outage.Seconds);
        Assert.Equal(IncidentScenario.T0.AddSeconds(5), report.Outage.Start);
        Assert.Equal(IncidentScenario.T0.AddSeconds(11), report.Outage.End);
        Assert.Contains("Patroni /history", report.Outage.EndMethod, StringComparison.Ordinal);
        Assert.Null(report.DataLoss.Bytes); // asynchronous: writes after the last snapshot are invisible, no bound is claimed
        Assert.Equal(IncidentScenario.OldWal - IncidentScenario.Switch, report.DataLoss.AtLeastBytes);
        Assert.Equal("0/3000000", report.DataLoss.PromotionLsn);
        Assert.Equal(FindingCodes.LeaderMissing, report.RootCauseCode);
        Assert.Equal(report.Timeline.OrderBy(e => e.At).Select(e => e.At), report.Timeline.Select(e => e.At));
        var kinds = report.Timeline.Select(e => e.Kind == "detected" && !e.What.StartsWith("leader-missing", StringComparison.Ordinal) ? "other" : e.Kind).ToList();
        Assert.True(kinds.IndexOf("healthy") < kinds.IndexOf("writes-down"));
        Assert.True(kinds.IndexOf("writes-down") < kinds.IndexOf("detected"));
        Assert.True(kinds.IndexOf("detected") < kinds.IndexOf("writes-back"));
        Assert.True(kinds.IndexOf("writes-back") <= kinds.IndexOf("incident-resolved"));
        Assert.Contains(report.Timeline, e => e.Kind == "verified");
        Assert.Contains(report.FollowUps, f => f.StartsWith("Rebuild pg-test-3 as a replica of pg-test-2", StringComparison.Ordinal));
        Assert.Contains(report.FollowUps, f => f.Contains("full backup on the new timeline 13", StringComparison.Ordinal));
        Assert.Contains(report.FollowUps, f => f.Contains("pg_role: primary on pg-test-2", StringComparison.Ordinal));
        Assert.Contains(report.Actions, a => a.Skill == "primary-failure");
        Assert.Contains(report.Unknowns, u => u.Contains("known only to within 2 s", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PostMortem_ModelAnswerOfAnInvestigateStep_IsShownApartAndMarkedAsTheModels()
    {
        var (_, id, _) = await IncidentScenario.RunAsync(_journal, runSkill: true, Ct);
        var data = System.Text.Json.JsonSerializer.SerializeToElement(new { model = "model-x", journal = "41", question = "why did the leader stop?" });
        var note = new SkillNote("pg-test", "primary-failure", "ask", SkillRecordKinds.Investigation, "The leader's disk filled.\nWAL could not be written.", data);
        var entry = await _journal.AppendAsync(JournalRecord.Create(IncidentKinds.SkillNote, "investigation (primary-failure/ask)", note, "pg-test", null, id, note.Kind), Ct);

        var report = (await PostMortemWriter.BuildAsync(_journal, id, Ct))!;
        var (md, _) = await PostMortemWriter.WriteAsync(report, Path.Combine(_dir, "pm"), Ct);

        var narrative = Assert.Single(report.ModelNarratives);
        Assert.Equal(("model-x", "primary-failure", "ask", "41", entry.Seq), (narrative.Model, narrative.Skill, narrative.Step, narrative.Exchange, narrative.JournalSeq));
        Assert.DoesNotContain(report.FollowUps, f => f.Contains("disk filled", StringComparison.Ordinal));
        Assert.DoesNotContain("disk filled", report.Summary, StringComparison.Ordinal);
        var text = await File.ReadAllTextAsync(md, Ct);
        var section = text.IndexOf("## The model's reading (written by a language model, not verified by the agent)", StringComparison.Ordinal);
        Assert.True(section > text.IndexOf("## Follow-ups", StringComparison.Ordinal), text);
        Assert.Contains("> The leader's disk filled.\n> WAL could not be written.", text[section..], StringComparison.Ordinal);
        Assert.Contains("**model-x**, asked by skill primary-failure at step ask", text[section..], StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostMortem_Markdown_HasEverySection()
    {
        var (_, id, _) = await IncidentScenario.RunAsync(_journal, runSkill: true, Ct);
        var report = (await PostMortemWriter.BuildAsync(_journal, id, Ct))!;

        var (md, json) = await PostMortemWriter.WriteAsync(report, Path.Combine(_dir, "pm"), Ct);

        var text = await File.ReadAllTextAsync(md, Ct);
        foreach (var section in new[] { "## Summary", "## Impact", "## Timeline (UTC)", "## Root cause", "## What the agent did and why", "## What could not be determined", "## Follow-ups" })
        {
            Assert.Contains(section, text, StringComparison.Ordinal);
        }

        Assert.Contains("| Write outage | 6 s", text, StringComparison.Ordinal);
        Assert.Contains("| Data loss | at least 256 bytes, upper bound unknown", text, StringComparison.Ordinal);
        using var doc = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(json, Ct));
        Assert.Equal(6.0, doc.RootElement.GetProperty("outage").GetProperty("seconds").GetDouble());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, doc.RootElement.GetProperty("data_loss").GetProperty("bytes").ValueKind);
        Assert.Equal(256, doc.RootElement.GetProperty("data_loss").GetProperty("at_least_bytes").GetInt64());
    }

    [Fact]
    public async Task Replay_JournaledIncident_MakesTheSameDecisions()
    {
        var (_, id, run) = await IncidentScenario.RunAsync(_journal, runSkill: true, Ct);
        var catalog = SkillCatalog.Load(Path.Combine(TestPaths.RepoRoot, "skills"));

        var report = (await IncidentReplay.ReplayAsync(_journal, id, catalog, Ct))!;

        Assert.True(report.Same, string.Join("\n", report.Differences));
        var replayed = Assert.Single(report.SkillRuns);
        Assert.Equal(run!.Decisions.Count, replayed.ReplayedDecisions.Count);
        Assert.Contains(report.Findings, f => f.Code == FindingCodes.LeaderMissing && f.Same);
    }

    [Fact]
    public async Task Replay_ChangedSkill_ReportsTheDifference()
    {
        var (_, id, _) = await IncidentScenario.RunAsync(_journal, runSkill: true, Ct);
        var dir = Path.Combine(_dir, "skills");
        Directory.CreateDirectory(dir);
        var text = await File.ReadAllTextAsync(Path.Combine(TestPaths.RepoRoot, "skills", "primary-failure.md"), Ct);
        await File.WriteAllTextAsync(Path.Combine(dir, "primary-failure.md"), text.Replace("timeout: 35s", "timeout: 1s", StringComparison.Ordinal), Ct);

        var report = (await IncidentReplay.ReplayAsync(_journal, id, SkillCatalog.Load(dir), Ct))!;

        Assert.False(report.Same);
        Assert.Contains(report.Differences, d => d.Contains("primary-failure", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Observe_WarningASkillActsOn_OpensAWarningIncidentWhileInfoAndOtherWarningsOpenNone()
    {
        var s = Detection.DetectionKit.Load("healthy");
        Finding F(string code, FindingSeverity severity, string? subject = null) => new()
        {
            Code = code,
            Severity = severity,
            Cluster = s.Cluster,
            Members = ["pg-test-3"],
            Summary = $"{code} (test)",
            Subject = subject,
            FirstSeen = s.TakenAt,
            LastSeen = s.TakenAt,
        };
        DetectionResult Raised(params Finding[] f) => new(s, f, f, f, []);
        var manager = new IncidentManager(_journal, options: new IncidentOptions { SkillFindings = [FindingCodes.ArchiveFailing, FindingCodes.BackupStale] });

        var quiet = await manager.ObserveAsync(Raised(F(FindingCodes.SensorBlind, FindingSeverity.Warning, "logs"), F(FindingCodes.BackupStale, FindingSeverity.Info, "cluster")), [], Ct);
        var archive = F(FindingCodes.ArchiveFailing, FindingSeverity.Warning);
        var opened = await manager.ObserveAsync(Raised(archive), [], Ct);

        Assert.Null(quiet.Incident);
        Assert.True(opened.Opened);
        Assert.Equal(FindingSeverity.Warning, opened.Incident!.Severity);
        Assert.Equal(archive.Key, Assert.Single(opened.Triggers).Key);
        var journaled = Assert.Single(await _journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.Finding] }, Ct));
        Assert.Equal(FindingCodes.ArchiveFailing, journaled.Topic);
        Assert.Equal(opened.Incident.Id, journaled.CorrelationId);
        Assert.Null((await new IncidentManager(_journal).ObserveAsync(Raised(archive), [], Ct)).Incident); // without skills: as before
    }

    [Fact]
    public async Task Load_AfterRestart_DoesNotReopenForCarriedFindings()
    {
        await IncidentScenario.RunAsync(_journal, runSkill: false, Ct);
        var manager = new IncidentManager(_journal);
        await manager.LoadAsync(Ct);
        var detector = new ClusterDetector("pg-test");
        var last = IncidentScenario.Stream()[^1];

        IncidentUpdate? update = null;
        for (var i = 1; i <= 3; i++)
        {
            update = await manager.ObserveAsync(detector.Observe(Detection.DetectionKit.Shift(last, i * 2)), detector.History, Ct);
        }

        Assert.Null(update!.Incident);
        Assert.Single(await IncidentStore.ListAsync(_journal, Ct));
    }
}
