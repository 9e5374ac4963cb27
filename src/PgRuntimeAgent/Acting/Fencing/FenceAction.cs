using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Catalog;

namespace PgRuntimeAgent.Acting.Fencing;

/// <summary><c>member.fence</c>: stop a frozen or broken old primary for good.</summary>
internal sealed class FenceAction : ImmediateActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = FenceActuator.Kind,
        Summary = "Fence a frozen or broken old primary: SIGSTOP then SIGKILL its Patroni and PostgreSQL (locally, or over SSH with an allow-listed command) "
            + "and release its leader key, so it cannot come back as leader when it thaws.",
        Parameters =
        [
            new(FenceActuator.SshCommandParameter, ParameterType.String, "the policy.ssh_commands name to fence a remote member with")
            {
                Default = FenceActuator.DefaultSshCommand,
            },
        ],
        Member = MemberUse.Required,
        Risk = ActionRisk.High,
        Reversible = false,
        LossBound = "the precheck refuses a leader that still serves and a member whose fencing would leave no other member running",
        VerifyTimeout = TimeSpan.FromSeconds(20),
        Undo = "none by the agent: an operator starts its Patroni again and it rejoins as a replica",
    };

    public override ActionDescriptor Descriptor => Info;

    protected override PlannedAction Plan(PlanContext context, PlanInput input) =>
        FenceActuator.Plan(input.Cluster.Name, input.RequiredMember, input.P(FenceActuator.SshCommandParameter), input.Trigger, input.Initiator, input.Reason);
}
