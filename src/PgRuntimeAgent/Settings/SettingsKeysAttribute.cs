using System.Reflection;

namespace PgRuntimeAgent.Settings;

/// <summary>
/// On a map-valued settings property: which keys the map may hold. <see cref="Method"/> names a static method of
/// <see cref="Source"/> taking the key and returning null when it is acceptable, else <c>(string Message, string Hint)</c>;
/// the binder reports a refused key at its file:line like any other settings problem. When each entry is itself a map
/// (<c>{ key: { name: value } }</c>), <see cref="Entries"/> may name a second static method of <see cref="Source"/>
/// taking <c>(string key, string name, string? value)</c>: called with a null value to check the name, then with the
/// value's text to check the value; a refused name is reported at the name, a refused value at the value.
/// </summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false, Inherited = true)]
internal sealed class SettingsKeysAttribute(Type source, string method) : Attribute
{
    public Type Source { get; } = source;

    public string Method { get; } = method;

    /// <summary>The method checking the names and values inside each entry of the map; null: not checked here.</summary>
    public string? Entries { get; set; }

    /// <summary>Null when <paramref name="key"/> is acceptable; otherwise what is wrong with it and a hint.</summary>
    public (string Message, string Hint)? Check(string key) => Invoke(Method, [typeof(string)], [key]);

    /// <summary>
    /// Null when <paramref name="name"/> (and <paramref name="value"/>, when given) may stand in entry
    /// <paramref name="key"/>, or when no <see cref="Entries"/> method is named; otherwise what is wrong and a hint.
    /// </summary>
    public (string Message, string Hint)? CheckEntry(string key, string name, string? value) =>
        Entries is null ? null : Invoke(Entries, [typeof(string), typeof(string), typeof(string)], [key, name, value]);

    private (string Message, string Hint)? Invoke(string name, Type[] parameters, object?[] arguments)
    {
        var method = Source.GetMethod(name, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static, parameters)
            ?? throw new InvalidOperationException($"{Source.Name}.{name}({string.Join(", ", parameters.Select(p => p.Name))}) does not exist");
        return ((string Message, string Hint)?)method.Invoke(null, arguments);
    }
}
