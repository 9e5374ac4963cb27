namespace PgRuntimeAgent.Agent;

/// <summary>
/// The daemon's own settings (section <c>agent:</c>): which clusters it watches, how much of the snapshot stream it
/// journals, where its skills are, and how long a skill run may take. How often it senses is
/// <c>sensing.interval_seconds</c>; what it may do alone is <c>policy:</c>; whom it tells is <c>notify:</c>.
/// </summary>
public sealed record AgentRunSettings
{
    /// <summary>Clusters the agent watches (<c>agent.clusters</c>); empty: every cluster of the inventory.</summary>
    public IReadOnlyList<string> Clusters { get; init; } = [];

    /// <summary>Skills directory (<c>agent.skills_dir</c>); null: <c>./skills</c>, the repository's, or <c>/etc/pgra/skills</c>.</summary>
    public string? SkillsDir { get; init; }

    /// <summary>
    /// Outside an incident a snapshot is journaled when the cluster's shape changed (leader, timeline, roles,
    /// reachability, sensor health, drift) and otherwise one in this many (<c>agent.snapshot_every</c>; 0: only on
    /// change). During an incident every snapshot is journaled.
    /// </summary>
    public int SnapshotEvery { get; init; } = 30;

    /// <summary>A skill run that executed no action (it stopped, hit an error, or its action was refused or only
    /// recommended) may run again for the same trigger after this many seconds (<c>agent.retry_seconds</c>); runs that
    /// executed an action wait for the skill's own cooldown.</summary>
    public double RetrySeconds { get; init; } = 10;

    /// <summary>Upper bound on one skill run (<c>agent.skill_timeout_seconds</c>); a run past it is cancelled.</summary>
    public double SkillTimeoutSeconds { get; init; } = 600;

    /// <summary>On stop (SIGTERM), how long a skill run in the middle of an action may go on before it is cancelled
    /// (<c>agent.shutdown_grace_seconds</c>). An action cut short is reconciled at the next start.</summary>
    public double ShutdownGraceSeconds { get; init; } = 20;

    /// <summary>After this many failed snapshots in a row of one cluster the agent waits longer between attempts
    /// (up to <c>agent.max_backoff_seconds</c>) and says so once.</summary>
    public int OutageAfter { get; init; } = 3;

    public double MaxBackoffSeconds { get; init; } = 30;

    /// <summary>Where the post-mortem of a resolved incident is written as <c>&lt;id&gt;.md</c> and <c>&lt;id&gt;.json</c>
    /// (<c>agent.postmortem_dir</c>, relative to the settings file); null: <c>postmortems/</c> beside a SQLite journal,
    /// else <c>/var/lib/pgra/postmortems</c>.</summary>
    public string? PostmortemDir { get; init; }
}
