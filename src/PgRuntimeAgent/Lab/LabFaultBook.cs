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

    /// <summary>Forgets active faults whose processes are gone (lab down).</summary>
    public static void ClearActive(LabManifest manifest, string reason, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(time);
        foreach (var fault in Active(manifest))
        {
            RemoveActive(manifest, fault, time.GetUtcNow(), $"cleared by {reason}", []);
        }
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
