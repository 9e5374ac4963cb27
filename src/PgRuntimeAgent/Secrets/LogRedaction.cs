namespace PgRuntimeAgent.Secrets;

/// <summary>
/// Text bound for a log line that the agent did not write itself: an exception's message, a driver's or a remote
/// server's error, a result message built from one. Every log call that carries such text passes it through here, so
/// no secret reaches a log: the values the <see cref="SecretStore"/> knows are masked, and so is everything shaped
/// like a secret whose value is not known in advance (a connection string's <c>Password=...</c>, a URL's
/// <c>user:password@</c>, <c>token: ...</c>; see <see cref="SecretText.RedactFreeText"/>).
/// </summary>
public static class LogRedaction
{
    /// <summary><paramref name="text"/> with known secrets (when <paramref name="secrets"/> is given) and secret-shaped values masked.</summary>
    public static string Text(string? text, SecretStore? secrets = null)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? "";
        }

        return SecretText.RedactFreeText(secrets is null ? text : secrets.Redact(text));
    }

    /// <summary>The message of <paramref name="exception"/>, redacted as <see cref="Text"/> does (never the stack trace).</summary>
    public static string Exception(Exception exception, SecretStore? secrets = null)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return Text(exception.Message, secrets);
    }

    /// <summary>The innermost exception's message of <paramref name="exception"/> (a faulted task's), redacted.</summary>
    public static string BaseException(Exception? exception, SecretStore? secrets = null) =>
        exception is null ? "?" : Exception(exception.GetBaseException(), secrets);
}
