using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace PgRuntimeAgent.Tests.Brain;

/// <summary>A model whose every turn is decided by <c>turn</c> (the turn's number from 1, the messages it was sent).</summary>
internal sealed class ScriptedModel(Func<int, IReadOnlyList<ChatMessage>, ChatResponse?> turn) : IChatClient
{
    public List<IReadOnlyList<ChatMessage>> Seen { get; } = [];

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var sent = messages.ToList();
        Seen.Add(sent);
        var answer = turn(Seen.Count, sent);
        if (answer is null)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        answer!.Usage = new UsageDetails { InputTokenCount = 100, OutputTokenCount = 10 };
        return answer;
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var u in (await GetResponseAsync(messages, options, cancellationToken)).ToChatResponseUpdates())
        {
            yield return u;
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }

    public static ChatResponse Call(string tool, Dictionary<string, object?> args, string id = "call-1") =>
        new(new ChatMessage(ChatRole.Assistant, [new FunctionCallContent(id, tool, args)]));

    public static ChatResponse Say(string text) => new(new ChatMessage(ChatRole.Assistant, text));

    public static string ToolResult(IReadOnlyList<ChatMessage> messages) =>
        messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>().LastOrDefault()?.Result?.ToString() ?? "";
}
