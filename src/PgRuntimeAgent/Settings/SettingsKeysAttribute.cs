using System.Reflection;

namespace PgRuntimeAgent.Settings;

/// <summary>
/// On a map-valued settings property: which keys the map may hold. <see cref="Method"/> names a static method of
/// <see cref="Source"/> taking the key and returning null when it is acceptable, else <c>(string Message, string Hint)</c>;
/// the binder reports a refused key at its file:line like any other settings problem.
/// </summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false, Inherited = true)]
internal sealed class SettingsKeysAttribute(Type source, string method) : Attribute
{
    public Type Source { get; } = source;

    public string Method { get; } = method;

    /// <summary>Null when <paramref name="key"/> is acceptable; otherwise what is wrong with it and a hint.</summary>
    public (string Message, string Hint)? Check(string key)
    {
        var method = Source.GetMethod(Method, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static, [typeof(string)])
            ?? throw new InvalidOperationException($"{Source.Name}.{Method}(string) does not exist");
        return ((string Message, string Hint)?)method.Invoke(null, [key]);
    }
}
