using PgRuntimeAgent.Catalog;

namespace PgRuntimeAgent.Skills;

/// <summary>
/// Action classes a skill may name (<c>actions:</c> in the front matter, <c>action:</c> in a step). These are the
/// classes the action pipeline (src/PgRuntimeAgent/Acting) executes and the policy (autonomy per class) governs;
/// <see cref="Known"/> is read from the action catalogue (<see cref="AgentCatalog"/>), the names here are for code
/// that refers to one class.
/// </summary>
public static class SkillActionClasses
{
    public const string PatroniSwitchover = "patroni.switchover";
    public const string PatroniFailover = "patroni.failover";
    public const string PatroniConfig = "patroni.config";
    public const string PatroniRestart = "patroni.restart";
    public const string PatroniReload = "patroni.reload";
    public const string PatroniReinit = "patroni.reinit";
    public const string PatroniPause = "patroni.pause";
    public const string PatroniResume = "patroni.resume";

    /// <summary>Stop a member from ever serving writes again until an operator lets it: kill its frozen or broken
    /// postmaster and children and stop its Patroni, so it cannot retake the leader key when it thaws.</summary>
    public const string MemberFence = "member.fence";

    public const string SqlCreateIndex = "sql.create_index";
    public const string SqlDropIndex = "sql.drop_index";
    public const string SqlAnalyze = "sql.analyze";
    public const string SqlVacuum = "sql.vacuum";
    public const string SqlCheckpoint = "sql.checkpoint";
    public const string SqlCancelBackend = "sql.cancel_backend";
    public const string SqlTerminateBackend = "sql.terminate_backend";
    public const string SqlAlterSystem = "sql.alter_system";

    /// <summary>Run a pgBackRest backup of the cluster's stanza on the current leader (type full, diff or incr).</summary>
    public const string BackupRun = "backup.run";

    public const string AnsiblePlaybook = "ansible.playbook";
    public const string SshCommand = "ssh.command";

    /// <summary>Write a unified diff against the inventory (pigsty.yml) for the operator to review and apply;
    /// never changes the inventory file itself.</summary>
    public const string InventoryProposePatch = "inventory.propose_patch";

    /// <summary>Every action class of the catalogue, sorted.</summary>
    public static IReadOnlyList<string> Known { get; } = [.. AgentCatalog.Default.Actions.Select(a => a.PolicyClass).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>True when <paramref name="actionClass"/> matches <paramref name="pattern"/>: the same class, or a
    /// family wildcard such as <c>sql.*</c>.</summary>
    public static bool Matches(string pattern, string actionClass)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(actionClass);
        if (pattern.EndsWith(".*", StringComparison.Ordinal))
        {
            return actionClass.StartsWith(pattern[..^1], StringComparison.Ordinal);
        }

        return string.Equals(pattern, actionClass, StringComparison.Ordinal);
    }
}

/// <summary>
/// What the linter accepts as finding codes and action classes, and the parameters each action takes. Detection and
/// the action pipeline pass their own registries here when they have them; <see cref="Default"/> uses the stable
/// finding codes and the action catalogue shipped with the code.
/// </summary>
public sealed record SkillVocabulary(IReadOnlySet<string> FindingCodes, IReadOnlySet<string> ActionClasses)
{
    public static SkillVocabulary Default { get; } = new(
        new HashSet<string>(Detection.FindingCodes.Stable, StringComparer.Ordinal),
        new HashSet<string>(SkillActionClasses.Known, StringComparer.Ordinal))
    {
        Actions = AgentCatalog.Default.Actions.ToDictionary(a => a.Kind, StringComparer.Ordinal),
    };

    /// <summary>Descriptors by action kind: a step's <c>with:</c> is checked against its action's parameters (none: not checked).</summary>
    internal IReadOnlyDictionary<string, ActionDescriptor> Actions { get; init; } = new Dictionary<string, ActionDescriptor>(StringComparer.Ordinal);
}
