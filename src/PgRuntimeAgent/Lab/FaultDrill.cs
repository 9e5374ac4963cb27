using System.Collections.Concurrent;
using System.Globalization;
using Npgsql;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Incidents;

namespace PgRuntimeAgent.Lab;

/// <summary>How to run one fault drill against the lab.</summary>
internal sealed record FaultDrillOptions
{
    /// <summary>A lab scenario that hits the leader: primary-crash, primary-freeze, disk-full.</summary>
    public required string Scenario { get; init; }

    /// <summary>How long to wait, after the fault is in, for writes to come back before calling it "not restored".</summary>
    public TimeSpan Cap { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Steady writes before the fault (the agent's baseline snapshots are taken meanwhile).</summary>
    public TimeSpan WarmUp { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>With an agent: how long after writes are back to wait for it to resolve the incident.</summary>
    public TimeSpan ResolveTimeout { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>What to do between the fault and the wait (approve something, say something); null: nothing.</summary>
    public Func<FaultDrillContext, CancellationToken, Task>? AfterInject { get; init; }

    /// <summary>Heal the fault afterwards (always, also on failure); false leaves it for the caller.</summary>
    public bool Heal { get; init; } = true;

    /// <summary>Who watches the cluster when no in-process agent is given (agents in processes of their own); null: Patroni alone.</summary>
    public string? Watchers { get; init; }
}

/// <summary>What a drill's hooks can see while it runs.</summary>
internal sealed record FaultDrillContext(LabManifest Lab, AgentRuntime? Agent, LabWorkload Workload, LabFaultResult Fault, DateTimeOffset InjectedAt,
    Func<Func<AgentEvent, bool>, TimeSpan, CancellationToken, Task<AgentEvent?>> WaitForEventAsync);

/// <summary>What one drill measured.</summary>
internal sealed record FaultDrillResult
{
    public required string Scenario { get; init; }

    public required bool WithAgent { get; init; }

    /// <summary>Who watched when it was not an in-process agent (<see cref="FaultDrillOptions.Watchers"/>); null: Patroni alone.</summary>
    public string? Watchers { get; init; }

    public required string Target { get; init; }

    public string? LeaderBefore { get; init; }

    public string? LeaderAfter { get; init; }

    /// <summary>When the inject began and when it returned (a full disk takes a while to fill).</summary>
    public required DateTimeOffset InjectStarted { get; init; }

    public required DateTimeOffset InjectedAt { get; init; }

    /// <summary>Writes came back within the cap.</summary>
    public required bool Restored { get; init; }

    /// <summary>Fault to writable: the workload's last acknowledged write before the failures to the first after (null: not restored).</summary>
    public double? OutageSeconds { get; init; }

    /// <summary>When writes stopped (the last acknowledged write before the failures).</summary>
    public DateTimeOffset? WritesStoppedAt { get; init; }

    public DateTimeOffset? WritesBackAt { get; init; }

    public required double CapSeconds { get; init; }

    /// <summary>The first critical finding the agent raised, and when (null without an agent or when none).</summary>
    public string? DetectedCode { get; init; }

    public DateTimeOffset? DetectedAt { get; init; }

    /// <summary>From writes stopping (else the inject) to the agent's first critical finding.</summary>
    public double? TimeToDetectSeconds { get; init; }

    public string? Incident { get; init; }

    public bool IncidentResolved { get; init; }

    public PostMortemReport? PostMortem { get; init; }

    /// <summary>Acknowledged writes missing afterwards (null when they could not be checked).</summary>
    public long? LostWrites { get; init; }

    public long AcknowledgedWrites { get; init; }

    public IReadOnlyList<AgentEvent> Events { get; init; } = [];

    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>What the agent reported after the fault, one line each with the seconds since the inject began (snapshots left out).</summary>
    public IReadOnlyList<string> Timeline() => Events
        .Where(e => e.Name != AgentEventNames.Snapshot && e.At >= InjectStarted.AddSeconds(-2))
        .Select(e => string.Create(CultureInfo.InvariantCulture, $"+{(e.At - InjectStarted).TotalSeconds,5:0.0} s {e.Name} {e.Title}")
            + (string.IsNullOrWhiteSpace(e.Message) ? "" : " — " + (e.Message.Length > 300 ? e.Message[..300] + "..." : e.Message)))
        .ToList();

    public string Describe()
    {
        var who = WithAgent ? "agent" : Watchers ?? "Patroni alone";
        var outage = Restored && OutageSeconds is { } s
            ? string.Create(CultureInfo.InvariantCulture, $"writable after {s:0.0} s")
            : string.Create(CultureInfo.InvariantCulture, $"not restored within {CapSeconds:0} s");
        var detect = TimeToDetectSeconds is { } t ? string.Create(CultureInfo.InvariantCulture, $", detected {DetectedCode} after {t:0.0} s") : "";
        var lost = LostWrites is { } l ? $", {l} of {AcknowledgedWrites} acknowledged writes lost" : ", lost writes not checked";
        return $"{Scenario} on {Target} ({who}): {outage}{detect}{lost}; leader {LeaderBefore ?? "?"} -> {LeaderAfter ?? "?"}";
    }
}

/// <summary>
/// One fault drill on the lab: a steady writer through haproxy, optionally the agent running, a real fault on the
/// leader, then the time until writes are acknowledged again (capped), what the agent detected and did, its
/// post-mortem, and the acknowledged writes that did not survive. The fault is healed afterwards, whatever happened.
/// The lab tests, <c>pgra demo</c> and the benchmark all run drills this way.
/// </summary>
internal sealed class FaultDrill(LabManifest lab, TimeProvider time)
{
    /// <summary>
    /// Detection thresholds for the loopback lab: every member's node_exporter sees the one host's filesystems, so a
    /// full WAL mount of one member would make every member look out of disk (free-ratio check off: ENOSPC in the
    /// member's own log decides), and ENOSPC lines left by an earlier drill must not count (20 s window).
    /// </summary>
    /// <summary>
    /// The steady state a drill starts from: every replica streams and has replayed the leader's WAL to within
    /// 64 KiB (a few writes). Right after the previous drill's heal a replica may still be catching up, and a fault
    /// then would measure that leftover lag instead of the agent. Waits up to 60 s, then notes it and goes on.
    /// </summary>
    private async Task WaitCaughtUpAsync(LabCluster cluster, List<string> notes, Action<string> say, CancellationToken cancellationToken)
    {
        const string Sql = "select case when count(*) filter (where state = 'streaming') = $replicas then coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0) else -1 end from pg_stat_replication";
        var started = time.GetTimestamp();
        object? last = null;
        while (time.GetElapsedTime(started) < TimeSpan.FromSeconds(60))
        {
            try
            {
                if (await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false) is { } leader)
                {
                    last = await cluster.ScalarAsync(leader, Sql.Replace("$replicas", (lab.Members.Count - 1).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal), cancellationToken).ConfigureAwait(false);
                    if (last is decimal behind && behind is >= 0 and < 65_536)
                    {
                        return;
                    }
                }
            }
            catch (NpgsqlException)
            {
                // The leader is restarting after the previous heal: ask again.
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), time, cancellationToken).ConfigureAwait(false);
        }

        var line = $"replicas had not caught up with the leader after 60 s (replay behind: {last ?? "unknown"} bytes; -1: not all streaming): the drill starts anyway";
        notes.Add(line);
        say(line);
    }

    public static Detection.DetectionSettings LoopbackDetection(Detection.DetectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        // Two consecutive snapshots with the leader's REST and SQL timed out (the lab's probes time out after 2 s)
        // instead of three: the lab runs Patroni's fast preset (ttl 10), which a freeze detected on the third snapshot
        // could not beat. Fencing refuses a leader that still serves, so a slow probe cannot cost a healthy leader.
        var frozen = settings.PersistenceOf(Detection.FindingCodes.PrimaryFrozen);
        return settings
            .WithThreshold(Detection.FindingCodes.PrimaryDiskFull, "free_ratio", 0)
            .WithThreshold(Detection.FindingCodes.PrimaryDiskFull, "log_window_seconds", Math.Min(settings.DiskFullLogWindowSeconds, 20))
            .WithPersistence(Detection.FindingCodes.PrimaryFrozen, new Detection.HeldFor(Math.Min(frozen.Consecutive, 2), Math.Min(frozen.Seconds, 2)));
    }

    public async Task<FaultDrillResult> RunAsync(FaultDrillOptions options, AgentRuntime? agent, Action<string>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var say = progress ?? (_ => { });
        var events = new ConcurrentQueue<AgentEvent>();
        var signal = new SemaphoreSlim(0);
        if (agent is not null)
        {
            agent.Loop.AddObserver(new DelegateObserver(e =>
            {
                events.Enqueue(e);
                signal.Release();
            }));
        }

        using var cluster = new LabCluster(lab, time);
        var leaderBefore = (await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false))?.Name;

        var notes = new List<string>();
        await RestoreBouncersAsync(notes, say, cancellationToken).ConfigureAwait(false);
        await using var workload = await LabWorkload.StartAsync(new LabWorkloadOptions
        {
            WriteConnectionString = cluster.PrimaryServiceConnectionString(),
            WriteInterval = TimeSpan.FromMilliseconds(50),
        }, time, cancellationToken).ConfigureAwait(false);

        using var stopAgent = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var agentTask = agent is null ? Task.CompletedTask : Task.Run(() => agent.RunAsync(stopAgent.Token), CancellationToken.None);
        var seen = 0;

        async Task<AgentEvent?> WaitForEventAsync(Func<AgentEvent, bool> match, TimeSpan timeout, CancellationToken ct)
        {
            var started = time.GetTimestamp();
            while (true)
            {
                var all = events.ToArray();
                for (; seen < all.Length; seen++)
                {
                    if (match(all[seen]))
                    {
                        return all[seen++];
                    }
                }

                var left = timeout - time.GetElapsedTime(started);
                if (left <= TimeSpan.Zero || agentTask.IsCompleted)
                {
                    return null;
                }

                await signal.WaitAsync(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
            }
        }

        LabFaultResult? fault = null;
        using var faults = new LabFaults(lab, time);
        var injectStarted = time.GetUtcNow();
        var injectedAt = injectStarted;
        try
        {
            if (agent is not null)
            {
                // Baseline: the agent has seen the healthy cluster (writable leader) twice before the fault.
                for (var i = 0; i < 2; i++)
                {
                    if (await WaitForEventAsync(e => e.Name == AgentEventNames.Snapshot && e.Details.GetValueOrDefault("writable") == "true",
                            TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false) is null)
                    {
                        notes.Add("the agent did not report a healthy snapshot before the fault");
                        break;
                    }
                }
            }

            await Task.Delay(options.WarmUp, time, cancellationToken).ConfigureAwait(false);
            await WaitCaughtUpAsync(cluster, notes, say, cancellationToken).ConfigureAwait(false);
            say($"injecting {options.Scenario} on the leader {leaderBefore} ({workload.Acknowledged.Count} writes acknowledged so far)");
            injectStarted = time.GetUtcNow();
            var failedBefore = workload.FailedAttempts;
            fault = await faults.InjectAsync(options.Scenario, null, cancellationToken).ConfigureAwait(false);
            injectedAt = time.GetUtcNow();
            say($"{fault.Summary} ({fault.Duration.TotalSeconds:0.0} s)");
            var context = new FaultDrillContext(lab, agent, workload, fault, injectedAt, WaitForEventAsync);
            if (options.AfterInject is { } hook)
            {
                await hook(context, cancellationToken).ConfigureAwait(false);
            }

            // Writes back: an acknowledged write after the last failed one, within the cap.
            var restored = await WaitWritesBackAsync(workload, failedBefore, options.Cap, cancellationToken).ConfigureAwait(false);
            say(restored ? "writes are acknowledged again" : string.Create(CultureInfo.InvariantCulture, $"writes not restored within {options.Cap.TotalSeconds:0} s"));

            string? incident = null;
            var resolved = false;
            if (agent is not null)
            {
                incident = events.FirstOrDefault(e => e.Name == AgentEventNames.IncidentOpened && e.At >= injectStarted.AddSeconds(-5))?.Incident;
                var done = await WaitForEventAsync(e => e.Name == AgentEventNames.IncidentResolved && (incident is null || e.Incident == incident),
                    restored ? options.ResolveTimeout : TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                resolved = done is not null;
                incident ??= done?.Incident ?? events.FirstOrDefault(e => e.Name == AgentEventNames.IncidentOpened)?.Incident;
                if (!resolved && restored)
                {
                    notes.Add($"the agent did not resolve its incident within {options.ResolveTimeout.TotalSeconds:0} s of writes coming back");
                }

                // Let a skill run that is still verifying (replicas following the new leader) finish and be journaled.
                var waited = time.GetTimestamp();
                while (events.Count(e => e.Name == AgentEventNames.SkillStarted) > events.Count(e => e.Name == AgentEventNames.SkillFinished)
                    && time.GetElapsedTime(waited) < options.ResolveTimeout)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken).ConfigureAwait(false);
                }
            }

            await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken).ConfigureAwait(false);
            var report = await workload.StopAsync().ConfigureAwait(false);
            await stopAgent.CancelAsync().ConfigureAwait(false);
            await agentTask.ConfigureAwait(false);

            var leaderAfter = (await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false))?.Name;
            var outage = report.Outages.Where(o => o.FirstAckAfter >= injectStarted).OrderByDescending(o => o.Duration).FirstOrDefault();
            var lastAck = workload.Acknowledged.LastOrDefault(a => a.AckedAt < injectedAt)?.AckedAt ?? workload.Acknowledged.LastOrDefault()?.AckedAt;
            var stoppedAt = outage?.LastAckBefore ?? (restored ? null : lastAck);
            var detected = events.FirstOrDefault(e => e.Name == AgentEventNames.FindingRaised && e.Severity == "critical" && e.At >= injectStarted);
            PostMortemReport? postMortem = null;
            if (agent is not null && incident is not null)
            {
                var data = await IncidentStore.LoadAsync(agent.Journal, incident, cancellationToken).ConfigureAwait(false);
                postMortem = data is null ? null : PostMortemBuilder.Build(data);
            }

            long? lost = null;
            if (!options.Heal && !restored)
            {
                notes.Add("lost writes not checked: writes are still down and the fault is left in place");
            }
            else
            {
                if (!restored)
                {
                    await HealAsync(faults, options.Scenario, notes, say, cancellationToken).ConfigureAwait(false);
                    fault = null;
                }

                lost = await CountLostAsync(workload, cluster, notes, cancellationToken).ConfigureAwait(false);
            }

            return new FaultDrillResult
            {
                Scenario = options.Scenario,
                WithAgent = agent is not null,
                Watchers = agent is null ? options.Watchers : null,
                Target = fault?.Target ?? leaderBefore ?? "?",
                LeaderBefore = leaderBefore,
                LeaderAfter = leaderAfter,
                InjectStarted = injectStarted,
                InjectedAt = injectedAt,
                Restored = restored,
                OutageSeconds = restored ? outage?.Duration.TotalSeconds ?? 0 : null,
                WritesStoppedAt = stoppedAt,
                WritesBackAt = restored ? outage?.FirstAckAfter : null,
                CapSeconds = options.Cap.TotalSeconds,
                DetectedCode = detected?.Details.GetValueOrDefault("code"),
                DetectedAt = detected?.At,
                TimeToDetectSeconds = detected is null ? null : (detected.At - (stoppedAt ?? injectedAt)).TotalSeconds,
                Incident = incident,
                IncidentResolved = resolved,
                PostMortem = postMortem,
                LostWrites = lost,
                AcknowledgedWrites = report.Acknowledged,
                Events = [.. events],
                Notes = notes,
            };
        }
        finally
        {
            if (!stopAgent.IsCancellationRequested)
            {
                await stopAgent.CancelAsync().ConfigureAwait(false);
                try
                {
                    await agentTask.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }

            if (options.Heal && fault is not null)
            {
                await HealAsync(faults, options.Scenario, notes, say, CancellationToken.None).ConfigureAwait(false);
            }

            if (options.Heal)
            {
                await RestoreBouncersAsync(notes, say, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Clients write through haproxy to the leader's pgbouncer; a member whose pgbouncer is down cannot serve them as
    /// leader whatever Patroni and the agent do. pgbouncer 1.18 can exit (FATAL "bad client state") when a client's
    /// cancel request meets a frozen server, so a drill starts (and ends) every pgbouncer that does not accept
    /// connections with the lab's own launcher, and says so.
    /// </summary>
    private async Task RestoreBouncersAsync(List<string> notes, Action<string> say, CancellationToken cancellationToken)
    {
        foreach (var service in lab.Services.Where(x => x.Kind == "pgbouncer" && x.Start is not null && x.Member is not null))
        {
            var member = lab.FindMember(service.Member!);
            if (member is null || await AcceptsAsync(member.Ip, member.Ports.Pgbouncer, cancellationToken).ConfigureAwait(false))
            {
                continue;
            }

            var result = await LabShell.RunAsync(service.Start!, [service.Name], TimeSpan.FromSeconds(20), cancellationToken).ConfigureAwait(false);
            var up = false;
            for (var i = 0; i < 20 && !up; i++)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250), time, cancellationToken).ConfigureAwait(false);
                up = await AcceptsAsync(member.Ip, member.Ports.Pgbouncer, cancellationToken).ConfigureAwait(false);
            }

            var line = $"pgbouncer of {member.Name} was not running (see {service.Log}); started it with {service.Start} {service.Name}: {(up ? "up" : "still down: " + result.Tail(2))}";
            notes.Add(line);
            say(line);
        }
    }

    private static async Task<bool> AcceptsAsync(string ip, int port, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        using var client = new System.Net.Sockets.TcpClient();
        try
        {
            await client.ConnectAsync(System.Net.IPAddress.Parse(ip), port, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>True when, after <paramref name="failedBefore"/> failed attempts, writes failed and then one was acknowledged again within <paramref name="cap"/>.</summary>
    private async Task<bool> WaitWritesBackAsync(LabWorkload workload, long failedBefore, TimeSpan cap, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var failed = failedBefore;
        DateTimeOffset? lastFailureSeen = null;
        while (time.GetElapsedTime(started) < cap)
        {
            var now = workload.FailedAttempts;
            if (now != failed)
            {
                failed = now;
                lastFailureSeen = time.GetUtcNow();
            }

            if (lastFailureSeen is { } f && workload.LastAckedAt > f)
            {
                return true;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), time, cancellationToken).ConfigureAwait(false);
        }

        return false;
    }

    private static async Task HealAsync(LabFaults faults, string scenario, List<string> notes, Action<string> say, CancellationToken cancellationToken)
    {
        try
        {
            foreach (var r in await faults.HealAsync(scenario, cancellationToken).ConfigureAwait(false))
            {
                say($"healed {r.Scenario} on {r.Target}: {r.Summary}");
                if (!r.Ok)
                {
                    notes.Add($"heal of {r.Scenario}: {r.Summary}");
                }
            }
        }
        catch (Exception ex) when (ex is InputException or IOException or InvalidOperationException or Npgsql.NpgsqlException)
        {
            notes.Add($"heal of {scenario} failed: {ex.Message}");
            say($"heal of {scenario} failed: {ex.Message}");
        }
    }

    private async Task<long?> CountLostAsync(LabWorkload workload, LabCluster cluster, List<string> notes, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 30; attempt++)
        {
            try
            {
                return (await workload.VerifyAsync(cluster.PrimaryServiceConnectionString(application: "pgra-drill-verify"), cancellationToken).ConfigureAwait(false))
                    .LostAcknowledged;
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or TimeoutException or InvalidOperationException)
            {
                if (attempt == 29)
                {
                    notes.Add($"lost writes not checked: {ex.Message}");
                }

                await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken).ConfigureAwait(false);
            }
        }

        return null;
    }
}
