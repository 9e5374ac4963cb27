using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Alerts;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Agent;

/// <summary>Skill dispatch: which skill runs for which finding and when (cooldowns, retries, the urgent slot), running it through the skill host, following approvals, collecting outcomes.</summary>
internal sealed partial class AgentLoop
{
    /// <summary>A run that ended waiting for an approval: when the operator decided, act on it.</summary>
    private async Task FollowApprovalAsync(ClusterState st, CancellationToken stop)
    {
        // An approval asked for by an urgent run is followed while a regular run holds the cluster (a warning's skill
        // may wait minutes); an approved action that still has to run takes whichever slot is free.
        if (st.Awaiting is not { } awaiting || (st.Run is not null && st.Urgent is not null))
        {
            return;
        }

        var approval = await _acting.Approvals.GetAsync(awaiting.ApprovalId, stop).ConfigureAwait(false);
        switch (approval?.Status)
        {
            case ApprovalStatus.Pending:
                return;
            case ApprovalStatus.Executed:
                EmitDecided(st, approval, "approved and executed");
                st.Awaiting = null;
                st.RerunAfterSnapshot = st.Snapshots + 2;
                st.Rerun = awaiting;
                return;
            case ApprovalStatus.Approved when st.Run is not null:
                // The regular slot is busy: run it in the urgent one; the skill looks again two snapshots after it ends.
                EmitDecided(st, approval, "approved: running it");
                st.Awaiting = null;
                st.Rerun = awaiting;
                st.RerunAfterSnapshot = st.Snapshots + 2;
                st.UrgentSkill = awaiting.Skill.Name;
                st.Urgent = RunApprovedAsync(st, awaiting);
                return;
            case ApprovalStatus.Approved:
                // Approved but not run (for example approved from another tool that does not execute): run it here.
                EmitDecided(st, approval, "approved: running it");
                st.Awaiting = null;
                st.Rerun = awaiting;
                st.RerunAfterSnapshot = long.MaxValue;
                st.RunSkill = awaiting.Skill.Name;
                st.RunSeverity = awaiting.Trigger.Severity;
                st.RunScheduled = ScheduleTrigger.Is(awaiting.Trigger);
                st.Run = RunApprovedAsync(st, awaiting);
                return;
            default:
                EmitDecided(st, approval, approval is null ? "gone from the journal" : approval.Status.ToString().ToLowerInvariant());
                st.Awaiting = null;
                st.StartCooldown(awaiting.Skill, awaiting.Trigger, _time.GetUtcNow());
                return;
        }
    }

    private async Task<SkillRunOutcome?> RunApprovedAsync(ClusterState st, Awaiting awaiting)
    {
        try
        {
            var result = await _acting.Pipeline.RunApprovedAsync(awaiting.ApprovalId, _runStop.Token).ConfigureAwait(false);
            Emit(new AgentEvent
            {
                Name = AgentEventNames.ActionFinished,
                At = _time.GetUtcNow(),
                Cluster = st.Cluster,
                Incident = _incidents.Current(st.Cluster)?.Id,
                Title = $"{result.Action.Summary}: {Acting.ActionPipeline.Kebab(result.Status)}",
                Message = result.Message,
            });
        }
        catch (Exception ex) when (ex is InputException or JournalException)
        {
            Log.ApprovedRunFailed(_logger, awaiting.ApprovalId, Redact(ex));
        }

        return null;
    }

    /// <summary>Collects a finished skill run: cooldown, or the approval it waits for.</summary>
    private void Harvest(ClusterState st)
    {
        if (st.Urgent is { IsCompleted: true } urgent)
        {
            var urgentSkill = st.UrgentSkill;
            st.Urgent = null;
            st.UrgentSkill = null;
            Collect(st, urgent, urgentSkill);
        }

        if (st.Run is not { IsCompleted: true } task)
        {
            return;
        }

        var skill = st.RunSkill;
        st.Run = null;
        st.RunSkill = null;
        st.RunScheduled = false;
        if (st.Rerun is not null && st.RerunAfterSnapshot == long.MaxValue)
        {
            // An approved action the loop ran itself has finished: look again two snapshots later.
            st.RerunAfterSnapshot = st.Snapshots + 2;
        }

        Collect(st, task, skill);
    }

    /// <summary>A finished run's outcome: kept for tests and the demo, then its cooldown, retry time or the approval it waits for.</summary>
    /// <param name="skill">The skill that ran, when known (a crash is reported with it).</param>
    private void Collect(ClusterState st, Task<SkillRunOutcome?> task, string? skill)
    {
        if (task.IsCompletedSuccessfully && task.Result is { } outcome)
        {
            lock (_finished)
            {
                _finished.Add(outcome);
            }

            if (outcome.Run.Status == SkillRunStatus.AwaitingApproval && ApprovalOf(outcome.Run) is { } approval)
            {
                st.Awaiting = new Awaiting(outcome.Skill, approval, outcome.Trigger, outcome.Run.FinishedAt);
            }
            else
            {
                st.Record(outcome.Skill, outcome.Run, _options.Run);
            }
        }
        else if (task.IsFaulted)
        {
            var error = task.Exception is { } crash ? Redact(crash.GetBaseException()) : "?";
            Log.SkillCrashed(_logger, st.Cluster, error);
            EmitSkillErrored(st.Cluster, _incidents.Current(st.Cluster)?.Id, skill, "the run crashed: " + error, null);
        }
    }

    /// <summary>Starts the first skill a finding of the cluster's incident triggers that is not cooling down, if none runs.</summary>
    private void StartSkillIfDue(ClusterState st, DetectionResult detection, IncidentUpdate update)
    {
        foreach (var f in update.Triggers)
        {
            st.Fresh.Add(f.Key);
        }

        st.Fresh.IntersectWith(detection.Active.Select(f => f.Key));

        if (_runStop.IsCancellationRequested)
        {
            return;
        }

        if (st.Run is not null)
        {
            StartUrgentIfDue(st, detection);
            return;
        }

        var now = _time.GetUtcNow();
        var incidentKeys = update.Incident is { IsOpen: true } incident ? incident.ActiveFindings.ToHashSet(StringComparer.Ordinal) : [];
        // Findings raised while another skill ran (Fresh: since the last start, still active) get their turn even when the
        // incident they joined is over by then: the evaluation's bad-config-leader raised config-broken one second after
        // primary-failure started, the fence ended the outage, and the configuration was never put back.
        var findings = update.Triggers
            .Concat(detection.Active.Where(f => incidentKeys.Contains(f.Key) || st.Fresh.Contains(f.Key)))
            .DistinctBy(f => f.Key)
            .OrderByDescending(f => f.Severity)
            .ThenBy(f => RootCause.Rank(f.Code))
            .ToList();

        if (st.Rerun is not null && st.Snapshots < st.RerunAfterSnapshot)
        {
            // The skill whose approved action just ran looks again first: a symptom of what it is fixing (lag behind a
            // fenced leader) must not start another skill that would hold the cluster meanwhile.
            return;
        }

        if (st.Rerun is { } rerun)
        {
            // After an approved action ran: the same skill again, on what is true now, whatever its cooldown.
            st.Rerun = null;
            if (ScheduleTrigger.Is(rerun.Trigger))
            {
                // A scheduled run's: its firing is owed again and runs as soon as the cluster is free (StartScheduledIfDue).
                st.ScheduledDue.TryAdd(rerun.Skill.Name, new ScheduledFiring(rerun.Skill, rerun.Trigger));
                return;
            }

            if (AlertTrigger.Is(rerun.Trigger))
            {
                // An alert's: its run is owed again, first in line (StartAlertedIfDue, later in this tick).
                st.AlertsDue.Insert(0, new AlertFiring(AlertTrigger.Occurrence(rerun.Trigger) ?? "", rerun.Skill, rerun.Trigger));
                return;
            }

            // The symptom that remains drives it; among equals the broadest first (a key that is expiring is Patroni's to finish).
            var trigger = findings.OrderByDescending(f => f.Severity).ThenBy(f => Order(f.Code))
                .FirstOrDefault(f => rerun.Skill.Triggers.Findings.Contains(f.Code, StringComparer.Ordinal));
            if (trigger is not null)
            {
                Start(st, rerun.Skill, trigger, detection.Snapshot, "after the approved action ran");
            }

            return;
        }

        // Critical findings first (then the root cause first). A finding whose skill is held back only briefly (the retry
        // time of a run that executed nothing, or an approval it waits for) keeps the cluster for it: no skill starts for
        // a milder finding meanwhile, because one run per cluster means that run (a warning's skill may wait minutes)
        // would stand in the way of the critical one. A skill in its cooldown after it acted does not keep the cluster.
        FindingSeverity? kept = null;
        foreach (var finding in findings)
        {
            if (kept is { } k && finding.Severity < k)
            {
                return;
            }

            foreach (var skill in _skills.ForFinding(finding.Code))
            {
                // Also a skill still running in the urgent slot: the regular slot freed first (a lab run started
                // primary-failure twice, one approval each, when the urgent run was harvested a tick later).
                if (st.Awaiting?.Skill.Name == skill.Name || st.Rerun?.Skill.Name == skill.Name || st.UrgentSkill == skill.Name)
                {
                    kept ??= finding.Severity;
                    continue;
                }

                switch (st.HeldBack(skill, finding, now))
                {
                    case Hold.Cooldown:
                        continue;
                    case Hold.Retry:
                        kept ??= finding.Severity;
                        continue;
                }

                Start(st, skill, finding, detection.Snapshot, st.Fresh.Contains(finding.Key) ? "raised" : "still active");
                return;
            }
        }
    }

    /// <summary>
    /// Findings that cannot wait for the run in progress: a member that could take writes or retake the leader key
    /// without holding it (<c>deposed-primary</c>) is fenced now, even while another skill waits (for Patroni's
    /// election, a lagging replica, a backup); and every critical finding while the run in progress serves a warning. Their skill runs in a second slot; the pipeline's one-action-per-cluster
    /// lock still orders the actions themselves (a fence refused for that reason is retried at the next snapshot).
    /// </summary>
    internal static IReadOnlySet<string> UrgentCodes { get; } = new HashSet<string>(StringComparer.Ordinal) { FindingCodes.DeposedPrimary, FindingCodes.StaleLeader };

    private void StartUrgentIfDue(ClusterState st, DetectionResult detection)
    {
        if (st.Urgent is not null)
        {
            return;
        }

        // After an approved action ran while the regular slot was busy: its skill looks again here (a scheduled run's
        // skill looks again in the regular slot, as a scheduled run).
        if (st.Rerun is { } rerun && st.Snapshots >= st.RerunAfterSnapshot && !ScheduleTrigger.Is(rerun.Trigger) && !AlertTrigger.Is(rerun.Trigger))
        {
            var again = detection.Active.OrderByDescending(f => f.Severity).ThenBy(f => Order(f.Code))
                .FirstOrDefault(f => rerun.Skill.Triggers.Findings.Contains(f.Code, StringComparer.Ordinal));
            if (again is not null && rerun.Skill.Name != st.RunSkill)
            {
                st.Rerun = null;
                Start(st, rerun.Skill, again, detection.Snapshot, "after the approved action ran", urgent: true);
                return;
            }
        }

        // Also any critical finding while the run in progress serves a warning (a replication-lag skill may wait minutes
        // for lag to drain; a frozen primary must not wait for it), and any finding of an open incident while the run in
        // progress is a scheduled one (a scheduled backup may take hours; an incident's skills come first).
        var now = _time.GetUtcNow();
        var incident = st.RunScheduled && _incidents.Current(st.Cluster) is { IsOpen: true } open
            ? open.ActiveFindings.ToHashSet(StringComparer.Ordinal)
            : [];
        var urgent = detection.Active
            .Where(f => UrgentCodes.Contains(f.Code) || (f.Severity == FindingSeverity.Critical && st.RunSeverity < FindingSeverity.Critical)
                || incident.Contains(f.Key))
            .OrderByDescending(f => f.Severity).ThenBy(f => RootCause.Rank(f.Code));
        foreach (var finding in urgent)
        {
            foreach (var skill in _skills.ForFinding(finding.Code).Where(k => k.Name != st.RunSkill))
            {
                // A skill waiting for an operator's approval asks once (an urgent run that asked again at every
                // snapshot filled the approval queue in a lab run), and one whose approved action ran looks again above.
                if (st.Awaiting?.Skill.Name == skill.Name || st.Rerun?.Skill.Name == skill.Name || st.HeldBack(skill, finding, now) != Hold.None)
                {
                    continue;
                }

                Start(st, skill, finding, detection.Snapshot, $"urgent: while {st.RunSkill ?? "another skill"} runs", urgent: true);
                return;
            }
        }
    }

    private void Start(ClusterState st, Skill skill, Finding trigger, ClusterSnapshot snapshot, string why, bool urgent = false)
    {
        var incident = _incidents.Current(st.Cluster)?.Id;
        Emit(new AgentEvent
        {
            Name = AgentEventNames.SkillStarted,
            At = _time.GetUtcNow(),
            Cluster = st.Cluster,
            Incident = incident,
            Severity = FindingJson.SeverityName(trigger.Severity),
            Title = $"skill {skill.Name} for {trigger.Code}{(trigger.Member is null ? "" : $" on {trigger.Member}")} ({why})",
            Message = trigger.Summary,
            Details = new Dictionary<string, string?>(StringComparer.Ordinal)
            {
                ["skill"] = skill.Name,
                ["code"] = trigger.Code,
                ["member"] = trigger.Member,
            },
        });
        Log.SkillStarting(_logger, skill.Name, st.Cluster, trigger.Code, why);
        if (urgent)
        {
            st.UrgentSkill = skill.Name;
            st.Urgent = RunSkillAsync(st, skill, trigger, snapshot, incident);
            return;
        }

        st.RunSkill = skill.Name;
        st.RunSeverity = trigger.Severity;
        st.RunScheduled = ScheduleTrigger.Is(trigger);
        if (!st.RunScheduled && !AlertTrigger.Is(trigger))
        {
            // A scheduled or an alert's run serves no finding: findings raised before it stay fresh for their own skills.
            st.Fresh.Clear();
        }

        st.Run = RunSkillAsync(st, skill, trigger, snapshot, incident);
    }

    /// <summary>The event of a finished skill run: its status as the title, its steps in order as a detail.</summary>
    private AgentEvent SkillFinished(string cluster, string? incident, Skill skill, SkillRun run) => new()
    {
        Name = AgentEventNames.SkillFinished,
        At = _time.GetUtcNow(),
        Cluster = cluster,
        Incident = incident,
        Severity = run.Status is SkillRunStatus.Failed or SkillRunStatus.Error ? "warning" : "info",
        Title = $"skill {skill.Name}: {JsonNamingPolicy.KebabCaseLower.ConvertName(run.Status.ToString())}",
        Message = run.Message,
        Details = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["skill"] = skill.Name,
            ["steps"] = string.Join(" > ", run.Steps.Select(s => $"{s.StepId}:{JsonNamingPolicy.KebabCaseLower.ConvertName(s.Status.ToString())}")),
        },
    };

    private async Task<SkillRunOutcome?> RunSkillAsync(ClusterState st, Skill skill, Finding trigger, ClusterSnapshot snapshot, string? incident)
    {
        // $findings: the cluster's active findings as the loop sees them now (read before the run leaves the loop's thread).
        var findings = JsonSerializer.SerializeToElement(st.Detector.Tracker.Active.Select(f => f.ToTrigger()).ToList());
        await Task.Yield();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(_runStop.Token);
        limit.CancelAfter(TimeSpan.FromSeconds(Math.Max(1, _options.Run.SkillTimeoutSeconds)));
        var live = new PipelineSkillHost(_acting, _incidents, _skillSense, Emit, _logger, _options.Investigate);
        var host = new RecordingSkillHost(live, _incidents, incident);
        SkillRun run;
        try
        {
            // The snapshot the finding was detected on is the run's first; later ones are sensed afresh. All journaled.
            var first = await host.ServeAsync(snapshot, limit.Token).ConfigureAwait(false);
            run = await _runner.RunAsync(skill, new SkillRunRequest(st.Cluster) { Snapshot = first, Trigger = trigger.ToTrigger(), Findings = findings }, host, limit.Token)
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            Log.SkillCancelled(_logger, skill.Name, st.Cluster);
            return null;
        }

        try
        {
            using var record = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            // A run started outside an incident (a scheduled one) is journaled for one that opened while it ran, if any:
            // it acted on the cluster during that incident, and its post-mortem shows it.
            incident = (await _incidents.RecordSkillRunAsync(run, host.Served, incident, record.Token).ConfigureAwait(false)).CorrelationId ?? incident;
        }
        catch (Exception ex) when (ex is JournalException or IOException or Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException or OperationCanceledException)
        {
            Log.JournalFailed(_logger, st.Cluster, Redact(ex));
        }

        if (incident is not null)
        {
            // The incident may have resolved (and its post-mortem been written) while the run was still going.
            try
            {
                using var render = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await WritePostMortemAsync(incident, true, render.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException or OperationCanceledException)
            {
                Log.JournalFailed(_logger, st.Cluster, Redact(ex));
            }
        }

        EmitSkillFinished(st.Cluster, incident ?? _incidents.Current(st.Cluster)?.Id, skill, run);
        Log.SkillFinished(_logger, skill.Name, st.Cluster, run.Status, Redact(run.Message));
        return new SkillRunOutcome(skill, trigger, run, live.Actions);
    }

    private static int Order(string code)
    {
        var i = FindingCodes.Stable.ToList().IndexOf(code);
        return i < 0 ? int.MaxValue : i;
    }

    /// <summary>The approval an awaiting run waits for: the action id of its last step that asked for one.</summary>
    internal static string? ApprovalOf(SkillRun run) =>
        run.Steps.LastOrDefault(s => s.Status == SkillStepStatus.PendingApproval)?.JournalId;

    private static Finding? Finding(JsonElement? trigger)
    {
        if (trigger is not { ValueKind: JsonValueKind.Object } t)
        {
            return null;
        }

        try
        {
            string? Text(string name) => t.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            var members = t.TryGetProperty("members", out var m) && m.ValueKind == JsonValueKind.Array
                ? m.EnumerateArray().Select(x => x.GetString()).OfType<string>().ToList()
                : [];
            var facts = t.TryGetProperty("facts", out var fs) && fs.ValueKind == JsonValueKind.Object
                ? fs.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String).ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal)
                : new Dictionary<string, string>(StringComparer.Ordinal);
            DateTimeOffset Time(string name) => Text(name) is { } x ? DateTimeOffset.Parse(x, CultureInfo.InvariantCulture) : default;
            return new Finding
            {
                Code = Text("code") ?? "",
                Cluster = Text("cluster") ?? "",
                Severity = Enum.TryParse<FindingSeverity>(Text("severity"), true, out var sev) ? sev : FindingSeverity.Critical,
                Members = members,
                Summary = Text("summary") ?? "",
                Facts = facts,
                FirstSeen = Time("first_seen"),
                LastSeen = Time("last_seen"),
                TriggerView = AlertTrigger.Is(t) ? t.Clone() : null,
            };
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>A skill run that ended waiting for an approval.</summary>
    internal sealed record Awaiting(Skill Skill, string ApprovalId, Finding Trigger, DateTimeOffset Since);

    /// <summary>Why a skill may not run for a finding now.</summary>
    internal enum Hold
    {
        None,

        /// <summary>A run for the same member and a finding at least as severe executed an action less than the skill's cooldown ago.</summary>
        Cooldown,

        /// <summary>Such a run executed nothing less than the retry time ago (and the finding is not newly raised).</summary>
        Retry,
    }

    /// <summary>
    /// What cooldowns and retry times are kept by: the skill, the trigger's member (the one acted on) and the trigger's
    /// severity. A run for one member never holds back another member, and a run for a milder finding never holds back
    /// a more severe one (<see cref="ClusterState.HeldBack"/> looks at the finding's severity and above). The finding's
    /// code is not part of the key: a skill's codes at one severity are symptoms of one problem that show up together
    /// (primary-disk-full and primary-down-holding-lock on the same failed primary; replication-broken and
    /// replication-lag on the same replica), and a run for one of them has dealt with the others.
    /// </summary>
    internal static string HoldKey(string skill, string? member, FindingSeverity severity) =>
        $"{skill}|{member ?? "-"}|{FindingJson.SeverityName(severity)}";

    /// <summary>True when an action step was refused only because the autonomy level recommends or observes (the pipeline's status <c>recommended</c> or <c>observed</c>).</summary>
    internal static bool Recommended(SkillRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return run.Steps.Any(s => s.Kind == SkillStepKind.Action && s.Status == SkillStepStatus.Refused
            && s.Result.ValueKind == JsonValueKind.Object
            && s.Result.TryGetProperty("output", out var output) && output.ValueKind == JsonValueKind.Object
            && output.TryGetProperty("status", out var status) && status.ValueKind == JsonValueKind.String
            && status.GetString() is "recommended" or "observed");
    }

    /// <summary>
    /// True when the run executed an action: an action step Succeeded, or Failed after the pipeline wrote its intent (the
    /// write-ahead entry written just before execution: execute-failed, verify-failed, unknown; the skill host puts its
    /// seq in the step's <c>output.intent_seq</c>). A step that failed at planning or precheck has no intent; Refused
    /// (policy, guardrail, recommend and observe levels) and Planned (dry run) executed nothing; PendingApproval is
    /// followed through the approval.
    /// </summary>
    internal static bool ExecutedAnAction(SkillRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return run.Steps.Any(s => s.Kind == SkillStepKind.Action && (s.Status == SkillStepStatus.Succeeded || (s.Status == SkillStepStatus.Failed && HasIntent(s.Result))));

        static bool HasIntent(JsonElement result) =>
            result.ValueKind == JsonValueKind.Object
            && result.TryGetProperty("output", out var output) && output.ValueKind == JsonValueKind.Object
            && output.TryGetProperty("intent_seq", out var seq) && seq.ValueKind == JsonValueKind.Number;
    }
}
