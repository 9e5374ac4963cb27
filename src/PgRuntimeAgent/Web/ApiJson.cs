using System.Text.Json;
using System.Text.Json.Serialization;

namespace PgRuntimeAgent.Web;

/// <summary>One JSON style for every <c>pgra ... --json</c> and the read API: the API's bodies are what the CLI prints.</summary>
internal static class ApiJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };
}
