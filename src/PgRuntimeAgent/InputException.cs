namespace PgRuntimeAgent;

/// <summary>
/// Bad input from the operator (a command-line argument, an inventory, a settings file, a skill). The CLI prints
/// <see cref="Exception.Message"/> and every entry of <see cref="Problems"/> and exits 2; never a stack trace.
/// Messages say where (file:line:column, cluster, member) and what to do.
/// </summary>
public sealed class InputException : Exception
{
    public InputException(string message)
        : this(message, [])
    {
    }

    public InputException(string message, IReadOnlyList<string> problems)
        : base(message)
    {
        Problems = problems;
    }

    public InputException(string message, Exception inner)
        : base(message, inner)
    {
        Problems = [];
    }

    public InputException()
        : this("Invalid input.")
    {
    }

    public IReadOnlyList<string> Problems { get; }
}
