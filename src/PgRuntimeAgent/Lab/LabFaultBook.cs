using System.Globalization;
using System.Text.Json;

namespace PgRuntimeAgent.Lab;

/// <summary>A command a scenario ran (or a signal it sent), as recorded.</summary>
internal sealed record LabFaultStep(DateTimeOffset At, string Command, string Outcome);

/// <summary>
/// An injected fault that is still in place: what was done (time, target, commands) and what heal needs
/// (pids, paths, original values). Stored as faults/active/&lt;scenario&gt;.json in the lab directory.
/// </summary>
internal sealed record LabActiveFault
{
    public required string Scenario { get; init; }
    public required string Target { get; init; }
    public required DateTimeOffset InjectedAt { get; init; }
    public string Summary { get; init; } = "";
    public IReadOnlyList<LabFaultStep> Steps { get; init; } = [];

    /// <summary>Scenario-specific values heal needs (pids, file paths, original settings).</summary>
    public IReadOnlyDictionary<string, string> State { get; init; } = new Dictionary<string, string>();
}

/// <summary>One line of faults/journal.jsonl: every inject and heal, in order.</summary>
internal sealed record LabFaultEvent(DateTimeOffset At, string Action, string Scenario, string Target, string Summary, IReadOnlyList<LabFaultStep> Steps);

/// <summary>The lab's record of faults: faults/journal.jsonl (append-only) and faults/active/*.json.</summary>
internal static class LabFaultBook
{
    public static string JournalPath(LabManifest manifest) => Path.Combine(manifest.FaultsDir, "journal.jsonl");

    private static string ActiveDir(LabManifest manifest) => Path.Combine(manifest.FaultsDir, "active");

    public static IReadOnlyList<LabActiveFault> Active(LabManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var dir = ActiveDir(manifest);
        if (!Directory.Exists(dir))
        {
            return [];
        }

        return Directory.EnumerateFiles(dir, "*.json")
            .Select(f => JsonSerializer.Deserialize<LabActiveFault>(File.ReadAllText(f), LabManifest.Json))
            .OfType<LabActiveFault>()
            .OrderBy(f => f.InjectedAt)
            .ToList();
    }

    public static void SaveActive(LabManifest manifest, LabActiveFault fault)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(fault);
        Directory.CreateDirectory(ActiveDir(manifest));
        File.WriteAllText(Path.Combine(ActiveDir(manifest), fault.Scenario + ".json"), JsonSerializer.Serialize(fault, LabManifest.Json));
        Append(manifest, new LabFaultEvent(fault.InjectedAt, "inject", fault.Scenario, fault.Target, fault.Summary, fault.Steps));
    }

    public static void RemoveActive(LabManifest manifest, LabActiveFault fault, DateTimeOffset at, string summary, IReadOnlyList<LabFaultStep> steps)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(fault);
        File.Delete(Path.Combine(ActiveDir(manifest), fault.Scenario + ".json"));
        Append(manifest, new LabFaultEvent(at, "heal", fault.Scenario, fault.Target, summary, steps));
    }

    /// <summary>
    /// Forgets active faults whose processes are gone (lab down), after undoing what they left on disk, which outlives
    /// every process: the archive directory's mode (archive-broken) and the fill files on a WAL filesystem
    /// (disk-full; call this before it is unmounted). Without that, the next <c>lab up</c> starts a cluster whose
    /// archiving fails on every leader. Returns what was undone, each as "command: outcome".
    /// </summary>
    public static IReadOnlyList<string> ClearActive(LabManifest manifest, string reason, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(time);
        var undone = new List<string>();
        foreach (var fault in Active(manifest))
        {
            var steps = UndoOnDisk(fault, time);
            undone.AddRange(steps.Select(s => $"{fault.Scenario}: {s.Command}: {s.Outcome}"));
            RemoveActive(manifest, fault, time.GetUtcNow(), $"cleared by {reason}", steps);
        }

        return undone;
    }

    private static List<LabFaultStep> UndoOnDisk(LabActiveFault fault, TimeProvider time)
    {
        var steps = new List<LabFaultStep>();
        void Step(string command, string outcome) => steps.Add(new LabFaultStep(time.GetUtcNow(), command, outcome));
        if (fault.Scenario == LabScenarios.Info(LabScenario.ArchiveBroken).Name
            && fault.State.TryGetValue("dir", out var dir) && fault.State.TryGetValue("mode", out var text)
            && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var mode) && Directory.Exists(dir) && !OperatingSystem.IsWindows())
        {
            try
            {
                File.SetUnixFileMode(dir, (UnixFileMode)mode);
                Step($"chmod {Convert.ToString(mode, 8)} {dir}", "ok");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Step($"chmod {Convert.ToString(mode, 8)} {dir}", "failed: " + ex.Message);
            }
        }

        foreach (var file in fault.State.GetValueOrDefault("files", "").Split(',', StringSplitOptions.RemoveEmptyEntries).Where(File.Exists))
        {
            try
            {
                File.Delete(file);
                Step($"rm {file}", "ok");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Step($"rm {file}", "failed: " + ex.Message);
            }
        }

        return steps;
    }

    public static IReadOnlyList<LabFaultEvent> Journal(LabManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var path = JournalPath(manifest);
        return File.Exists(path)
            ? File.ReadLines(path).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<LabFaultEvent>(l, LabManifest.Json)!).ToList()
            : [];
    }

    private static void Append(LabManifest manifest, LabFaultEvent e)
    {
        Directory.CreateDirectory(manifest.FaultsDir);
        var options = new JsonSerializerOptions(LabManifest.Json) { WriteIndented = false };
        File.AppendAllText(JournalPath(manifest), JsonSerializer.Serialize(e, options) + "\n");
    }
}
