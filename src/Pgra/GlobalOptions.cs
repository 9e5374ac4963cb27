using System.CommandLine;

namespace PgRuntimeAgent.Cli;

/// <summary>Options every verb accepts, and the writers it prints to (tests pass their own).</summary>
internal sealed class GlobalOptions(TextWriter stdout, TextWriter stderr)
{
    public TextWriter Out { get; } = stdout;

    public TextWriter Error { get; } = stderr;

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public Option<string?> Inventory { get; } = new("--inventory", "-i")
    {
        Description = "Pigsty inventory (pigsty.yml). Default: $PGRA_INVENTORY, ./pigsty.yml, ~/pigsty/pigsty.yml.",
        Recursive = true,
    };

    public Option<string?> Settings { get; } = new("--settings")
    {
        Description = "Agent settings file (YAML). Default: $PGRA_SETTINGS, <inventory stem>.pgra.yml or pgra.yml beside the inventory, else /etc/pgra/pgra.yml.",
        Recursive = true,
    };

    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Print machine-readable JSON instead of tables (schemas in docs/json-output.md and docs/sensing.md).",
        Recursive = true,
    };

    public void AddTo(RootCommand root)
    {
        root.Options.Add(Inventory);
        root.Options.Add(Settings);
        root.Options.Add(Json);
    }
}
