using Microsoft.Extensions.AI;
using PgRuntimeAgent.Reads;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Brain;

/// <summary>
/// The daemon's language model, when <c>llm:</c> configures one: the chat client, the reads' context its tools read
/// through, and the skills' investigator. Made once per agent and disposed with it; without a model there is none and
/// every investigate step is skipped.
/// </summary>
internal sealed class AgentBrain : IAsyncDisposable
{
    private readonly IChatClient? _owned;
    private readonly ReadContext _reads;

    private readonly Investigator _investigator;
    private readonly LlmSettings _llm;

    private AgentBrain(IChatClient? owned, ReadContext reads, SkillInvestigator skills, Investigator investigator, LlmSettings llm)
    {
        _owned = owned;
        _reads = reads;
        Skills = skills;
        _investigator = investigator;
        _llm = llm;
    }

    /// <summary>The line the model names its root cause on: <c>ROOT CAUSE: code</c>.</summary>
    public const string RootCausePrefix = "ROOT CAUSE:";

    /// <summary>
    /// Asks the model, with the read-only tools, which of the catalogue's finding codes is the root cause of what the
    /// agent sees on <paramref name="cluster"/> (<paramref name="findings"/>: what was raised, one per line). The
    /// exchange is journaled; the code is the one on the answer's <see cref="RootCausePrefix"/> line when it is a
    /// catalogue code, else null.
    /// </summary>
    public async Task<(BrainExchange Exchange, string? Code)> DiagnoseAsync(string cluster, string findings, CancellationToken cancellationToken)
    {
        var codes = Catalog.AgentCatalog.Default.Detectors.Select(d => d.Code).ToList();
        var tools = Tools.AgentToolbox.Build(Catalog.AgentCatalog.Default, new Tools.ToolboxOptions
        {
            Caller = "model:" + _llm.Model,
            Reads = _reads,
            MaxResultChars = _llm.MaxToolResultChars,
        });
        var question = "What is the root cause of what the agent sees? Read what you need with the tools, then end your answer with one line "
            + $"'{RootCausePrefix} <code>' naming exactly one of these finding codes: {string.Join(", ", codes)}.";
        var exchange = await _investigator.AskAsync(cluster, question, "Findings raised so far:\n" + findings, tools, cancellationToken).ConfigureAwait(false);
        var line = exchange.Answer.Split('\n').Select(l => l.Trim().Trim('*', '`', ' ')).LastOrDefault(l => l.StartsWith(RootCausePrefix, StringComparison.OrdinalIgnoreCase));
        var code = line?[RootCausePrefix.Length..].Trim().Trim('`', '*', '.', ' ').ToLowerInvariant();
        return (exchange, code is not null && codes.Contains(code, StringComparer.Ordinal) ? code : null);
    }

    public SkillInvestigator Skills { get; }

    /// <param name="client">A chat client to use (tests); null: the one the settings' <c>llm:</c> section describes.</param>
    public static async Task<AgentBrain> CreateAsync(Workspace workspace, IChatClient? client, ActingServices acting, string? skillsDirectory,
        TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        ArgumentNullException.ThrowIfNull(acting);
        var orders = await StandingOrders.ReadAsync(skillsDirectory, Directory.GetCurrentDirectory(), cancellationToken).ConfigureAwait(false);
        var owned = client is null ? ChatClients.Create(workspace.Settings.Llm, workspace.Secrets) : null;
        var chat = client ?? owned!;
        // The model's name is journaled with every exchange: the settings' own, else what the client says it is.
        var llm = workspace.Settings.Llm with { Model = workspace.Settings.Llm.Model ?? chat.GetService<ChatClientMetadata>()?.DefaultModelId ?? "unnamed" };
        var reads = workspace.ReadContext(time);
        var investigator = new SkillInvestigator(chat, llm, workspace.Secrets, acting.Journal, time, reads, acting, orders);
        return new AgentBrain(owned, reads, investigator, new Investigator(chat, llm, workspace.Secrets, acting.Journal, time, orders), llm);
    }

    public async ValueTask DisposeAsync()
    {
        await _reads.DisposeAsync().ConfigureAwait(false);
        _owned?.Dispose();
    }
}
