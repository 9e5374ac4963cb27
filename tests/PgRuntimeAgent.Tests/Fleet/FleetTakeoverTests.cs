using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Tests.Detection;
using PgRuntimeAgent.Tests.Incidents;

namespace PgRuntimeAgent.Tests.Fleet;

/// <summary>
/// Two agents sharing one journal (docs/fleet.md): agent-a opens the incident and writes an intent, then dies; agent-b
/// takes the cluster over, adopts the open incident instead of opening a second one, settles the intent and resolves
/// the incident, and the post-mortem names both agents and who did what.
/// </summary>
public sealed class FleetTakeoverTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-takeover-test-").FullName;
    private readonly FakeTimeProvider _time = new(IncidentScenario.T0);
    private IJournal _journal = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() =>
        _journal = await SqliteJournal.OpenAsync(Path.Combine(_dir, "journal.db"), new SecretStore(), _time, Ct);

    public async ValueTask DisposeAsync()
    {
        await _journal.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Takeover_NewOwnerAdoptsTheOpenIncident_ResolvesIt_AndThePostMortemNamesBothAgents()
    {
        var stream = IncidentScenario.Stream();
        var b = new IncidentManager(_journal);
        await b.LoadAsync(Ct); // agent-b started before the incident: it knows nothing of it
        // agent-a took the cluster over from agent-z before the incident: agent-z has no part in it.
        await NoteAsync("agent-a took pg-test over from agent-z (token 5)", JournalKinds.FleetGained,
            new { agent = "agent-a", owns = true, token = 5, previous_agent = "agent-z", previous_token = 2 });

        // agent-a watches the cluster and opens the incident.
        var a = new IncidentManager(_journal);
        var detectorA = new ClusterDetector("pg-test");
        string? id = null;
        foreach (var s in stream.Take(5))
        {
            id ??= (await ObserveAsync(a, detectorA, s)).Incident?.Id;
        }

        Assert.NotNull(id);
        Assert.Null(b.Current("pg-test"));

        // agent-a writes an intent and is killed before its outcome.
        _time.SetUtcNow(stream[4].TakenAt.AddSeconds(0.5));
        var fence = new PlannedAction { Id = "act-a1", Kind = "member.fence", Cluster = "pg-test", Member = "pg-test-3", Summary = "fence pg-test-3" };
        var owner = new IntentOwner("admin-1", 4242, IncidentScenario.T0.AddHours(-1));
        await _journal.TryAppendIntentAsync(JournalRecord.Create(JournalKinds.ActionIntent, "intent: fence pg-test-3",
            new IntentPayload(fence, PrecheckResult.Pass("t", "t"), owner, null) { FencingToken = 5, Agent = "agent-a" }, "pg-test", "pg-test-3", fence.Id, fence.Kind) with { FencingToken = 5 }, Ct);

        // agent-b takes the cluster over and adopts the open incident.
        _time.SetUtcNow(stream[4].TakenAt.AddSeconds(1));
        await NoteAsync("agent-b took pg-test over from agent-a (token 9)", JournalKinds.FleetGained,
            new { agent = "agent-b", owns = true, token = 9, previous_agent = "agent-a", previous_token = 5 });
        await b.AdoptAsync("pg-test", Ct);
        Assert.Equal(id, b.Current("pg-test")?.Id);
        await _journal.AppendAsync(JournalRecord.Create(JournalKinds.ActionOutcome, "succeeded (reconciled after its agent lost the cluster): fence pg-test-3",
            new OutcomePayload { Status = ActionOutcomeStatus.Succeeded, Message = "pg-test-3 is fenced", Action = fence, Reconciled = true, Agent = "agent-b" },
            "pg-test", "pg-test-3", fence.Id, fence.Kind), Ct);

        var detectorB = new ClusterDetector("pg-test");
        var updates = new List<IncidentUpdate>();
        foreach (var s in stream.Skip(5))
        {
            updates.Add(await ObserveAsync(b, detectorB, s));
        }

        Assert.DoesNotContain(updates, u => u.Opened);
        Assert.Contains(updates, u => u.Resolved && u.Incident?.Id == id);
        var incident = Assert.Single(await IncidentStore.ListAsync(_journal, Ct));
        Assert.Equal(IncidentState.Resolved, incident.State);

        var report = PostMortemBuilder.Build((await IncidentStore.LoadAsync(_journal, id, Ct))!);
        Assert.Equal(["agent-a", "agent-b"], report.Agents.Select(x => x.Agent));
        var partA = report.Agents[0];
        var partB = report.Agents[1];
        Assert.Equal(5, partA.Token);
        Assert.Contains("member.fence pg-test-3 (act-a1)", partA.Actions);
        Assert.Equal("agent-a", partB.TookOverFrom);
        Assert.Equal((5L, 9L), (partB.PreviousToken!.Value, partB.Token!.Value));
        Assert.Contains(partB.Reconciled, r => r.StartsWith("member.fence pg-test-3 (act-a1): succeeded", StringComparison.Ordinal));
        Assert.Contains("took the cluster over from agent-a", partB.Part, StringComparison.Ordinal);
        Assert.Equal("agent-a", Assert.Single(report.Actions, x => x.ActionId == "act-a1").Agent);
        Assert.Contains("Handled by agent-a, then agent-b (took over from agent-a at", report.Summary, StringComparison.Ordinal);
        Assert.Contains(report.Timeline, e => e.Kind == "fleet-gained" && e.What.Contains("agent-b", StringComparison.Ordinal));
        var md = PostMortemWriter.Markdown(report);
        Assert.Contains("## Agents", md, StringComparison.Ordinal);
        Assert.Contains("- **agent-b**: took the cluster over from agent-a", md, StringComparison.Ordinal);
        Assert.Contains("by agent agent-a", md, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Adopt_TheOtherAgentResolvedTheIncident_NothingIsOpenHereAndItsFollowUpsStayCarried()
    {
        var stream = IncidentScenario.Stream();
        var b = new IncidentManager(_journal);
        var a = new IncidentManager(_journal);
        var detectorA = new ClusterDetector("pg-test");
        foreach (var s in stream.Take(5))
        {
            await ObserveAsync(a, detectorA, s);
        }

        // agent-b adopts while it is open, loses the cluster back to agent-a, which resolves the incident.
        await b.AdoptAsync("pg-test", Ct);
        Assert.NotNull(b.Current("pg-test"));
        await b.ForgetAsync("pg-test", Ct);
        Assert.Null(b.Current("pg-test"));
        foreach (var s in stream.Skip(5))
        {
            await ObserveAsync(a, detectorA, s);
        }

        // Taken again: the journal says it is resolved, so agent-b opens nothing on the next healthy snapshot.
        await b.AdoptAsync("pg-test", Ct);
        Assert.Null(b.Current("pg-test"));
        var after = await ObserveAsync(b, new ClusterDetector("pg-test"), DetectionKit.Shift(stream[^1], 2));
        Assert.False(after.Opened);
        Assert.Single(await IncidentStore.ListAsync(_journal, Ct));
    }

    private async Task<IncidentUpdate> ObserveAsync(IncidentManager manager, ClusterDetector detector, PgRuntimeAgent.Sensing.Snapshot.ClusterSnapshot s)
    {
        if (s.TakenAt > _time.GetUtcNow())
        {
            _time.SetUtcNow(s.TakenAt);
        }

        var history = detector.History.ToList();
        return await manager.ObserveAsync(detector.Observe(s), history, Ct);
    }

    private Task NoteAsync<T>(string summary, string topic, T payload) =>
        _journal.AppendAsync(JournalRecord.Create(JournalKinds.Note, summary, payload, "pg-test", topic: topic), Ct);
}
