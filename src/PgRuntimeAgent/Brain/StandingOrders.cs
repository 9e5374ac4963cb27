namespace PgRuntimeAgent.Brain;

/// <summary>AGENT.md, the deployment's standing orders for the agent and anyone driving it: beside the skills directory, else in the current directory.</summary>
internal static class StandingOrders
{
    public const string FileName = "AGENT.md";

    public static string? Find(string? skillsDirectory, string currentDirectory) =>
        new[] { skillsDirectory is null ? null : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(skillsDirectory)) ?? currentDirectory, FileName), Path.Combine(currentDirectory, FileName) }
            .FirstOrDefault(File.Exists);

    public static async Task<string?> ReadAsync(string? skillsDirectory, string currentDirectory, CancellationToken cancellationToken) =>
        Find(skillsDirectory, currentDirectory) is { } path ? await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false) : null;
}
