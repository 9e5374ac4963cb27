using System.Globalization;
using System.Text.Json;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Agent;

/// <summary>Scheduled skill runs: a skill's <c>triggers.schedules</c> fire on the cluster's tick, when the cluster is free.</summary>
internal sealed partial class AgentLoop
{
    /// <summary>
    /// Notes the schedules that fired since the last tick (firings before the agent started are not owed; several
    /// missed firings of a skill are owed once, as its earliest) and starts the earliest owed run when the cluster is
    /// free: no run in either slot, no approved action whose skill is to look again, and no open incident (an incident's
    /// skills come first). Otherwise the firing stays owed. Cooldowns and retry times do not apply (the schedule is the
    /// cadence); only a skill waiting for an operator's approval is not started again until that is decided.
    /// </summary>
    private void StartScheduledIfDue(ClusterState st, ClusterSnapshot snapshot)
    {
        var now = _time.GetUtcNow();
        var from = st.ScheduledThrough;
        if (now > from)
        {
            foreach (var (skill, at) in _skills.DueBetween(from, now))
            {
                var schedule = skill.Triggers.Schedules.First(s => s.NextAfter(from) == at);
                st.ScheduledDue.TryAdd(skill.Name, new ScheduledFiring(skill, ScheduleTrigger.Create(st.Cluster, schedule.Expression, at)));
            }

            st.ScheduledThrough = now;
        }

        if (st.ScheduledDue.Count == 0 || _runStop.IsCancellationRequested || st.Run is not null || st.Urgent is not null || st.Rerun is not null
            || _incidents.Current(st.Cluster) is { IsOpen: true })
        {
            return;
        }

        var next = st.ScheduledDue.Values
            .Where(f => st.Awaiting?.Skill.Name != f.Skill.Name)
            .OrderBy(f => f.Trigger.FirstSeen)
            .ThenBy(f => f.Skill.Name, StringComparer.Ordinal)
            .FirstOrDefault();
        if (next is null)
        {
            return;
        }

        st.ScheduledDue.Remove(next.Skill.Name);
        Start(st, next.Skill, next.Trigger, snapshot, "scheduled");
    }

    /// <summary>A schedule's firing a skill is owed: the skill and the synthetic trigger its run gets.</summary>
    internal sealed record ScheduledFiring(Skill Skill, Finding Trigger);
}

/// <summary>
/// The <c>$trigger</c> of a run a skill's schedule started: code <see cref="Code"/>, severity info, the cluster, no
/// member, facts <c>schedule</c> (the cron expression) and <c>due</c> (the firing, ISO-8601 UTC). It never enters
/// detection: no incident opens for it, and no cooldown or retry time is kept for it. Actions its run asks for are
/// proactive (<see cref="Acting.ActionTrigger.Proactive"/>): there is no symptom to react to.
/// </summary>
internal static class ScheduleTrigger
{
    /// <summary>
    /// <c>$trigger.code</c> of a scheduled run (<c>$trigger.code == 'schedule'</c> in a step). Not a finding code: no
    /// detector raises it and <c>triggers.findings</c> refuses it.
    /// </summary>
    public const string Code = "schedule";

    public static Finding Create(string cluster, string schedule, DateTimeOffset due)
    {
        var at = due.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        return new Finding
        {
            Code = Code,
            Severity = FindingSeverity.Info,
            Cluster = cluster,
            Summary = $"scheduled run (cron {schedule}) due {at}",
            FirstSeen = due,
            LastSeen = due,
            Facts = new Dictionary<string, string>(StringComparer.Ordinal) { ["schedule"] = schedule, ["due"] = at },
        };
    }

    public static bool Is(Finding? trigger) => string.Equals(trigger?.Code, Code, StringComparison.Ordinal);

    /// <summary>Whether a run's trigger as the skill sees it (<see cref="Finding.ToTrigger"/>) is a schedule's.</summary>
    public static bool Is(JsonElement? trigger) =>
        trigger is { ValueKind: JsonValueKind.Object } t && t.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.String
        && string.Equals(code.GetString(), Code, StringComparison.Ordinal);
}
