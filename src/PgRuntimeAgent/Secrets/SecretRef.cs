namespace PgRuntimeAgent.Secrets;

/// <summary>
/// A reference to a secret held in a <see cref="SecretStore"/>. It never carries the value, so a model that holds
/// it can be printed, logged and journaled safely.
/// </summary>
/// <param name="Key">Stable key, for example <c>pg-test/patroni_password</c>.</param>
/// <param name="Origin">Where the value came from, for example <c>inventory/lab.yml:42 (all.vars.patroni_password)</c>.</param>
public sealed record SecretRef(string Key, string Origin)
{
    public const string Mask = "******";

    public override string ToString() => $"{Mask} (from {Origin})";
}
