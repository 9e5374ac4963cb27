using System.Runtime.CompilerServices;

namespace PgRuntimeAgent.LabTests;

/// <summary>
/// Locates the repository (skills/, inventory/, artifacts/) from a lab test: above the test binary (the usual layout),
/// else above the working directory, else above this source file (builds with an artifacts path). A deterministic
/// CI build maps source paths to <c>/_/</c>, so the source file alone is not enough.
/// </summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Skills => Path.Combine(Root, "skills");

    private static string FindRoot() =>
        FindAbove(AppContext.BaseDirectory)
        ?? FindAbove(Directory.GetCurrentDirectory())
        ?? FindAbove(Path.GetDirectoryName(SourceFile()) ?? "")
        ?? throw new InvalidOperationException(
            $"PgRuntimeAgent.sln not found above {AppContext.BaseDirectory}, {Directory.GetCurrentDirectory()} or {SourceFile()}");

    private static string? FindAbove(string start)
    {
        for (var dir = string.IsNullOrEmpty(start) ? null : new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PgRuntimeAgent.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }

    private static string SourceFile([CallerFilePath] string path = "") => path;
}
