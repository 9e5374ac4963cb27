using System.Text.Json;
using System.Text.Json.Serialization;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Cli;

/// <summary>Shared output helpers: one JSON style for every <c>--json</c>, one way to report input errors.</summary>
internal static class CliOutput
{
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public static async Task WriteJsonAsync<T>(TextWriter writer, T value)
    {
        await writer.WriteLineAsync(JsonSerializer.Serialize(value, Json)).ConfigureAwait(false);
    }

    public static async Task WriteInputErrorAsync(TextWriter stderr, InputException ex)
    {
        // Errors echo what the operator gave (settings values, inventory values, URLs): a URL's user info never shows.
        await stderr.WriteLineAsync($"error: {SecretText.MaskUrlUserInfo(ex.Message)}").ConfigureAwait(false);
        foreach (var problem in ex.Problems)
        {
            await stderr.WriteLineAsync($"  {SecretText.MaskUrlUserInfo(problem)}").ConfigureAwait(false);
        }
    }
}
