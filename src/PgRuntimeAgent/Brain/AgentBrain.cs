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

    private AgentBrain(IChatClient? owned, ReadContext reads, SkillInvestigator skills)
    {
        _owned = owned;
        _reads = reads;
        Skills = skills;
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
        return new AgentBrain(owned, reads, investigator);
    }

    public async ValueTask DisposeAsync()
    {
        await _reads.DisposeAsync().ConfigureAwait(false);
        _owned?.Dispose();
    }
}
