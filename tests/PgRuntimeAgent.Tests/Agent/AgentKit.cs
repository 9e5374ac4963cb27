using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Cli;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Tests.Detection;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Tests.Agent;

/// <summary>
/// The world a unit test of the agent loop runs in: recorded lab snapshots fed one per tick on a fake clock, the lab's
/// inventory, a journal file of the test's own, the shipped skills, and a test actuator for <c>member.fence</c> and
/// <c>patroni.failover</c> that records what it was asked and changes the world as the real thing would.
/// </summary>
internal sealed class AgentKit : IAsyncDisposable, IClusterSensing
{
    public const string Cluster = "pg-test";

    private readonly string _dir;

    private AgentKit(string dir, Workspace workspace, FakeTimeProvider time, IJournal journal, PolicySettings policy, AgentRunSettings run, ILogger? logger,
        SkillCatalog? skills, DetectionSettings detection, PgRuntimeAgent.Fleet.IClusterOwnership? ownership, TimeSpan? calmInterval)
    {
        _dir = dir;
        Workspace = workspace;
        Time = time;
        Journal = journal;
        Actuator = new WorldActuator(this);
        var planner = new ActionPlanner(Topology, this, new PatroniControl(workspace.Secrets, time), time, "postgres");
        Acting = new ActingServices(journal, policy, new ActuatorRegistry([Actuator]), new SnapshotClusterStateProvider(this), planner, time,
            new PipelineOptions { VerifyInterval = TimeSpan.FromMilliseconds(10) })
        {
            Workspace = workspace,
        };
        Skills = skills ?? SkillCatalog.Load(Path.Combine(TestPaths.RepoRoot, "skills"));
        Incidents = new IncidentManager(journal, detection, new IncidentOptions { SkillFindings = Skills.Skills.SelectMany(s => s.Triggers.Findings).ToList() });
        Loop = new AgentLoop(
            new AgentLoopOptions
            {
                Clusters = [Cluster], Interval = TimeSpan.FromSeconds(1), Run = run, Detection = detection, PostmortemDirectory = PostmortemDirectory,
                Investigate = (request, ct) => Investigate is { } model ? model(request, ct) : Task.FromResult(SkillInvestigation.NoModel),
                Ownership = ownership,
                CalmInterval = calmInterval,
            },
            SenseAsync, Incidents, Acting, Skills, new SkillRunner(), time, logger ?? NullLogger.Instance, [new DelegateObserver(e =>
            {
                lock (Events)
                {
                    Events.Add(e);
                }
            })], SkillSenseAsync);
    }

    public static DetectionSettings Detection { get; } = DetectionSettings.Default with { Silenced = [FindingCodes.InventoryDrift] };

    public Workspace Workspace { get; }

    public Topology Topology => Workspace.Topology;

    public FakeTimeProvider Time { get; }

    public IJournal Journal { get; }

    public WorldActuator Actuator { get; }

    public ActingServices Acting { get; }

    public IncidentManager Incidents { get; }

    public SkillCatalog Skills { get; }

    public AgentLoop Loop { get; }

    public List<AgentEvent> Events { get; } = [];

    /// <summary>Where the loop writes post-mortems of resolved incidents (inside the kit's directory).</summary>
    public string PostmortemDirectory => Path.Combine(_dir, "postmortems");

    /// <summary>This kit's own journal file (another kit may share it).</summary>
    public string JournalPath => Path.Combine(_dir, "journal.db");

    /// <summary>While set and not completed, a skill run's own sensing waits for it (the run stalls; the loop goes on).</summary>
    public TaskCompletionSource? HoldSkillSensing { get; set; }

    /// <summary>The model a skill's investigate step asks (null: none configured).</summary>
    public Func<SkillInvestigationRequest, CancellationToken, Task<SkillInvestigation>>? Investigate { get; set; }

    /// <summary>What sensing sees now (its taken-at is replaced by the clock's time).</summary>
    public ClusterSnapshot? World { get; set; }

    /// <summary>Sensing throws this many more times before it sees again.</summary>
    public int FailNext { get; set; }

    /// <summary>What sensing throws while <see cref="FailNext"/> lasts (null: an IOException saying sensing is down).</summary>
    public Exception? FailWith { get; set; }

    public int SenseCalls { get; private set; }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A kit whose policy puts patroni.failover and member.fence at <paramref name="level"/>.</summary>
    /// <param name="skills">The skills the loop runs (null: the shipped ones).</param>
    /// <param name="silenced">Finding codes silenced besides inventory drift.</param>
    /// <param name="ownership">Which clusters the agent owns when several share them (null: alone).</param>
    /// <param name="sharedJournal">Another kit's <see cref="JournalPath"/>: two agents sharing one journal (null: a journal of its own).</param>
    public static async Task<AgentKit> CreateAsync(int level = 4, AgentRunSettings? run = null, ILogger? logger = null, SkillCatalog? skills = null,
        IReadOnlyList<string>? silenced = null, PgRuntimeAgent.Fleet.IClusterOwnership? ownership = null, string? sharedJournal = null, TimeSpan? calmInterval = null)
    {
        var dir = Directory.CreateTempSubdirectory("pgra-agent-").FullName;
        var workspace = Workspace.Load(Path.Combine(TestPaths.RepoRoot, "inventory", "lab.yml"), null, new Dictionary<string, string?>(), dir, null);
        var time = new FakeTimeProvider(DetectionKit.Load("healthy").TakenAt.AddMinutes(-5));
        var journal = await SqliteJournal.OpenAsync(sharedJournal ?? Path.Combine(dir, "journal.db"), workspace.Secrets, time, Ct);
        var policy = new PolicySettings { Classes = new Dictionary<string, int> { ["patroni.failover"] = level, ["member.fence"] = level } };
        var detection = silenced is null ? Detection : Detection with { Silenced = [.. Detection.Silenced, .. silenced] };
        return new AgentKit(dir, workspace, time, journal, policy, run ?? new AgentRunSettings(), logger, skills, detection, ownership, calmInterval);
    }

    public Task<ClusterSnapshot> SenseAsync(string cluster, CancellationToken cancellationToken)
    {
        SenseCalls++;
        if (FailNext > 0)
        {
            FailNext--;
            throw FailWith ?? new IOException("sensing is down (test)");
        }

        var world = World ?? throw new InvalidOperationException("no world yet");
        return Task.FromResult(world with { TakenAt = Time.GetUtcNow() });
    }

    private async Task<ClusterSnapshot> SkillSenseAsync(string cluster, CancellationToken cancellationToken)
    {
        if (HoldSkillSensing is { } hold)
        {
            await hold.Task.WaitAsync(cancellationToken);
        }

        return await SenseAsync(cluster, cancellationToken);
    }

    /// <summary>One tick of the loop on <paramref name="snapshot"/>: the clock moves to its time (or one second on), the world becomes it.</summary>
    public async Task FeedAsync(ClusterSnapshot snapshot)
    {
        var now = Time.GetUtcNow();
        Time.SetUtcNow(snapshot.TakenAt > now ? snapshot.TakenAt : now.AddSeconds(1));
        World = snapshot;
        await Loop.TickAsync(Loop.StateOf(Cluster), Ct);
    }

    /// <summary>One tick on the current world a second later.</summary>
    public Task TickAsync() => FeedAsync(World!);

    /// <summary>
    /// Lets the skill runs in progress (the regular and the urgent one) finish, moving the clock a second at a time for
    /// their waits until the loop is idle. Fails instead of hanging when they need more than an hour of the fake clock
    /// (on a loaded host the old 300-step cap ran out first and the test then waited for a timer nobody advanced).
    /// </summary>
    public async Task SettleAsync()
    {
        var idle = Loop.WhenIdleAsync(Cluster);
        for (var i = 0; i < 3600 && !idle.IsCompleted; i++)
        {
            Time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(idle, Task.Delay(10, Ct));
        }

        Assert.True(idle.IsCompleted, "the skill runs did not finish within an hour of the fake clock");
        await idle;
    }

    public IReadOnlyList<AgentEvent> EventsNamed(string name)
    {
        lock (Events)
        {
            return Events.Where(e => e.Name == name).ToList();
        }
    }

    public Task<IReadOnlyList<JournalEntry>> EntriesAsync(params string[] kinds) => Journal.QueryAsync(new JournalQuery { Kinds = kinds }, Ct);

    /// <summary>The world after <paramref name="member"/> was fenced: its Patroni and PostgreSQL answer nothing.</summary>
    public static ClusterSnapshot Fenced(ClusterSnapshot s, string member) => s with
    {
        Members = s.Members.Select(m => m.Name == member ? m with { Reachable = false, PostgresRunning = false, PostgresReachable = false, InRecovery = null } : m).ToList(),
        Postgres = s.Postgres.Select(p => p.Member == member ? p with { Reachable = false, Error = "connection refused" } : p).ToList(),
    };

    /// <summary>The world after <paramref name="candidate"/> was promoted on a new timeline and <paramref name="old"/> is gone.</summary>
    public static ClusterSnapshot FailedOver(ClusterSnapshot s, string candidate, string old)
    {
        var timeline = (s.Timeline ?? 1) + 1;
        var fenced = Fenced(s, old);
        return fenced with
        {
            Leader = candidate,
            Timeline = timeline,
            Members = fenced.Members.Select(m => m.Name == candidate
                ? m with { InRecovery = false, PostgresReachable = true, PostgresRunning = true, Reachable = true, PatroniRole = PatroniRole.Leader, PatroniState = "running", Timeline = timeline, LagBytes = null }
                : m with { Timeline = m.Name == old ? m.Timeline : timeline }).ToList(),
            Patroni = fenced.Patroni! with { Leader = candidate, Timeline = timeline },
            Drift = [],
        };
    }

    /// <summary>The same world with the roles of <paramref name="a"/> and <paramref name="b"/> swapped (names and addresses).</summary>
    public static ClusterSnapshot Swapped(ClusterSnapshot s, string a, string b)
    {
        static string Address(string member) => "127.0.0.1" + member[^1];
        var json = SnapshotJson.Serialize(s, indented: false);
        foreach (var (x, y) in new[] { (a, b), (Address(a), Address(b)) })
        {
            json = json.Replace(x, "\u0000", StringComparison.Ordinal).Replace(y, x, StringComparison.Ordinal).Replace("\u0000", y, StringComparison.Ordinal);
        }

        return SnapshotJson.Deserialize(json);
    }

    public async ValueTask DisposeAsync()
    {
        await Journal.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>member.fence and patroni.failover against the kit's world; every call recorded.</summary>
    internal sealed class WorldActuator(AgentKit kit) : IActuator
    {
        public List<string> Executed { get; } = [];

        public ReconcileStatus ReconcileAs { get; set; } = ReconcileStatus.NotHappened;

        public IReadOnlyCollection<string> Kinds { get; } = ["member.fence", "patroni.failover"];

        public Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken) =>
            Task.FromResult(PrecheckResult.Pass("world", "the test world allows it"));

        public Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
        {
            Executed.Add($"{action.Kind} {action.Member}");
            var world = kit.World!;
            kit.World = action.Kind == "member.fence"
                ? Fenced(world, action.Member!)
                : FailedOver(world, action.Parameter(ActionParameters.Candidate)!, world.Leader!);
            return Task.FromResult(ExecuteResult.Ok("done in the test world"));
        }

        public Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken) =>
            Task.FromResult(VerifyResult.Verified("seen in the test world"));

        public Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken) =>
            Task.FromResult(new ReconcileResult(ReconcileAs, $"reconciled as {ReconcileAs} (test)"));
    }
}
