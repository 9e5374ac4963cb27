using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Reads;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Tools;

/// <summary>
/// The agent's body as tools, generated from <see cref="AgentCatalog"/>: every read (when a <see cref="ReadContext"/>
/// is given) and every action (when <see cref="ActingServices"/> are). An action tool never acts on its own
/// authority: it is planned and run through the one pipeline like <c>pgra act</c>, as a proactive request of
/// <see cref="ToolboxOptions.Caller"/> (no finding is behind it), so the policy gate decides, and above the autonomy
/// level the result is a pending approval an operator grants with <c>pgra approve</c>. Every result is a JSON object
/// with <c>ok</c>, bounded to <see cref="ToolboxOptions.MaxResultChars"/> and redacted; a bad argument is a result
/// that says what to fix, never an exception, so a model can correct itself.
/// </summary>
internal static class AgentToolbox
{
    public const string ActionPrefix = "act_";

    public static IReadOnlyList<AgentTool> Build(AgentCatalog catalog, ToolboxOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        var tools = new List<AgentTool>();
        if (options.Reads is { } reads)
        {
            tools.AddRange(catalog.Reads.Select(r => ReadTool(r, reads, options)));
        }

        if (options.Acting is { } acting)
        {
            tools.AddRange(catalog.Actions.Select(a => ActionTool(a, acting, options)));
        }

        var duplicate = tools.GroupBy(t => t.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        return duplicate is null ? tools : throw new InvalidOperationException($"two tools are named {duplicate.Key}");
    }

    /// <summary>The tool name of a read (<c>cluster.snapshot</c> → <c>cluster_snapshot</c>) or an action (<c>act_patroni_switchover</c>).</summary>
    public static string ToolName(string source, bool action) => (action ? ActionPrefix : "") + source.Replace('.', '_').Replace('-', '_');

    private static AgentTool ReadTool(ReadDescriptor read, ReadContext context, ToolboxOptions options) => new()
    {
        Name = ToolName(read.Name, action: false),
        Source = read.Name,
        Description = $"{read.Summary} Read-only; {read.Bound}.",
        InputSchema = Schema(read.Parameters, read.Member, context.Topology.Clusters.Select(c => c.Name), action: false),
        ReadOnly = true,
        Idempotent = true,
        Invoke = async (args, _, ct) =>
        {
            try
            {
                var (cluster, member, parameters, _, _) = Arguments(args, action: false);
                var envelope = await ReadCatalog.RunAsync(context, read.Name, new ReadRequest { Cluster = cluster, Member = member, Parameters = parameters }, ct)
                    .ConfigureAwait(false);
                return Bounded(envelope, options.MaxResultChars, context.RedactJson);
            }
            catch (InputException ex)
            {
                return Refused(ex);
            }
        },
    };

    private static AgentTool ActionTool(ActionDescriptor action, ActingServices acting, ToolboxOptions options)
    {
        var clusters = acting.Workspace?.Topology.Clusters.Select(c => c.Name) ?? [];
        var risk = JsonNamingPolicy.KebabCaseLower.ConvertName(action.Risk.ToString());
        var reversible = action.Reversible ? $"reversible ({action.Undo})" : $"irreversible{(action.LossBound is null ? "" : $"; bounded by: {action.LossBound}")}";
        string Redact(string json) => acting.Workspace?.Secrets.RedactJson(json) ?? json;
        return new AgentTool
        {
            Name = ToolName(action.Kind, action: true),
            Source = action.Kind,
            Description = $"{action.Summary} Risk {risk}, {reversible}. Runs through the agent's policy, prechecks, journal and verification: "
                + "above the autonomy level it becomes a pending approval for an operator instead of running. dry_run=true plans, judges and prechecks only.",
            InputSchema = Schema(action.Parameters, action.Member, clusters, action: true),
            Destructive = !action.Reversible || action.Risk == ActionRisk.High,
            Invoke = async (args, caller, ct) =>
            {
                try
                {
                    var (cluster, member, parameters, reason, dryRun) = Arguments(args, action: true);
                    var request = new ActionRequest
                    {
                        Kind = action.Kind,
                        Cluster = cluster,
                        Member = member,
                        Parameters = parameters,
                        Trigger = ActionTrigger.Proactive,
                        Initiator = caller ?? options.Caller,
                        Reason = reason,
                    };
                    var (plan, run) = await acting.RequestAsync(request, dryRun, ct).ConfigureAwait(false);
                    if (run is not { } result)
                    {
                        return new JsonObject { ["ok"] = false, ["status"] = "not-planned", ["error"] = plan.Problem };
                    }

                    return Bounded(Describe(result, dryRun), options.MaxResultChars, Redact);
                }
                catch (InputException ex)
                {
                    return Refused(ex);
                }
            },
        };
    }

    /// <summary>What an action run came to, for a caller that must decide what to say or do next.</summary>
    internal static JsonObject Describe(ActionRunResult result, bool dryRun)
    {
        var status = ActionPipeline.Kebab(result.Status);
        return new JsonObject
        {
            ["ok"] = result.Status is ActionStatus.Succeeded or ActionStatus.AwaitingApproval or ActionStatus.DryRun or ActionStatus.Recommended,
            ["action_id"] = result.Action.Id,
            ["kind"] = result.Action.Kind,
            ["cluster"] = result.Action.Cluster,
            ["member"] = result.Action.Member,
            ["summary"] = result.Action.Summary,
            ["dry_run"] = dryRun,
            ["status"] = status,
            ["message"] = result.Message,
            ["policy"] = result.Decision is { } d ? JsonSerializer.SerializeToNode(d, JournalJson.Options) : null,
            ["precheck"] = result.Precheck is { } p ? JsonSerializer.SerializeToNode(p, JournalJson.Options) : null,
            ["verification"] = result.Verification is { } v ? JsonSerializer.SerializeToNode(v, JournalJson.Options) : null,
            ["approval"] = result.Approval is { } a ? JsonSerializer.SerializeToNode(a, JournalJson.Options) : null,
            ["journal"] = $"pgra journal show --correlation {result.Action.Id}",
        };
    }

    private static JsonObject Refused(InputException ex) => new()
    {
        ["ok"] = false,
        ["error"] = ex.Message,
        ["problems"] = new JsonArray([.. ex.Problems.Select(p => (JsonNode?)JsonValue.Create(p))]),
    };

    /// <summary>The result, redacted; when its text is longer than <paramref name="max"/>, an error saying so instead.</summary>
    private static JsonObject Bounded(JsonObject result, int max, Func<string, string> redact)
    {
        var text = redact(result.ToJsonString(JournalJson.Options));
        return text.Length <= max
            ? JsonNode.Parse(text)!.AsObject()
            : new JsonObject
            {
                ["ok"] = false,
                ["error"] = string.Create(CultureInfo.InvariantCulture,
                    $"the result ({text.Length} characters) is larger than this tool's bound of {max}: narrow the parameters (limit, range, sections, member)"),
            };
    }

    /// <summary>The arguments' JSON Schema: cluster (one of <paramref name="clusters"/>), member as the entry uses it, its parameters; an action's reason and dry_run.</summary>
    private static JsonElement Schema(IReadOnlyList<ParameterSpec> parameters, MemberUse member, IEnumerable<string> clusters, bool action)
    {
        var schema = ParameterSpec.ObjectSchema(parameters);
        var properties = schema["properties"]!.AsObject();
        var required = schema["required"]!.AsArray();
        var names = clusters.ToList();
        var cluster = new JsonObject { ["type"] = "string", ["description"] = "The cluster (pg_cluster in the inventory)." };
        if (names.Count > 0)
        {
            cluster["enum"] = new JsonArray([.. names.Select(n => (JsonNode?)JsonValue.Create(n))]);
        }

        properties.Insert(0, "cluster", cluster);
        required.Insert(0, "cluster");
        if (member != MemberUse.None)
        {
            properties.Insert(1, "member", new JsonObject
            {
                ["type"] = "string",
                ["description"] = member == MemberUse.Required ? "The member (instance name, for example pg-test-1)." : "The member (instance name); left out, the cluster as a whole or the leader.",
            });
            if (member == MemberUse.Required)
            {
                required.Add("member");
            }
        }

        if (action)
        {
            properties["reason"] = new JsonObject { ["type"] = "string", ["description"] = "Why: the evidence this rests on (journaled with the action and shown to the approver)." };
            required.Add("reason");
            properties["dry_run"] = new JsonObject { ["type"] = "boolean", ["default"] = false, ["description"] = "Plan, judge by policy and precheck only; nothing changes." };
        }

        return JsonSerializer.SerializeToElement(schema);
    }

    /// <summary>The call's arguments: cluster, member, the entry's parameters as text, an action's reason and dry_run.</summary>
    private static (string Cluster, string? Member, IReadOnlyDictionary<string, string> Parameters, string? Reason, bool DryRun) Arguments(JsonElement args, bool action)
    {
        if (args.ValueKind != JsonValueKind.Object)
        {
            throw new InputException("the arguments must be a JSON object with at least \"cluster\"");
        }

        string? cluster = null, member = null, reason = null;
        var dryRun = false;
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in args.EnumerateObject())
        {
            if (p.Value.ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            var text = Sensing.JsonRead.AsString(p.Value)
                ?? throw new InputException($"argument {p.Name} must be a string, a number or a boolean, not {p.Value.ValueKind.ToString().ToLowerInvariant()}");
            switch (p.Name)
            {
                case "cluster":
                    cluster = text;
                    break;
                case "member":
                    member = text;
                    break;
                case "reason" when action:
                    reason = SecretText.RedactFreeText(text);
                    break;
                case "dry_run" when action:
                    dryRun = text == "true";
                    break;
                default:
                    parameters[p.Name] = text;
                    break;
            }
        }

        if (string.IsNullOrWhiteSpace(cluster))
        {
            throw new InputException("argument cluster is required");
        }

        if (action && string.IsNullOrWhiteSpace(reason))
        {
            throw new InputException("argument reason is required: say what evidence the action rests on");
        }

        return (cluster, member, parameters, reason, dryRun);
    }
}

/// <summary>What the tools are built on and for whom.</summary>
internal sealed record ToolboxOptions
{
    /// <summary>Who calls (journaled as the initiator of every action): <c>model:NAME</c>, <c>mcp:USER</c>; a call may name another (<see cref="ToolInvoker"/>).</summary>
    public required string Caller { get; init; }

    /// <summary>The reads' context (null: no read tools).</summary>
    public ReadContext? Reads { get; init; }

    /// <summary>The action pipeline (null: no action tools).</summary>
    public ActingServices? Acting { get; init; }

    /// <summary>The longest result text a tool returns (a model's context is finite).</summary>
    public int MaxResultChars { get; init; } = 32_000;
}
