namespace PgRuntimeAgent.Policy;

/// <summary>
/// Autonomy policy (settings section <c>policy:</c>). Levels follow SAE J3016 in spirit: 0 observe, 1 recommend,
/// 2 act after approval, 3 act within guardrails, 4 act proactively, 5 full. AGENT.md states the same in prose.
/// </summary>
public sealed record PolicySettings
{
    /// <summary>Level applied to every action class not listed in <see cref="Classes"/>. Conservative: recommend only.</summary>
    public int DefaultLevel { get; init; } = 1;

    /// <summary>
    /// Level per action class (for example <c>patroni.failover: 2</c>). A key may also name a family
    /// (<c>patroni</c> covers <c>patroni.*</c>); the longest matching key wins.
    /// </summary>
    public IReadOnlyDictionary<string, int> Classes { get; init; } = new Dictionary<string, int>();

    /// <summary>Per-cluster overrides of <see cref="Classes"/> (cluster name -> class -> level).</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> Clusters { get; init; } =
        new Dictionary<string, IReadOnlyDictionary<string, int>>();

    /// <summary>
    /// Action classes nobody may run through pgra, whatever the level or approval (<c>policy.forbidden</c>); a
    /// family name covers its members. The defaults are the "never" list of AGENT.md.
    /// </summary>
    public IReadOnlyList<string> Forbidden { get; init; } = DefaultForbidden;

    /// <summary>Destructive classes forbidden unless the settings say otherwise.</summary>
    public static IReadOnlyList<string> DefaultForbidden { get; } =
    [
        "sql.drop_database",
        "sql.drop_table",
        "sql.truncate",
        "patroni.remove",
        "pgbackrest.stanza_delete",
        "host.reboot",
    ];

    /// <summary>When true, every action stops after plan and precheck (<c>policy.dry_run</c>).</summary>
    public bool DryRun { get; init; }

    /// <summary>
    /// When true, actions an operator starts from the command line also wait for a second person's approval when
    /// their class's level is below what the action needs (<c>policy.four_eyes</c>).
    /// </summary>
    public bool FourEyes { get; init; }

    /// <summary>Seconds between two agent-started actions of the same kind on the same cluster (<c>policy.default_cooldown_seconds</c>).</summary>
    public int DefaultCooldownSeconds { get; init; } = 120;

    /// <summary>Cooldown per action kind, in seconds (<c>policy.cooldowns: { patroni.failover: 600 }</c>).</summary>
    public IReadOnlyDictionary<string, int> Cooldowns { get; init; } = new Dictionary<string, int>();

    /// <summary>Minutes a pending approval stays valid (<c>policy.approval_ttl_minutes</c>).</summary>
    public double ApprovalTtlMinutes { get; init; } = 30;

    /// <summary><see cref="ApprovalTtlMinutes"/> as a duration.</summary>
    public TimeSpan ApprovalTtl() => TimeSpan.FromMinutes(ApprovalTtlMinutes);

    /// <summary>A cluster state older than this (seconds) counts as unknown for risky actions (<c>policy.max_state_age_seconds</c>).</summary>
    public double MaxStateAgeSeconds { get; init; } = 30;

    /// <summary>
    /// SSH commands the agent may run, by name (<c>policy.ssh_commands: { restart-patroni: "sudo systemctl restart patroni" }</c>).
    /// The <c>ssh.command</c> action names one of these; nothing else runs over SSH.
    /// </summary>
    public IReadOnlyDictionary<string, string> SshCommands { get; init; } = new Dictionary<string, string>();

    /// <summary>Playbooks (paths relative to the playbook directory) the <c>ansible.playbook</c> action may run.</summary>
    public IReadOnlyList<string> AnsiblePlaybooks { get; init; } = [];

    /// <summary>
    /// Which sessions <c>sql.cancel_backend</c> / <c>sql.terminate_backend</c> may signal, by user and application_name
    /// (<c>policy.sql_sessions: { users: { dbuser_dba: deny }, applications: { "app-*": allow } }</c>); superusers,
    /// replication connections and pgra's own sessions are refused whatever it says.
    /// </summary>
    public Acting.Sql.SqlSessionRules SqlSessions { get; init; } = new();

    /// <summary>Directory the playbooks live in, relative to the settings file (<c>policy.ansible_dir</c>, default <c>ansible</c>).</summary>
    public string AnsibleDir { get; init; } = "ansible";
}
