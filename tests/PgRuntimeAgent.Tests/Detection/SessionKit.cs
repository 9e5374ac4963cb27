using System.Globalization;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Tests.Detection;

/// <summary>Snapshots whose session probes (lock_heads, connection_clients, xmin_horizon) return given rows, summarised as the sensor does.</summary>
internal static class SessionKit
{
    /// <summary>pg-test-3 leads in the healthy lab snapshot.</summary>
    public const string Leader = "pg-test-3";

    public const string BlockerStart = "2026-11-22T21:05:00.1234560Z";

    /// <summary><paramref name="s"/> with <paramref name="probe"/> on <paramref name="member"/> answering <paramref name="rows"/> (status ok).</summary>
    public static ClusterSnapshot WithRows(ClusterSnapshot s, string member, string probe, params Dictionary<string, string?>[] rows) => s with
    {
        Postgres = s.Postgres.Select(p => p.Member != member ? p : PostgresSensor.Summarise(member,
            [.. p.Probes.Where(r => r.Name != probe), new ProbeResult { Name = probe, Status = "ok", Rows = rows }], p.Error)).ToList(),
    };

    /// <summary>A lock_heads row: the head blocker pid 4242 of application pgra-lab-lock-pileup.</summary>
    public static Dictionary<string, string?> Head(int waiters, double longestWait, string? state = "idle in transaction", int pid = 4242, double stateAge = 40, double xactAge = 41,
        string backendType = "client backend") => new()
    {
        ["pid"] = pid.ToString(CultureInfo.InvariantCulture),
        ["backend_start"] = pid == 0 ? null : BlockerStart,
        ["usename"] = pid == 0 ? null : "dbuser_meta",
        ["application_name"] = pid == 0 ? null : "pgra-lab-lock-pileup",
        ["state"] = pid == 0 ? null : state,
        ["backend_type"] = pid == 0 ? null : backendType,
        ["xact_age_seconds"] = pid == 0 ? null : xactAge.ToString(CultureInfo.InvariantCulture),
        ["state_age_seconds"] = pid == 0 ? null : stateAge.ToString(CultureInfo.InvariantCulture),
        ["waiters"] = waiters.ToString(CultureInfo.InvariantCulture),
        ["direct_waiters"] = "1",
        ["longest_wait_seconds"] = longestWait.ToString(CultureInfo.InvariantCulture),
        ["query"] = pid == 0 ? null : "UPDATE pgra_lab_lock SET v = v + ? WHERE id = ?",
    };

    /// <summary>connection_clients rows: <paramref name="apps"/> (application, user, state, count) against max_connections 50, 3 reserved.</summary>
    public static Dictionary<string, string?>[] Clients(params (string App, string User, string State, int Count)[] apps)
    {
        Dictionary<string, string?> Row(string dimension, string name, int count, int idle) => new()
        {
            ["dimension"] = dimension,
            ["name"] = name,
            ["count"] = count.ToString(CultureInfo.InvariantCulture),
            ["idle_in_transaction"] = idle.ToString(CultureInfo.InvariantCulture),
            ["max_connections"] = "50",
            ["reserved"] = "3",
        };

        IEnumerable<Dictionary<string, string?>> By(string dimension, Func<(string App, string User, string State, int Count), string> key) =>
            apps.GroupBy(key).Select(g => Row(dimension, g.Key, g.Sum(a => a.Count), g.Where(a => a.State == "idle in transaction").Sum(a => a.Count)));

        return [.. By("state", a => a.State), .. By("user", a => a.User), .. By("application", a => a.App)];
    }

    /// <summary>An xmin_horizon row of kind backend.</summary>
    public static Dictionary<string, string?> Backend(double age, string state = "idle in transaction", int pid = 5151, double? stateAge = null) => new()
    {
        ["kind"] = "backend",
        ["pid"] = pid.ToString(CultureInfo.InvariantCulture),
        ["backend_start"] = BlockerStart,
        ["usename"] = "dbuser_meta",
        ["application_name"] = "pgra-lab-long-transaction",
        ["state"] = state,
        ["xmin_age"] = "12",
        ["age_seconds"] = age.ToString(CultureInfo.InvariantCulture),
        ["state_age_seconds"] = (stateAge ?? age).ToString(CultureInfo.InvariantCulture),
        ["query"] = "SELECT txid_current(), count(*) FROM pg_class",
    };

    public static Dictionary<string, string?> Prepared(string gid, double age) => new()
    {
        ["kind"] = "prepared",
        ["usename"] = "dbuser_meta",
        ["gid"] = gid,
        ["xmin_age"] = "40",
        ["age_seconds"] = age.ToString(CultureInfo.InvariantCulture),
    };

    public static Dictionary<string, string?> Slot(string name, long xminAge) => new()
    {
        ["kind"] = "slot",
        ["slot_name"] = name,
        ["state"] = "inactive",
        ["xmin_age"] = xminAge.ToString(CultureInfo.InvariantCulture),
    };
}
