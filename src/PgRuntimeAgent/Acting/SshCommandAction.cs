using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Acting.Sql;
using PgRuntimeAgent.Catalog;

namespace PgRuntimeAgent.Acting;

/// <summary><c>ssh.command</c>: one allow-listed command on a member's host.</summary>
internal sealed class SshCommandAction : ImmediateActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = SshCommandActuator.Kind,
        Summary = "Run one allow-listed command (a name from policy.ssh_commands, never free text) on a member's host over SSH, host keys checked. "
            + "Reversible only when an undo command is named.",
        Parameters =
        [
            new(SshCommandActuator.Command, ParameterType.String, "a name from policy.ssh_commands") { Required = true },
            new(SshCommandActuator.VerifyCommand, ParameterType.String, "a policy.ssh_commands name whose exit 0 means the change is in effect (also answers reconciliation)"),
            new(SshCommandActuator.UndoCommand, ParameterType.String, "a policy.ssh_commands name that takes the change back (makes the action reversible)"),
            new(SqlActions.TimeoutSeconds, ParameterType.Number, "how long the command may run, in seconds (a positive number)"),
        ],
        Member = MemberUse.Required,
        Risk = ActionRisk.High,
        Reversible = false,
        VerifyTimeoutFromPipeline = true,
        Undo = "the undo_command, when one is named",
    };

    public override ActionDescriptor Descriptor => Info;

    protected override PlannedAction Plan(PlanContext context, PlanInput input)
    {
        var ssh = SshCommandActuator.Plan(input.Cluster.Name, input.RequiredMember, input.Required(SshCommandActuator.Command), input.P(SshCommandActuator.VerifyCommand),
            input.P(SshCommandActuator.UndoCommand), input.Trigger, input.Initiator);
        return SqlActionKinds.WithTimeout(ssh with { Reason = input.Reason }, input);
    }
}
