using System.ClientModel;
using Anthropic;
using Microsoft.Extensions.AI;
using OpenAI;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Brain;

/// <summary>The chat client the <c>llm:</c> section names; the API key is revealed here, where the client is made, and nowhere else.</summary>
internal static class ChatClients
{
    public static IChatClient Create(LlmSettings settings, SecretStore secrets)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(secrets);
        if (!settings.Configured)
        {
            throw new InputException("no language model is configured", ["add an llm: section to the settings file (provider, endpoint, model, api_key): docs/brain.md"]);
        }

        if (string.IsNullOrWhiteSpace(settings.Model))
        {
            throw new InputException("llm.model is not set", ["name the model as the endpoint knows it, for example llm.model: gpt-4o-mini"]);
        }

        switch (settings.Provider)
        {
            case "openai":
                // Local endpoints (Ollama, vLLM) take any key; OpenAI's own refuses none at its first request, with its message.
                var key = secrets.TryReveal(settings.ApiKey, out var revealed) ? revealed : "none";
                var options = new OpenAIClientOptions();
                if (settings.Endpoint is { } endpoint)
                {
                    options.Endpoint = endpoint;
                }

                return new OpenAIClient(new ApiKeyCredential(key), options).GetChatClient(settings.Model).AsIChatClient();
            case "anthropic":
                // An explicit key and base URL: the SDK would otherwise look for credentials in the environment and profiles.
                if (!secrets.TryReveal(settings.ApiKey, out var anthropicKey))
                {
                    throw new InputException("llm.api_key is not set", ["the anthropic provider needs an API key: llm.api_key (a secret, e.g. ${ANTHROPIC_API_KEY})"]);
                }

                return new AnthropicClient
                {
                    ApiKey = anthropicKey,
                    BaseUrl = (settings.Endpoint ?? new Uri("https://api.anthropic.com")).ToString().TrimEnd('/'),
                    MaxRetries = 1,
                }.AsIChatClient(settings.Model, defaultMaxOutputTokens: Math.Max(1, settings.MaxOutputTokens));
            default:
                throw new InputException($"llm.provider '{settings.Provider}' is not supported",
                    ["llm.provider: openai (any OpenAI-compatible endpoint: OpenAI, vLLM, LiteLLM, DeepSeek, Ollama's /v1) or anthropic (Anthropic's Messages API)"]);
        }
    }
}
