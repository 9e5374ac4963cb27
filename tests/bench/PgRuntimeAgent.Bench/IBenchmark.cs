namespace PgRuntimeAgent.Bench;

/// <summary>A benchmark prints figures (times, counts, memory); discovered by reflection in Program.cs.</summary>
internal interface IBenchmark
{
    string Name { get; }

    string Description { get; }

    Task RunAsync(TextWriter output, CancellationToken cancellationToken);
}
