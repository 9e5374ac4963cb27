using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Tools;

namespace PgRuntimeAgent.Brain;

/// <summary>
/// Asks a language model one question about a cluster, with the agent's own tools (<see cref="AgentToolbox"/>: the
/// catalogue's reads, and its actions through policy) and guardrails: everything sent is redacted first (every secret
/// of the inventory and settings), the model round trips are capped at <see cref="LlmSettings.MaxSteps"/> and the wall
/// time at <see cref="LlmSettings.TimeoutSeconds"/>, and every exchange is journaled (<c>brain.exchange</c>: the
/// redacted prompt's digest, each tool call, tokens, latency, provider, model, an estimated cost). A model that is
/// down, slow or wrong ends the question with that status; it never throws into its caller.
/// </summary>
internal sealed class Investigator(IChatClient client, LlmSettings settings, SecretStore secrets, IJournal? journal, TimeProvider time, string? standingOrders = null)
{
    public async Task<BrainExchange> AskAsync(string cluster, string question, string context, IReadOnlyList<AgentTool> tools, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tools);
        var calls = new List<ToolCallRecord>();
        var redaction = new PromptRedaction(settings.RedactNames, settings.RedactQueryLiterals);
        var functions = tools.Select(t => (AITool)new CatalogFunction(t with { Invoke = Recorded(t, calls, redaction) })).ToList();
        var system = redaction.Outbound(secrets.Redact(SystemPrompt(standingOrders)));
        var user = redaction.Outbound(secrets.Redact($"Cluster: {cluster}\n\n{context}\n\nQuestion: {question}"));
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(system + "\n\n" + user)));
        var started = time.GetTimestamp();
        using var invoking = new ChatClientBuilder(client)
            .UseFunctionInvocation(configure: f =>
            {
                f.MaximumIterationsPerRequest = Math.Max(1, settings.MaxSteps);
                f.IncludeDetailedErrors = false;
            })
            .Build();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(Math.Max(1, settings.TimeoutSeconds)));
        string status, answer;
        string? error = null;
        UsageDetails? usage = null;
        try
        {
            var response = await invoking.GetResponseAsync([new ChatMessage(ChatRole.System, system), new ChatMessage(ChatRole.User, user)],
                new ChatOptions { Tools = functions, ToolMode = ChatToolMode.Auto, MaxOutputTokens = Math.Max(1, settings.MaxOutputTokens) }, limit.Token).ConfigureAwait(false);
            usage = response.Usage;
            // The operator reads the names the model could only see as pseudonyms.
            answer = secrets.Redact(redaction.Inbound(response.Text));
            // The step cap's last round trip has no tools: a call left unanswered there means the model wanted more steps.
            var unanswered = response.Messages.LastOrDefault()?.Contents.OfType<FunctionCallContent>().Any() == true;
            status = unanswered ? "step-limit" : answer.Length == 0 ? "empty" : "answered";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            (status, answer, error) = ("timed-out", "", $"no answer within {settings.TimeoutSeconds.ToString(CultureInfo.InvariantCulture)} s");
        }
        catch (Exception ex) when (IsModelFailure(ex))
        {
            (status, answer, error) = ("failed", "", secrets.Redact(ex.Message));
        }

        var exchange = new BrainExchange
        {
            Cluster = cluster,
            Question = secrets.Redact(question),
            Provider = settings.Provider ?? "none",
            Model = settings.Model ?? "",
            Status = status,
            Answer = answer,
            Error = error,
            PromptDigest = digest,
            PromptChars = system.Length + user.Length,
            ToolCalls = [.. Snapshot(calls)],
            InputTokens = usage?.InputTokenCount,
            OutputTokens = usage?.OutputTokenCount,
            LatencyMs = Math.Round(time.GetElapsedTime(started).TotalMilliseconds, 1),
            CostEstimate = Cost(usage),
        };
        Count(exchange);
        if (journal is not null)
        {
            var entry = await journal.AppendAsync(JournalRecord.Create(JournalKinds.BrainExchange,
                $"asked {exchange.Model} about {cluster}: {exchange.Status}, {exchange.ToolCalls.Count} tool call(s): {Shorten(exchange.Question, 120)}",
                exchange, cluster, null, null, exchange.Status), CancellationToken.None).ConfigureAwait(false);
            exchange = exchange with { JournalSeq = entry.Seq };
        }

        return exchange;
    }

    /// <summary>One model call and its tokens by provider and model (<c>pgra.brain.model.calls</c>, <c>pgra.brain.model.tokens</c>).</summary>
    private static void Count(BrainExchange exchange)
    {
        var tags = new System.Diagnostics.TagList { { "provider", exchange.Provider }, { "model", exchange.Model } };
        var calls = tags;
        calls.Add("status", exchange.Status);
        Telemetry.AgentTelemetry.Brain.ModelCalls.Add(1, calls);
        if (exchange.InputTokens is { } input)
        {
            var t = tags;
            t.Add("type", "input");
            Telemetry.AgentTelemetry.Brain.ModelTokens.Add(input, t);
        }

        if (exchange.OutputTokens is { } output)
        {
            var t = tags;
            t.Add("type", "output");
            Telemetry.AgentTelemetry.Brain.ModelTokens.Add(output, t);
        }
    }

    /// <summary>A compact picture of the cluster for the prompt: leader, members, sensors, findings, recent incidents.</summary>
    public static string Context(ClusterSnapshot snapshot, IReadOnlyList<Finding> findings, IReadOnlyList<string> recentIncidents)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(findings);
        ArgumentNullException.ThrowIfNull(recentIncidents);
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Snapshot taken {snapshot.TakenAt:yyyy-MM-dd HH:mm:ss}Z: leader {snapshot.Leader ?? "none"}, timeline {snapshot.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"}.");
        foreach (var m in snapshot.Members)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"- member {m.Name}: Patroni role {m.PatroniRawRole ?? "?"}, state {m.PatroniState ?? "?"}, reachable {m.Reachable}, in recovery {m.InRecovery?.ToString() ?? "?"}, timeline {m.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"}");
        }

        foreach (var s in snapshot.Sensors.Where(s => s.Health != Sensing.SensorHealth.Ok))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"- sensor {s.Sensor}: {s.Health.ToString().ToLowerInvariant()}{(s.Reason is null ? "" : ": " + s.Reason)}");
        }

        sb.AppendLine(findings.Count == 0 ? "Findings: none." : "Findings:");
        foreach (var f in findings)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"- {f.Code} ({FindingJson.SeverityName(f.Severity)}): {f.Summary}");
        }

        if (recentIncidents.Count > 0)
        {
            sb.AppendLine("Past incidents of this cluster most like this one (incidents_list, journal_search and the post-mortems tell more):");
            foreach (var i in recentIncidents)
            {
                sb.AppendLine("- " + i);
            }
        }

        return sb.ToString();
    }

    /// <summary>
    /// The agent's memory for a question: of the cluster's past incidents (the <c>incidents.list</c> read's items, newest
    /// first), the <paramref name="count"/> that share the most finding codes with <paramref name="codes"/> (the current
    /// findings), newest first among equals; with no current finding, the newest. Each as its compact JSON.
    /// </summary>
    public static IReadOnlyList<string> Similar(System.Text.Json.Nodes.JsonArray incidents, IEnumerable<string> codes, int count)
    {
        ArgumentNullException.ThrowIfNull(incidents);
        var now = codes.ToHashSet(StringComparer.Ordinal);
        return [.. incidents.OfType<System.Text.Json.Nodes.JsonObject>()
            .Select((incident, order) => (incident, order, shared: (incident["codes"] as System.Text.Json.Nodes.JsonArray ?? [])
                .Count(c => c?.GetValueKind() == JsonValueKind.String && now.Contains(c.GetValue<string>()))))
            .OrderByDescending(x => x.shared).ThenBy(x => x.order)
            .Take(count)
            .Select(x => x.incident.ToJsonString())];
    }

    private static string SystemPrompt(string? orders) =>
        $"""
        You are PgRuntimeAgent's investigator for a Pigsty PostgreSQL deployment (Patroni, etcd, pgBackRest, Prometheus).
        Answer like an experienced DBA: name the cause, cite the evidence (tool names with what they showed: metric names,
        log lines, journal sequence numbers, finding codes), say what you could not check. Read with the tools before you
        conclude; never guess values. Tools named act_* request an action through the agent's policy: give a reason that
        names the evidence; a result "awaiting-approval" means an operator decides, say so. Prefer dry_run=true unless the
        question asks you to act. Keep the answer short.
        {(orders is null ? "" : "\nThe deployment's standing orders:\n" + orders)}
        """;

    /// <summary>
    /// The tool as the model calls it: its pseudonyms turned back into names before it runs, its result redacted as
    /// everything else that leaves the process (<see cref="PromptRedaction"/>), and the call recorded for the journal.
    /// </summary>
    private ToolInvoker Recorded(AgentTool tool, List<ToolCallRecord> calls, PromptRedaction redaction) =>
        async (args, caller, ct) =>
        {
            var started = time.GetTimestamp();
            if (!redaction.IsEmpty)
            {
                args = JsonSerializer.SerializeToElement(redaction.Inbound(JsonNode.Parse(args.GetRawText())));
            }

            var result = await tool.Invoke(args, caller, ct).ConfigureAwait(false);
            if (!redaction.IsEmpty)
            {
                result = redaction.Outbound(result) as JsonObject ?? result;
            }

            var ok = result["ok"]?.GetValue<bool>() == true;
            lock (calls)
            {
                calls.Add(new ToolCallRecord(tool.Name, ok, result.ToJsonString().Length, Math.Round(time.GetElapsedTime(started).TotalMilliseconds, 1),
                    ok ? null : result["error"]?.ToString(), result["action_id"]?.ToString()));
            }

            return result;
        };

    /// <summary>
    /// A model that failed rather than a bug: OpenAI's SDK throws ClientResultException, and after its retries an
    /// AggregateException of them (an endpoint that refuses connections); Anthropic's throws its own AnthropicException
    /// (an API error by status, an I/O failure).
    /// </summary>
    private static bool IsModelFailure(Exception ex) => ex switch
    {
        AggregateException all => all.InnerExceptions.Count > 0 && all.InnerExceptions.All(IsModelFailure),
        HttpRequestException or System.ClientModel.ClientResultException or Anthropic.Exceptions.AnthropicException or IOException or InvalidOperationException
            or JsonException or NotSupportedException or ArgumentException => true,
        _ => false,
    };

    private static List<ToolCallRecord> Snapshot(List<ToolCallRecord> calls)
    {
        lock (calls)
        {
            return [.. calls];
        }
    }

    private double? Cost(UsageDetails? usage) =>
        usage is null || (settings.InputPricePerMillion <= 0 && settings.OutputPricePerMillion <= 0) ? null
        : Math.Round(((usage.InputTokenCount ?? 0) * settings.InputPricePerMillion + (usage.OutputTokenCount ?? 0) * settings.OutputPricePerMillion) / 1_000_000, 6);

    private static string Shorten(string text, int max) => text.Length <= max ? text : text[..max] + "...";
}

/// <summary>One question to the model and what came of it, as journaled (kind <c>brain.exchange</c>).</summary>
internal sealed record BrainExchange
{
    public required string Cluster { get; init; }
    public required string Question { get; init; }
    public required string Provider { get; init; }
    public required string Model { get; init; }

    /// <summary>answered, empty, step-limit, timed-out or failed.</summary>
    public required string Status { get; init; }

    public required string Answer { get; init; }
    public string? Error { get; init; }

    /// <summary>SHA-256 of the redacted system and user prompt as sent.</summary>
    public required string PromptDigest { get; init; }

    public int PromptChars { get; init; }
    public IReadOnlyList<ToolCallRecord> ToolCalls { get; init; } = [];
    public long? InputTokens { get; init; }
    public long? OutputTokens { get; init; }
    public double LatencyMs { get; init; }
    public double? CostEstimate { get; init; }

    /// <summary>The journal entry it was recorded as (null when not journaled).</summary>
    public long? JournalSeq { get; init; }
}

/// <summary>One tool the model called: whether it answered, how much it returned, and the action it requested, if any.</summary>
internal sealed record ToolCallRecord(string Tool, bool Ok, int Chars, double Ms, string? Error, string? ActionId);
