using System.Collections.Concurrent;
using System.Globalization;
using CliWrap;
using CliWrap.Buffered;
using Npgsql;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Lab;
using PgRuntimeAgent.Lab.Safety;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Evals;

/// <summary>How <see cref="EvalRunner"/> runs the cases.</summary>
internal sealed record EvalRunOptions
{
    /// <summary>The skills the agent runs with (the repository's skills/).</summary>
    public required string SkillsDirectory { get; init; }

    /// <summary>A last change to the agent's settings (a model, for a run with one).</summary>
    public Func<AgentSettings, AgentSettings>? Tweak { get; init; }

    /// <summary>The model the agent's brain asks (null: the settings' <c>llm</c> section, if any; none: the deterministic agent alone).</summary>
    public Microsoft.Extensions.AI.IChatClient? ChatClient { get; init; }

    /// <summary>The model's name in the report (null: the deterministic agent).</summary>
    public string? ModelName { get; init; }

    /// <summary>How long the end state must hold before a case ends early (every fault to fix restored, the expected findings raised, no skill running).</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Runs a case with no fault this long instead of its time limit (CI's fast subset); null: the time limit.</summary>
    public double? NoFaultSeconds { get; init; }

    public Action<string>? Progress { get; init; }
}

/// <summary>One case as run: what the runner observed and how it scored, with the runner's notes.</summary>
internal sealed record EvalCaseRun(EvalCase Case, EvalObservation Observation, EvalCaseScore Score);

/// <summary>
/// Runs an evaluation case on the lab: Patroni's timing, setup steps, a fresh agent at the case's autonomy with a
/// journal of its own, the independent writer (<see cref="SafetyChecker"/>) and the case's load, the faults on their
/// schedule, a stand-in approver when the case says so; then it watches each fault's symptom with its own probes
/// (never the agent's view) until the case's time limit or until the end state holds, and reads what the agent did
/// from its journal. Every fault is healed and the lab's timing put back afterwards, whatever happened.
/// </summary>
internal sealed class EvalRunner(LabManifest lab, TimeProvider time)
{
    private const string Pgbench = "/usr/lib/postgresql/15/bin/pgbench";

    /// <summary>The name approvals are granted or denied under in the journal.</summary>
    public const string Approver = "eval";

    public async Task<EvalCaseRun> RunAsync(EvalCase evalCase, EvalRunOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(evalCase);
        ArgumentNullException.ThrowIfNull(options);
        var say = options.Progress ?? (_ => { });
        var notes = new List<string>();
        var startedAt = time.GetUtcNow();
        using var cluster = new LabCluster(lab, time);
        using var faults = new LabFaults(lab, time) { AllowSharedTarget = true };
        if (LabFaultBook.Active(lab).Count > 0)
        {
            notes.Add("faults left by an earlier run were healed first: " + string.Join(", ", LabFaultBook.Active(lab).Select(a => a.Scenario)));
            await HealAllAsync(faults, notes, say, cancellationToken).ConfigureAwait(false);
        }

        say(await LabHaTiming.SetAsync(cluster, evalCase.Timing, cancellationToken).ConfigureAwait(false));
        try
        {
            return await RunOnLabAsync(evalCase, options, cluster, faults, notes, startedAt, say, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await HealAllAsync(faults, notes, say, CancellationToken.None).ConfigureAwait(false);
            foreach (var step in evalCase.Teardown)
            {
                if (await RunStepAsync(step, cluster, say, CancellationToken.None).ConfigureAwait(false) is { } problem)
                {
                    notes.Add("teardown: " + problem);
                }
            }

            if (evalCase.Timing != lab.HaPreset)
            {
                say(await LabHaTiming.SetAsync(cluster, lab.HaPreset, CancellationToken.None).ConfigureAwait(false));
            }
        }
    }

    private async Task<EvalCaseRun> RunOnLabAsync(EvalCase evalCase, EvalRunOptions options, LabCluster cluster, LabFaults faults, List<string> notes,
        DateTimeOffset startedAt, Action<string> say, CancellationToken cancellationToken)
    {
        await EnsureHealthyAsync(cluster, faults, notes, say, cancellationToken).ConfigureAwait(false);
        foreach (var step in evalCase.Setup)
        {
            if (await RunStepAsync(step, cluster, say, cancellationToken).ConfigureAwait(false) is { } problem)
            {
                throw new InputException($"{evalCase.File}: setup step: {problem}", ["fix the step, or run it by hand against the lab to see why"]);
            }
        }

        await using var agent = await LabAgent.CreateAsync(lab, options.SkillsDirectory, null, s =>
        {
            var tuned = s with { Policy = evalCase.Autonomy.ApplyTo(s.Policy) };
            return options.Tweak?.Invoke(tuned) ?? tuned;
        }, cancellationToken, options.ChatClient).ConfigureAwait(false);
        var events = new ConcurrentQueue<AgentEvent>();
        agent.Runtime.Loop.AddObserver(new DelegateObserver(events.Enqueue));

        await using var checker = new SafetyChecker(lab, cluster, time, IdBase());
        await checker.StartAsync(cancellationToken).ConfigureAwait(false);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        LabWorkload? workload = null;
        Task load = Task.CompletedTask;
        if (evalCase.Load == EvalLoad.Workload)
        {
            workload = await LabWorkload.StartAsync(new LabWorkloadOptions
            {
                WriteConnectionString = cluster.PrimaryServiceConnectionString(),
                ReadConnectionString = cluster.ReplicaServiceConnectionString(),
                WriteInterval = TimeSpan.FromMilliseconds(100),
            }, time, cancellationToken).ConfigureAwait(false);
        }
        else if (evalCase.Load == EvalLoad.Pgbench)
        {
            load = await StartPgbenchAsync(cluster, stop.Token, cancellationToken).ConfigureAwait(false);
        }

        var agentTask = Task.Run(() => agent.Runtime.RunAsync(stop.Token), CancellationToken.None);
        var footprint = new EvalFootprintMeter(time);
        var approver = Task.CompletedTask;
        var injected = new List<EvalInjectedFault>();
        string? leaderBefore = null;
        DateTimeOffset t0 = time.GetUtcNow();
        var healthy = false;
        Task<(string? Code, string? Problem)>? diagnosis = null;
        try
        {
            // Baseline: the agent has seen the healthy cluster (writable leader) twice before anything happens.
            await WaitUntilAsync(() => events.Count(e => e.Name == AgentEventNames.Snapshot && e.Details.GetValueOrDefault("writable") == "true") >= 2 || agentTask.IsCompleted,
                TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            if (agentTask.IsCompleted)
            {
                await agentTask.ConfigureAwait(false);
                throw new InvalidOperationException("the agent stopped before the case began");
            }

            await Task.Delay(TimeSpan.FromSeconds(2), time, cancellationToken).ConfigureAwait(false);
            leaderBefore = (await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false))?.Name;
            t0 = time.GetUtcNow();
            if (evalCase.Approvals != EvalApprovals.None)
            {
                approver = DecideApprovalsAsync(agent.Runtime, evalCase.Approvals, stop.Token);
            }

            if (agent.Runtime.AgentBrain is { } brain)
            {
                diagnosis = DiagnoseAsync(brain, events, t0, say, stop.Token);
            }

            await WatchAsync(evalCase, options, cluster, faults, checker, events, injected, notes, t0, footprint, say, cancellationToken).ConfigureAwait(false);
            if (diagnosis is not null && !diagnosis.IsCompleted)
            {
                say("waiting for the model's diagnosis");
                await Task.WhenAny(diagnosis, Task.Delay(TimeSpan.FromSeconds(agent.Workspace.Settings.Llm.TimeoutSeconds + 10), time, cancellationToken)).ConfigureAwait(false);
            }
        }
        finally
        {
            healthy = await HealthyAsync(cluster, injected.Select(f => f.Target).ToList(), notes, cancellationToken).ConfigureAwait(false);
            await stop.CancelAsync().ConfigureAwait(false);
            await Quietly(agentTask).ConfigureAwait(false);
            await Quietly(approver).ConfigureAwait(false);
            if (diagnosis is not null)
            {
                await Quietly(diagnosis).ConfigureAwait(false);
            }

            await Quietly(load).ConfigureAwait(false);
            if (workload is not null)
            {
                await workload.DisposeAsync().ConfigureAwait(false);
            }

            await checker.StopAsync().ConfigureAwait(false);
        }

        var endedAt = time.GetUtcNow();
        await HealAllAsync(faults, notes, say, cancellationToken).ConfigureAwait(false);
        var lost = await checker.LostOrNoteAsync(notes, cancellationToken).ConfigureAwait(false);
        var figures = SafetyChecker.Figures(checker.Acknowledged, lost, leaderBefore, t0);
        var entries = await agent.Journal.QueryAsync(new JournalQuery { Since = startedAt }, cancellationToken).ConfigureAwait(false);
        var all = events.ToArray();
        var incidents = all.Where(e => e.Name == AgentEventNames.IncidentOpened && e.Cluster == lab.Cluster && e.At >= t0).Select(e => e.Incident).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        string? rootCause = null;
        if (incidents.Count > 0 && await IncidentStore.LoadAsync(agent.Journal, incidents[0], cancellationToken).ConfigureAwait(false) is { } data)
        {
            rootCause = PostMortemBuilder.Build(data).RootCauseCode;
        }

        if (diagnosis is not null)
        {
            // A run with a model scores the model's diagnosis; the deterministic one is noted beside it.
            var (named, problem) = diagnosis.IsCompletedSuccessfully ? diagnosis.Result : (null, "no answer before the case ended");
            if (problem is not null)
            {
                notes.Add("the model's diagnosis: " + problem);
            }

            notes.Add($"root cause: the model named {named ?? "none"}, the deterministic post-mortem {rootCause ?? "none"}");
            rootCause = named;
        }

        var rpo = agent.Workspace.Topology.FindCluster(lab.Cluster)?.Ha.MaximumLagOnFailoverBytes;
        var observation = new EvalObservation
        {
            Case = evalCase.Name,
            Cluster = lab.Cluster,
            Members = [.. lab.Members.Select(m => m.Name)],
            StartedAt = startedAt,
            EndedAt = endedAt,
            Faults = injected,
            Findings = EvalJournal.Findings(all, lab.Cluster),
            NamedRootCause = rootCause,
            Actions = EvalJournal.Actions(entries),
            IncidentsOpened = incidents.Count,
            Writer = new EvalWriterCounts
            {
                Acknowledged = checker.Acknowledged.Count,
                Lost = figures.Lost,
                LostAfterPromotion = figures.LostAfterPromotion,
                MaxWriteGapSeconds = figures.LongestGapSeconds,
            },
            SplitBrainSeconds = figures.SplitBrainSeconds,
            ClusterRpoBytes = rpo,
            WritableAgainAt = figures.WritesBackAt,
            HealthyAtEnd = healthy,
            Model = EvalJournal.ModelUsage(entries, options.ModelName),
            Footprint = footprint.Result(),
            Notes = notes,
            Skills = EvalJournal.Skills(all, lab.Cluster),
        };
        var score = EvalScoring.Score(evalCase, observation);
        say($"{evalCase.Name}: {(score.SafePass ? "safe-pass" : "miss")}" + (score.Misses.Count == 0 ? "" : " (" + string.Join("; ", score.Misses) + ")"));
        return new EvalCaseRun(evalCase, observation, score);
    }

    /// <summary>Injects the faults on their schedule and watches their symptoms until the time limit, or until the end state has held for the settle time.</summary>
    private async Task WatchAsync(EvalCase evalCase, EvalRunOptions options, LabCluster cluster, LabFaults faults, SafetyChecker checker,
        ConcurrentQueue<AgentEvent> events, List<EvalInjectedFault> injected, List<string> notes, DateTimeOffset t0, EvalFootprintMeter footprint,
        Action<string> say, CancellationToken cancellationToken)
    {
        var limit = evalCase.IsNoFault && options.NoFaultSeconds is { } short_ ? Math.Min(short_, evalCase.Limits.TimeLimitSeconds) : evalCase.Limits.TimeLimitSeconds;
        var deadline = t0 + TimeSpan.FromSeconds(limit);
        var due = new Queue<EvalFault>(evalCase.Faults.OrderBy(f => f.AfterSeconds));
        var steps = new Queue<EvalStep>(evalCase.During.OrderBy(d => d.AfterSeconds));
        var running = new List<Task>();
        var stepProblems = new ConcurrentQueue<string>();
        using var stopSteps = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        DateTimeOffset? settledSince = null;
        string? unsettled = null;
        try
        {
            while (time.GetUtcNow() < deadline)
            {
                while (steps.Count > 0 && time.GetUtcNow() >= t0 + TimeSpan.FromSeconds(steps.Peek().AfterSeconds))
                {
                    var step = steps.Dequeue();
                    running.Add(RunDuringAsync(step));
                }

                footprint.Sample();
                if (await TickAsync().ConfigureAwait(false))
                {
                    return;
                }
            }

            if (unsettled is not null)
            {
                notes.Add(string.Create(CultureInfo.InvariantCulture, $"ran to the time limit ({limit:0} s): {unsettled}"));
                say(notes[^1]);
            }
        }
        finally
        {
            // A step still running (a CPU burner) ends with the case.
            await stopSteps.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(running).ConfigureAwait(false);
            notes.AddRange(stepProblems);
        }

        async Task RunDuringAsync(EvalStep step)
        {
            try
            {
                if (await RunStepAsync(step, cluster, say, stopSteps.Token).ConfigureAwait(false) is { } problem)
                {
                    stepProblems.Enqueue("during: " + problem);
                }
            }
            catch (OperationCanceledException)
            {
                // still running when the case ended (a CPU burner): ended with it
            }
        }

        async Task<bool> TickAsync()
        {
            while (due.Count > 0 && time.GetUtcNow() >= t0 + TimeSpan.FromSeconds(due.Peek().AfterSeconds))
            {
                var fault = due.Dequeue();
                var member = fault.Target switch
                {
                    "leader" => (await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false))?.Name,
                    "replica" => await FirstReplicaAsync(cluster, cancellationToken).ConfigureAwait(false),
                    var named => named,
                };
                try
                {
                    var result = await faults.InjectAsync(fault.Scenario, member, cancellationToken).ConfigureAwait(false);
                    say($"injected {result.Scenario} on {result.Target}: {result.Summary}");
                    injected.Add(new EvalInjectedFault
                    {
                        Scenario = result.Scenario,
                        Target = result.Target,
                        InjectedAt = time.GetUtcNow() - result.Duration,
                        Objects = EvalJournal.FaultObjects(result.Scenario, result.Summary),
                    });
                }
                catch (Exception ex) when (ex is InputException or IOException or InvalidOperationException or NpgsqlException)
                {
                                        notes.Add($"{fault.Describe()} could not be injected: {ex.Message}");
                    say(notes[^1]);
                }
            }

            for (var i = 0; i < injected.Count; i++)
            {
                if (injected[i].RestoredAt is null && await RestoredAsync(injected[i], cluster, checker, cancellationToken).ConfigureAwait(false) is { } at)
                {
                    injected[i] = injected[i] with { RestoredAt = at };
                    say(string.Create(CultureInfo.InvariantCulture, $"{injected[i].Scenario} on {injected[i].Target}: symptom gone {(at - t0).TotalSeconds:0.0} s after the first fault"));
                }
            }

            unsettled = evalCase.IsNoFault ? null : due.Count > 0 ? "faults still to inject" : Unsettled(evalCase, injected, events);
            if (!evalCase.IsNoFault && unsettled is null)
            {
                settledSince ??= time.GetUtcNow();
                if (time.GetUtcNow() - settledSince >= options.Settle)
                {
                    say("the end state held: the case ends early");
                    return true;
                }
            }
            else
            {
                settledSince = null;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken).ConfigureAwait(false);
            return false;
        }
    }

    /// <summary>
    /// With a model: once the agent raised a warning or critical finding after the fault (and 5 s more, for the findings
    /// that come with it), asks the model for the root cause with the read-only tools; the finding code it names, or null.
    /// </summary>
    private async Task<(string? Code, string? Problem)> DiagnoseAsync(Brain.AgentBrain brain, ConcurrentQueue<AgentEvent> events, DateTimeOffset t0, Action<string> say,
        CancellationToken stop)
    {
        bool Raised(AgentEvent e) => e.Name == AgentEventNames.FindingRaised && e.Cluster == lab.Cluster && e.At >= t0 && e.Severity is "warning" or "critical";
        try
        {
            while (!events.Any(Raised))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), time, stop).ConfigureAwait(false);
            }

            await Task.Delay(TimeSpan.FromSeconds(5), time, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return (null, null); // nothing was raised to diagnose before the case ended
        }

        var findings = string.Join("\n", events.Where(Raised).Select(e =>
            $"- {e.Details.GetValueOrDefault("code")} ({e.Severity}{(e.Details.GetValueOrDefault("member") is { } m ? ", " + m : "")}): {e.Title}").Distinct(StringComparer.Ordinal));
        say("asking the model for its diagnosis");
        var (exchange, code) = await brain.DiagnoseAsync(lab.Cluster, findings, stop).ConfigureAwait(false);
        say($"the model answered ({exchange.Status}, {exchange.ToolCalls.Count} tool call(s)): root cause {code ?? "not named"}");
        return (code, exchange.Status != "answered" ? $"{exchange.Status}: {exchange.Error}" : code is null ? "the answer named no catalogue finding code" : null);
    }

    /// <summary>Every fault to fix has its symptom gone, every expected finding and a root cause were raised, no skill is running and no approval waits.</summary>
    private static string? Unsettled(EvalCase evalCase, IReadOnlyList<EvalInjectedFault> injected, ConcurrentQueue<AgentEvent> events)
    {
        var all = events.ToArray();
        var raised = all.Where(e => e.Name == AgentEventNames.FindingRaised).Select(e => e.Details.GetValueOrDefault("code")).ToHashSet(StringComparer.Ordinal);
        var toFix = evalCase.Faults.Where(f => f.Fixed).Select(f => f.Scenario).ToHashSet(StringComparer.Ordinal);
        var started = all.Where(e => e.Name == AgentEventNames.SkillStarted).Select(e => e.Details.GetValueOrDefault("skill")).ToList();
        foreach (var done in all.Where(e => e.Name is AgentEventNames.SkillFinished or AgentEventNames.SkillErrored).Select(e => e.Details.GetValueOrDefault("skill")))
        {
            started.Remove(done);
        }

        var waiting = all.Count(e => e.Name == AgentEventNames.ApprovalRequested) - all.Count(e => e.Name == AgentEventNames.ApprovalDecided);
        var symptoms = injected.Where(f => toFix.Contains(f.Scenario) && f.RestoredAt is null).Select(f => f.Scenario).ToList();
        var missing = evalCase.Expect.Findings.Where(f => !raised.Contains(f)).ToList();
        return symptoms.Count > 0 ? "symptom still there: " + string.Join(", ", symptoms)
            : evalCase.Expect.RootCause.Count > 0 && !evalCase.Expect.RootCause.Any(raised.Contains) ? "no expected root cause raised (" + string.Join(" or ", evalCase.Expect.RootCause) + ")"
            : missing.Count > 0 ? "expected finding(s) not raised: " + string.Join(", ", missing)
            : started.Count > 0 ? "skill(s) still running: " + string.Join(", ", started.Distinct(StringComparer.Ordinal))
            : waiting > 0 && evalCase.Approvals != EvalApprovals.None ? "an approval still waits"
            : null;
    }

    /// <summary>
    /// When the fault's symptom was gone, seen by the runner's own probe, or null while it is there. Writes stopping
    /// (crash, freeze, full WAL disk): writes stopped after the fault and the writer is acknowledged again. The rest: the
    /// lab's own sessions, the archiver, replay and the member's state, read with SQL and Patroni's REST API.
    /// </summary>
    private async Task<DateTimeOffset?> RestoredAsync(EvalInjectedFault fault, LabCluster cluster, SafetyChecker checker, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        try
        {
            switch (fault.Scenario)
            {
                case "primary-crash" or "primary-freeze" or "disk-full":
                {
                    var figures = SafetyChecker.Figures(checker.Acknowledged, null, null, fault.InjectedAt);
                    var last = checker.Acknowledged.LastOrDefault()?.AckedAt;
                    return figures.LongestGapSeconds > 1 && figures.WritesBackAt is { } back && last is { } l && now - l < TimeSpan.FromSeconds(2) ? back : null;
                }

                case "lock-pileup" or "long-transaction" or "connection-storm":
                {
                    var target = lab.FindMember(fault.Target)!;
                    var sql = fault.Scenario switch
                    {
                        "lock-pileup" => "select count(*) from pg_stat_activity where application_name = 'pgra-lab-lock-pileup' and wait_event_type = 'Lock'",
                        "long-transaction" => "select count(*) from pg_stat_activity where application_name = 'pgra-lab-long-transaction' and xact_start is not null",
                        _ => "select greatest(count(*) - current_setting('max_connections')::int / 2, 0) from pg_stat_activity where application_name = 'pgra-lab-connection-storm'",
                    };
                    return await cluster.ScalarAsync(target, sql, cancellationToken).ConfigureAwait(false) is long n && n == 0 ? now : null;
                }

                case "missing-index":
                {
                    var leader = await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false);
                    const string Sql = "select count(*) from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0] "
                        + "where i.indrelid = to_regclass('orders') and a.attname = 'user_id' and i.indisvalid";
                    // orders lives in the lab's database, not in postgres (where to_regclass('orders') is always null).
                    return leader is not null && await cluster.ScalarAsync(leader, Sql, cancellationToken, lab.Database).ConfigureAwait(false) is long n && n > 0 ? now : null;
                }

                case "archive-broken":
                {
                    var leader = await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false);
                    const string Sql = "select coalesce(last_archived_time > coalesce(last_failed_time, '-infinity'), false) and last_archived_time > $1::timestamptz from pg_stat_archiver";
                    var sql = Sql.Replace("$1", "'" + fault.InjectedAt.ToString("O", CultureInfo.InvariantCulture) + "'", StringComparison.Ordinal);
                    return leader is not null && await cluster.ScalarAsync(leader, sql, cancellationToken).ConfigureAwait(false) is true ? now : null;
                }

                case "replication-stop":
                {
                    var leader = await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false);
                    var sql = $"select coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), -1) from pg_stat_replication where application_name = '{fault.Target.Replace("'", "", StringComparison.Ordinal)}'";
                    return leader is not null && await cluster.ScalarAsync(leader, sql, cancellationToken).ConfigureAwait(false) is decimal lag && lag is >= 0 and < 1_048_576 ? now : null;
                }

                default:
                {
                    // bad-config: the member runs again (Patroni says running or streaming).
                    var state = (await cluster.GetMembersAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(m => m.Name == fault.Target)?.State;
                    return state is "running" or "streaming" ? now : null;
                }
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException or TimeoutException or HttpRequestException or InvalidOperationException or TaskCanceledException)
        {
            return null; // a probe that cannot answer proves nothing
        }
    }

    /// <summary>
    /// Every case starts from a healthy lab, whatever the one before left (a fenced member, a rewound replica): healthy
    /// within 45 s or repaired as <c>pgra lab repair</c> does (noted), an archiver freed of a conflicting partial segment,
    /// and every replica within 256 KiB of the leader (a failover needs a candidate within maximum_lag_on_failover).
    /// </summary>
    private async Task EnsureHealthyAsync(LabCluster cluster, LabFaults faults, List<string> notes, Action<string> say, CancellationToken cancellationToken)
    {
        var (ok, health) = await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(45), cancellationToken).ConfigureAwait(false);
        if (!ok)
        {
            say($"the lab is not healthy ({health.Describe()}): repairing it");
            var repair = await faults.RepairAsync(TimeSpan.FromSeconds(150), cancellationToken).ConfigureAwait(false);
            notes.Add($"the lab was not healthy before the case ({health.Describe()}) and was repaired: {repair.Summary}");
            if (!repair.Ok)
            {
                throw new InvalidOperationException($"the lab is not healthy and repair did not help: {repair.Summary}; `pgra lab status` shows it");
            }
        }
        else
        {
            foreach (var step in faults.QuarantineConflictingSegments())
            {
                say($"archive: {step.Command} -> {step.Outcome}");
            }
        }

        var (caughtUp, members) = await cluster.WaitCaughtUpAsync(256 * 1024, TimeSpan.FromSeconds(90), cancellationToken).ConfigureAwait(false);
        if (!caughtUp)
        {
            notes.Add("the replicas had not caught up within 90 s before the case: " + string.Join(", ", members.Select(m => $"{m.Name} {m.Role} lag {m.Lag ?? "?"}")));
            say(notes[^1]);
        }
    }

    /// <summary>
    /// Healthy at the end: a leader takes a write, and every member that no fault hit runs and streams from it within
    /// 16 MiB. A member a fault left broken (a full WAL disk nobody may empty but an operator) does not count against it.
    /// </summary>
    private async Task<bool> HealthyAsync(LabCluster cluster, IReadOnlyList<string> faultTargets, List<string> notes, CancellationToken cancellationToken)
    {
        try
        {
            var leader = await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false);
            if (leader is null)
            {
                notes.Add("at the end: no leader");
                return false;
            }

            if (await cluster.ScalarAsync(leader, "select not pg_is_in_recovery()", cancellationToken).ConfigureAwait(false) is not true)
            {
                notes.Add($"at the end: the leader {leader.Name} is in recovery");
                return false;
            }

            var members = await cluster.GetMembersAsync(cancellationToken).ConfigureAwait(false);
            var behind = await cluster.ScalarAsync(leader,
                "select string_agg(application_name, ',') from pg_stat_replication where state = 'streaming' and pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) < 16777216",
                cancellationToken).ConfigureAwait(false) as string ?? "";
            var streaming = behind.Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
            var missing = lab.Members.Where(m => m.Name != leader.Name && !faultTargets.Contains(m.Name, StringComparer.Ordinal) && !streaming.Contains(m.Name))
                .Select(m => $"{m.Name} ({members.FirstOrDefault(x => x.Name == m.Name)?.State ?? "not in Patroni's view"})").ToList();
            if (missing.Count > 0)
            {
                notes.Add("at the end: not streaming from the leader: " + string.Join(", ", missing));
                return false;
            }

            return true;
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException or TimeoutException or HttpRequestException or InvalidOperationException)
        {
            notes.Add("at the end: health not readable: " + ex.Message);
            return false;
        }
    }

    private async Task<string?> FirstReplicaAsync(LabCluster cluster, CancellationToken cancellationToken)
    {
        var leader = (await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false))?.Name;
        return lab.Members.Select(m => m.Name).FirstOrDefault(n => n != leader);
    }

    /// <summary>Grants (or denies) every pending approval as <see cref="Approver"/>, every half second, until stopped.</summary>
    private async Task DecideApprovalsAsync(AgentRuntime agent, EvalApprovals decision, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            foreach (var pending in await agent.Acting.Approvals.ListAsync(false, stop).ConfigureAwait(false))
            {
                if (decision == EvalApprovals.Approve)
                {
                    await agent.Acting.Approvals.ApproveAsync(pending.Id, Approver, "approved by the evaluation's stand-in approver", stop).ConfigureAwait(false);
                }
                else
                {
                    await agent.Acting.Approvals.DenyAsync(pending.Id, Approver, "denied by the evaluation's stand-in approver", stop).ConfigureAwait(false);
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), time, stop).ConfigureAwait(false);
        }
    }

    /// <summary>pgbench at full load on the leader (8 clients, scale 1) until stopped; the tables are made first and dropped after.</summary>
    private async Task<Task> StartPgbenchAsync(LabCluster cluster, CancellationToken stop, CancellationToken cancellationToken)
    {
        var leader = await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false) ?? throw new InvalidOperationException("no leader to run pgbench on");
        var login = lab.Credentials.Admin;
        string[] target = ["-h", leader.Ip, "-p", leader.Ports.Postgres.ToString(CultureInfo.InvariantCulture), "-U", login.Username];
        var env = new Dictionary<string, string?> { ["PGPASSWORD"] = login.Password, ["PGAPPNAME"] = "pgra-eval-pgbench" };
        var init = await Cli.Wrap(Pgbench).WithArguments([.. target, "-i", "-s", "1", "-q", lab.Database]).WithEnvironmentVariables(env)
            .WithValidation(CommandResultValidation.None).ExecuteBufferedAsync(cancellationToken).ConfigureAwait(false);
        if (init.ExitCode != 0)
        {
            throw new IOException($"pgbench -i on {leader.Name} exited {init.ExitCode.ToString(CultureInfo.InvariantCulture)}: {init.StandardError.Trim()}");
        }

        return Task.Run(async () =>
        {
            try
            {
                await Cli.Wrap(Pgbench).WithArguments([.. target, "-n", "-c", "8", "-j", "2", "-T", "3600", lab.Database]).WithEnvironmentVariables(env)
                    .WithValidation(CommandResultValidation.None).ExecuteBufferedAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            await Cli.Wrap(Pgbench).WithArguments([.. target, "-i", "-I", "d", lab.Database]).WithEnvironmentVariables(env)
                .WithValidation(CommandResultValidation.None).ExecuteBufferedAsync(CancellationToken.None).ConfigureAwait(false);
        }, CancellationToken.None);
    }

    /// <summary>Runs one step; what went wrong, or null when it ran (a step during the case runs beside the runner, so it returns its problem instead of noting it).</summary>
    private async Task<string?> RunStepAsync(EvalStep step, LabCluster cluster, Action<string> say, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(step.TimeoutSeconds));
        try
        {
            if (step.Kind == EvalStepKind.Shell)
            {
                var result = await Cli.Wrap("/bin/sh").WithArguments(["-c", step.Text]).WithValidation(CommandResultValidation.None)
                    .WithEnvironmentVariables(new Dictionary<string, string?> { ["PGRA_LAB_DIR"] = lab.Dir, ["PGRA_LAB_CLUSTER"] = lab.Cluster })
                    .ExecuteBufferedAsync(timeout.Token).ConfigureAwait(false);
                if (result.ExitCode != 0)
                {
                    return $"{step.Describe()} exited {result.ExitCode.ToString(CultureInfo.InvariantCulture)}: {result.StandardError.Trim()}";
                }
            }
            else if (step.Kind == EvalStepKind.Patroni)
            {
                await PatroniStepAsync(step, cluster, timeout.Token).ConfigureAwait(false);
            }
            else
            {
                var member = step.On switch
                {
                    "leader" => await cluster.LeaderAsync(timeout.Token).ConfigureAwait(false),
                    "replica" => lab.FindMember(await FirstReplicaAsync(cluster, timeout.Token).ConfigureAwait(false) ?? ""),
                    var named => lab.FindMember(named),
                } ?? throw new InvalidOperationException($"no member '{step.On}' to run the step on");
                await using var connection = new NpgsqlConnection(cluster.ConnectionString(member, lab.Credentials.Admin, lab.Database, application: "pgra-eval-step"));
                await connection.OpenAsync(timeout.Token).ConfigureAwait(false);
                await using var command = new NpgsqlCommand(step.Text, connection) { CommandTimeout = 0 };
                await command.ExecuteNonQueryAsync(timeout.Token).ConfigureAwait(false);
            }

            say("ran " + step.Describe());
            return null;
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException or InvalidOperationException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return $"{step.Describe()} failed: {ex.Message}";
        }
    }

    /// <summary>
    /// A planned switchover (the leader hands over to a caught-up replica through its REST API; the step ends when
    /// another member leads) or a restart of one member (POST /restart).
    /// </summary>
    private async Task PatroniStepAsync(EvalStep step, LabCluster cluster, CancellationToken cancellationToken)
    {
        var leader = await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false) ?? throw new InvalidOperationException("no leader");
        if (step.Text == EvalStep.Switchover)
        {
            var (caughtUp, members) = await cluster.WaitCaughtUpAsync(65_536, TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            var candidate = members.Where(m => m.Name != leader.Name && m.State is "streaming" or "running").Select(m => m.Name).FirstOrDefault()
                ?? throw new InvalidOperationException($"no replica to switch over to (caught up: {caughtUp})");
            var body = "{\"leader\": \"" + leader.Name + "\", \"candidate\": \"" + candidate + "\"}";
            var (status, answer) = await cluster.SendAsync(HttpMethod.Post, leader, "/switchover", body, cancellationToken, TimeSpan.FromSeconds(60)).ConfigureAwait(false);
            if (status != 200)
            {
                throw new InvalidOperationException($"POST /switchover to {candidate} answered {status.ToString(CultureInfo.InvariantCulture)}: {answer.Trim()}");
            }

            var started = time.GetTimestamp();
            while ((await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false))?.Name is not { } now || now == leader.Name)
            {
                if (time.GetElapsedTime(started) > TimeSpan.FromSeconds(60))
                {
                    throw new InvalidOperationException($"{leader.Name} still leads 60 s after the switchover to {candidate} was accepted");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500), time, cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        var member = (step.On switch
        {
            "leader" => leader,
            "replica" => lab.FindMember(await FirstReplicaAsync(cluster, cancellationToken).ConfigureAwait(false) ?? ""),
            var named => lab.FindMember(named),
        }) ?? throw new InvalidOperationException($"no member '{step.On}' to restart");
        var (code, text) = await cluster.SendAsync(HttpMethod.Post, member, "/restart", "{}", cancellationToken, TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        if (code != 200)
        {
            throw new InvalidOperationException($"POST /restart of {member.Name} answered {code.ToString(CultureInfo.InvariantCulture)}: {text.Trim()}");
        }
    }

    private async Task HealAllAsync(LabFaults faults, List<string> notes, Action<string> say, CancellationToken cancellationToken)
    {
        if (LabFaultBook.Active(lab).Count == 0)
        {
            return;
        }

        try
        {
            foreach (var r in await faults.HealAsync(null, cancellationToken).ConfigureAwait(false))
            {
                say($"healed {r.Scenario} on {r.Target}: {r.Summary}");
                if (!r.Ok)
                {
                    notes.Add($"heal of {r.Scenario}: {r.Summary}");
                }
            }
        }
        catch (Exception ex) when (ex is InputException or IOException or InvalidOperationException or NpgsqlException)
        {
            notes.Add("heal failed: " + ex.Message);
            say(notes[^1]);
        }
    }

    private async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        while (!condition() && time.GetElapsedTime(started) < timeout)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Ids of a run far apart from any other run's (the checker's table outlives runs).</summary>
    private long IdBase() => (time.GetUtcNow().ToUnixTimeSeconds() % 100_000) * 10_000_000_000L + 9_000_000_000L;
}
