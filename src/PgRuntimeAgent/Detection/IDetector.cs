using PgRuntimeAgent.Catalog;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// A coded check: a pure function of the current snapshot, the bounded history, the settings and the context. A
/// detector describes itself (<see cref="Descriptor"/>): code, severity, persistence defaults, root-cause rank and
/// explanation, thresholds. Every class of this assembly that implements it and has a parameterless constructor is
/// found by <see cref="Detectors"/>, so a new detector is one file and nothing else.
/// </summary>
public interface IDetector
{
    /// <summary>The stable finding code (<see cref="FindingCodes"/>) this detector raises.</summary>
    string Code { get; }

    /// <summary>What the detector raises and how it is judged.</summary>
    internal DetectorDescriptor Descriptor { get; }

    IEnumerable<Finding> Detect(DetectionInput input);
}

/// <summary>Every detector (discovered), their descriptors, and one pass of all of them over an input.</summary>
public static class Detectors
{
    private static readonly Lazy<IReadOnlyList<IDetector>> Discovered = new(Discover);

    private static readonly Lazy<IReadOnlyList<string>> CodeList = new(() => [.. All.Select(d => d.Code)]);

    private static readonly Lazy<IReadOnlyList<DetectorDescriptor>> DescriptorList = new(() => [.. All.Select(d => d.Descriptor)]);

    private static readonly Lazy<IReadOnlyDictionary<string, IDetector>> ByCode = new(() => All.ToDictionary(d => d.Code, StringComparer.Ordinal));

    /// <summary>Every detector of this assembly, in descriptor order (<see cref="DetectorDescriptor.Order"/>, then code).</summary>
    public static IReadOnlyList<IDetector> All => Discovered.Value;

    /// <summary>Every detector's code, in detector order.</summary>
    public static IReadOnlyList<string> Codes => CodeList.Value;

    /// <summary>Every detector's descriptor, in detector order.</summary>
    internal static IReadOnlyList<DetectorDescriptor> Descriptors => DescriptorList.Value;

    /// <summary>The detector raising <paramref name="code"/>, or null.</summary>
    public static IDetector? Find(string code) => ByCode.Value.GetValueOrDefault(code);

    /// <summary>The descriptor of the detector raising <paramref name="code"/>, or null.</summary>
    internal static DetectorDescriptor? Describe(string code) => Find(code)?.Descriptor;

    /// <summary>
    /// Null when <paramref name="code"/> may be a key of <c>detection.persistence</c>; otherwise what is wrong and a
    /// hint (the known codes whose persistence is settable).
    /// </summary>
    internal static (string Message, string Hint)? CheckPersistenceCode(string code)
    {
        var settable = All.Where(d => d.Descriptor.PersistenceSettable).Select(d => d.Code).ToList();
        var known = "codes whose persistence can be set: " + string.Join(", ", settable);
        return Find(code) switch
        {
            null => ($"unknown finding code '{code}' in detection.persistence", known),
            { Descriptor.PersistenceSettable: false } => ($"'{code}' fires on one snapshot by design: its persistence cannot be set", known),
            _ => null,
        };
    }

    /// <summary>Runs every detector (minus silenced codes) and returns the findings in detector order. Pure.</summary>
    public static IReadOnlyList<Finding> Run(DetectionInput input, IReadOnlyList<IDetector>? detectors = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        var silenced = input.Settings.Silenced;
        var findings = new List<Finding>();
        foreach (var detector in detectors ?? All)
        {
            if (silenced.Contains(detector.Code, StringComparer.Ordinal))
            {
                continue;
            }

            findings.AddRange(detector.Detect(input));
        }

        return findings;
    }

    private static IReadOnlyList<IDetector> Discover()
    {
        var detectors = typeof(IDetector).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IDetector).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => (IDetector)Activator.CreateInstance(t)!)
            .OrderBy(d => d.Descriptor.Order)
            .ThenBy(d => d.Code, StringComparer.Ordinal)
            .ToList();
        var twice = detectors.GroupBy(d => d.Code, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null)
        {
            throw new InvalidOperationException($"finding code '{twice.Key}' is raised by more than one detector: {string.Join(", ", twice.Select(d => d.GetType().Name))}");
        }

        foreach (var d in detectors.Where(d => !string.Equals(d.Code, d.Descriptor.Code, StringComparison.Ordinal)))
        {
            throw new InvalidOperationException($"{d.GetType().Name} raises '{d.Code}' but its descriptor says '{d.Descriptor.Code}'");
        }

        return detectors;
    }
}
