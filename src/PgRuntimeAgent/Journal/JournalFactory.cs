using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Journal;

/// <summary>Opens the journal the settings describe.</summary>
internal static class JournalFactory
{
    /// <summary>
    /// The SQLite path <paramref name="settings"/> names, made absolute against <paramref name="baseDirectory"/> (the
    /// settings file's directory; the inventory's directory when there is no settings file).
    /// </summary>
    public static string ResolvePath(JournalSettings settings, string baseDirectory)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var path = settings.Path;
        if (path.StartsWith("~/", StringComparison.Ordinal))
        {
            path = System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), path[2..]);
        }

        return System.IO.Path.GetFullPath(path, baseDirectory);
    }

    /// <summary>The directory relative journal paths are resolved against.</summary>
    public static string BaseDirectory(string? settingsPath, string? inventoryPath) =>
        System.IO.Path.GetDirectoryName(settingsPath ?? inventoryPath ?? "") is { Length: > 0 } dir
            ? System.IO.Path.GetFullPath(dir)
            : Directory.GetCurrentDirectory();

    public static Task<IJournal> OpenAsync(JournalSettings settings, string baseDirectory, SecretStore secrets, TimeProvider time,
        CancellationToken cancellationToken) =>
        OpenAsync(settings, baseDirectory, secrets, time, null, cancellationToken);

    /// <summary>Opens the journal <paramref name="settings"/> names; the journal logs to <paramref name="logger"/> (event ids 3000-3099).</summary>
    public static async Task<IJournal> OpenAsync(JournalSettings settings, string baseDirectory, SecretStore secrets, TimeProvider time,
        ILogger? logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(secrets);
        switch (settings.Backend)
        {
            case JournalBackend.Postgres:
                if (string.IsNullOrWhiteSpace(settings.ConnectionString))
                {
                    throw new InputException("journal.backend is postgres but journal.connection_string is not set (for example 'Host=127.0.0.10;Port=5432;Database=meta;Username=dbuser_meta').");
                }

                string? password = null;
                if (settings.Password is not null && !secrets.TryReveal(settings.Password, out password))
                {
                    throw new InputException($"journal.password refers to a secret that is not loaded ({settings.Password.Origin}).");
                }

                return await PostgresJournal.OpenAsync(settings.ConnectionString, password, settings.Schema, secrets, time, logger, cancellationToken).ConfigureAwait(false);
            default:
                return await SqliteJournal.OpenAsync(ResolvePath(settings, baseDirectory), secrets, time, logger, cancellationToken).ConfigureAwait(false);
        }
    }
}
