using System.Globalization;
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

    /// <summary>
    /// Null when <paramref name="code"/> may be a key of <c>detection.thresholds</c> (its detector declares thresholds);
    /// otherwise what is wrong and a hint (the codes that have thresholds).
    /// </summary>
    internal static (string Message, string Hint)? CheckThresholdCode(string code)
    {
        var known = "codes with thresholds: " + string.Join(", ", All.Where(d => d.Descriptor.Thresholds.Count > 0).Select(d => d.Code));
        return Find(code) switch
        {
            null => ($"unknown finding code '{code}' in detection.thresholds", known),
            { Descriptor.Thresholds.Count: 0 } => ($"'{code}' declares no thresholds", known),
            _ => null,
        };
    }

    /// <summary>
    /// Null when <paramref name="name"/> is a threshold <paramref name="code"/>'s detector declares and
    /// <paramref name="value"/> (when given, as text) suits its type and bounds; otherwise what is wrong and a hint.
    /// </summary>
    internal static (string Message, string Hint)? CheckThreshold(string code, string name, string? value)
    {
        if (Describe(code) is not { } descriptor)
        {
            return CheckThresholdCode(code);
        }

        if (descriptor.FindThreshold(name) is not { } threshold)
        {
            return ($"unknown threshold '{name}' of {code} in detection.thresholds",
                $"thresholds of {code}: {string.Join(", ", descriptor.Thresholds.Select(t => t.Name))}");
        }

        return value is not null && threshold.Check(value) is { } wrong ? (wrong, DescribeThreshold(threshold)) : null;
    }

    /// <summary>A threshold in words: type, unit, bounds, default and what it is.</summary>
    internal static string DescribeThreshold(ParameterSpec threshold)
    {
        ArgumentNullException.ThrowIfNull(threshold);
        var parts = new List<string> { threshold.Type == ParameterType.Integer ? "a whole number" : "a number" };
        if (threshold.Unit is { } unit)
        {
            parts.Add("in " + unit);
        }

        if (threshold.Minimum is { } min)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"at least {min}"));
        }

        if (threshold.Maximum is { } max)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"at most {max}"));
        }

        parts.Add(threshold.Default is { } d ? $"default {d}" : "no default");
        return $"{threshold.Name}: {string.Join(", ", parts)} ({threshold.Description})";
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

        foreach (var d in detectors)
        {
            CheckDeclarations(d);
        }

        return detectors;
    }

    private static bool IsSnakeCase(string name) => name.Length > 0 && char.IsAsciiLetterLower(name[0]) && !name.EndsWith('_')
        && !name.Contains("__", StringComparison.Ordinal) && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_');

    /// <summary>A detector's thresholds are numbers with distinct snake_case names, a unit, a description and a default of their type (or none).</summary>
    private static void CheckDeclarations(IDetector detector)
    {
        var thresholds = detector.Descriptor.Thresholds;
        foreach (var t in thresholds)
        {
            var wrong = t.Type is not (ParameterType.Integer or ParameterType.Number) ? "is neither an integer nor a number"
                : !IsSnakeCase(t.Name) ? "is not named in snake_case"
                : string.IsNullOrWhiteSpace(t.Unit) || string.IsNullOrWhiteSpace(t.Description) ? "has no unit or no description"
                : t.Default is { } d && t.Check(d) is { } bad ? "has a default that is wrong: " + bad
                : thresholds.Count(o => string.Equals(o.Name, t.Name, StringComparison.Ordinal)) > 1 ? "is declared twice"
                : null;
            if (wrong is not null)
            {
                throw new InvalidOperationException($"{detector.GetType().Name}: threshold '{t.Name}' {wrong}");
            }
        }
    }
}
