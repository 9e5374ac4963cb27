using System.Diagnostics;
using System.Globalization;
using System.Text;
using PgRuntimeAgent.Hostile;

namespace PgRuntimeAgent.Tests.Hostile;

/// <summary>
/// Inputs that can kill the process that reads them: nesting 100,000 levels deep, cyclic aliases, merge-key and
/// alias "billion laughs". A stack overflow cannot be caught in .NET and would take the test host down with every
/// other test, so these run the real CLI (<c>dotnet pgra.dll inventory check | skills lint</c>) in a child process with
/// a time limit, the way an operator would meet them. The child must exit on its own within the limit with 0 (read),
/// 1 (skills lint: errors listed) or 2 (input error), print no stack trace, and name the file when it refuses it.
/// Files under tests/fixtures/hostile/crashes/ (what <c>./build.sh fuzz</c> found) are replayed the same way: they are
/// regression inputs once the defect they show is fixed.
/// </summary>
public sealed class ChildProcessTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    private const string MinimalInventory = """
        all:
          children:
            pg-test:
              hosts: { 127.0.0.11: { pg_seq: 1, pg_role: primary } }
              vars: { pg_cluster: pg-test }
          vars: { version: v4.5.0, admin_ip: 127.0.0.11 }
        """;

    public static TheoryData<string> Cases() => [.. HostileFiles.Keys.Order(StringComparer.Ordinal)];

    /// <summary>Case name -> (verb: inventory | settings | skill, content).</summary>
    private static readonly Dictionary<string, (string Verb, Func<string> Content)> HostileFiles = new(StringComparer.Ordinal)
    {
        ["inventory-flow-list-depth-100000"] = ("inventory", () => "all:\n  vars:\n    x: " + new string('[', 100_000) + new string(']', 100_000) + "\n"),
        ["inventory-flow-map-depth-50000"] = ("inventory", () => "all: " + string.Concat(Enumerable.Repeat("{a: ", 50_000)) + "x" + new string('}', 50_000) + "\n"),
        ["inventory-block-map-depth-3000"] = ("inventory", () => "all:\n  vars:\n" + Block("   ", 3000)),
        ["inventory-unclosed-flow-depth-100000"] = ("inventory", () => "all:\n  vars:\n    x: " + new string('[', 100_000) + "\n"),
        ["inventory-cyclic-merge"] = ("inventory", () => "all:\n  vars: &v\n    admin_ip: 127.0.0.11\n    <<: *v\n  children:\n    pg-test:\n      hosts: { 127.0.0.11: { pg_seq: 1, pg_role: primary } }\n      vars: { pg_cluster: pg-test, <<: *v }\n"),
        ["inventory-cyclic-children"] = ("inventory", () => "all: &all\n  children:\n    loop: *all\n    pg-test:\n      hosts: { 127.0.0.11: { pg_seq: 1, pg_role: primary } }\n      vars: { pg_cluster: pg-test }\n"),
        ["inventory-merge-bomb-40"] = ("inventory", () => MinimalWithVars(MergeBomb("        ", 40) + "        <<: *l40\n")),
        ["inventory-alias-list-bomb-30"] = ("inventory", () => MinimalWithVars(ListBomb("        ", 30) + "        pg_hba_rules: *l30\n")),
        ["settings-flow-depth-100000"] = ("settings", () => "policy:\n  classes: " + new string('[', 100_000) + new string(']', 100_000) + "\n"),
        ["settings-merge-bomb-40"] = ("settings", () => "policy:\n" + MergeBomb("  ", 40) + "  <<: *l40\n"),
        ["settings-cyclic"] = ("settings", () => "policy: &p\n  clusters:\n    pg-test: *p\n"),
        ["skill-front-matter-depth-100000"] = ("skill", () => "---\nname: deep\ndescription: deep\ntriggers:\n  findings: " + new string('[', 100_000) + new string(']', 100_000) + "\n---\n# Deep\n"),
        ["skill-steps-depth-100000"] = ("skill", () => "---\nname: deep\ndescription: deep\nactions: [patroni.restart]\n---\n# Deep\n\n```yaml steps\n- id: a\n  action: patroni.restart\n  with: " + new string('[', 100_000) + new string(']', 100_000) + "\n```\n"),
        ["skill-steps-merge-bomb-40"] = ("skill", () => "---\nname: bomb\ndescription: bomb\nactions: [patroni.restart]\n---\n# Bomb\n\n```yaml steps\n- id: a\n  action: patroni.restart\n  with:\n" + MergeBomb("    ", 40) + "    <<: *l40\n```\n"),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task ResourceBomb_IsRefusedOrReadWithoutCrashOrHang(string name)
    {
        var (verb, content) = HostileFiles[name];
        var dir = Directory.CreateTempSubdirectory("pgra-hostile-child-");
        try
        {
            var ext = verb == "skill" ? ".md" : ".yml";
            var file = Path.Combine(dir.FullName, name + ext);
            await File.WriteAllTextAsync(file, content(), TestContext.Current.CancellationToken);
            var problem = await RunCliAsync(verb, file, dir.FullName);
            Assert.True(problem is null, $"{name}: {problem}\n(a stack overflow or hang here is the known YAML depth/alias-limit defect until that fix is merged)");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Every input the fuzzer saved under tests/fixtures/hostile/crashes/ is handled now.</summary>
    [Fact]
    public async Task FuzzerCrashes_AreHandled()
    {
        var failures = new List<string>();
        var work = Directory.CreateTempSubdirectory("pgra-hostile-replay-");
        try
        {
            foreach (var target in ParserTargets.Names)
            {
                var dir = HostileKit.CrashDir(target);
                if (!Directory.Exists(dir))
                {
                    continue;
                }

                foreach (var crash in Directory.GetFiles(dir).Where(f => !Path.GetFileName(f).StartsWith('.') && Path.GetFileName(f) != "README.md").Order(StringComparer.Ordinal))
                {
                    var copy = Path.Combine(work.FullName, HostileKit.InputName(target));
                    File.Copy(crash, copy, overwrite: true);
                    string? problem;
                    if (target is "inventory" or "settings" or "skill")
                    {
                        problem = await RunCliAsync(target, copy, work.FullName);
                    }
                    else
                    {
                        var result = Guarded.Once(() => ParserTargets.Run(target, copy), TimeSpan.FromSeconds(10));
                        problem = result.TimedOut ? "hang" : result.Error is { } e ? HostileKit.Brief(e) : null;
                    }

                    if (problem is not null)
                    {
                        failures.Add($"{target}/{Path.GetFileName(crash)}: {problem}");
                    }
                }
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }

        Assert.True(failures.Count == 0, $"{failures.Count} saved fuzzer crash(es) still fail:\n" + string.Join('\n', failures));
    }

    /// <summary>Runs pgra on the file; null when it behaved, else what went wrong.</summary>
    private static async Task<string?> RunCliAsync(string verb, string file, string workDir)
    {
        var empty = Path.Combine(workDir, "empty-settings.yml");
        var inventory = Path.Combine(workDir, "minimal-inventory.yml");
        await File.WriteAllTextAsync(empty, "# no settings\n", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(inventory, MinimalInventory, TestContext.Current.CancellationToken);
        string[] args = verb switch
        {
            "inventory" => ["inventory", "check", "-i", file, "--settings", empty],
            "settings" => ["inventory", "check", "-i", inventory, "--settings", file],
            _ => ["skills", "lint", file],
        };
        var (exit, stdout, stderr, elapsed, timedOut) = await RunPgraAsync(args, workDir);
        var all = stdout + stderr;
        if (timedOut)
        {
            return $"no exit within {Limit.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s (killed): a hang";
        }

        if (all.Contains("Stack overflow", StringComparison.OrdinalIgnoreCase) || all.Contains("Unhandled exception", StringComparison.OrdinalIgnoreCase)
            || all.Contains("   at ", StringComparison.Ordinal))
        {
            return $"crashed (exit {exit.ToString(CultureInfo.InvariantCulture)}): {Head(stderr)}";
        }

        if (exit is not (0 or 1 or 2))
        {
            return $"exit code {exit.ToString(CultureInfo.InvariantCulture)} after {elapsed.TotalSeconds:F1} s: {Head(stderr)}";
        }

        if (exit != 0 && !all.Contains(Path.GetFileName(file), StringComparison.Ordinal))
        {
            return $"refused (exit {exit.ToString(CultureInfo.InvariantCulture)}) without naming {Path.GetFileName(file)}: {Head(all)}";
        }

        return null;
    }

    private static async Task<(int Exit, string Out, string Err, TimeSpan Elapsed, bool TimedOut)> RunPgraAsync(string[] args, string workDir)
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            WorkingDirectory = workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(PgraDll());
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("PGRA_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start " + dotnet);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(Limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            return (-1, await stdout, await stderr, clock.Elapsed, true);
        }

        return (process.ExitCode, await stdout, await stderr, clock.Elapsed, false);
    }

    /// <summary>pgra.dll beside the tests (the project reference copies it with its runtimeconfig), else the CLI's own build output.</summary>
    private static string PgraDll()
    {
        var candidates = new[] { AppContext.BaseDirectory }
            .Concat(new[] { "Release", "Debug" }.Select(c => Path.Combine(TestPaths.RepoRoot, "src", "Pgra", "bin", c, "net10.0")));
        foreach (var dir in candidates)
        {
            if (File.Exists(Path.Combine(dir, "pgra.dll")) && File.Exists(Path.Combine(dir, "pgra.runtimeconfig.json")))
            {
                return Path.Combine(dir, "pgra.dll");
            }
        }

        return Path.Combine(AppContext.BaseDirectory, "pgra.dll");
    }

    private static string Head(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(4);
        var head = string.Join(" | ", lines);
        return head.Length > 400 ? head[..400] + "..." : head;
    }

    private static string Block(string pad, int depth)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < depth; i++)
        {
            sb.Append(pad).Append(' ', i).Append("n:\n");
        }

        sb.Append(pad).Append(' ', depth).Append("x\n");
        return sb.ToString();
    }

    /// <summary>l0 .. lN where each level merges the one below twice: 2^N entries if anything expands it.</summary>
    private static string MergeBomb(string pad, int levels)
    {
        var sb = new StringBuilder();
        sb.Append(pad).Append("l0: &l0 { default_level: 1 }\n");
        for (var i = 1; i <= levels; i++)
        {
            var s = i.ToString(CultureInfo.InvariantCulture);
            var p = (i - 1).ToString(CultureInfo.InvariantCulture);
            sb.Append(pad).Append(CultureInfo.InvariantCulture, $"l{s}: &l{s} {{ <<: [ *l{p}, *l{p} ], k{s}: v }}\n");
        }

        return sb.ToString();
    }

    /// <summary>l0 .. lN where each level is a list of ten aliases of the one below: 10^N leaves if anything expands it.</summary>
    private static string ListBomb(string pad, int levels)
    {
        var sb = new StringBuilder();
        sb.Append(pad).Append("l0: &l0 [ { user: all, db: all, addr: intra, auth: pwd } ]\n");
        for (var i = 1; i <= levels; i++)
        {
            var s = i.ToString(CultureInfo.InvariantCulture);
            var p = (i - 1).ToString(CultureInfo.InvariantCulture);
            sb.Append(pad).Append(CultureInfo.InvariantCulture, $"l{s}: &l{s} [ {string.Join(", ", Enumerable.Repeat("*l" + p, 10))} ]\n");
        }

        return sb.ToString();
    }

    /// <summary>The minimal inventory with extra lines (indented 8) in pg-test's vars.</summary>
    private static string MinimalWithVars(string varsLines) =>
        "all:\n  children:\n    pg-test:\n      hosts: { 127.0.0.11: { pg_seq: 1, pg_role: primary } }\n      vars:\n        pg_cluster: pg-test\n"
        + varsLines
        + "  vars: { version: v4.5.0, admin_ip: 127.0.0.11 }\n";
}
