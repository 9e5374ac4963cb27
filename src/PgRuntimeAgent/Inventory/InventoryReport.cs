using PgRuntimeAgent.Yaml;

namespace PgRuntimeAgent.Inventory;

/// <summary>What reading an inventory found: the topology (when it is valid), every problem and every warning.</summary>
internal sealed record InventoryReport
{
    /// <summary>Full path of the inventory file.</summary>
    public required string SourcePath { get; init; }

    /// <summary>The path as messages show it.</summary>
    public required string DisplayPath { get; init; }

    /// <summary>The topology; null when the file could not be read at all. Present but not to be trusted when <see cref="IsValid"/> is false.</summary>
    public Topology? Topology { get; init; }

    /// <summary>Errors: the inventory must be fixed before the agent uses it.</summary>
    public IReadOnlyList<YamlProblem> Problems { get; init; } = [];

    /// <summary>Things worth telling the operator that do not stop the agent.</summary>
    public IReadOnlyList<YamlProblem> Warnings { get; init; } = [];

    public bool IsValid => Problems.Count == 0;
}
