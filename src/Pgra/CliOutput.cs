using System.Text.Json;
using System.Text.Json.Serialization;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Cli;

/// <summary>Shared output helpers: one JSON style for every <c>--json</c>, one way to report input errors.</summary>
internal static class CliOutput
{
    /// <summary>The same options as the web host's API (<see cref="Web.ApiJson"/>): one shape for a CLI's JSON and the API's.</summary>
    public static JsonSerializerOptions Json => Web.ApiJson.Options;

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
