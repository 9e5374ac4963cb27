using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Catalog;

namespace PgRuntimeAgent.Acting.Backup;

/// <summary><c>backup.run</c>: a pgBackRest backup on the leader.</summary>
internal sealed class BackupRunAction : ImmediateActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = BackupRunActuator.Kind,
        Summary = "Take a pgBackRest backup of the cluster's stanza on the leader's host (locally or over SSH), verified by a new backup in pgbackrest info. "
            + "The member, when named, must be the leader when it runs.",
        Parameters =
        [
            new(BackupRunActuator.Stanza, ParameterType.String, "the pgBackRest stanza (default: the inventory's pgbackrest stanza, else the cluster name)"),
            new(BackupRunActuator.Type, ParameterType.String, "the backup type (pgBackRest takes a full one when there is no full backup yet)")
            {
                Default = "incr",
                AllowedValues = BackupRunActuator.Types,
            },
            new(BackupRunActuator.TimeoutSeconds, ParameterType.Number, "how long pgbackrest may run, in seconds (a positive number)") { Default = "14400" },
        ],
        Member = MemberUse.Optional,
        Risk = ActionRisk.Medium, // read IO on the leader for the backup's duration
        Reversible = false,
        LossBound = "a backup adds a copy; it discards nothing the cluster holds (older backups expire only by the repository's retention)",
        VerifyTimeout = TimeSpan.FromSeconds(120),
    };

    public override ActionDescriptor Descriptor => Info;

    protected override PlannedAction Plan(PlanContext context, PlanInput input) =>
        BackupRunActuator.PlanFor(input.Cluster, input.MemberName, input.P(BackupRunActuator.Stanza), input.P(BackupRunActuator.Type),
            input.P(BackupRunActuator.TimeoutSeconds), context.Time.GetUtcNow(), input.Trigger, input.Initiator, input.Reason);
}
