namespace PgRuntimeAgent.Inventory;

/// <summary>
/// Finds the inventory file: <c>-i/--inventory FILE</c>, else <c>$PGRA_INVENTORY</c>, else <c>./pigsty.yml</c>, else
/// <c>~/pigsty/pigsty.yml</c> (where Pigsty's installer puts it).
/// </summary>
internal static class InventoryLocator
{
    public const string EnvironmentVariable = "PGRA_INVENTORY";

    /// <summary>The full path of the inventory to read; <see cref="InputException"/> naming every place looked at when none exists.</summary>
    public static string Locate(string? explicitPath, IReadOnlyDictionary<string, string?> environment, string currentDirectory, string? homeDirectory)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (!string.IsNullOrWhiteSpace(explicitPath))
        {
            var full = Path.GetFullPath(explicitPath, currentDirectory);
            return File.Exists(full)
                ? full
                : throw new InputException($"inventory file {full} (from --inventory) does not exist; check the path or omit -i to use the default lookup.");
        }

        if (environment.TryGetValue(EnvironmentVariable, out var fromEnv) && !string.IsNullOrWhiteSpace(fromEnv))
        {
            var full = Path.GetFullPath(fromEnv, currentDirectory);
            return File.Exists(full)
                ? full
                : throw new InputException($"inventory file {full} (from ${EnvironmentVariable}) does not exist; fix ${EnvironmentVariable} or pass -i FILE.");
        }

        var candidates = Candidates(currentDirectory, homeDirectory);
        foreach (var candidate in candidates)
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InputException(
            "no inventory found; pass -i FILE or set $PGRA_INVENTORY. Looked in:",
            ["--inventory (not given)", $"${EnvironmentVariable} (not set)", .. candidates.Select(c => $"{c} (not found)")]);
    }

    private static List<string> Candidates(string currentDirectory, string? homeDirectory)
    {
        var list = new List<string> { Path.Combine(currentDirectory, "pigsty.yml") };
        if (!string.IsNullOrEmpty(homeDirectory))
        {
            list.Add(Path.Combine(homeDirectory, "pigsty", "pigsty.yml"));
        }

        return list;
    }
}
