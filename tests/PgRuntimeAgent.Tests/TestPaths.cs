using System.Runtime.CompilerServices;

namespace PgRuntimeAgent.Tests;

/// <summary>Locates the repository and its test fixtures (tests/fixtures, copied from the shared fixture set).</summary>
internal static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Fixtures => Path.Combine(RepoRoot, "tests", "fixtures");

    public static string Fixture(params string[] parts) => Path.Combine([Fixtures, .. parts]);

    /// <summary>Above the test binary (the usual layout), else above the working directory, else above this source file (builds with an artifacts path).</summary>
    private static string FindRepoRoot() =>
        FindAbove(AppContext.BaseDirectory)
        ?? FindAbove(Directory.GetCurrentDirectory())
        ?? FindAbove(Path.GetDirectoryName(SourceFile()) ?? "")
        ?? throw new InvalidOperationException("PgRuntimeAgent.sln not found above " + AppContext.BaseDirectory + " or " + SourceFile());

    private static string? FindAbove(string start)
    {
        var dir = string.IsNullOrEmpty(start) ? null : new DirectoryInfo(start);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PgRuntimeAgent.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName;
    }

    private static string SourceFile([CallerFilePath] string path = "") => path;
}
