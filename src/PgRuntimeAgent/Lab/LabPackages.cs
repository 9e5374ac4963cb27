namespace PgRuntimeAgent.Lab;

/// <summary>The Debian 12 packages the loopback lab needs, and installing the missing ones with apt.</summary>
internal static class LabPackages
{
    /// <summary>
    /// Same list as ansible/group_vars/all.yml lab_packages, plus Ansible itself. hypopg is created in every lab
    /// database (the index advisor's hypothetical indexes); pg_qualstats is installed but not preloaded (it needs
    /// shared_preload_libraries, a restart, and adds work to every query of a lab that measures timings). chromium is the
    /// browser the console's end-to-end test drives (headless, through Playwright; no browser is ever downloaded).
    /// </summary>
    public static IReadOnlyList<string> Required { get; } =
    [
        "ansible-core", "postgresql-15", "postgresql-contrib", "postgresql-15-hypopg", "postgresql-15-pg-qualstats", "patroni", "python3-psycopg2", "etcd-server", "etcd-client",
        "pgbackrest", "pgbouncer", "haproxy", "prometheus", "prometheus-alertmanager", "prometheus-postgres-exporter",
        "prometheus-node-exporter", "e2fsprogs", "util-linux", "openssh-server", "openssh-client", "chromium",
    ];

    public const string PolicyRcPath = "/usr/sbin/policy-rc.d";

    /// <summary>policy-rc.d that denies every service start, so installing a package starts no daemon on default ports.</summary>
    public const string PolicyRcContent = "#!/bin/sh\n# Written by pgra lab up: packages must not start services (the lab runs its own).\nexit 101\n";

    /// <summary>Parses <c>dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n'</c> output into the installed set.</summary>
    public static IReadOnlySet<string> ParseInstalled(string dpkgQueryOutput)
    {
        var installed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in dpkgQueryOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2 && parts[1].StartsWith("ii", StringComparison.Ordinal))
            {
                installed.Add(parts[0].Split(':')[0]);
            }
        }

        return installed;
    }

    public static async Task<IReadOnlyList<string>> MissingAsync(CancellationToken cancellationToken)
    {
        var result = await LabShell.RunAsync("dpkg-query", ["-W", "-f=${Package} ${db:Status-Abbrev}\n", .. Required],
            TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        var installed = ParseInstalled(result.StandardOutput);
        return Required.Where(p => !installed.Contains(p)).ToList();
    }

    /// <summary>Creates policy-rc.d when absent, then apt-get update + install of <paramref name="packages"/>.</summary>
    public static async Task<ShellResult> InstallAsync(IReadOnlyList<string> packages, CancellationToken cancellationToken)
    {
        if (!File.Exists(PolicyRcPath))
        {
            await File.WriteAllTextAsync(PolicyRcPath, PolicyRcContent, cancellationToken).ConfigureAwait(false);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(PolicyRcPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                    | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            }
        }

        var env = new Dictionary<string, string?> { ["DEBIAN_FRONTEND"] = "noninteractive" };
        var update = await LabShell.RunAsync("apt-get", ["update", "-q"], TimeSpan.FromMinutes(5), cancellationToken, env).ConfigureAwait(false);
        if (!update.Ok)
        {
            return update;
        }

        return await LabShell.RunAsync("apt-get", ["install", "-y", "-q", "--no-install-recommends", .. packages],
            TimeSpan.FromMinutes(15), cancellationToken, env).ConfigureAwait(false);
    }
}
