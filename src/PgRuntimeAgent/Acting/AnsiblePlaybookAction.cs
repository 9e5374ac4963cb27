using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Acting.Sql;
using PgRuntimeAgent.Catalog;

namespace PgRuntimeAgent.Acting;

/// <summary><c>ansible.playbook</c>: an allow-listed playbook against the inventory.</summary>
internal sealed class AnsiblePlaybookAction : ImmediateActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = AnsiblePlaybookActuator.Kind,
        Summary = "Run an allow-listed Ansible playbook (policy.ansible_playbooks) against the inventory, by default after a --check --diff run that must pass; "
            + "verified by a check run with nothing left to change. Reversible only when an undo playbook is named.",
        Parameters =
        [
            new(AnsiblePlaybookActuator.Playbook, ParameterType.String, "a path from policy.ansible_playbooks (under policy.ansible_dir)") { Required = true },
            new(AnsiblePlaybookActuator.LimitParameter, ParameterType.String, "ansible-playbook --limit (default: the cluster)"),
            new(AnsiblePlaybookActuator.Tags, ParameterType.String, "ansible-playbook --tags"),
            new(ActionParameters.CheckFirst, ParameterType.Boolean, "run with --check --diff first and stop if that fails") { Default = "true" },
            new(AnsiblePlaybookActuator.UndoPlaybook, ParameterType.String, "an allow-listed playbook that takes the change back (makes the action reversible)"),
            new(SqlActions.TimeoutSeconds, ParameterType.Number, "how long the playbook may run, in seconds (a positive number)"),
        ],
        Member = MemberUse.Optional,
        Risk = ActionRisk.High,
        Reversible = false,
        VerifyTimeoutFromPipeline = true,
        Undo = "the undo_playbook, when one is named",
    };

    public override ActionDescriptor Descriptor => Info;

    protected override PlannedAction Plan(PlanContext context, PlanInput input)
    {
        var playbook = AnsiblePlaybookActuator.Plan(input.Cluster.Name, input.Required(AnsiblePlaybookActuator.Playbook), input.P(AnsiblePlaybookActuator.LimitParameter),
            input.P(AnsiblePlaybookActuator.Tags), input.Flag(ActionParameters.CheckFirst, absent: true), input.P(AnsiblePlaybookActuator.UndoPlaybook), input.Trigger,
            input.Initiator);
        return SqlActionKinds.WithTimeout(playbook with { Member = input.MemberName, Reason = input.Reason }, input);
    }
}
