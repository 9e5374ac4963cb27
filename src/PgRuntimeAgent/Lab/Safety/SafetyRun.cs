using System.Collections.Concurrent;
using System.Globalization;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Sensing.Dcs;

namespace PgRuntimeAgent.Lab.Safety;

/// <summary>A change of the leader key as etcd reported it while the run watched.</summary>
internal sealed record KeyChange(DateTimeOffset At, string? Holder, long? ModRevision);

/// <summary>What one randomised fault did to the cluster, measured by the checker (not by the agent), and the verdicts.</summary>
internal sealed record SafetyRunReport
{
    public required SafetyFault Fault { get; init; }
    public required string Target { get; init; }
    public string? LeaderBefore { get; init; }
    public string? LeaderAfter { get; init; }
    public required DateTimeOffset InjectedAt { get; init; }
    public long Acknowledged { get; init; }

    /// <summary>Acknowledged writes the cluster no longer has, in all.</summary>
    public int Lost { get; init; }

    /// <summary>Lost writes that the original leader acknowledged before any other member acknowledged one: the asynchronous tail a failover may cost, within the RPO.</summary>
    public int LostAsyncTail { get; init; }

    /// <summary>Lost writes acknowledged after another member had acknowledged one (a deposed member, or a new leader rolled back).</summary>
    public int LostAfterPromotion { get; init; }

    /// <summary>How long two members acknowledged writes at once: the last ack of a member after another member's first.</summary>
    public double SplitBrainSeconds { get; init; }

    /// <summary>From the fault to the first write acknowledged after the longest post-fault gap (null: writes never stopped).</summary>
    public double? TimeToWritableSeconds { get; init; }

    public double LongestGapSeconds { get; init; }
    public IReadOnlyList<KeyChange> KeyHistory { get; init; } = [];

    /// <summary>The key went back to a member that had lost it to another (a thawed ex-leader retook it).</summary>
    public bool KeyHandedBack { get; init; }

    public bool JournalIntact { get; init; }

    /// <summary>The post-mortems' data-loss statements: null bytes = "unknown"; a number is a stated bound.</summary>
    public IReadOnlyList<(string Incident, long? Bound, string Method)> LossStatements { get; init; } = [];

    public IReadOnlyList<string> AgentActions { get; init; } = [];
    public IReadOnlyList<string> Injection { get; init; } = [];
    public IReadOnlyList<string> Notes { get; init; } = [];
    public bool HealthyAfter { get; init; }
    public double HostLoad { get; init; }

    /// <summary>A post-mortem stated a loss bound below what the checker counted (it said 0 bytes while writes were lost).</summary>
    public bool UnderReported => Lost > 0 && LossStatements.Any(s => s.Bound == 0);

    /// <summary>Every violated property, in words; empty: the run passed.</summary>
    public IReadOnlyList<string> Violations(double splitBrainLimitSeconds)
    {
        var v = new List<string>();
        if (LostAfterPromotion > 0)
        {
            v.Add($"{LostAfterPromotion} acknowledged write(s) lost after another member had taken writes (rollback or split brain)");
        }

        if (Fault.Synchronous && LostAsyncTail > 0)
        {
            v.Add($"{LostAsyncTail} acknowledged write(s) lost with synchronous_mode on (must be 0)");
        }

        if (SplitBrainSeconds > splitBrainLimitSeconds)
        {
            v.Add(string.Create(CultureInfo.InvariantCulture, $"two members acknowledged writes for {SplitBrainSeconds:0.0} s (limit {splitBrainLimitSeconds:0.0} s)"));
        }

        if (KeyHandedBack)
        {
            v.Add("the leader key went back to a member that had lost it");
        }

        if (UnderReported)
        {
            v.Add($"a post-mortem stated a 0-byte loss bound while {Lost} acknowledged write(s) were lost");
        }

        if (!JournalIntact)
        {
            v.Add("the agent's journal chain does not verify");
        }

        if (!HealthyAfter)
        {
            v.Add("the cluster was not healthy (leader and two streaming replicas) after the repair");
        }

        return v;
    }

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Fault.Describe()} [{Target}]: acked {Acknowledged}, lost {Lost} (async tail {LostAsyncTail}, after promotion {LostAfterPromotion}), split-brain {SplitBrainSeconds:0.0} s, "
        + $"time to writable {(TimeToWritableSeconds is { } t ? $"{t:0.0} s" : "-")}, longest gap {LongestGapSeconds:0.0} s, leader {LeaderBefore} -> {LeaderAfter}, "
        + $"key {string.Join(" > ", KeyHistory.Select(k => k.Holder ?? "none"))}, loss stated {string.Join("; ", LossStatements.Select(s => s.Bound is { } b ? $"{b} B" : "unknown"))}, "
        + $"agent: {(AgentActions.Count == 0 ? "no action" : string.Join(", ", AgentActions))}, load {HostLoad:0.0}");
}

/// <summary>
/// One run of the safety suite: with the agent watching the lab and the checker writing, injects one fault by hand,
/// holds it, releases it (thaw, remove the fill), lets the agent settle, stops everything, repairs the lab and counts.
/// </summary>
internal sealed class SafetyRun(LabManifest lab, TimeProvider time)
{
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(12);

    /// <summary>Patroni's synchronous_mode was turned on by this run and not yet off.</summary>
    private bool _synchronousOn;

    public async Task<SafetyRunReport> RunAsync(SafetyFault fault, AgentRuntime agent, Action<string> say, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(fault);
        ArgumentNullException.ThrowIfNull(agent);
        var notes = new List<string>();
        using var cluster = new LabCluster(lab, time);
        var health = await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        if (!health.Ok)
        {
            notes.Add("the cluster was not healthy before the fault: " + health.Last.Describe());
        }

        var leaderBefore = health.Last.Leader;
        var target = fault.OnLeader ? lab.FindMember(leaderBefore ?? "") : lab.Members.FirstOrDefault(m => m.Name != leaderBefore && health.Last.StreamingReplicas.Contains(m.Name));
        target ??= lab.Members[0];

        if (fault.Synchronous)
        {
            await SetSynchronousAsync(cluster, true, notes, say, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            return await WatchFaultAsync(fault, agent, cluster, target, leaderBefore, notes, say, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // A run that ended early (an exception) never turned it off before its repair.
            if (_synchronousOn)
            {
                await SetSynchronousAsync(cluster, false, notes, say, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private async Task<SafetyRunReport> WatchFaultAsync(SafetyFault fault, AgentRuntime agent, LabCluster cluster, LabMember target, string? leaderBefore,
        List<string> notes, Action<string> say, CancellationToken cancellationToken)
    {
        var events = new ConcurrentQueue<AgentEvent>();
        agent.Loop.AddObserver(new DelegateObserver(events.Enqueue));
        using var stopAgent = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var agentTask = Task.Run(() => agent.RunAsync(stopAgent.Token), CancellationToken.None);

        var keys = new List<KeyChange>();
        using var stopWatch = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var watchTask = WatchKeyAsync(keys, stopWatch.Token);

        await using var checker = new SafetyChecker(lab, cluster, time, IdBase(fault));
        await checker.StartAsync(cancellationToken).ConfigureAwait(false);
        await WaitAsync(() => events.Count(e => e.Name == AgentEventNames.Snapshot && e.Details.GetValueOrDefault("writable") == "true") >= 2, TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(2), time, cancellationToken).ConfigureAwait(false);

        var injector = new SafetyInjector(lab);
        var injectedAt = time.GetUtcNow();
        say($"{fault.Describe()}: target {target.Name} (leader {leaderBefore})");
        await injector.InjectAsync(fault, target, cancellationToken).ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(fault.HoldSeconds), time, cancellationToken).ConfigureAwait(false);
        await injector.ReleaseAsync(cancellationToken).ConfigureAwait(false);
        say($"released after {fault.HoldSeconds:0.0} s: {string.Join("; ", injector.Log)}");
        await Task.Delay(Settle, time, cancellationToken).ConfigureAwait(false);

        await checker.StopAsync().ConfigureAwait(false);
        await stopAgent.CancelAsync().ConfigureAwait(false);
        await agentTask.ConfigureAwait(false);
        await stopWatch.CancelAsync().ConfigureAwait(false);
        await watchTask.ConfigureAwait(false);

        // Repair what the fault and the agent left (fenced or killed members, a rewound member that does not stream),
        // with synchronous_mode off again: a rebuilt member is no sync standby to wait for.
        if (_synchronousOn)
        {
            await SetSynchronousAsync(cluster, false, notes, say, cancellationToken).ConfigureAwait(false);
        }

        using var faults = new LabFaults(lab, time);
        var repaired = await faults.RepairAsync(TimeSpan.FromSeconds(150), cancellationToken).ConfigureAwait(false);
        if (!repaired.Ok)
        {
            notes.Add("repair: " + repaired.Summary);
        }

        var after = await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        var lost = await checker.LostOrNoteAsync(notes, cancellationToken).ConfigureAwait(false);
        var acked = checker.Acknowledged;

        var statements = new List<(string, long?, string)>();
        foreach (var id in events.Where(e => e.Name == AgentEventNames.IncidentOpened && e.Incident is not null).Select(e => e.Incident!).Distinct())
        {
            var data = await IncidentStore.LoadAsync(agent.Journal, id, cancellationToken).ConfigureAwait(false);
            if (data is not null)
            {
                var pm = PostMortemBuilder.Build(data);
                statements.Add((id, pm.DataLoss.Bytes, pm.DataLoss.Method));
            }
        }

        var journalOk = (await agent.Journal.VerifyAsync(cancellationToken).ConfigureAwait(false)).Ok;
        var actions = agent.Loop.Runs.SelectMany(r => r.Actions)
            .Select(a => $"{a.Action.Kind} {a.Action.Member ?? a.Action.Parameter("candidate") ?? ""} {a.Status}".Trim()).ToList();
        return Measure(fault, target.Name, leaderBefore, after.Last.Leader, injectedAt, acked, lost, keys) with
        {
            JournalIntact = journalOk,
            LossStatements = statements,
            AgentActions = actions,
            Injection = injector.Log,
            Notes = notes,
            HealthyAfter = after.Ok,
            HostLoad = Load(),
        };
    }

    /// <summary>The checker's figures: loss by kind, split-brain seconds, time to writable, the key's history. Pure.</summary>
    internal static SafetyRunReport Measure(SafetyFault fault, string target, string? leaderBefore, string? leaderAfter, DateTimeOffset injectedAt,
        IReadOnlyList<AckedWrite> acked, IReadOnlyList<AckedWrite>? lost, IReadOnlyList<KeyChange> keys)
    {
        var w = SafetyChecker.Figures(acked, lost, leaderBefore, injectedAt);
        var handedBack = false;
        var holders = keys.Select(k => k.Holder).Where(h => h is not null).ToList();
        for (var i = 2; i < holders.Count && !handedBack; i++)
        {
            // A -> B -> A, where B took over from A: the key went back.
            handedBack = holders[i] == holders[i - 2] && holders[i - 1] != holders[i];
        }

        return new SafetyRunReport
        {
            Fault = fault,
            Target = target,
            LeaderBefore = leaderBefore,
            LeaderAfter = leaderAfter,
            InjectedAt = injectedAt,
            Acknowledged = acked.Count,
            Lost = w.Lost,
            LostAsyncTail = w.LostAsyncTail,
            LostAfterPromotion = w.LostAfterPromotion,
            SplitBrainSeconds = w.SplitBrainSeconds,
            TimeToWritableSeconds = w.TimeToWritableSeconds,
            LongestGapSeconds = w.LongestGapSeconds,
            KeyHistory = keys,
            KeyHandedBack = handedBack,
        };
    }

    /// <summary>Ids of a run: the seed's slot far apart from any other run's, plus the time, so replays never collide.</summary>
    private long IdBase(SafetyFault fault) => (time.GetUtcNow().ToUnixTimeSeconds() % 100_000) * 10_000_000_000L + ((long)(fault.Seed % 1000) * 10_000_000L);

    private async Task WatchKeyAsync(List<KeyChange> keys, CancellationToken stop)
    {
        var key = new DcsLeaderKey($"/pg/{lab.Cluster}/leader", [lab.Endpoints.Etcd]);
        while (!stop.IsCancellationRequested)
        {
            var read = await key.ReadAsync(TimeSpan.FromSeconds(1), CancellationToken.None).ConfigureAwait(false);
            if (read.Read && (keys.Count == 0 || keys[^1].Holder != read.Holder))
            {
                lock (keys)
                {
                    keys.Add(new KeyChange(time.GetUtcNow(), read.Holder, read.ModRevision));
                }
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Patroni's synchronous_mode on or off (PATCH /config through any member that answers: it writes the DCS). On: waits
    /// up to 30 s for a member in the sync_standby role, and says so when none came (the run then counts as
    /// asynchronous). Returns whether the mode is set as asked.
    /// </summary>
    private async Task<bool> SetSynchronousAsync(LabCluster cluster, bool on, List<string> notes, Action<string> say, CancellationToken cancellationToken)
    {
        var body = on ? """{"synchronous_mode": true}""" : """{"synchronous_mode": false}""";
        var started = time.GetTimestamp();
        var applied = false;
        while (!applied && time.GetElapsedTime(started) < TimeSpan.FromSeconds(60))
        {
            foreach (var member in lab.Members)
            {
                var (status, _) = await cluster.SendAsync(HttpMethod.Patch, member, "/config", body, cancellationToken).ConfigureAwait(false);
                if (status == 200)
                {
                    applied = true;
                    break;
                }
            }

            if (!applied)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken).ConfigureAwait(false);
            }
        }

        if (!applied)
        {
            notes.Add($"PATCH /config {body}: no member took it in 60 s");
            return false;
        }

        _synchronousOn = on;

        if (!on)
        {
            say("synchronous_mode off");
            return true;
        }

        while (time.GetElapsedTime(started) < TimeSpan.FromSeconds(30))
        {
            var sync = (await cluster.GetMembersAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(m => m.Role == "sync_standby");
            if (sync is not null)
            {
                say($"synchronous_mode on: {sync.Name} is the sync standby");
                return true;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), time, cancellationToken).ConfigureAwait(false);
        }

        notes.Add("synchronous_mode: no sync standby within 30 s");
        return true;
    }

    private async Task WaitAsync(Func<bool> condition, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        while (!condition() && time.GetElapsedTime(started) < timeout)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken).ConfigureAwait(false);
        }
    }

    private static double Load()
    {
        try
        {
            var first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.Parse(first, NumberStyles.Float, CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }
}
