using System.Globalization;
using PgRuntimeAgent.Hostile;
using SharpFuzz;

namespace PgRuntimeAgent.Fuzz;

/// <summary>
/// <c>PgRuntimeAgent.Fuzz TARGET</c>: one SharpFuzz target per parser, run by afl-fuzz (<c>./build.sh fuzz TARGET</c>).
/// The input is written to a file named as the loader expects and read by <see cref="ParserTargets"/>, which catches the
/// project's own error types; any other exception, a hang past afl-fuzz's -t or a dead process is a crash.
/// <c>PgRuntimeAgent.Fuzz TARGET --repro FILE...</c> runs files outside afl-fuzz and prints what each did (triage).
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0 || !ParserTargets.Names.Contains(args[0], StringComparer.Ordinal))
        {
            Console.Error.WriteLine($"usage: PgRuntimeAgent.Fuzz TARGET [--repro FILE...]; TARGET is one of {string.Join(", ", ParserTargets.Names)}");
            return 2;
        }

        var target = args[0];
        var work = Path.Combine(Path.GetTempPath(), "pgra-fuzz", $"{target}-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");
        Directory.CreateDirectory(work);
        var path = Path.Combine(work, InputName(target));

        if (args.Length > 1 && args[1] == "--repro")
        {
            // The instrumented code writes its trace to SharpFuzz's shared memory, which only Fuzzer.Run sets up
            // outside afl-fuzz (it then runs the action once): called directly, the first instrumented type's static
            // constructor fails with an access violation and the repro reports nothing.
            var failed = 0;
            Fuzzer.Run(_ => failed = Repro(target, path, args.Skip(2)));
            return failed;
        }

        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var input = target == "skill" ? SkillPath(work, buffer.GetBuffer().AsSpan(0, (int)buffer.Length)) : path;
            File.WriteAllBytes(input, buffer.ToArray());
            _ = ParserTargets.Run(target, input);
        });
        return 0;
    }

    private static int Repro(string target, string path, IEnumerable<string> files)
    {
        var failed = 0;
        foreach (var input in files)
        {
            var copy = target == "skill" ? SkillPath(Path.GetDirectoryName(path)!, File.ReadAllBytes(input)) : path;
            File.Copy(input, copy, overwrite: true);
            try
            {
                var outcome = ParserTargets.Run(target, copy);
                var first = outcome.Output.Split('\n')[0];
                Console.WriteLine($"{input}: {(outcome.Accepted ? "read" : "refused")}: {(first.Length > 200 ? first[..200] + "..." : first)}");
            }
#pragma warning disable CA1031 // reporting every exception is the point of --repro
            catch (Exception ex)
#pragma warning restore CA1031
            {
                failed++;
                Console.WriteLine($"{input}: CRASH {ex.GetType().FullName}: {ex.Message.Split('\n')[0]}");
                Console.WriteLine(ex.StackTrace);
            }
        }

        return failed == 0 ? 0 : 1;
    }

    /// <summary>A skill file named after its <c>name:</c> (the parser refuses a name that is not the file's), else a fixed name.</summary>
    private static string SkillPath(string work, ReadOnlySpan<byte> content)
    {
        var text = System.Text.Encoding.UTF8.GetString(content[..Math.Min(content.Length, 4096)]);
        var match = System.Text.RegularExpressions.Regex.Match(text, @"^name:[ ]*([a-z0-9][a-z0-9-]{0,60})[ ]*$", System.Text.RegularExpressions.RegexOptions.Multiline);
        return Path.Combine(work, match.Success ? match.Groups[1].Value + ".md" : "fuzz-skill.md");
    }

    private static string InputName(string target) => target switch
    {
        "inventory" => "fuzz-inventory.yml",
        "settings" => "fuzz-settings.pgra.yml",
        "skill" => "fuzz-skill.md",
        "postgres-log" => "fuzz-postgresql.log",
        "eval-case" => "fuzz-case.yml",
        _ => "fuzz-body.json",
    };
}
