using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary>
/// The operator's hands: <c>pgra switchover</c>, <c>pgra failover</c>, <c>pgra config set|show</c>, <c>pgra act</c>
/// (any action kind with parameters) and <c>pgra reconcile</c>. Every change goes through the action pipeline and
/// prints the plan, the candidates or changes, the policy decision, the prechecks, the verification and the journal
/// entries. <c>pgra undo</c>, <c>pgra approve</c> and <c>pgra deny</c> live in <see cref="ApprovalCommands"/>.
/// </summary>
internal sealed class ActionCommands : ICommandGroup
{
    public int Order => 50;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);

        var swCluster = new Argument<string>("CLUSTER") { Description = "The cluster (pg_cluster)." };
        var swTo = new Option<string?>("--to") { Description = "The member to hand over to. Default: the eligible replica with the smallest lag." };
        var swDry = DryRun();
        var swReason = Reason();
        var switchover = new Command("switchover", "Planned switchover through the current leader's Patroni API, verified by sensing; undo switches back.")
        {
            swCluster, swTo, swDry, swReason,
        };
        switchover.SetAction((parse, ct) => RunPlannedAsync(options, parse, new ActionRequest
        {
            Kind = PatroniActions.Switchover,
            Cluster = parse.GetValue(swCluster)!,
            Member = parse.GetValue(swTo),
            Initiator = ActingSession.OperatorName(),
            Reason = FreeText(parse, swReason),
        }, parse.GetValue(swDry), ct));

        var foCluster = new Argument<string>("CLUSTER") { Description = "The cluster (pg_cluster)." };
        var foTo = new Option<string>("--to") { Description = "The member to promote.", Required = true };
        var foDry = DryRun();
        var foReason = Reason();
        var failover = new Command("failover", "Failover to a named member (irreversible: WAL the old leader did not ship is lost); the candidate must be within the lag limit.")
        {
            foCluster, foTo, foDry, foReason,
        };
        failover.SetAction((parse, ct) => RunPlannedAsync(options, parse, new ActionRequest
        {
            Kind = PatroniActions.Failover,
            Cluster = parse.GetValue(foCluster)!,
            Member = parse.GetValue(foTo),
            Initiator = ActingSession.OperatorName(),
            Reason = FreeText(parse, foReason),
        }, parse.GetValue(foDry), ct));

        var setCluster = new Argument<string>("CLUSTER") { Description = "The cluster (pg_cluster)." };
        var setAssignments = new Argument<string[]>("NAME=VALUE")
        {
            Description = "Patroni keys (loop_wait=5), dotted paths (postgresql.use_slots=true) or PostgreSQL parameters (work_mem=8MB); NAME=null removes a key.",
            Arity = ArgumentArity.OneOrMore,
        };
        var setDry = DryRun();
        var setReason = Reason();
        var set = new Command("set", "Change the cluster's dynamic configuration (PATCH /config), verified on every member; undo restores the previous values exactly.")
        {
            setCluster, setAssignments, setDry, setReason,
        };
        set.SetAction((parse, ct) =>
        {
            // Malformed assignments are the operator's to fix before anything is sensed.
            var patch = ConfigPatch.FromAssignments(parse.GetValue(setAssignments) ?? []);
            return RunPlannedAsync(options, parse, new ActionRequest
            {
                Kind = PatroniActions.Config,
                Cluster = parse.GetValue(setCluster)!,
                Parameters = new Dictionary<string, string>(StringComparer.Ordinal) { [PatroniActions.Patch] = patch.ToJsonString() },
                Initiator = ActingSession.OperatorName(),
                Reason = FreeText(parse, setReason),
            }, parse.GetValue(setDry), ct);
        });

        var showCluster = new Argument<string>("CLUSTER") { Description = "The cluster (pg_cluster)." };
        var show = new Command("show", "The cluster's dynamic configuration as Patroni holds it (GET /config from the leader).") { showCluster };
        show.SetAction((parse, ct) => ShowConfigAsync(options, parse, parse.GetValue(showCluster)!, ct));
        var config = new Command("config", "Patroni's dynamic configuration of a cluster.") { set, show };

        var actKind = new Argument<string>("KIND") { Description = $"The action ({string.Join(", ", ActionKinds.Names)}; 'pgra catalog' describes each and its parameters)." };
        var actCluster = new Argument<string>("CLUSTER") { Description = "The cluster (pg_cluster)." };
        var actMember = new Option<string?>("--member") { Description = MemberDescription() };
        var actParams = new Option<string[]>("--param") { Description = "A parameter NAME=VALUE (repeatable), for example --param table=orders --param columns=customer_id." };
        var actDry = DryRun();
        var actReason = Reason();
        var act = new Command("act", "Run any action through the pipeline: the same planner, policy, prechecks, journal and verification a skill uses.")
        {
            actKind, actCluster, actMember, actParams, actDry, actReason,
        };
        act.SetAction((parse, ct) => RunPlannedAsync(options, parse, new ActionRequest
        {
            Kind = parse.GetValue(actKind)!,
            Cluster = parse.GetValue(actCluster)!,
            Member = parse.GetValue(actMember),
            Parameters = ParseParams(parse.GetValue(actParams) ?? []),
            Initiator = ActingSession.OperatorName(),
            Reason = FreeText(parse, actReason),
        }, parse.GetValue(actDry), ct));

        var recCluster = new Argument<string?>("CLUSTER") { Description = "Only this cluster (default: all).", Arity = ArgumentArity.ZeroOrOne };
        var reconcile = new Command("reconcile", "Settle actions left without an outcome by a crashed or killed run: sense whether each happened and journal its outcome.")
        {
            recCluster,
        };
        reconcile.SetAction((parse, ct) => ReconcileAsync(options, parse, parse.GetValue(recCluster), ct));

        return [switchover, failover, config, act, reconcile];
    }

    /// <summary>What <c>pgra act --member</c> means, by the kinds' member use in the catalogue.</summary>
    private static string MemberDescription()
    {
        string Kinds(MemberUse use) => string.Join(", ", AgentCatalog.Default.Actions.Where(a => a.Member == use).Select(a => a.Kind));
        return $"The member acted on. Required by {Kinds(MemberUse.Required)}; refused by {Kinds(MemberUse.None)}; "
            + "optional elsewhere (a backend's member, checkpoint: default the leader, backup.run: must be the leader).";
    }

    /// <summary><c>K=V</c> pairs; a malformed one is an input error.</summary>
    public static IReadOnlyDictionary<string, string> ParseParams(IEnumerable<string> pairs)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var pair in pairs)
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                problems.Add($"'{pair}': expected NAME=VALUE");
            }
            else if (!result.TryAdd(pair[..eq].Trim(), pair[(eq + 1)..]))
            {
                problems.Add($"'{pair[..eq]}' is given twice");
            }
        }

        return problems.Count > 0 ? throw new InputException("bad --param", problems) : result;
    }

    private static Option<bool> DryRun() => new("--dry-run") { Description = "Plan, policy and prechecks only; nothing changes and no intent is journaled." };

    private static Option<string?> Reason() => new("--reason") { Description = "Why (journaled with the action)." };

    /// <summary>An operator's --reason as journaled: anything shaped like a password masked.</summary>
    private static string? FreeText(ParseResult parse, Option<string?> reason) =>
        parse.GetValue(reason) is { } text ? SecretText.RedactFreeText(text) : null;

    private static async Task<int> RunPlannedAsync(GlobalOptions options, ParseResult parse, ActionRequest request, bool dryRun, CancellationToken cancellationToken)
    {
        await using var session = await ActingSession.OpenAsync(options, parse, cancellationToken).ConfigureAwait(false);
        var started = options.Time.GetTimestamp();
        var (plan, run) = await session.RequestAsync(request, dryRun, cancellationToken).ConfigureAwait(false);
        var json = parse.GetValue(options.Json);
        if (run is not { } result)
        {
            if (json)
            {
                await CliOutput.WriteJsonAsync(options.Out, new { status = "not-planned", problem = plan.Problem, candidates = plan.Candidates }).ConfigureAwait(false);
            }
            else
            {
                await options.Out.WriteAsync(RenderPlan(plan)).ConfigureAwait(false);
                await options.Out.WriteLineAsync($"Result    not planned: {plan.Problem}").ConfigureAwait(false);
            }

            return ExitCodes.Failure;
        }

        var elapsed = options.Time.GetElapsedTime(started).TotalSeconds;
        if (json)
        {
            var node = JsonSerializer.SerializeToNode(result, CliOutput.Json)!.AsObject();
            node["candidates"] = ActionPlanJson.Candidates(plan, CliOutput.Json);
            node["changes"] = ActionPlanJson.Changes(plan, CliOutput.Json);
            node["elapsedSeconds"] = Math.Round(elapsed, 3);
            await options.Out.WriteLineAsync(node.ToJsonString(CliOutput.Json)).ConfigureAwait(false);
        }
        else
        {
            await options.Out.WriteAsync(RenderPlan(plan) + ActionReport.Render(result)).ConfigureAwait(false);
            var verified = result.Verification?.Evidence.GetValueOrDefault("seconds_since_execute") is { } v ? $" (verified {v} s after the request)" : "";
            await options.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Took      {elapsed:0.00} s{verified}")).ConfigureAwait(false);
        }

        return ActionReport.ExitCode(result);
    }

    private static string RenderPlan(ActionPlan plan)
    {
        var text = new StringBuilder();
        void Line(string label, string value) => text.Append(CultureInfo.InvariantCulture, $"{label,-10}{value}\n");
        if (plan.Snapshot is { } s && plan.Candidates.Count > 0)
        {
            Line("Cluster", $"{s.Cluster}: leader {s.Leader ?? "none"} (timeline {s.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"}), maximum_lag_on_failover {CandidateRules.LagLimit(s).ToString(CultureInfo.InvariantCulture)} bytes");
            var chosen = plan.Action?.Parameter(ActionParameters.Candidate);
            var first = true;
            foreach (var c in plan.Candidates)
            {
                Line(first ? "Candidate" : "", c.Describe() + (string.Equals(c.Member, chosen, StringComparison.Ordinal) && plan.Candidates.Count > 1 ? "  <- chosen" : ""));
                first = false;
            }
        }

        var firstChange = true;
        foreach (var change in plan.Changes)
        {
            Line(firstChange ? "Change" : "", change.Describe() + (change.IsNoOp ? " (no change)" : ""));
            firstChange = false;
        }

        return text.ToString();
    }

    private static async Task<int> ShowConfigAsync(GlobalOptions options, ParseResult parse, string clusterName, CancellationToken cancellationToken)
    {
        var workspace = CliWorkspace.Load(options, parse);
        var context = workspace.ActingContext(options.Time);
        var planner = ActionPlanner.For(context);
        var (cluster, _) = planner.Resolve(clusterName, null);
        var snapshot = await ActionSensing.For(context).SenseAsync(cluster.Name, cancellationToken).ConfigureAwait(false);
        using var control = new PatroniControl(workspace.Secrets, options.Time);
        var (config, source) = await PatroniConfigActuator.ReadConfigAsync(control, TimeSpan.FromSeconds(10), cluster, snapshot, cancellationToken).ConfigureAwait(false);
        if (config is null)
        {
            await options.Error.WriteLineAsync($"error: {source}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        var redacted = JsonNode.Parse(workspace.Secrets.RedactJson(config.ToJsonString()))!;
        if (parse.GetValue(options.Json))
        {
            await options.Out.WriteLineAsync(redacted.ToJsonString(CliOutput.Json)).ConfigureAwait(false);
        }
        else
        {
            await options.Out.WriteLineAsync($"# {source}").ConfigureAwait(false);
            foreach (var change in ConfigPatch.Changes(new JsonObject(), redacted.AsObject()))
            {
                await options.Out.WriteLineAsync($"{change.Path} = {ConfigChange.Show(change.After)}").ConfigureAwait(false);
            }
        }

        return ExitCodes.Ok;
    }

    private static async Task<int> ReconcileAsync(GlobalOptions options, ParseResult parse, string? cluster, CancellationToken cancellationToken)
    {
        await using var session = await ActingSession.OpenAsync(options, parse, cancellationToken).ConfigureAwait(false);
        if (cluster is not null)
        {
            session.Planner.Resolve(cluster, null);
        }

        var reports = await session.Pipeline.ReconcileAsync(cluster, cancellationToken).ConfigureAwait(false);
        if (parse.GetValue(options.Json))
        {
            await CliOutput.WriteJsonAsync(options.Out, reports).ConfigureAwait(false);
        }
        else if (reports.Count == 0)
        {
            await options.Out.WriteLineAsync("no open intents: every action in the journal has an outcome.").ConfigureAwait(false);
        }
        else
        {
            var rows = reports.Select(r => new[]
            {
                r.ActionId, r.Cluster, r.Kind, r.Result, r.OutcomeSeq is { } seq ? "#" + seq.ToString(CultureInfo.InvariantCulture) : "-", r.Message,
            }).ToList();
            await JournalCommands.WriteTableAsync(options.Out, ["ACTION", "CLUSTER", "KIND", "RESULT", "OUTCOME", "WHY"], rows).ConfigureAwait(false);
        }

        return reports.Any(r => r.Result is "unknown" or "unreadable" or "no-actuator") ? ExitCodes.Failure : ExitCodes.Ok;
    }
}
