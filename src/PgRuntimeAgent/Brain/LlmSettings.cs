using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Brain;

/// <summary>
/// The <c>llm:</c> section: the language model the agent may ask (docs/brain.md). None by default: without a provider
/// nothing is sent anywhere and every deterministic path is unchanged.
/// </summary>
public sealed record LlmSettings
{
    /// <summary><c>openai</c>: any OpenAI-compatible endpoint (OpenAI, vLLM, LiteLLM, DeepSeek, Ollama's /v1); <c>anthropic</c>: Anthropic's Messages API; null: no model.</summary>
    public string? Provider { get; init; }

    /// <summary>The endpoint's base URL: with <c>/v1</c> for openai, without it for anthropic (null: the provider's own).</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>The model's name as the endpoint knows it.</summary>
    public string? Model { get; init; }

    /// <summary>The API key (a secret: moved into the secret store on load, never logged, journaled or sent to the model).</summary>
    public SecretRef? ApiKey { get; init; }

    /// <summary>The longest answer per round trip, in tokens (Anthropic requires a bound; OpenAI-compatible endpoints get it too).</summary>
    public int MaxOutputTokens { get; init; } = 4096;

    /// <summary>Model round trips per question (each may call tools); the last one gets no tools.</summary>
    public int MaxSteps { get; init; } = 12;

    /// <summary>Wall time per question; past it the question ends as timed out and the journal says so.</summary>
    public double TimeoutSeconds { get; init; } = 120;

    /// <summary>The longest tool result the model is given, in characters.</summary>
    public int MaxToolResultChars { get; init; } = 48_000;

    /// <summary>Estimated cost in the journal: price per million input tokens (0: not estimated).</summary>
    public double InputPricePerMillion { get; init; }

    /// <summary>Estimated cost in the journal: price per million output tokens.</summary>
    public double OutputPricePerMillion { get; init; }

    /// <summary>
    /// Names (tables, columns, schemas, applications) that never reach the model: each becomes a stable pseudonym in
    /// everything sent, and the model's pseudonyms are turned back before a tool runs (docs/brain.md).
    /// </summary>
    public IReadOnlyList<string> RedactNames { get; init; } = [];

    /// <summary>Mask every single-quoted SQL literal in what is sent (log lines, query texts) as <c>'?'</c>.</summary>
    public bool RedactQueryLiterals { get; init; }

    public bool Configured => !string.IsNullOrWhiteSpace(Provider);
}
