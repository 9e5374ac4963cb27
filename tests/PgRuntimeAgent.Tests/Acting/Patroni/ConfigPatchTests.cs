using System.Text.Json.Nodes;
using PgRuntimeAgent.Acting.Patroni;

namespace PgRuntimeAgent.Tests.Acting.Patroni;

public sealed class ConfigPatchTests
{
    private static JsonObject Current() => (JsonObject)JsonNode.Parse("""
        {"ttl":10,"loop_wait":2,"maximum_lag_on_failover":1048576,
         "postgresql":{"use_slots":true,"parameters":{"max_connections":50,"shared_buffers":"64MB","log_lock_waits":"on"}}}
        """)!;

    [Fact]
    public void FromAssignments_Names_MapToPatroniKeysPathsAndParameters()
    {
        var patch = ConfigPatch.FromAssignments(["work_mem=8MB", "loop_wait=5", "synchronous_mode=true", "max_connections=100",
            "pg_stat_statements.max=6000", "postgresql.use_slots=false", "Log_Lock_Waits=off", "ttl=null"]);

        Assert.Equal("""{"postgresql":{"parameters":{"work_mem":"8MB","max_connections":100,"pg_stat_statements.max":6000,"log_lock_waits":"off"},"use_slots":false},"loop_wait":5,"synchronous_mode":true,"ttl":null}""",
            patch.ToJsonString());
    }

    [Fact]
    public void FromAssignments_ParameterTrue_StaysText()
    {
        var patch = ConfigPatch.FromAssignments(["log_connections=true"]);

        Assert.Equal("true", patch["postgresql"]!["parameters"]!["log_connections"]!.GetValue<string>());
    }

    [Fact]
    public void FromAssignments_Malformed_EveryProblemReported()
    {
        var ex = Assert.Throws<InputException>(() => ConfigPatch.FromAssignments(["work_mem", "=5", "1abc=2", "a b=1", "x=", "work_mem=1MB", "work_mem=2MB"]));

        Assert.StartsWith("bad NAME=VALUE assignments", ex.Message, StringComparison.Ordinal);
        Assert.Equal(6, ex.Problems.Count);
        Assert.Contains(ex.Problems, p => p.Contains("'work_mem': expected NAME=VALUE", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'=5': expected NAME=VALUE", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'1abc'", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'a b'", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("no value", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'work_mem' is set twice", StringComparison.Ordinal));
    }

    [Fact]
    public void FromAssignments_Nothing_IsInputError()
    {
        Assert.Throws<InputException>(() => ConfigPatch.FromAssignments([]));
    }

    [Fact]
    public void Changes_ListEveryLeafWithBeforeAndAfter()
    {
        var patch = ConfigPatch.FromAssignments(["work_mem=8MB", "shared_buffers=128MB", "loop_wait=2", "log_lock_waits=null"]);

        var changes = ConfigPatch.Changes(Current(), patch).ToDictionary(c => c.Path);

        Assert.Equal("postgresql.parameters.work_mem: (absent) -> \"8MB\"", changes["postgresql.parameters.work_mem"].Describe());
        Assert.Equal("postgresql.parameters.shared_buffers: \"64MB\" -> \"128MB\"", changes["postgresql.parameters.shared_buffers"].Describe());
        Assert.True(changes["loop_wait"].IsNoOp);
        Assert.True(changes["postgresql.parameters.log_lock_waits"].Removes);
        Assert.True(changes["postgresql.parameters.log_lock_waits"].Existed);
    }

    [Fact]
    public void Inverse_SetsPreviousValuesAndRemovesKeysThatDidNotExist()
    {
        var patch = ConfigPatch.FromAssignments(["work_mem=8MB", "shared_buffers=128MB", "loop_wait=5", "log_lock_waits=null", "no_such_key=null"]);

        var inverse = ConfigPatch.Inverse(Current(), patch);

        Assert.Equal("""{"postgresql":{"parameters":{"work_mem":null,"shared_buffers":"64MB","log_lock_waits":"on"}},"loop_wait":2}""", inverse.ToJsonString());
    }

    [Theory]
    [InlineData("work_mem=8MB")]
    [InlineData("loop_wait=5", "ttl=null")]
    [InlineData("postgresql.use_slots=false", "max_connections=100", "log_lock_waits=null")]
    [InlineData("synchronous_mode=true", "postgresql.parameters.archive_timeout=120s")]
    public void Inverse_AppliedAfterThePatch_GivesTheOriginalBack(params string[] assignments)
    {
        var current = Current();
        var patch = ConfigPatch.FromAssignments(assignments);

        var changed = ConfigPatch.Apply(current, patch);
        var restored = ConfigPatch.Apply(changed, ConfigPatch.Inverse(current, patch));

        Assert.True(JsonNode.DeepEquals(current, restored), $"{current.ToJsonString()} != {restored.ToJsonString()}");
        Assert.True(ConfigPatch.IsApplied(changed, patch, out _));
    }

    [Fact]
    public void Inverse_PatchReplacesScalarWithObject_RestoresTheScalar()
    {
        var current = (JsonObject)JsonNode.Parse("""{"standby_cluster":"x"}""")!;
        var patch = (JsonObject)JsonNode.Parse("""{"standby_cluster":{"host":"h"}}""")!;

        var restored = ConfigPatch.Apply(ConfigPatch.Apply(current, patch), ConfigPatch.Inverse(current, patch));

        Assert.Equal("""{"standby_cluster":"x"}""", restored.ToJsonString());
    }

    [Fact]
    public void IsApplied_NumberAndTextOfTheSameValue_Match()
    {
        var config = (JsonObject)JsonNode.Parse("""{"postgresql":{"parameters":{"max_connections":"100","work_mem":"8MB"}}}""")!;

        Assert.True(ConfigPatch.IsApplied(config, ConfigPatch.FromAssignments(["max_connections=100"]), out _));
        Assert.False(ConfigPatch.IsApplied(config, ConfigPatch.FromAssignments(["work_mem=16MB", "ttl=null"]), out var differences));
        Assert.Equal(["postgresql.parameters.work_mem is \"8MB\", expected \"16MB\""], differences);
    }

    [Fact]
    public void Parameters_AndText_AsPostgresReadsThem()
    {
        var patch = (JsonObject)JsonNode.Parse("""{"postgresql":{"parameters":{"a":true,"b":"8MB","c":5,"d":null}},"ttl":5}""")!;

        var parameters = ConfigPatch.Parameters(patch);

        Assert.Equal(["a", "b", "c", "d"], parameters.Keys);
        Assert.Equal("on", ConfigPatch.ParameterText(parameters["a"]));
        Assert.Equal("8MB", ConfigPatch.ParameterText(parameters["b"]));
        Assert.Equal("5", ConfigPatch.ParameterText(parameters["c"]));
        Assert.Null(ConfigPatch.ParameterText(parameters["d"]));
    }

    [Fact]
    public void Parse_NotAnObject_IsInputError()
    {
        Assert.Throws<InputException>(() => ConfigPatch.Parse("[1]"));
        Assert.Throws<InputException>(() => ConfigPatch.Parse("{"));
    }
}
