using PgRuntimeAgent.Bench;

// Benchmarks print figures; they do not pass or fail. Usage: dotnet run -c Release --project tests/bench/PgRuntimeAgent.Bench [-- NAME...]
var all = typeof(IBenchmark).Assembly.GetTypes()
    .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IBenchmark).IsAssignableFrom(t))
    .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
    .OrderBy(b => b.Name, StringComparer.Ordinal)
    .ToList();
var selected = args.Length == 0 ? all : all.Where(b => args.Contains(b.Name, StringComparer.OrdinalIgnoreCase)).ToList();
if (selected.Count == 0)
{
    Console.Error.WriteLine($"No benchmark named {string.Join(", ", args)}. Known: {string.Join(", ", all.Select(b => b.Name))}");
    return 2;
}

foreach (var bench in selected)
{
    Console.WriteLine($"== {bench.Name}: {bench.Description}");
    await bench.RunAsync(Console.Out, CancellationToken.None).ConfigureAwait(false);
}

return 0;
