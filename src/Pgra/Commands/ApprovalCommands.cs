using System.CommandLine;
using System.Globalization;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Policy;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary>
/// <c>pgra approvals</c>, <c>pgra approve ID</c>, <c>pgra deny ID</c> and <c>pgra undo ID</c>: the operator's side of
/// the action pipeline.
/// </summary>
internal sealed class ApprovalCommands : ICommandGroup
{
    public int Order => 55;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);

        var all = new Option<bool>("--all") { Description = "Also approved, executed, denied and expired ones." };
        var approvals = new Command("approvals", "Actions waiting for an operator's approval, with why they wait and when they expire.") { all };
        approvals.SetAction((parse, ct) => ListAsync(options, parse, all, ct));

        var approveId = new Argument<string>("ID") { Description = "The approval id (the action id, act-...)." };
        var approveNote = new Option<string?>("--note") { Description = "Why you approve (journaled)." };
        var approve = new Command("approve", "Approve a pending action and run it now through the pipeline (guardrails are checked again; an approved action a guardrail held back is retried until it expires).") { approveId, approveNote };
        approve.SetAction((parse, ct) => ApproveAsync(options, parse, approveId, approveNote, ct));

        var denyId = new Argument<string>("ID") { Description = "The approval id (the action id, act-...)." };
        var denyNote = new Option<string?>("--note") { Description = "Why you deny (journaled)." };
        var deny = new Command("deny", "Deny a pending action; it will not run.") { denyId, denyNote };
        deny.SetAction((parse, ct) => DenyAsync(options, parse, denyId, denyNote, ct));

        var undoId = new Argument<string>("ACTION_ID") { Description = "The action to take back (act-...)." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Plan, policy and prechecks only." };
        var undo = new Command("undo", "Take back a completed action with the undo recorded in its outcome (irreversible actions have none).") { undoId, dryRun };
        undo.SetAction((parse, ct) => UndoAsync(options, parse, undoId, dryRun, ct));

        return [approvals, approve, deny, undo];
    }

    private static async Task<int> ListAsync(GlobalOptions options, ParseResult parse, Option<bool> all, CancellationToken cancellationToken)
    {
        await using var session = await ActingSession.OpenAsync(options, parse, cancellationToken).ConfigureAwait(false);
        var list = await session.Approvals.ListAsync(parse.GetValue(all), cancellationToken).ConfigureAwait(false);
        if (parse.GetValue(options.Json))
        {
            await CliOutput.WriteJsonAsync(options.Out, list).ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        if (list.Count == 0)
        {
            await options.Out.WriteLineAsync(parse.GetValue(all) ? "no approvals in the journal." : "no pending approvals.").ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        var rows = list.Select(a => new[]
        {
            a.Id, a.Action.Cluster, a.Action.Kind, a.Status.ToString().ToLowerInvariant(),
            a.Status == ApprovalStatus.Pending ? "expires " + JournalAccess.FormatTime(a.ExpiresAt) : $"{a.DecidedBy ?? "-"} {(a.DecidedAt is { } t ? JournalAccess.FormatTime(t) : "")}".Trim(),
            a.Action.Summary + (a.Reasons.FirstOrDefault(r => r.Code == PolicyCodes.Level) is { } why ? " — " + why.Message : ""),
        }).ToList();
        await JournalCommands.WriteTableAsync(options.Out, ["ID", "CLUSTER", "ACTION", "STATUS", "WHEN", "WHAT AND WHY"], rows).ConfigureAwait(false);
        await options.Out.WriteLineAsync("approve with 'pgra approve ID [--note TEXT]', refuse with 'pgra deny ID'.").ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    private static async Task<int> ApproveAsync(GlobalOptions options, ParseResult parse, Argument<string> idArgument, Option<string?> note, CancellationToken cancellationToken)
    {
        var id = parse.GetValue(idArgument)!.Trim();
        await using var session = await ActingSession.OpenAsync(options, parse, cancellationToken).ConfigureAwait(false);
        var pending = await session.Approvals.GetAsync(id, cancellationToken).ConfigureAwait(false)
            ?? throw new InputException($"no approval {id}; 'pgra approvals' lists the pending ones.");
        if (session.Pipeline.Actuators.Find(pending.Action.Kind) is null)
        {
            throw new InputException($"{id} is a {pending.Action.Kind} action and this pgra has no actuator for it; nothing was approved.");
        }

        if (pending.Status == ApprovalStatus.Approved)
        {
            // Approved earlier but not run (a guardrail refused it then): try again, guardrails first.
            if (!parse.GetValue(options.Json))
            {
                await options.Out.WriteLineAsync($"{id} was approved by {pending.DecidedBy}; running it again.").ConfigureAwait(false);
            }
        }
        else
        {
            var approval = await session.Approvals.ApproveAsync(id, ActingSession.OperatorName(), parse.GetValue(note), cancellationToken).ConfigureAwait(false);
            if (!parse.GetValue(options.Json))
            {
                await options.Out.WriteLineAsync($"approved by {approval.DecidedBy}; running {id} now.").ConfigureAwait(false);
            }
        }

        var result = await session.Pipeline.RunApprovedAsync(id, cancellationToken).ConfigureAwait(false);
        return await ActionReport.WriteAsync(options, parse, result).ConfigureAwait(false);
    }

    private static async Task<int> DenyAsync(GlobalOptions options, ParseResult parse, Argument<string> idArgument, Option<string?> note, CancellationToken cancellationToken)
    {
        var id = parse.GetValue(idArgument)!.Trim();
        await using var session = await ActingSession.OpenAsync(options, parse, cancellationToken).ConfigureAwait(false);
        var approval = await session.Approvals.DenyAsync(id, ActingSession.OperatorName(), parse.GetValue(note), cancellationToken).ConfigureAwait(false);
        if (parse.GetValue(options.Json))
        {
            await CliOutput.WriteJsonAsync(options.Out, approval).ConfigureAwait(false);
        }
        else
        {
            await options.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"denied {id} ({approval.Action.Summary}) by {approval.DecidedBy}; it will not run.")).ConfigureAwait(false);
        }

        return ExitCodes.Ok;
    }

    private static async Task<int> UndoAsync(GlobalOptions options, ParseResult parse, Argument<string> idArgument, Option<bool> dryRun, CancellationToken cancellationToken)
    {
        var id = parse.GetValue(idArgument)!.Trim();
        await using var session = await ActingSession.OpenAsync(options, parse, cancellationToken).ConfigureAwait(false);
        var result = await session.Pipeline.UndoAsync(id, ActingSession.OperatorName(), parse.GetValue(dryRun), cancellationToken).ConfigureAwait(false);
        return await ActionReport.WriteAsync(options, parse, result).ConfigureAwait(false);
    }
}
