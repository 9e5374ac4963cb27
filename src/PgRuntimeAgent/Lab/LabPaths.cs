using System.Reflection;

namespace PgRuntimeAgent.Lab;

/// <summary>Where the lab lives (its directory) and where its playbook is (the repository's ansible/).</summary>
internal static class LabPaths
{
    public const string DefaultDir = "/var/lib/pgra-lab";

    public const string DirEnvironmentVariable = "PGRA_LAB_DIR";

    /// <summary>--dir, else $PGRA_LAB_DIR, else /var/lib/pgra-lab.</summary>
    public static string ResolveDir(string? explicitDir, IReadOnlyDictionary<string, string?>? environment = null)
    {
        if (!string.IsNullOrWhiteSpace(explicitDir))
        {
            return Path.GetFullPath(explicitDir);
        }

        var fromEnv = environment is null
            ? Environment.GetEnvironmentVariable(DirEnvironmentVariable)
            : environment.GetValueOrDefault(DirEnvironmentVariable);
        return string.IsNullOrWhiteSpace(fromEnv) ? DefaultDir : Path.GetFullPath(fromEnv);
    }

    /// <summary>
    /// The repository's ansible/ directory (holding lab.yml): $PGRA_ANSIBLE_DIR, else upwards from the current
    /// directory, else from the source root recorded at build time, else upwards from the program's directory.
    /// </summary>
    public static string? FindAnsibleDir()
    {
        var env = Environment.GetEnvironmentVariable("PGRA_ANSIBLE_DIR");
        if (!string.IsNullOrWhiteSpace(env) && File.Exists(Path.Combine(env, "lab.yml")))
        {
            return Path.GetFullPath(env);
        }

        var starts = new List<string?> { Environment.CurrentDirectory, SourceRoot(), AppContext.BaseDirectory };
        foreach (var start in starts.Where(s => !string.IsNullOrEmpty(s)))
        {
            for (var dir = new DirectoryInfo(start!); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "ansible");
                if (File.Exists(Path.Combine(candidate, "lab.yml")) && File.Exists(Path.Combine(candidate, "ansible.cfg")))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    private static string? SourceRoot() =>
        typeof(LabPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "PgraSourceRoot")?.Value;
}
