using System.Text.Json;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Agent;

internal sealed partial class AgentLoop
{
    private int _running;

    /// <summary>
    /// Runs <paramref name="skillName"/> for <paramref name="cluster"/> by hand, through the same pipeline, policy and
    /// journal as a run the loop starts: a fresh snapshot is the run's first, every action is planned, gated, journaled
    /// and verified, the notes and the run are journaled (for the cluster's open incident, if any). A run with a
    /// <paramref name="trigger"/> (a finding as skills see <c>$trigger</c>) is reactive for the policy; without one it is
    /// proactive. Refused while <see cref="RunAsync"/> is watching the cluster: the loop owns its one skill slot.
    /// </summary>
    public async Task<SkillRun> RunSkillByHandAsync(string cluster, string skillName, JsonElement? trigger, JsonElement? parameters, CancellationToken cancellationToken)
    {
        if (!_states.ContainsKey(cluster))
        {
            throw new InvalidOperationException($"cluster '{cluster}' is not one this agent watches ({string.Join(", ", _options.Clusters)})");
        }

        var skill = _skills.Find(skillName) ?? throw new InvalidOperationException(
            $"no valid skill '{skillName}' (skills: {string.Join(", ", _skills.Skills.Select(s => s.Name))})");
        if (Volatile.Read(ref _running) != 0)
        {
            throw new InvalidOperationException($"the agent's loop is running and owns {cluster}'s skill slot: a skill cannot be run by hand beside it");
        }

        var snapshot = await _skillSense(cluster, cancellationToken).ConfigureAwait(false);
        var live = new PipelineSkillHost(_acting, _incidents, _skillSense, Emit, _logger, _options.Investigate);
        var incident = _incidents.Current(cluster)?.Id;
        var host = new RecordingSkillHost(live, _incidents, incident);
        var first = await host.ServeAsync(snapshot, cancellationToken).ConfigureAwait(false);
        Emit(new AgentEvent
        {
            Name = AgentEventNames.SkillStarted,
            At = _time.GetUtcNow(),
            Cluster = cluster,
            Incident = incident,
            Title = $"skill {skill.Name} by hand",
            Details = new Dictionary<string, string?>(StringComparer.Ordinal) { ["skill"] = skill.Name },
        });
        var run = await _runner.RunAsync(skill, new SkillRunRequest(cluster) { Snapshot = first, Trigger = trigger, Parameters = parameters }, host, cancellationToken)
            .ConfigureAwait(false);
        await _incidents.RecordSkillRunAsync(run, host.Served, incident, cancellationToken).ConfigureAwait(false);
        EmitSkillFinished(cluster, incident, skill, run);
        return run;
    }
}
