using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Fleet;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Tests.Agent;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Fleet;

/// <summary>
/// Several agents sharing the clusters, without etcd: the <c>fleet:</c> settings and their checks, which agent
/// rendezvous hashing prefers, the loop that senses only what it owns, and the pipeline's ownership precheck that
/// keeps an agent which lost a cluster from acting there (the lab tests run the leases on the lab's real etcd).
/// </summary>
public sealed class FleetTests : IDisposable
{
    private static readonly IReadOnlyDictionary<string, string?> NoEnvironment = new Dictionary<string, string?>();
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-fleet-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private SettingsLoadResult LoadSettings(string yaml)
    {
        var path = Path.Combine(_dir, "pgra.yml");
        File.WriteAllText(path, yaml);
        return SettingsLoader.TryLoad(path, Path.Combine(_dir, "lab.yml"), new SecretStore(), NoEnvironment, Path.Combine(_dir, "etc"));
    }

    [Fact]
    public void Settings_OffByDefault_OnWithAnAgentId()
    {
        Assert.False(AgentSettings.Default.Fleet.Enabled);
        var result = LoadSettings("fleet:\n  agent_id: admin-1\n  lease_ttl_seconds: 15\n  etcd_urls: [http://127.0.0.1:2379]\n");

        Assert.Empty(result.Problems);
        Assert.True(result.Settings.Fleet.Enabled);
        Assert.Equal("admin-1", result.Settings.Fleet.AgentId);
        Assert.Equal(15, result.Settings.Fleet.LeaseTtlSeconds);
        Assert.Equal("/pgra/", result.Settings.Fleet.Prefix);
        Assert.Equal([new Uri("http://127.0.0.1:2379/")], result.Settings.Fleet.ParsedEtcdUrls());
    }

    [Theory]
    [InlineData("  agent_id: 'admin 1'\n", "fleet.agent_id", "is not a name")]
    [InlineData("  agent_id: a\n  lease_ttl_seconds: 1\n", "fleet.lease_ttl_seconds", "between 3 and 300")]
    [InlineData("  agent_id: a\n  prefix: pgra\n", "fleet.prefix", "must start and end with '/'")]
    [InlineData("  agent_id: a\n  etcd_urls: [ftp://127.0.0.1:2379]\n", "fleet.etcd_urls", "absolute http:// or https:// URL")]
    public void Settings_BadValue_IsAnErrorAtItsKeyWithAHint(string body, string key, string message)
    {
        var result = LoadSettings("fleet:\n" + body);

        var problem = Assert.Single(result.Problems).ToString();
        Assert.Contains("pgra.yml:", problem, StringComparison.Ordinal);
        Assert.Contains(key, problem, StringComparison.Ordinal);
        Assert.Contains(message, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Preferred_SpreadsAThousandClustersOverThreeAgents_AndMovesOnlyTheLeaversClusters()
    {
        var clusters = Enumerable.Range(1, 1000).Select(i => $"pg-{i:0000}").ToList();
        string[] three = ["agent-a", "agent-b", "agent-c"];

        var before = clusters.ToDictionary(c => c, c => ClusterLeases.Preferred(three, c)!);
        var after = clusters.ToDictionary(c => c, c => ClusterLeases.Preferred(["agent-a", "agent-c"], c)!);

        foreach (var agent in three)
        {
            Assert.InRange(before.Values.Count(v => v == agent), 280, 390);
        }

        Assert.All(clusters.Where(c => before[c] != "agent-b"), c => Assert.Equal(before[c], after[c]));
        Assert.All(clusters, c => Assert.NotEqual("agent-b", after[c]));
        Assert.Equal(before, clusters.ToDictionary(c => c, c => ClusterLeases.Preferred(three.Reverse(), c)!));
        Assert.Null(ClusterLeases.Preferred([], "pg-test"));
    }

    [Fact]
    public async Task Loop_ClusterNotOwned_IsNotSensed_ThenOwnedIsSensedAndTheChangeJournaled()
    {
        var ownership = new Ownership();
        await using var kit = await AgentKit.CreateAsync(ownership: ownership);

        await kit.FeedAsync(Load("healthy"));
        await kit.TickAsync();
        Assert.Equal(0, kit.SenseCalls);
        Assert.Empty(kit.EventsNamed(AgentEventNames.OwnershipGained));

        ownership.Owned = true;
        await kit.TickAsync();
        await kit.TickAsync();
        Assert.Equal(2, kit.SenseCalls);
        var gained = Assert.Single(kit.EventsNamed(AgentEventNames.OwnershipGained));
        Assert.Contains("agent test-agent took pg-test (token 7)", gained.Title, StringComparison.Ordinal);

        ownership.Owned = false;
        await kit.TickAsync();
        Assert.Equal(2, kit.SenseCalls);
        Assert.Single(kit.EventsNamed(AgentEventNames.OwnershipLost));
        var notes = (await kit.EntriesAsync(JournalKinds.Note)).Select(e => e.Topic).ToList();
        Assert.Equal([AgentEventNames.OwnershipGained, AgentEventNames.OwnershipLost], notes);
    }

    [Fact]
    public async Task Regain_SymptomsSeenBeforeTheClusterWasLost_DoNotCountTowardsPersistence_OnlyFreshSnapshotsDo()
    {
        var ownership = new Ownership { Owned = true };
        await using var kit = await AgentKit.CreateAsync(level: 5, ownership: ownership);
        var frozen = Frozen(Healthy(), rest: true);
        bool Raised() => kit.Loop.StateOf(AgentKit.Cluster).Latest!.Active.Any(f => f.Code == PgRuntimeAgent.Detection.FindingCodes.PrimaryFrozen);

        // Two of the three snapshots primary-frozen needs, then the cluster is lost for ten minutes.
        await kit.FeedAsync(frozen);
        kit.Time.Advance(TimeSpan.FromSeconds(2));
        await kit.TickAsync();
        Assert.False(Raised());
        ownership.Owned = false;
        await kit.TickAsync();
        kit.Time.Advance(TimeSpan.FromMinutes(10));

        // Taken back: one fresh frozen snapshot is one observation, not the third of a run.
        ownership.Owned = true;
        await kit.TickAsync();
        Assert.False(Raised());
        kit.Time.Advance(TimeSpan.FromSeconds(2));
        await kit.TickAsync();
        Assert.False(Raised());
        kit.Time.Advance(TimeSpan.FromSeconds(2));
        await kit.TickAsync();
        Assert.True(Raised());
    }

    [Fact]
    public async Task IsQuiet_OnlyWithoutAnOpenIncidentSkillRunOrOpenIntent_SoRebalancingNeverMovesABusyCluster()
    {
        await using var kit = await AgentKit.CreateAsync(level: 4);
        await kit.FeedAsync(Load("healthy"));
        Assert.True(await kit.Loop.IsQuietAsync(AgentKit.Cluster, Ct));
        Assert.False(await kit.Loop.IsQuietAsync("pg-nowhere", Ct));

        // An open intent (an operator's action in flight) holds the cluster.
        var action = new PlannedAction { Id = "act-q1", Kind = "member.fence", Cluster = AgentKit.Cluster, Member = "pg-test-3", Summary = "fence pg-test-3 (test)" };
        await kit.Journal.TryAppendIntentAsync(JournalRecord.Create(JournalKinds.ActionIntent, "intent: fence", new IntentPayload(action,
            PrecheckResult.Pass("t", "t"), IntentOwner.Current, null), AgentKit.Cluster, "pg-test-3", action.Id, action.Kind), Ct);
        Assert.False(await kit.Loop.IsQuietAsync(AgentKit.Cluster, Ct));
        await kit.Journal.AppendAsync(JournalRecord.Create(JournalKinds.ActionOutcome, "not-executed: fence", new OutcomePayload
        {
            Status = ActionOutcomeStatus.NotExecuted, Message = "test", Action = action,
        }, AgentKit.Cluster, "pg-test-3", action.Id, action.Kind), Ct);
        Assert.True(await kit.Loop.IsQuietAsync(AgentKit.Cluster, Ct));

        // An open incident holds it too.
        await kit.FeedAsync(Load("disk-full-01"));
        await kit.FeedAsync(Load("disk-full-02"));
        Assert.False(await kit.Loop.IsQuietAsync(AgentKit.Cluster, Ct));
    }

    [Fact]
    public async Task Takeover_TheNewOwnerFollowsTheApprovalTheDeadOwnerWaitedFor_AndRunsItOnceApproved_NoSecondRequest()
    {
        // agent-a (alone here) asks for approval to fence, then dies.
        await using var a = await AgentKit.CreateAsync(level: 2);
        await a.FeedAsync(Load("healthy"));
        await a.FeedAsync(Load("disk-full-01"));
        await a.FeedAsync(Load("disk-full-02"));
        await a.SettleAsync();
        var pending = Assert.Single(await a.Acting.Approvals.ListAsync(false, Ct));

        // agent-b shares the journal and takes the cluster over.
        var ownership = new Ownership { Owned = true };
        await using var b = await AgentKit.CreateAsync(level: 2, ownership: ownership, sharedJournal: a.JournalPath);
        b.Time.SetUtcNow(a.Time.GetUtcNow());
        await b.FeedAsync(Load("disk-full-03") with { TakenAt = a.Time.GetUtcNow().AddSeconds(2) });
        await b.SettleAsync();
        Assert.Single(await b.Acting.Approvals.ListAsync(false, Ct));

        // Approved anywhere: agent-b runs it.
        await b.Acting.Approvals.ApproveAsync(pending.Id, "tester", null, Ct);
        await b.FeedAsync(Load("disk-full-04") with { TakenAt = b.Time.GetUtcNow().AddSeconds(2) });
        await b.SettleAsync();
        Assert.Equal(["member.fence pg-test-3"], b.Actuator.Executed);
        Assert.Empty(a.Actuator.Executed);
        Assert.Single(await b.Acting.Approvals.ListAsync(true, Ct));
    }

    [Fact]
    public async Task Pipeline_OwnershipNotConfirmed_RefusesEveryActionBeforeItsIntent()
    {
        await using var kit = await AgentKit.CreateAsync(level: 4);
        var fence = new Fence { Held = false };
        kit.Acting.Pipeline.Ownership = fence;

        await kit.FeedAsync(Load("healthy"));
        await kit.FeedAsync(Load("disk-full-01"));
        await kit.FeedAsync(Load("disk-full-02"));
        await kit.SettleAsync();

        Assert.Empty(kit.Actuator.Executed);
        Assert.Empty(await kit.EntriesAsync(JournalKinds.ActionIntent));
        var prechecks = (await kit.EntriesAsync(JournalKinds.ActionPrecheck)).Select(e => e.PayloadAs<PrecheckPayload>()!).ToList();
        Assert.NotEmpty(prechecks);
        Assert.All(prechecks, p => Assert.Contains(p.Precheck.Checks, c => c.Name == "owner" && !c.Passed && c.Detail.Contains("agent-b holds it now", StringComparison.Ordinal)));
        Assert.Contains("pg-test", fence.Asked);

        // Confirmed again (the agent owns the cluster): the same drill acts.
        fence.Held = true;
        kit.Time.Advance(TimeSpan.FromSeconds(11));
        await kit.FeedAsync(Load("disk-full-02") with { TakenAt = kit.Time.GetUtcNow().AddSeconds(1) });
        await kit.SettleAsync();
        Assert.Contains("member.fence pg-test-3", kit.Actuator.Executed);
    }

    [Fact]
    public async Task Pipeline_EtcdConfirmedButTheJournalHoldsANewerOwner_RefusesTheIntent()
    {
        // The agent confirmed token 5 in etcd, then froze; meanwhile agent-b took the cluster and journaled token 9.
        await using var kit = await AgentKit.CreateAsync(level: 4);
        kit.Acting.Pipeline.Ownership = new Fence { Held = true };
        await kit.Journal.AppendAsync(JournalRecord.Create(JournalKinds.Note, "agent-b took pg-test", new { agent = "agent-b", owns = true, token = 9 },
            AgentKit.Cluster, topic: JournalKinds.FleetGained), Ct);

        await kit.FeedAsync(Load("healthy"));
        await kit.FeedAsync(Load("disk-full-01"));
        await kit.FeedAsync(Load("disk-full-02"));
        await kit.SettleAsync();

        Assert.Empty(kit.Actuator.Executed);
        Assert.Empty(await kit.EntriesAsync(JournalKinds.ActionIntent));
        var run = Assert.Single(await kit.EntriesAsync(PgRuntimeAgent.Incidents.IncidentKinds.SkillRun));
        var fence = Assert.Single(run.PayloadAs<PgRuntimeAgent.Incidents.SkillRunRecord>()!.Run.Steps, s => s.ActionClass == "member.fence");
        Assert.Contains("taken by agent-b with token 9", fence.Result.GetRawText() + fence.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reconcile_OpenIntentOfAnAgentThatLostTheCluster_IsSettledNowNotAfterTheOrphanTime()
    {
        await using var kit = await AgentKit.CreateAsync();
        var fence = new Fence { Held = true, Token = 9 };
        kit.Acting.Pipeline.Ownership = fence;
        // Written by an agent on another host (its liveness cannot be told) that held token 5, a minute ago.
        var other = new IntentOwner("admin-2", 4242, kit.Time.GetUtcNow().AddHours(-1));
        PlannedAction Fence(string id) => new() { Id = id, Kind = "member.fence", Cluster = AgentKit.Cluster, Member = "pg-test-3", Summary = "fence pg-test-3 (test)" };
        await kit.Journal.TryAppendIntentAsync(JournalRecord.Create(JournalKinds.ActionIntent, "intent: fence", new IntentPayload(Fence("act-old"),
            PrecheckResult.Pass("t", "t"), other, null) { FencingToken = 5 }, AgentKit.Cluster, "pg-test-3", "act-old", "member.fence"), Ct);
        kit.Time.Advance(TimeSpan.FromMinutes(1));

        var reports = await kit.Acting.Pipeline.ReconcileAsync(AgentKit.Cluster, Ct);

        var report = Assert.Single(reports);
        Assert.Equal("not-executed", report.Result);
        var outcome = Assert.Single(await kit.EntriesAsync(JournalKinds.ActionOutcome));
        Assert.Contains("its agent lost the cluster: its writer held token 5; this agent owns pg-test with token 9", outcome.Summary, StringComparison.Ordinal);
        Assert.Empty(await kit.Journal.GetOpenIntentsAsync(AgentKit.Cluster, Ct));

        // The same intent under a token no older than this agent's is another agent's work in progress: left alone.
        await kit.Journal.TryAppendIntentAsync(JournalRecord.Create(JournalKinds.ActionIntent, "intent: fence", new IntentPayload(Fence("act-new"),
            PrecheckResult.Pass("t", "t"), other, null) { FencingToken = 9 }, AgentKit.Cluster, "pg-test-3", "act-new", "member.fence"), Ct);
        Assert.Equal("in-progress", Assert.Single(await kit.Acting.Pipeline.ReconcileAsync(AgentKit.Cluster, Ct)).Result);
    }

    [Fact]
    public async Task Takeover_AFenceTheKilledOwnerDid_IsNotRepeatedByTheNewOwnersSkill_ButAnotherMemberAndALaterOneAre()
    {
        await using var kit = await AgentKit.CreateAsync();
        kit.Acting.Pipeline.Ownership = new Fence { Held = true, Token = 9 };
        kit.Actuator.ReconcileAs = ReconcileStatus.Happened;
        kit.World = AgentKit.Fenced(Healthy(), "pg-test-3");
        // The killed owner (token 5) wrote its fence intent and fenced pg-test-3 before it died.
        var other = new IntentOwner("admin-2", 4242, kit.Time.GetUtcNow().AddHours(-1));
        PlannedAction Fence(string id, string member = "pg-test-3") => new()
        {
            Id = id, Kind = "member.fence", Cluster = AgentKit.Cluster, Member = member, Summary = $"fence {member} (test)", Initiator = "skill:primary-failure",
        };
        await kit.Journal.TryAppendIntentAsync(JournalRecord.Create(JournalKinds.ActionIntent, "intent: fence", new IntentPayload(Fence("act-old"),
            PrecheckResult.Pass("t", "t"), other, null) { FencingToken = 5 }, AgentKit.Cluster, "pg-test-3", "act-old", "member.fence"), Ct);
        kit.Time.Advance(TimeSpan.FromSeconds(30));

        // The new owner's skill asks for the same fence: the intent is reconciled as succeeded, and the step is done.
        var again = await kit.Acting.Pipeline.RunAsync(Fence("act-new"), dryRun: false, Ct);

        Assert.Equal(ActionStatus.Succeeded, again.Status);
        Assert.StartsWith("already done: act-old (reconciled as succeeded", again.Message, StringComparison.Ordinal);
        Assert.Empty(kit.Actuator.Executed);
        var outcome = Assert.Single(await kit.EntriesAsync(JournalKinds.ActionOutcome));
        Assert.Equal("act-old", outcome.CorrelationId);
        Assert.Equal(["act-old"], (await kit.EntriesAsync(JournalKinds.ActionIntent)).Select(e => e.CorrelationId));
        Assert.Contains(await kit.EntriesAsync(JournalKinds.Note), n => n.Summary.StartsWith("not repeated: fence pg-test-3 (test) — act-old did it", StringComparison.Ordinal));

        // Another member is another fence; and once the reconciled one is older than the window, a fence runs again.
        Assert.Equal(ActionStatus.Succeeded, (await kit.Acting.Pipeline.RunAsync(Fence("act-2", "pg-test-2"), dryRun: false, Ct)).Status);
        Assert.Equal(["member.fence pg-test-2"], kit.Actuator.Executed);
        kit.Time.Advance(ActionPipeline.ReconciledWindow + TimeSpan.FromSeconds(1));
        Assert.Equal(ActionStatus.Succeeded, (await kit.Acting.Pipeline.RunAsync(Fence("act-3"), dryRun: false, Ct)).Status);
        Assert.Equal(["member.fence pg-test-2", "member.fence pg-test-3"], kit.Actuator.Executed);
    }

    internal sealed class Ownership : IClusterOwnership
    {
        public bool Owned { get; set; }

        public string AgentId => "test-agent";

        public bool Owns(string cluster) => Owned && cluster == AgentKit.Cluster;

        public IReadOnlyDictionary<string, ClusterOwner> Owners => Owned
            ? new Dictionary<string, ClusterOwner> { [AgentKit.Cluster] = new(AgentKit.Cluster, AgentId, 7, 1) }
            : new Dictionary<string, ClusterOwner> { [AgentKit.Cluster] = new(AgentKit.Cluster, "agent-b", 9, 2) };

        public OwnershipChange? LastChange(string cluster) => new(cluster, AgentId, Owned, 7, Owned ? $"agent {AgentId} took {cluster} (token 7)" : $"agent {AgentId} lost {cluster} (token 7)");
    }

    private sealed class Fence : IOwnershipFence
    {
        public string AgentId => "agent-a";

        public bool Held { get; set; }

        public long Token { get; set; } = 5;

        public List<string> Asked { get; } = [];

        public Task<OwnershipFenceResult> ConfirmAsync(string cluster, CancellationToken cancellationToken)
        {
            lock (Asked)
            {
                Asked.Add(cluster);
            }

            return Task.FromResult(Held
                ? new OwnershipFenceResult(true, $"agent-a owns {cluster}", Token)
                : new OwnershipFenceResult(false, $"agent agent-a no longer owns {cluster} (its token was 5; agent-b holds it now (token 9))", 5));
        }
    }
}
