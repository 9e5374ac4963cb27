using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Alerts;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Agent;

/// <summary>How to build an agent beyond what the inventory and the settings say.</summary>
internal sealed record AgentRuntimeOptions
{
    /// <summary>The skills directory (the CLI resolves <c>--skills</c>, <c>agent.skills_dir</c>, ./skills...).</summary>
    public required string SkillsDirectory { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public ILoggerFactory Logging { get; init; } = NullLoggerFactory.Instance;

    /// <summary>A journal to use instead of the one <c>journal:</c> names (kept open; the caller disposes it).</summary>
    public IJournal? Journal { get; init; }

    /// <summary>Clusters to watch; null: <c>agent.clusters</c>, else every cluster of the inventory.</summary>
    public IReadOnlyList<string>? Clusters { get; init; }

    /// <summary>Sensing interval; null: <c>sensing.interval_seconds</c>.</summary>
    public TimeSpan? Interval { get; init; }

    /// <summary>Who else hears the agent's events (the demo's live view, tests).</summary>
    public IReadOnlyList<IAgentObserver> Observers { get; init; } = [];

    /// <summary>Where <c>notify.stdout</c> lines go; null: no stdout notifications.</summary>
    public TextWriter? NotifyOut { get; init; }

    /// <summary>Sensing seams (tests); null: the real endpoints.</summary>
    public SensingOverrides? SensingOverrides { get; init; }

    /// <summary>Where post-mortems go; null: <c>agent.postmortem_dir</c> or its default.</summary>
    public string? PostmortemDirectory { get; init; }

    /// <summary>The chat client investigate steps use instead of the one <c>llm:</c> describes (tests); null: from the settings.</summary>
    public Microsoft.Extensions.AI.IChatClient? ChatClient { get; init; }
}

/// <summary>
/// An agent assembled for a deployment: the journal, the snapshot service, detection and incidents, the skills, the
/// action pipeline with every discovered actuator, the notifier and the loop that ties them together. <c>pgra run</c>,
/// <c>pgra demo</c>, the lab tests and the benchmark all build the agent this way.
/// </summary>
internal sealed class AgentRuntime : IAsyncDisposable
{
    private readonly SnapshotService _snapshots;

    private readonly Brain.AgentBrain? _brain;

    /// <summary>The agent's language model, when one is configured (the evaluation asks it for its diagnosis).</summary>
    internal PgRuntimeAgent.Brain.AgentBrain? AgentBrain => _brain;

    private AgentRuntime(IJournal journal, SnapshotService snapshots, ActingServices acting,
        IncidentManager incidents, SkillCatalog catalog, AgentNotifier notifier, AgentLoop loop, IReadOnlyList<string> clusters, TimeSpan interval,
        Brain.AgentBrain? brain, AlertIntake alerts)
    {
        _brain = brain;
        Alerts = alerts;
        Journal = journal;
        _snapshots = snapshots;
        Acting = acting;
        Incidents = incidents;
        Skills = catalog;
        Notifier = notifier;
        Loop = loop;
        Clusters = clusters;
        Interval = interval;
    }

    public IJournal Journal { get; }

    /// <summary>The snapshot service the loop senses with (a test or a host reads the same snapshots).</summary>
    internal SnapshotService Snapshots => _snapshots;

    public ActingServices Acting { get; }

    public IncidentManager Incidents { get; }

    public SkillCatalog Skills { get; }

    public AgentNotifier Notifier { get; }

    public AgentLoop Loop { get; }

    /// <summary>
    /// Alertmanager's webhook notifications into the loop: the web host's <c>POST /api/v1/alertmanager</c> passes the
    /// raw body to <see cref="AlertIntake.ReceiveAsync(ReadOnlyMemory{byte}, CancellationToken)"/> (docs/alerts.md).
    /// </summary>
    public AlertIntake Alerts { get; }

    public IReadOnlyList<string> Clusters { get; }

    public TimeSpan Interval { get; }

    /// <summary>
    /// The agent's deadlines are timers on the thread pool. Client libraries block pool threads at times (Npgsql sends
    /// a query's cancel request synchronously, to a frozen postmaster that never answers), and a 2-core host starts with 2 worker threads: measured in the lab, a 2 s Patroni deadline
    /// fired after 3.4 s while a frozen leader's queries were being cancelled. The pool keeps at least 32 ready.
    /// </summary>
    private static void ReserveThreads()
    {
        ThreadPool.GetMinThreads(out var worker, out var io);
        if (worker < MinWorkerThreads)
        {
            ThreadPool.SetMinThreads(MinWorkerThreads, Math.Max(io, MinWorkerThreads));
        }
    }

    private const int MinWorkerThreads = 32;

    /// <summary>Assembles the agent for <paramref name="workspace"/> (its topology, settings and secrets).</summary>
    public static async Task<AgentRuntime> CreateAsync(Workspace workspace, AgentRuntimeOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        ArgumentNullException.ThrowIfNull(options);
        var (topology, settings, secrets) = workspace;
        ReserveThreads();
        var clusters = ResolveClusters(topology, options.Clusters ?? settings.Agent.Clusters);
        var interval = options.Interval ?? TimeSpan.FromSeconds(Math.Max(0.2, settings.Sensing.IntervalSeconds));
        var catalog = SkillCatalog.Load(options.SkillsDirectory);
        var logger = options.Logging.CreateLogger("PgRuntimeAgent.Agent");

        var acting = await workspace.OpenActingAsync(options.Time, options.Logging, options.Journal, cancellationToken).ConfigureAwait(false);
        var journal = acting.Journal;
        var sensing = ActionSensing.For(acting.Context!);
        var snapshots = new SnapshotService(topology, settings.Sensing, settings.Endpoints, secrets, options.Time, options.SensingOverrides,
            options.Logging.CreateLogger<SnapshotService>());
        // A warning a skill acts on opens an incident of its own (warning severity), so its skill runs.
        var incidents = new IncidentManager(journal, settings.Detection,
            new IncidentOptions { SkillFindings = catalog.Skills.SelectMany(s => s.Triggers.Findings).Distinct(StringComparer.Ordinal).ToList() },
            options.Logging.CreateLogger<IncidentManager>())
        {
            BackupSchedules = clusters.ToDictionary(c => c, c => topology.FindCluster(c)!.BackupSchedule, StringComparer.Ordinal),
        };
        var notifier = new AgentNotifier(settings.Notify, secrets, options.NotifyOut, options.Logging.CreateLogger<AgentNotifier>(),
            console: settings.Notify.ConsoleBase(settings.Http));
        var brain = settings.Llm.Configured || options.ChatClient is not null
            ? await Brain.AgentBrain.CreateAsync(workspace, options.ChatClient, acting, options.SkillsDirectory, options.Time, cancellationToken).ConfigureAwait(false)
            : null;
        // Several agents share the clusters through etcd (fleet.agent_id set): each senses and acts only on those it owns,
        // and every action's intent waits for etcd to confirm the ownership (docs/fleet.md).
        var leases = settings.Fleet.Enabled
            ? new Fleet.ClusterLeases(settings.Fleet, settings.Fleet.EtcdUrls.Count > 0 ? settings.Fleet.ParsedEtcdUrls() : Sensing.Dcs.DcsLeaderKey.Endpoints(topology),
                clusters, options.Time, options.Logging.CreateLogger<Fleet.ClusterLeases>())
            : null;
        acting.Pipeline.Ownership = leases;
        var loop = new AgentLoop(
            new AgentLoopOptions
            {
                Clusters = clusters,
                Interval = interval,
                CalmInterval = settings.Sensing.CalmIntervalSeconds is { } calm ? TimeSpan.FromSeconds(Math.Clamp(calm, interval.TotalSeconds, 300)) : null,
                Run = settings.Agent,
                Detection = settings.Detection,
                SensorBlindSeconds = settings.Notify.SensorBlindSeconds,
                Context = c => DetectionContext.For(topology.FindCluster(c)),
                PostmortemDirectory = options.PostmortemDirectory ?? PostmortemDirectory(settings.Agent, settings.Journal, workspace.BaseDirectory),
                Investigate = brain is null ? null : brain.Skills.InvestigateAsync,
                Ownership = leases,
            },
            async (cluster, ct) =>
            {
                var snapshot = await snapshots.TakeAsync(cluster, ct).ConfigureAwait(false);
                sensing.Offer(snapshot);
                return snapshot;
            },
            incidents, acting, catalog, new SkillRunner(options.Logging.CreateLogger<SkillRunner>(), new SkillRunnerOptions { Secrets = secrets }), options.Time, logger,
            [notifier, .. options.Observers]);
        foreach (var d in catalog.Diagnostics.Where(d => d.IsError))
        {
            logger.LogWarning(new EventId(7120, "SkillInvalid"), "Skill file left out: {Diagnostic}", LogRedaction.Text(d.ToString(), secrets));
        }

        if (leases is not null)
        {
            // Rebalancing: a cluster moves to an agent that joined only while nothing is under way on it here.
            leases.CanHandOff = loop.IsQuietAsync;
        }

        var alerts = new AlertIntake(loop, journal, options.Time, options.Logging.CreateLogger<AlertIntake>());
        return new AgentRuntime(journal, snapshots, acting, incidents, catalog, notifier, loop, clusters, interval, brain, alerts) { Leases = leases };
    }

    /// <summary>The cluster leases when several agents share the clusters (<c>fleet:</c>); null: this agent is alone.</summary>
    public Fleet.ClusterLeases? Leases { get; private init; }

    /// <summary>
    /// Runs the loop until <paramref name="stop"/> is cancelled. With <c>fleet:</c> the leases are kept alongside and given
    /// back only after the loop has drained (a skill run in the middle of an action still owns its cluster).
    /// </summary>
    public async Task RunAsync(CancellationToken stop)
    {
        if (Leases is not { } leases)
        {
            await Loop.RunAsync(stop).ConfigureAwait(false);
            return;
        }

        using var leaseStop = new CancellationTokenSource();
        var renewing = leases.RunAsync(leaseStop.Token);
        try
        {
            await Loop.RunAsync(stop).ConfigureAwait(false);
        }
        finally
        {
            await leaseStop.CancelAsync().ConfigureAwait(false);
            await renewing.ConfigureAwait(false);
        }
    }

    private static IReadOnlyList<string> ResolveClusters(Topology topology, IReadOnlyList<string> wanted)
    {
        if (wanted.Count == 0)
        {
            return topology.Clusters.Select(c => c.Name).ToList();
        }

        var unknown = wanted.Where(w => topology.FindCluster(w) is null).ToList();
        if (unknown.Count > 0)
        {
            throw new InputException($"unknown cluster(s): {string.Join(", ", unknown)}", [$"clusters in {topology.SourcePath}: {string.Join(", ", topology.Clusters.Select(c => c.Name))}"]);
        }

        return wanted.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary><c>agent.postmortem_dir</c> (relative to the settings file), else <c>postmortems/</c> beside a SQLite journal, else /var/lib/pgra/postmortems.</summary>
    public static string PostmortemDirectory(AgentRunSettings agent, JournalSettings journal, string baseDirectory)
    {
        ArgumentNullException.ThrowIfNull(agent);
        ArgumentNullException.ThrowIfNull(journal);
        if (agent.PostmortemDir is { Length: > 0 } dir)
        {
            return Path.GetFullPath(dir, baseDirectory);
        }

        return journal.Backend == JournalBackend.Sqlite
            ? Path.Combine(Path.GetDirectoryName(JournalFactory.ResolvePath(journal, baseDirectory)) ?? baseDirectory, "postmortems")
            : "/var/lib/pgra/postmortems";
    }

    public async ValueTask DisposeAsync()
    {
        await Notifier.DisposeAsync().ConfigureAwait(false);
        if (_brain is not null)
        {
            await _brain.DisposeAsync().ConfigureAwait(false);
        }

        _snapshots.Dispose();
        await Acting.DisposeAsync().ConfigureAwait(false);
    }
}
