using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Settings;

/// <summary>
/// A settings record whose values are checked together once bound (a listen address that needs TLS beside it, two
/// entries with one name): the binder reports each problem at the key's value in the file (file:line:column) or at
/// its environment variable, like any other settings problem. Only called when the section is in the file or the
/// environment and bound without other problems.
/// </summary>
internal interface ISettingsChecks
{
    /// <summary>What is wrong: the key within this record (null: the record as a whole), the message and a hint.</summary>
    IEnumerable<SettingsProblem> Check(SecretStore secrets);
}

/// <summary>One problem a <see cref="ISettingsChecks"/> found.</summary>
/// <param name="Key">The key within the checked record (<c>listen</c>); null: the record itself.</param>
internal sealed record SettingsProblem(string? Key, string Message, string Hint);
