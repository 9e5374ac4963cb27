using System.Net;
using System.Text;
using System.Text.Json;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Tests.Agent;
using PgRuntimeAgent.Web;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Web;

/// <summary>
/// The API's routes on a real Kestrel on 127.0.0.1 over the agent kit (its loop, journal, pipeline and fake world):
/// clusters from the loop's last snapshot or a fresh one, incidents and post-mortems, the journal, actions through
/// the pipeline (dry runs execute nothing, a real one above the level waits for approval), the event stream, strict
/// input checking, roles, and no secret in any response.
/// </summary>
[Collection(WebHostCollection.Name)]
public sealed class AgentApiTests
{
    /// <summary>The lab inventory's admin password: planted where the agent reads text from outside, it must never come back.</summary>
    private const string Secret = "DBUser.DBA";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(HttpClient client, string path, string json)
    {
        using var response = await client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>A world whose Patroni sensor failed with a message carrying the admin password (as a remote error might).</summary>
    private static ClusterSnapshot Leaky(ClusterSnapshot s) => s with
    {
        Sensors = [.. s.Sensors.Select(x => x.Sensor == "patroni" ? x with { Health = SensorHealth.Degraded, Reason = $"login failed for password {Secret} (test)" } : x)],
    };

    [Fact]
    public async Task Clusters_UnderTheLoop_AnswerFromItsLastSnapshot_WithoutSensingAgain()
    {
        await using var web = await WebKit.StartAsync();
        Assert.Contains(Secret, web.Kit.Workspace.Secrets.MaskedValues);
        var world = Leaky(Load("disk-full-02"));
        await web.Kit.FeedAsync(world);
        var latest = web.Kit.Loop.LatestOf(AgentKit.Cluster)!;
        var senses = web.Kit.SenseCalls;
        using var viewer = web.Client(WebKit.ViewerToken);

        var (status, clusters) = await GetAsync(viewer, "api/v1/clusters");
        using var snapshotResponse = await viewer.GetAsync("api/v1/clusters/pg-test/snapshot", Ct);
        var snapshot = JsonDocument.Parse(await snapshotResponse.Content.ReadAsStringAsync(Ct)).RootElement;
        var (findingsStatus, findings) = await GetAsync(viewer, "api/v1/clusters/pg-test/findings");

        Assert.Equal(HttpStatusCode.OK, status);
        var cluster = Assert.Single(clusters.GetProperty("clusters").EnumerateArray());
        Assert.Equal(("pg-test", "loop", world.Leader), (cluster.GetProperty("cluster").GetString(), cluster.GetProperty("source").GetString(), cluster.GetProperty("leader").GetString()));
        Assert.Equal(world.Timeline, JsonSerializer.Deserialize<long?>(cluster.GetProperty("timeline").GetRawText()));
        Assert.Equal(world.Members.Select(m => m.Name), cluster.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("name").GetString()));
        Assert.Equal("degraded", cluster.GetProperty("sensors").GetProperty("patroni").GetString());
        Assert.Equal(latest.Active.Count, cluster.GetProperty("active_findings").GetInt32());
        Assert.True(clusters.GetProperty("agent_loop").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, snapshotResponse.StatusCode);
        Assert.Equal("loop", Assert.Single(snapshotResponse.Headers.GetValues("X-Pgra-Snapshot-Source")));
        Assert.Equal(latest.Snapshot.TakenAt, SnapshotJson.Deserialize(snapshot.GetRawText()).TakenAt);
        Assert.Equal(world.Members.Count, snapshot.GetProperty("members").GetArrayLength());
        Assert.Equal(HttpStatusCode.OK, findingsStatus);
        Assert.Equal("loop", findings.GetProperty("source").GetString());
        Assert.Equal(latest.Active.Select(f => f.Code).Order(), findings.GetProperty("findings").EnumerateArray().Select(f => f.GetProperty("code").GetString()!).Order());
        Assert.Equal(senses, web.Kit.SenseCalls);
        web.AssertNoSecretInAnyResponse();
    }

    [Fact]
    public async Task Clusters_SeveralAgents_NameEachClustersOwnerAndItsToken_AndThisAgentsId()
    {
        var ownership = new PgRuntimeAgent.Tests.Fleet.FleetTests.Ownership();
        await using var web = await WebKit.StartAsync(live: false, leases: ownership);
        web.Kit.World = Load("healthy");
        await using var alone = await WebKit.StartAsync(live: false);
        alone.Kit.World = Load("healthy");
        using var viewer = web.Client(WebKit.ViewerToken);
        using var aloneViewer = alone.Client(WebKit.ViewerToken);

        var (_, other) = await GetAsync(viewer, "api/v1/clusters");
        ownership.Owned = true;
        var (_, mine) = await GetAsync(viewer, "api/v1/clusters");
        var (_, single) = await GetAsync(aloneViewer, "api/v1/clusters");

        Assert.Equal("test-agent", other.GetProperty("agent_id").GetString());
        var owner = Assert.Single(other.GetProperty("clusters").EnumerateArray()).GetProperty("owner");
        Assert.Equal(("agent-b", 9, false), (owner.GetProperty("agent").GetString(), owner.GetProperty("token").GetInt64(), owner.GetProperty("this_agent").GetBoolean()));
        owner = Assert.Single(mine.GetProperty("clusters").EnumerateArray()).GetProperty("owner");
        Assert.Equal(("test-agent", 7, true), (owner.GetProperty("agent").GetString(), owner.GetProperty("token").GetInt64(), owner.GetProperty("this_agent").GetBoolean()));
        Assert.Equal(JsonValueKind.Null, single.GetProperty("agent_id").ValueKind);
        Assert.Equal(JsonValueKind.Null, Assert.Single(single.GetProperty("clusters").EnumerateArray()).GetProperty("owner").ValueKind);
    }

    [Fact]
    public async Task Snapshot_SeveralAgents_AClusterAnotherAgentOwns_IsAnsweredFromItsLastJournaledSnapshot_NotSensedHere()
    {
        var ownership = new PgRuntimeAgent.Tests.Fleet.FleetTests.Ownership();
        await using var web = await WebKit.StartAsync(live: false, leases: ownership);
        web.Kit.World = Load("healthy");
        using var viewer = web.Client(WebKit.ViewerToken);

        // Nothing journaled yet: a fresh snapshot, as before.
        using (var fresh = await viewer.GetAsync("api/v1/clusters/pg-test/snapshot", Ct))
        {
            Assert.Equal("fresh", Assert.Single(fresh.Headers.GetValues("X-Pgra-Snapshot-Source")));
        }

        var sensed = web.Kit.SenseCalls;
        var journaled = Load("disk-full-03");
        await new PgRuntimeAgent.Incidents.SnapshotRecorder(web.Kit.Journal).RecordAsync(journaled, null, Ct);

        using var response = await viewer.GetAsync("api/v1/clusters/pg-test/snapshot", Ct);
        var (_, clusters) = await GetAsync(viewer, "api/v1/clusters");

        Assert.Equal("journal", Assert.Single(response.Headers.GetValues("X-Pgra-Snapshot-Source")));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(journaled.TakenAt, body.GetProperty("taken_at").GetDateTimeOffset());
        var cluster = Assert.Single(clusters.GetProperty("clusters").EnumerateArray());
        Assert.Equal(("journal", "agent-b"), (cluster.GetProperty("source").GetString(), cluster.GetProperty("owner").GetProperty("agent").GetString()));
        Assert.Equal(sensed, web.Kit.SenseCalls);
    }

    [Fact]
    public async Task Clusters_WithoutTheLoop_TakeAFreshSnapshot_AndJudgeItAsPgraDetect()
    {
        await using var web = await WebKit.StartAsync(live: false);
        web.Kit.World = Leaky(Load("disk-full-03"));
        using var viewer = web.Client(WebKit.ViewerToken);

        using var snapshotResponse = await viewer.GetAsync("api/v1/clusters/pg-test/snapshot", Ct);
        var (_, findings) = await GetAsync(viewer, "api/v1/clusters/pg-test/findings");
        var (unknownStatus, unknown) = await GetAsync(viewer, "api/v1/clusters/pg-nowhere/snapshot");
        var (_, clusters) = await GetAsync(viewer, "api/v1/clusters");

        Assert.Equal(HttpStatusCode.OK, snapshotResponse.StatusCode);
        Assert.Equal("fresh", Assert.Single(snapshotResponse.Headers.GetValues("X-Pgra-Snapshot-Source")));
        Assert.Equal(3, web.Kit.SenseCalls);
        var expected = OneOffDetection.Judge("pg-test", AgentKit.Detection, DetectionContext.For(web.Kit.Topology.FindCluster("pg-test")), [web.Kit.World with { TakenAt = web.Kit.Time.GetUtcNow() }]);
        var codes = findings.GetProperty("findings").EnumerateArray().Select(f => (f.GetProperty("code").GetString(), f.GetProperty("persisted").GetBoolean())).ToList();
        Assert.NotEmpty(codes);
        Assert.Equal(expected.Persisted.Select(f => (f.Code, true)).Concat(expected.SingleSample.Select(f => (f.Code, false))), codes.Select(c => (c.Item1!, c.Item2)));
        Assert.Equal(("fresh", 1), (findings.GetProperty("source").GetString(), findings.GetProperty("snapshots").GetInt32()));
        Assert.Equal(HttpStatusCode.NotFound, unknownStatus);
        Assert.Contains("pg-test", unknown.GetProperty("problems")[0].GetString(), StringComparison.Ordinal);
        Assert.False(clusters.GetProperty("agent_loop").GetBoolean());
        Assert.Equal("fresh", clusters.GetProperty("clusters")[0].GetProperty("source").GetString());
        web.AssertNoSecretInAnyResponse();
    }

    [Fact]
    public async Task Incidents_ListShowAndPostmortem_FromTheJournal()
    {
        await using var web = await WebKit.StartAsync();
        var kit = web.Kit;
        await kit.FeedAsync(Load("leader-gone-00"));
        await kit.FeedAsync(Load("leader-gone-01"));
        kit.World = Load("leader-gone-02");
        await kit.SettleAsync();
        foreach (var name in new[] { "leader-gone-03", "leader-gone-04", "leader-gone-04", "leader-gone-04" })
        {
            await kit.TickAsync();
            kit.World = Load(name);
        }

        var id = Assert.Single(kit.EventsNamed(AgentEventNames.IncidentResolved)).Incident!;
        using var viewer = web.Client(WebKit.ViewerToken);

        var (listStatus, list) = await GetAsync(viewer, "api/v1/incidents?cluster=pg-test&state=resolved&limit=5");
        var (_, none) = await GetAsync(viewer, "api/v1/incidents?state=open");
        var (_, other) = await GetAsync(viewer, "api/v1/incidents?cluster=pg-other");
        var (showStatus, show) = await GetAsync(viewer, $"api/v1/incidents/{id}");
        var (pmStatus, pm) = await GetAsync(viewer, $"api/v1/incidents/{id}/postmortem");
        using var md = await viewer.GetAsync($"api/v1/incidents/{id}/postmortem?format=md", Ct);
        var markdown = await md.Content.ReadAsStringAsync(Ct);
        var (missingStatus, _) = await GetAsync(viewer, "api/v1/incidents/inc-pg-test-20990101-000000");
        var (badFormat, badFormatBody) = await GetAsync(viewer, $"api/v1/incidents/{id}/postmortem?format=pdf");
        var (badState, badStateBody) = await GetAsync(viewer, "api/v1/incidents?state=closed");

        Assert.Equal(HttpStatusCode.OK, listStatus);
        var item = Assert.Single(list.EnumerateArray());
        Assert.Equal((id, "pg-test", "resolved"), (item.GetProperty("id").GetString(), item.GetProperty("cluster").GetString(), item.GetProperty("state").GetString()));
        Assert.Contains("leader-missing", item.GetProperty("codes").EnumerateArray().Select(c => c.GetString()));
        Assert.Empty(none.EnumerateArray());
        Assert.Empty(other.EnumerateArray());
        Assert.Equal(HttpStatusCode.OK, showStatus);
        Assert.Equal(id, show.GetProperty("id").GetString());
        Assert.Contains(show.GetProperty("events").EnumerateArray(), e => e.GetProperty("kind").GetString() == "incident" && e.GetProperty("correlationId").GetString() == id);
        Assert.Equal(HttpStatusCode.OK, pmStatus);
        Assert.Contains(id, pm.GetRawText(), StringComparison.Ordinal);
        Assert.Equal("text/markdown", md.Content.Headers.ContentType?.MediaType);
        Assert.Contains(id, markdown, StringComparison.Ordinal);
        Assert.Contains("#", markdown, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, missingStatus);
        Assert.Equal(HttpStatusCode.BadRequest, badFormat);
        Assert.Contains("'format'", badFormatBody.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, badState);
        Assert.Contains("'state'", badStateBody.GetProperty("error").GetString(), StringComparison.Ordinal);
        web.AssertNoSecretInAnyResponse();
    }

    [Theory]
    [InlineData("api/v1/incidents/..%2F..%2Fetc%2Fpasswd")]
    [InlineData("api/v1/incidents/..%2F..%2Fetc%2Fpasswd/postmortem")]
    [InlineData("api/v1/incidents/inc-pg-test-2026")]
    [InlineData("api/v1/incidents/inc-pg-test-20260101-000000.json")]
    [InlineData("api/v1/incidents/%2Fetc%2Fpasswd/postmortem?format=md")]
    public async Task Incidents_AnIdThatIsNotAnIncidentId_Is400(string path)
    {
        await using var web = await WebKit.StartAsync();
        using var viewer = web.Client(WebKit.ViewerToken);

        var (status, body) = await GetAsync(viewer, path);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.False(body.GetProperty("ok").GetBoolean());
        Assert.Contains("not an incident id", body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("root:", body.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Journal_ListsShowsAndVerifies_AndRefusesBadQueries()
    {
        await using var web = await WebKit.StartAsync();
        await web.Kit.Journal.AppendAsync(JournalRecord.Create(JournalKinds.Note, "note by test: maintenance", new { by = "test", text = "maintenance" }, "pg-test"), Ct);
        await web.Kit.FeedAsync(Load("healthy"));
        var all = await web.Kit.EntriesAsync();
        using var viewer = web.Client(WebKit.ViewerToken);

        var (listStatus, list) = await GetAsync(viewer, "api/v1/journal?kind=note&cluster=pg-test&since=1d&limit=10");
        var (_, limited) = await GetAsync(viewer, "api/v1/journal?limit=1");
        var note = list[0].GetProperty("seq").GetInt64();
        var (showStatus, show) = await GetAsync(viewer, $"api/v1/journal/{note}");
        var (verifyStatus, verify) = await GetAsync(viewer, "api/v1/journal/verify");
        var (missing, _) = await GetAsync(viewer, "api/v1/journal/999999");
        var (badSeq, badSeqBody) = await GetAsync(viewer, "api/v1/journal/abc");
        var (badKind, badKindBody) = await GetAsync(viewer, "api/v1/journal?kind=nonsense");
        var (badLimit, badLimitBody) = await GetAsync(viewer, "api/v1/journal?limit=100000");
        var (badSince, badSinceBody) = await GetAsync(viewer, "api/v1/journal?since=yesterday");
        var (typo, typoBody) = await GetAsync(viewer, "api/v1/journal?limt=5");

        Assert.Equal(HttpStatusCode.OK, listStatus);
        var entry = Assert.Single(list.EnumerateArray());
        Assert.Equal(("note", "pg-test"), (entry.GetProperty("kind").GetString(), entry.GetProperty("cluster").GetString()));
        Assert.Equal("maintenance", entry.GetProperty("payload").GetProperty("text").GetString());
        Assert.Equal(all[^1].Seq, Assert.Single(limited.EnumerateArray()).GetProperty("seq").GetInt64());
        Assert.Equal(HttpStatusCode.OK, showStatus);
        Assert.Equal((note, all.Single(e => e.Seq == note).Hash), (show.GetProperty("seq").GetInt64(), show.GetProperty("hash").GetString()));
        Assert.Equal(HttpStatusCode.OK, verifyStatus);
        Assert.True(verify.GetProperty("ok").GetBoolean());
        Assert.Equal(all.Count, verify.GetProperty("checked").GetInt64());
        Assert.Equal(all[^1].Seq, verify.GetProperty("lastSeq").GetInt64());
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal(HttpStatusCode.BadRequest, badSeq);
        Assert.Contains("not an entry number", badSeqBody.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, badKind);
        Assert.Contains("'kind'", badKindBody.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, badLimit);
        Assert.Contains("'limit'", badLimitBody.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, badSince);
        Assert.Contains("'since'", badSinceBody.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, typo);
        Assert.Contains("'limt'", typoBody.GetProperty("error").GetString(), StringComparison.Ordinal);
        web.AssertNoSecretInAnyResponse();
    }

    [Fact]
    public async Task Actions_AViewerIs403_ADryRunPlansAndExecutesNothing_ARealOneAboveTheLevelWaitsForApproval()
    {
        await using var web = await WebKit.StartAsync(level: 2);
        using var viewer = web.Client(WebKit.ViewerToken);
        using var ops = web.Client(WebKit.OperatorToken);
        var fence = $$"""{"kind":"member.fence","cluster":"pg-test","member":"pg-test-3","parameters":{},"reason":"pg-test-3's disk is full; password {{Secret}} (test)","dry_run":DRY}""";

        using var byViewer = await viewer.PostAsync("api/v1/actions", new StringContent(fence.Replace("DRY", "true", StringComparison.Ordinal), Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.Forbidden, byViewer.StatusCode);
        Assert.Empty(await web.Kit.EntriesAsync());

        var (dryStatus, dry) = await PostAsync(ops, "api/v1/actions", fence.Replace("DRY", "true", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, dryStatus);
        Assert.Equal(("dry-run", true, "member.fence", "api:ops"), (dry.GetProperty("status").GetString(), dry.GetProperty("dry_run").GetBoolean(), dry.GetProperty("kind").GetString(), dry.GetProperty("initiator").GetString()));
        Assert.Equal("await-approval", dry.GetProperty("policy").GetProperty("verdict").GetString());
        Assert.NotEmpty(dry.GetProperty("precheck").GetProperty("checks").EnumerateArray());
        Assert.Empty(web.Kit.Actuator.Executed);
        Assert.Empty(await web.Kit.EntriesAsync(JournalKinds.ActionIntent, JournalKinds.ApprovalRequested));

        var (realStatus, real) = await PostAsync(ops, "api/v1/actions", fence.Replace("DRY", "false", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, realStatus);
        Assert.Equal("awaiting-approval", real.GetProperty("status").GetString());
        Assert.Empty(web.Kit.Actuator.Executed);
        var approval = Assert.Single(await web.Kit.Acting.Approvals.ListAsync(includeClosed: false, Ct));
        Assert.Equal(real.GetProperty("action_id").GetString(), approval.Id);
        Assert.Equal(("api:ops", ActionTrigger.Proactive), (approval.Action.Initiator, approval.Action.Trigger));
        Assert.DoesNotContain(Secret, approval.Action.Reason, StringComparison.Ordinal);
        Assert.Empty(await web.Kit.EntriesAsync(JournalKinds.ActionIntent));
        var (_, pending) = await GetAsync(viewer, "api/v1/approvals");
        Assert.Equal(approval.Id, Assert.Single(pending.EnumerateArray()).GetProperty("id").GetString());
        web.AssertNoSecretInAnyResponse();
    }

    [Theory]
    [InlineData("""{"kind":"member.fence","cluster":"pg-test","member":"pg-test-3","parameters":{}}""", "'reason'")]
    [InlineData("""{"kind":"member.fence","cluster":"pg-test","member":"pg-test-3","reason":"x","parameters":{"bogus":"1"}}""", "'bogus'")]
    [InlineData("""{"kind":"member.fence","cluster":"pg-test","member":"pg-test-3","reason":"x","parameters":{"signal":{"a":1}}}""", "parameters.signal")]
    [InlineData("""{"kind":"member.fence","cluster":"pg-test","member":"pg-test-3","reason":"x","parameters":[]}""", "'parameters'")]
    [InlineData("""{"kind":"member.fence","cluster":"pg-test","member":"pg-test-3","reason":"x","dry_run":"yes"}""", "'dry_run'")]
    [InlineData("""{"kind":"member.fence","cluster":"pg-test","member":"pg-test-3","reason":"x","dryrun":true}""", "'dryrun'")]
    [InlineData("""{"kind":"no.such.action","cluster":"pg-test","reason":"x"}""", "no.such.action")]
    [InlineData("""{"kind":"member.fence","cluster":"pg-nowhere","member":"pg-test-3","reason":"x"}""", "pg-nowhere")]
    [InlineData("""{"kind":"member.fence","cluster":"pg-test","reason":"x"}""", "member")]
    [InlineData("""{"kind":42,"cluster":"pg-test","reason":"x"}""", "'kind'")]
    [InlineData("""not json""", "not JSON")]
    [InlineData("""{"kind":"member.fence","cluster":"pg-\uDFFF","member":"pg-test-3","reason":"x"}""", "pg-\uFFFD")]
    [InlineData("""[1,2]""", "JSON object")]
    public async Task Actions_BadInput_Is400_SayingWhatAndWhere_AndNothingIsJournaled(string body, string named)
    {
        await using var web = await WebKit.StartAsync(level: 2);
        using var ops = web.Client(WebKit.OperatorToken);

        var (status, answer) = await PostAsync(ops, "api/v1/actions", body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.False(answer.GetProperty("ok").GetBoolean());
        Assert.Contains(named, answer.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Empty(await web.Kit.EntriesAsync());
        Assert.Empty(web.Kit.Actuator.Executed);
    }

    [Fact]
    public async Task Events_AnEventOfTheLoop_ArrivesOnTheStream_Redacted()
    {
        await using var web = await WebKit.StartAsync();
        var kit = web.Kit;
        using var client = web.StreamClient(WebKit.ViewerToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        using var response = await client.GetAsync("api/v1/events", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
        var read = new StringBuilder();
        async Task ReadUntilAsync(string marker)
        {
            while (!read.ToString().Contains(marker, StringComparison.Ordinal))
            {
                var line = await reader.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException("the event stream ended");
                read.Append(line).Append('\n');
            }
        }

        await ReadUntilAsync(": pgra agent events");
        await kit.FeedAsync(Load("healthy"));
        kit.FailNext = new AgentRunSettings().OutageAfter;
        kit.FailWith = new IOException($"could not log in with password {Secret} (test)");
        for (var i = 0; i < new AgentRunSettings().OutageAfter; i++)
        {
            await kit.TickAsync();
        }

        await ReadUntilAsync("event: sensing.outage");
        read.Append(await reader.ReadLineAsync(timeout.Token)).Append("\n\n");
        web.Keep(read.ToString());

        var events = read.ToString().Split("\n\n").Where(b => b.Contains("data: ", StringComparison.Ordinal)).ToList();
        var snapshot = events.First(b => b.Contains("event: snapshot\n", StringComparison.Ordinal));
        var data = JsonDocument.Parse(snapshot[(snapshot.IndexOf("data: ", StringComparison.Ordinal) + 6)..].Split('\n')[0]).RootElement;
        var emitted = kit.EventsNamed(AgentEventNames.Snapshot)[0];
        Assert.Equal(("snapshot", "pg-test", emitted.Title), (data.GetProperty("name").GetString(), data.GetProperty("cluster").GetString(), data.GetProperty("title").GetString()));
        Assert.Equal(emitted.Details["leader"], data.GetProperty("details").GetProperty("leader").GetString());
        var outage = events.First(b => b.Contains("event: sensing.outage\n", StringComparison.Ordinal));
        Assert.Contains("could not log in with password", outage, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, outage, StringComparison.Ordinal);
        Assert.Contains(Secret, kit.EventsNamed(AgentEventNames.SensingOutage)[0].Message!, StringComparison.Ordinal);
        web.AssertNoSecretInAnyResponse();
    }

    [Fact]
    public async Task Events_WithoutTheLoop_Are503WithAReason()
    {
        await using var web = await WebKit.StartAsync(live: false);
        using var viewer = web.Client(WebKit.ViewerToken);
        using var anonymous = web.Client(null);

        var (status, body) = await GetAsync(viewer, "api/v1/events");
        using var none = await anonymous.GetAsync("api/v1/events", Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Contains("pgra run", body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
    }

    [Fact]
    public void EventSubscription_ASlowReader_LosesTheOldest_AndIsToldHowMany()
    {
        var view = new AgentLiveView(["pg-test"], _ => null);
        using var subscription = view.Subscribe(capacity: 2);
        var at = DateTimeOffset.UnixEpoch;

        for (var i = 1; i <= 5; i++)
        {
            view.OnEvent(new AgentEvent { Name = AgentEventNames.Snapshot, At = at.AddSeconds(i), Title = $"event {i}" });
        }

        Assert.Equal(3, subscription.TakeDropped());
        Assert.Equal(0, subscription.TakeDropped());
        Assert.True(subscription.Reader.TryRead(out var first));
        Assert.True(subscription.Reader.TryRead(out var second));
        Assert.Equal(("event 4", "event 5"), (first.Title, second.Title));
        Assert.Equal(1, view.Subscribers);
        subscription.Dispose();
        Assert.Equal(0, view.Subscribers);
    }
}
