using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Alerts;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Agent;

/// <summary>What the loop keeps per cluster.</summary>
internal sealed partial class AgentLoop
{
    /// <summary>What the loop knows about one cluster. Touched by the cluster's loop task only.</summary>
    internal sealed class ClusterState(string cluster, ClusterDetector detector)
    {
        public string Cluster { get; } = cluster;

        public ClusterDetector Detector { get; } = detector;

        /// <summary>Whether this agent owned the cluster at its last tick (several agents: docs/fleet.md).</summary>
        public bool Owned { get; set; }

        private CancellationTokenSource? _wake;

        /// <summary>Set while the cluster's task waits for its next snapshot; cancelled to take it now (<see cref="WakeUp"/>).</summary>
        public CancellationTokenSource? Wake
        {
            get => Volatile.Read(ref _wake);
            set => Volatile.Write(ref _wake, value);
        }

        /// <summary>Takes the next snapshot now instead of at the end of the wait (an alert arrived for a calm cluster).</summary>
        public void WakeUp()
        {
            try
            {
                Wake?.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The wait ended meanwhile: the next snapshot is under way anyway.
            }
        }

        private DetectionResult? _latest;

        /// <summary>The last snapshot's detection; written by the cluster's task, read by anyone (the web host's <see cref="LatestOf"/>).</summary>
        public DetectionResult? Latest
        {
            get => Volatile.Read(ref _latest);
            set => Volatile.Write(ref _latest, value);
        }

        public long Snapshots { get; set; }

        public int Failures { get; set; }

        public string? Shape { get; set; }

        /// <summary>Sensors not ok on the last snapshot, by name: since when, and whether <c>sensor.blind</c> was raised.</summary>
        public Dictionary<string, SensorWatch> NotOk { get; } = new(StringComparer.Ordinal);

        public int SinceJournaled { get; set; }

        public Task<SkillRunOutcome?>? Run { get; set; }

        public string? RunSkill { get; set; }

        /// <summary>The skill <see cref="Urgent"/> runs; null when that slot is free.</summary>
        public string? UrgentSkill { get; set; }

        /// <summary>The severity of the finding that started <see cref="Run"/>.</summary>
        public FindingSeverity RunSeverity { get; set; } = FindingSeverity.Critical;

        /// <summary><see cref="Run"/> was started by a skill's schedule (<see cref="ScheduleTrigger"/>): it serves no finding.</summary>
        public bool RunScheduled { get; set; }

        /// <summary>Scheduled firings owed, one per skill (not a queue), by skill name; started when the cluster is free.</summary>
        public Dictionary<string, ScheduledFiring> ScheduledDue { get; } = new(StringComparer.Ordinal);

        /// <summary>Schedules that fired up to this time are owed or ran; the agent's start at first (earlier firings are not run).</summary>
        public DateTimeOffset ScheduledThrough { get; set; }

        /// <summary>Firing alerts' runs the intake queued (from any thread), not yet taken by the cluster's loop.</summary>
        public ConcurrentQueue<AlertFiring> AlertInbox { get; } = new();

        /// <summary>Occurrences that resolved (from any thread): their runs not yet started are dropped.</summary>
        public ConcurrentQueue<string> AlertWithdrawn { get; } = new();

        /// <summary>Alert runs owed, oldest first, one per skill and member; started when the cluster's slot is free.</summary>
        public List<AlertFiring> AlertsDue { get; } = [];

        /// <summary>A run for an urgent finding (<see cref="UrgentCodes"/>) started while <see cref="Run"/> was in progress.</summary>
        public Task<SkillRunOutcome?>? Urgent { get; set; }

        /// <summary>Cooldowns (<see cref="HoldKey"/>): when a run that executed an action finished.</summary>
        public Dictionary<string, DateTimeOffset> CooldownFrom { get; } = new(StringComparer.Ordinal);

        /// <summary>Retry times (<see cref="HoldKey"/>) of runs that executed nothing.</summary>
        public Dictionary<string, DateTimeOffset> RetryAt { get; } = new(StringComparer.Ordinal);

        /// <summary>Findings raised since the last run started (also while it ran): each may start a run that only looked before.</summary>
        public HashSet<string> Fresh { get; } = new(StringComparer.Ordinal);

        public Awaiting? Awaiting { get; set; }

        public Awaiting? Rerun { get; set; }

        public long RerunAfterSnapshot { get; set; }

        /// <summary>
        /// A finished run, live or read back from the journal at start-up (one rule for both). A run that executed an
        /// action (<see cref="ExecutedAnAction"/>) holds its skill off its trigger for the skill's cooldown; any other
        /// (refused by policy or a guardrail, recommended or observed only for a critical finding, failed at planning or
        /// precheck, an error, or nothing to do) may run again after the retry time, or at once for a newly raised
        /// finding; a warning's run that only recommended waits for the cooldown. Both are kept per
        /// skill and trigger (<see cref="HoldKey"/>): a run on one member, or for a milder finding, never holds back
        /// another member or a more severe finding. A scheduled run (<see cref="ScheduleTrigger"/>) keeps neither: it
        /// served no finding, and its schedule is its cadence.
        /// </summary>
        public void Record(Skill skill, SkillRun run, AgentRunSettings settings)
        {
            ArgumentNullException.ThrowIfNull(skill);
            ArgumentNullException.ThrowIfNull(run);
            ArgumentNullException.ThrowIfNull(settings);
            var trigger = Finding(run.Trigger);
            if (ScheduleTrigger.Is(trigger))
            {
                return;
            }

            var key = HoldKey(skill.Name, trigger?.Member, trigger?.Severity ?? FindingSeverity.Critical);
            if (ExecutedAnAction(run))
            {
                CooldownFrom[key] = run.FinishedAt;
                RetryAt.Remove(key);
            }
            else if (trigger is { Severity: not FindingSeverity.Critical } && Recommended(run))
            {
                // A warning's skill that could only recommend or observe (autonomy 0-1): its recommendation is journaled
                // and stands. Making it again every retry time filled the journal with the same advice every 12 s (a
                // missing index in the lab); it is made again after the skill's cooldown. Critical findings keep the
                // retry time: what is true changes fast there, and the recommendation with it.
                CooldownFrom[key] = run.FinishedAt;
                RetryAt.Remove(key);
            }
            else
            {
                RetryAt[key] = run.FinishedAt.AddSeconds(settings.RetrySeconds);
            }
        }

        /// <summary>Starts <paramref name="skill"/>'s cooldown for <paramref name="trigger"/> (an approval that was denied or
        /// expired); none for a scheduled run's (its next firing is the next try).</summary>
        public void StartCooldown(Skill skill, Finding trigger, DateTimeOffset at)
        {
            if (!ScheduleTrigger.Is(trigger))
            {
                CooldownFrom[HoldKey(skill.Name, trigger.Member, trigger.Severity)] = at;
            }
        }

        /// <summary>
        /// Whether <paramref name="skill"/> may not run for <paramref name="finding"/> now, and why: a cooldown or retry
        /// time of the skill on the finding's member, set by a run for a finding at least as severe.
        /// </summary>
        public Hold HeldBack(Skill skill, Finding finding, DateTimeOffset now)
        {
            var keys = Enum.GetValues<FindingSeverity>().Where(s => s >= finding.Severity).Select(s => HoldKey(skill.Name, finding.Member, s)).ToList();
            if (keys.Any(k => CooldownFrom.TryGetValue(k, out var from) && skill.InCooldown(from, now)))
            {
                return Hold.Cooldown;
            }

            if (!Fresh.Contains(finding.Key) && keys.Any(k => RetryAt.TryGetValue(k, out var retry) && now < retry))
            {
                return Hold.Retry;
            }

            return Hold.None;
        }
    }

    /// <summary>A sensor not ok since <see cref="Since"/>; <see cref="Notified"/> once <c>sensor.blind</c> was raised for it.</summary>
    internal sealed class SensorWatch(DateTimeOffset since)
    {
        public DateTimeOffset Since { get; } = since;

        public bool Notified { get; set; }
    }
}
