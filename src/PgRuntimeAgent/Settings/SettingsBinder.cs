using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Yaml;
using YamlDotNet.RepresentationModel;
using YamlDotNet.Serialization;

namespace PgRuntimeAgent.Settings;

/// <summary>
/// Binds a YAML tree onto settings records by reflection, so a section gains keys by gaining init properties:
/// nested records, <see cref="IReadOnlyList{T}"/> (and the other list shapes), <see cref="IReadOnlyDictionary{TKey,TValue}"/>
/// with string keys, enums (any case, with or without '-'/'_'), <see cref="Uri"/>, <see cref="TimeSpan"/>, numbers,
/// booleans, strings and <see cref="SecretRef"/> (the value goes to the <see cref="SecretStore"/>). Keys are the
/// snake_case of the property name (or a YamlDotNet <see cref="YamlMemberAttribute"/> alias); <see cref="YamlIgnoreAttribute"/>
/// properties are not bound. Unknown keys, wrong types and missing values are collected as problems with their location.
/// </summary>
internal sealed class SettingsBinder
{
    private readonly string _displayPath;
    private readonly SecretStore _secrets;
    private readonly List<YamlProblem> _problems;
    private readonly Dictionary<string, SettingOrigin> _origins = new(StringComparer.Ordinal);
    private readonly Dictionary<YamlNode, string> _environmentNodes = new(ReferenceEqualityComparer.Instance);
    private readonly NullabilityInfoContext _nullability = new();

    public SettingsBinder(string displayPath, SecretStore secrets, List<YamlProblem> problems)
    {
        _displayPath = displayPath;
        _secrets = secrets;
        _problems = problems;
    }

    public IReadOnlyDictionary<string, SettingOrigin> Origins => _origins;

    /// <summary>Marks a node as coming from an environment variable (origins and messages name the variable).</summary>
    public void MarkEnvironment(YamlNode node, string variable) => _environmentNodes[node] = variable;

    /// <summary>The YAML key a property binds to.</summary>
    public static string KeyOf(PropertyInfo property)
    {
        ArgumentNullException.ThrowIfNull(property);
        var alias = property.GetCustomAttribute<YamlMemberAttribute>()?.Alias;
        return string.IsNullOrEmpty(alias) ? JsonNamingPolicy.SnakeCaseLower.ConvertName(property.Name) : alias;
    }

    /// <summary>Bindable properties of a settings type: public instance, settable, not ignored.</summary>
    public static IEnumerable<PropertyInfo> BindableProperties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.SetMethod is { IsPublic: true } && p.GetIndexParameters().Length == 0 && p.GetCustomAttribute<YamlIgnoreAttribute>() is null);

    /// <summary>Binds <paramref name="node"/> onto a copy of <paramref name="current"/> (or a new instance).</summary>
    public object? Bind(Type type, YamlNode node, string path, object? current) => Bind(type, node, path, current, null);

    /// <summary>Binds <paramref name="node"/>; a map's keys are checked by <paramref name="keys"/> when given.</summary>
    private object? Bind(Type type, YamlNode node, string path, object? current, SettingsKeysAttribute? keys)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(node);
        var underlying = Nullable.GetUnderlyingType(type);
        if (YamlNodes.IsNull(node) || IsEmptyEnvironment(node))
        {
            Record(path, node);
            return null;
        }

        var target = underlying ?? type;
        if (IsScalarType(target))
        {
            if (node is not YamlScalarNode scalar)
            {
                Problem(node, path, $"expected {Describe(target)}, found {YamlNodes.Describe(node)}", Example(target));
                return Keep(current);
            }

            Record(path, node);
            return ConvertScalar(target, scalar, path, current);
        }

        if (node is YamlScalarNode envScalar && _environmentNodes.TryGetValue(node, out var variable))
        {
            // An environment value for a list, map or section: read it as YAML flow ("[a, b]", "{ k: v }").
            var parsed = ParseEnvironmentYaml(envScalar.Value ?? "", variable, path);
            if (parsed is null)
            {
                return Keep(current);
            }

            node = parsed;
        }

        if (DictionaryValueType(target) is { } valueType)
        {
            return BindDictionary(target, valueType, node, path, current, keys);
        }

        if (ListElementType(target) is { } elementType)
        {
            return BindList(target, elementType, node, path, current);
        }

        return BindObject(target, node, path, current);
    }

    private object? BindObject(Type type, YamlNode node, string path, object? current)
    {
        if (node is not YamlMappingNode mapping)
        {
            Problem(node, path, $"'{Leaf(path)}' must be a mapping of keys, found {YamlNodes.Describe(node)}", $"write it as '{Leaf(path)}: {{ key: value }}'");
            return Keep(current);
        }

        Record(path, node);
        var properties = BindableProperties(type).ToDictionary(KeyOf, StringComparer.Ordinal);
        var parameterless = type.GetConstructor(Type.EmptyTypes);
        if (parameterless is null)
        {
            return BindPositional(type, mapping, path, properties);
        }

        var instance = current is not null && type.IsInstanceOfType(current) ? Clone(current) : parameterless.Invoke(null);
        var before = _problems.Count;
        foreach (var (key, value) in YamlNodes.Entries(mapping))
        {
            var name = key.Value ?? "";
            var childPath = Join(path, name);
            if (!properties.TryGetValue(name, out var property))
            {
                UnknownKey(key, path, name, properties.Keys);
                continue;
            }

            var bound = BindProperty(property, value, childPath, property.GetValue(instance));
            if (bound.Ok)
            {
                property.SetValue(instance, bound.Value);
            }
        }

        if (instance is ISettingsChecks checks && _problems.Count == before)
        {
            foreach (var problem in checks.Check(_secrets))
            {
                var at = problem.Key is null ? mapping : YamlNodes.Get(mapping, problem.Key) ?? mapping;
                Problem(at, problem.Key is null ? path : Join(path, problem.Key), problem.Message, problem.Hint);
            }
        }

        return instance;
    }

    private (bool Ok, object? Value) BindProperty(PropertyInfo property, YamlNode value, string path, object? current)
    {
        var before = _problems.Count;
        if (YamlNodes.IsNull(value) || IsEmptyEnvironment(value))
        {
            if (property.PropertyType.IsValueType && Nullable.GetUnderlyingType(property.PropertyType) is null)
            {
                Problem(value, path, $"'{Leaf(path)}' needs {Describe(property.PropertyType)}, found nothing", Example(property.PropertyType));
                return (false, null);
            }

            if (!property.PropertyType.IsValueType && _nullability.Create(property).WriteState == NullabilityState.NotNull)
            {
                Problem(value, path, $"'{Leaf(path)}' needs {Describe(property.PropertyType)}, found nothing", "remove the key to keep the default, or give a value");
                return (false, null);
            }
        }

        var result = Bind(property.PropertyType, value, path, current, property.GetCustomAttribute<SettingsKeysAttribute>());
        if (_problems.Count > before)
        {
            return (false, null);
        }

        if (SecretNames.IsSecretKey(KeyOf(property)) && value is YamlScalarNode s && YamlNodes.Text(s) is { Length: > 0 } text && result is not SecretRef)
        {
            _secrets.Add("settings:" + path, text, OriginText(value, path));
        }

        return (true, result);
    }

    private object? BindPositional(Type type, YamlMappingNode mapping, string path, Dictionary<string, PropertyInfo> properties)
    {
        var ctor = type.GetConstructors().OrderByDescending(c => c.GetParameters().Length).FirstOrDefault();
        if (ctor is null)
        {
            throw new NotSupportedException($"settings type {type.Name} has no public constructor");
        }

        var parameters = ctor.GetParameters();
        var byKey = parameters.ToDictionary(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name!), StringComparer.Ordinal);
        var values = new Dictionary<string, (YamlScalarNode Key, YamlNode Value)>(StringComparer.Ordinal);
        foreach (var (key, value) in YamlNodes.Entries(mapping))
        {
            var name = key.Value ?? "";
            if (!byKey.ContainsKey(name) && !properties.ContainsKey(name))
            {
                UnknownKey(key, path, name, byKey.Keys.Concat(properties.Keys).Distinct());
                continue;
            }

            values[name] = (key, value);
        }

        var args = new object?[parameters.Length];
        var ok = true;
        foreach (var (name, parameter) in byKey)
        {
            if (values.TryGetValue(name, out var v))
            {
                var before = _problems.Count;
                args[parameter.Position] = Bind(parameter.ParameterType, v.Value, Join(path, name), null);
                ok &= _problems.Count == before;
            }
            else if (parameter.HasDefaultValue)
            {
                args[parameter.Position] = parameter.DefaultValue;
            }
            else
            {
                Problem(mapping, Join(path, name), $"missing key '{name}' in {path}", $"add '{name}:' to {path}");
                ok = false;
            }
        }

        if (!ok)
        {
            return null;
        }

        var instance = ctor.Invoke(args);
        foreach (var (name, (_, value)) in values.Where(v => !byKey.ContainsKey(v.Key)))
        {
            var property = properties[name];
            var bound = BindProperty(property, value, Join(path, name), property.GetValue(instance));
            if (bound.Ok)
            {
                property.SetValue(instance, bound.Value);
            }
        }

        return instance;
    }

    private object? BindDictionary(Type type, Type valueType, YamlNode node, string path, object? current, SettingsKeysAttribute? keys)
    {
        if (node is not YamlMappingNode mapping)
        {
            Problem(node, path, $"'{Leaf(path)}' must be a mapping, found {YamlNodes.Describe(node)}", $"write it as '{Leaf(path)}: {{ name: value }}'");
            return Keep(current);
        }

        Record(path, node);
        var dictType = typeof(Dictionary<,>).MakeGenericType(typeof(string), valueType);
        var dict = (IDictionary)Activator.CreateInstance(dictType, StringComparer.Ordinal)!;
        foreach (var (key, value) in YamlNodes.Entries(mapping))
        {
            var name = key.Value ?? "";
            if (keys?.Check(name) is { } refused)
            {
                Problem(key, Join(path, name), refused.Message, refused.Hint);
                continue;
            }

            if (keys?.Entries is not null && value is YamlMappingNode entries && !CheckEntries(keys, name, entries, Join(path, name)))
            {
                continue;
            }

            var before = _problems.Count;
            var item = Bind(valueType, value, Join(path, name), null);
            if (_problems.Count == before && item is null && valueType.IsValueType && Nullable.GetUnderlyingType(valueType) is null)
            {
                // An entry without a value where a number or a flag is needed (a tagged or empty key, found by the fuzzer).
                Problem(value, Join(path, name), $"'{Join(path, name)}' has no value", "give the entry a value or remove it");
            }
            else if (_problems.Count == before)
            {
                dict[name] = item;
            }
        }

        return type.IsAssignableFrom(dictType) ? dict : throw new NotSupportedException($"settings type {type} is not a supported dictionary shape");
    }

    /// <summary>Checks the names and values inside map entry <paramref name="key"/> (<see cref="SettingsKeysAttribute.Entries"/>); false when one was refused.</summary>
    private bool CheckEntries(SettingsKeysAttribute keys, string key, YamlMappingNode entries, string path)
    {
        var before = _problems.Count;
        foreach (var (entryKey, entryValue) in YamlNodes.Entries(entries))
        {
            var name = entryKey.Value ?? "";
            if (keys.CheckEntry(key, name, null) is { } refusedName)
            {
                Problem(entryKey, Join(path, name), refusedName.Message, refusedName.Hint);
            }
            else if (YamlNodes.Text(entryValue) is { } text && keys.CheckEntry(key, name, text) is { } refusedValue)
            {
                Problem(entryValue, Join(path, name), refusedValue.Message, refusedValue.Hint);
            }
        }

        return _problems.Count == before;
    }

    private object? BindList(Type type, Type elementType, YamlNode node, string path, object? current)
    {
        if (node is not YamlSequenceNode sequence)
        {
            Problem(node, path, $"'{Leaf(path)}' must be a list, found {YamlNodes.Describe(node)}", $"write it as '{Leaf(path)}: [ a, b ]'");
            return Keep(current);
        }

        Record(path, node);
        var listType = typeof(List<>).MakeGenericType(elementType);
        var list = (IList)Activator.CreateInstance(listType)!;
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var before = _problems.Count;
            var item = Bind(elementType, sequence.Children[i], $"{path}[{i.ToString(CultureInfo.InvariantCulture)}]", null);
            if (_problems.Count == before)
            {
                list.Add(item);
            }
        }

        if (type.IsArray)
        {
            var array = Array.CreateInstance(elementType, list.Count);
            list.CopyTo(array, 0);
            return array;
        }

        if (type.IsAssignableFrom(listType))
        {
            return list;
        }

        var setType = typeof(HashSet<>).MakeGenericType(elementType);
        if (type.IsAssignableFrom(setType))
        {
            return Activator.CreateInstance(setType, list);
        }

        throw new NotSupportedException($"settings type {type} is not a supported list shape");
    }

    private object? ConvertScalar(Type type, YamlScalarNode scalar, string path, object? current)
    {
        var text = scalar.Value ?? "";
        if (type == typeof(string))
        {
            foreach (var embedded in SecretNames.EmbeddedSecrets(text))
            {
                _secrets.Add($"settings:{path}#embedded", embedded, OriginText(scalar, path));
            }

            return text;
        }

        if (type == typeof(SecretRef))
        {
            return _secrets.Add("settings:" + path, text, OriginText(scalar, path));
        }

        if (type == typeof(bool))
        {
            switch (text.ToLowerInvariant())
            {
                case "true" or "yes" or "on" or "y" or "1":
                    return true;
                case "false" or "no" or "off" or "n" or "0":
                    return false;
            }
        }
        else if (type == typeof(int) && int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i))
        {
            return i;
        }
        else if (type == typeof(long) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
        {
            return l;
        }
        else if (type == typeof(double) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d))
        {
            return d;
        }
        else if (type == typeof(float) && float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && float.IsFinite(f))
        {
            return f;
        }
        else if (type == typeof(decimal) && decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var m))
        {
            return m;
        }
        else if (type == typeof(TimeSpan) && TryDuration(text, out var span))
        {
            return span;
        }
        else if (type == typeof(Uri))
        {
            if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && !string.IsNullOrEmpty(uri.Host))
            {
                foreach (var embedded in SecretNames.EmbeddedSecrets(text))
                {
                    _secrets.Add($"settings:{path}#embedded", embedded, OriginText(scalar, path));
                }

                return uri;
            }

            Problem(scalar, path, $"'{text}' is not an absolute URL", "write it like http://10.10.10.10:8428");
            return Keep(current);
        }
        else if (type.IsEnum)
        {
            var wanted = Normalize(text);
            foreach (var name in Enum.GetNames(type))
            {
                if (Normalize(name) == wanted)
                {
                    return Enum.Parse(type, name);
                }
            }

            Problem(scalar, path, $"unknown value '{text}' for {path}", $"use one of: {string.Join(", ", Enum.GetNames(type).Select(EnumValueName))}");
            return Keep(current);
        }

        Problem(scalar, path, $"'{text}' is not {Describe(type)}", Example(type));
        return Keep(current);
    }

    private YamlNode? ParseEnvironmentYaml(string text, string variable, string path)
    {
        var problems = new List<YamlProblem>();
        var file = YamlFile.Parse(text, "$" + variable, "$" + variable, problems);
        if (problems.Count > 0 || file.Root is null)
        {
            _problems.Add(new YamlProblem("$" + variable, 0, 0, path, $"cannot read '{text}' as YAML ({string.Join("; ", problems.Select(p => p.Message))})",
                "give lists as [a, b] and maps as { key: value }"));
            return null;
        }

        MarkAll(file.Root, variable);
        return file.Root;
    }

    private void MarkAll(YamlNode node, string variable)
    {
        _environmentNodes[node] = variable;
        foreach (var child in node.AllNodes.Skip(1))
        {
            _environmentNodes[child] = variable;
        }
    }

    private bool IsEmptyEnvironment(YamlNode node) =>
        _environmentNodes.ContainsKey(node) && node is YamlScalarNode s && string.IsNullOrEmpty(s.Value);

    private void Record(string path, YamlNode node)
    {
        if (path.Length == 0)
        {
            return;
        }

        _origins[path] = _environmentNodes.TryGetValue(node, out var variable)
            ? new SettingOrigin(ValueSource.Environment, "$" + variable)
            : new SettingOrigin(ValueSource.Settings, $"{_displayPath}:{node.Start.Line}:{node.Start.Column}");
    }

    private string OriginText(YamlNode node, string path) =>
        _environmentNodes.TryGetValue(node, out var variable) ? $"${variable}" : $"{_displayPath}:{node.Start.Line} ({path})";

    private void UnknownKey(YamlScalarNode key, string path, string name, IEnumerable<string> known)
    {
        var knownList = known.OrderBy(k => k, StringComparer.Ordinal).ToList();
        var suggestion = Nearest(name, knownList);
        var where = path.Length == 0 ? "the settings file" : path;
        var hint = (suggestion is null ? "" : $"did you mean '{suggestion}'? ") + $"known keys in {where}: {string.Join(", ", knownList)}";
        Problem(key, Join(path, name), $"unknown key '{name}' in {where}", hint);
    }

    private void Problem(YamlNode node, string path, string message, string? hint)
    {
        // A value echoed in the message may be a URL with a password the binder could not parse out of it.
        message = SecretText.MaskUrlUserInfo(message);
        if (_environmentNodes.TryGetValue(node, out var variable))
        {
            _problems.Add(new YamlProblem("$" + variable, 0, 0, path, message, hint));
            return;
        }

        _problems.Add(new YamlProblem(_displayPath, node.Start.Line, node.Start.Column, path, message, hint));
    }

    private static object? Keep(object? current) => current;

    private static object Clone(object value)
    {
        var clone = value.GetType().GetMethod("<Clone>$", BindingFlags.Public | BindingFlags.Instance);
        return clone is null ? value : clone.Invoke(value, null)!;
    }

    internal static bool IsScalarType(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(Uri)
        || type == typeof(TimeSpan) || type == typeof(SecretRef);

    internal static Type? DictionaryValueType(Type type)
    {
        if (!type.IsGenericType)
        {
            return null;
        }

        var def = type.GetGenericTypeDefinition();
        var args = type.GetGenericArguments();
        return (def == typeof(IReadOnlyDictionary<,>) || def == typeof(IDictionary<,>) || def == typeof(Dictionary<,>)) && args[0] == typeof(string)
            ? args[1]
            : null;
    }

    internal static Type? ListElementType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        if (!type.IsGenericType)
        {
            return null;
        }

        var def = type.GetGenericTypeDefinition();
        return def == typeof(IReadOnlyList<>) || def == typeof(IList<>) || def == typeof(List<>) || def == typeof(IEnumerable<>)
            || def == typeof(IReadOnlyCollection<>) || def == typeof(ICollection<>) || def == typeof(ISet<>) || def == typeof(IReadOnlySet<>)
            || def == typeof(HashSet<>)
            ? type.GetGenericArguments()[0]
            : null;
    }

    internal static string EnumValueName(string name) => name.ToLowerInvariant();

    private static string Normalize(string text) => text.Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal).ToLowerInvariant();

    internal static bool TryDuration(string text, out TimeSpan span)
    {
        span = default;
        var t = text.Trim();
        if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var secondsOnly))
        {
            span = TimeSpan.FromSeconds(secondsOnly);
            return true;
        }

        (string Suffix, double Seconds)[] units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)];
        foreach (var (suffix, seconds) in units)
        {
            if (t.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(t[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
            {
                span = TimeSpan.FromSeconds(n * seconds);
                return true;
            }
        }

        return TimeSpan.TryParse(t, CultureInfo.InvariantCulture, out span);
    }

    private static string Describe(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(bool))
        {
            return "true or false";
        }

        if (t == typeof(int) || t == typeof(long))
        {
            return "a whole number";
        }

        if (t == typeof(double) || t == typeof(float) || t == typeof(decimal))
        {
            return "a number";
        }

        if (t == typeof(TimeSpan))
        {
            return "a duration";
        }

        if (t == typeof(Uri))
        {
            return "a URL";
        }

        if (t.IsEnum)
        {
            return "one of " + string.Join(", ", Enum.GetNames(t).Select(EnumValueName));
        }

        if (t == typeof(string) || t == typeof(SecretRef))
        {
            return "a text value";
        }

        return ListElementType(t) is not null ? "a list" : "a mapping";
    }

    private static string? Example(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(bool))
        {
            return "write true or false";
        }

        if (t == typeof(int) || t == typeof(long))
        {
            return "write a whole number such as 8";
        }

        if (t == typeof(double) || t == typeof(float) || t == typeof(decimal))
        {
            return "write a number such as 2 or 0.5";
        }

        if (t == typeof(TimeSpan))
        {
            return "write a duration such as 10s, 5m or 250ms";
        }

        return null;
    }

    private static string Leaf(string path)
    {
        var dot = path.LastIndexOf('.');
        return dot < 0 ? path : path[(dot + 1)..];
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

    /// <summary>
    /// The known name closest to <paramref name="name"/> (edit distance), or null when none is close enough to be a
    /// likely typo (within max(2, a third of the name's length)). Every "did you mean" of pgra's inputs uses this rule.
    /// </summary>
    internal static string? Nearest(string name, IEnumerable<string> known)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(known);
        var limit = Math.Max(2, name.Length / 3);
        // A name far longer or shorter than every known one is near none of them (and a megabyte-long one must not
        // cost a megabyte-wide edit-distance table per key).
        return known.Where(k => Math.Abs(k.Length - name.Length) <= limit)
            .Select(k => (Key: k, Distance: Distance(k, name)))
            .Where(x => x.Distance <= limit)
            .OrderBy(x => x.Distance).ThenBy(x => x.Key, StringComparer.Ordinal)
            .Select(x => x.Key).FirstOrDefault();
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
            }
        }

        return d[a.Length, b.Length];
    }
}
