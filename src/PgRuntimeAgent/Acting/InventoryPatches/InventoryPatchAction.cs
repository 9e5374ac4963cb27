using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Catalog;

namespace PgRuntimeAgent.Acting.InventoryPatches;

/// <summary><c>inventory.propose_patch</c>: a reviewed diff against the inventory, never an edit of it.</summary>
internal sealed class InventoryPatchAction : ImmediateActionKind
{
    public static ActionDescriptor Info { get; } = new()
    {
        Kind = InventoryPatchActuator.Kind,
        Summary = "Write a unified diff against the inventory (pigsty.yml) for the operator to review and apply, for example pg_role after a failover; "
            + "the inventory file itself is never changed.",
        Parameters =
        [
            new(InventoryPatchActuator.File, ParameterType.String, "the inventory file (must be the one pgra reads; default: that one)"),
            new(InventoryPatchActuator.Changes, ParameterType.String,
                "the changes: a JSON list of {member, key, from, to}, or 'pg-test-1 pg_role primary->replica, pg-test-2 pg_role replica->primary'")
            {
                Required = true,
            },
        ],
        Member = MemberUse.None,
        Risk = ActionRisk.Low,
        Reversible = true,
        VerifyTimeoutFromPipeline = true,
        Undo = "inventory.withdraw_patch: the proposal file is removed",
        Informative = ["cluster"],
    };

    public override ActionDescriptor Descriptor => Info;

    protected override PlannedAction Plan(PlanContext context, PlanInput input) =>
        InventoryPatchActuator.PlanRequest(context.Topology, input.Cluster.Name, input.P(InventoryPatchActuator.File), input.P(InventoryPatchActuator.Changes),
            input.Trigger, input.Initiator, input.Reason);
}
