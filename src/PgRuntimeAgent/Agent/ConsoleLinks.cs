namespace PgRuntimeAgent.Agent;

/// <summary>
/// Deep links into the console for notifications. The console's routes are hash routes under its base address:
/// <c>BASE#/incidents/ID</c>, <c>BASE#/approvals/ID</c>, <c>BASE#/clusters/NAME</c>. A link is built from the base
/// (checked to carry no user, password or query: <see cref="NotifySettings.ConsoleUrlProblem"/>) and ids, never from a
/// secret.
/// </summary>
internal static class ConsoleLinks
{
    /// <summary>
    /// The most specific page of <paramref name="e"/>: the approval's (approval events naming one in
    /// <c>details.approval</c>), else the incident's, else the cluster's; null without a console or for an event of
    /// the agent as a whole.
    /// </summary>
    public static string? For(AgentEvent e, Uri? console)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (console is null)
        {
            return null;
        }

        if (e.Name is AgentEventNames.ApprovalRequested or AgentEventNames.ApprovalDecided
            && e.Details.TryGetValue("approval", out var approval) && !string.IsNullOrEmpty(approval))
        {
            return Page(console, "approvals", approval);
        }

        if (!string.IsNullOrEmpty(e.Incident))
        {
            return Page(console, "incidents", e.Incident);
        }

        return string.IsNullOrEmpty(e.Cluster) ? null : Page(console, "clusters", e.Cluster);
    }

    /// <summary><c>BASE#/ROUTE/ID</c>, the id URL-encoded.</summary>
    public static string Page(Uri console, string route, string id)
    {
        ArgumentNullException.ThrowIfNull(console);
        var baseUrl = console.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped);
        return $"{baseUrl}#/{route}/{Uri.EscapeDataString(id)}";
    }
}
