namespace PgRuntimeAgent.Journal;

public enum JournalBackend
{
    Sqlite,
    Postgres,
}

/// <summary>Where the journal lives (settings section <c>journal:</c>).</summary>
public sealed record JournalSettings
{
    public JournalBackend Backend { get; init; } = JournalBackend.Sqlite;

    /// <summary>SQLite file; relative paths are resolved against the settings file's directory.</summary>
    public string Path { get; init; } = "pgra-journal.db";

    /// <summary>PostgreSQL connection string when <see cref="Backend"/> is Postgres (password via secret store).</summary>
    public string? ConnectionString { get; init; }

    /// <summary>Password for <see cref="ConnectionString"/> (<c>journal.password</c>; kept in the secret store).</summary>
    public Secrets.SecretRef? Password { get; init; }

    /// <summary>PostgreSQL schema holding the journal tables (<c>journal.schema</c>, default <c>pgra</c>).</summary>
    public string Schema { get; init; } = "pgra";
}
