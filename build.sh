#!/usr/bin/env bash
# PgRuntimeAgent build entry point (README.md names these commands).
#   ./build.sh test      build warning-free, run unit tests, bring a fresh loopback lab up, run lab tests, bring it down,
#                        fuzz every parser for 10 s (PGRA_FUZZ_SECONDS; each target counts as one test);
#                        ends with one line "N passed, N failed[, N skipped]" summing every test.
#   ./build.sh bench     run the benchmarks (they print figures).
#   ./build.sh pgra ARGS run the pgra CLI (Release build).
#   ./build.sh fuzz TARGET|all [--seconds N]
#                        coverage-guided fuzzing (SharpFuzz + AFL++, docs/fuzzing.md) of one parser or of all of them:
#                        inventory, settings, skill, patroni-json, prometheus-json, pgbackrest-info-json, loki-json,
#                        victorialogs-jsonl, postgres-log, alertmanager-json, eval-case. Installs afl++ (apt) and SharpFuzz.CommandLine (dotnet
#                        tool) when missing, runs N seconds per target
#                        (default 600), copies crashes and hangs to tests/fixtures/hostile/crashes/TARGET/ and prints
#                        one summary line per target. Not part of ./build.sh test.
set -uo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
CONFIG=Release
RESULTS=$ROOT/artifacts/test-results

need_dotnet() {
  if ! command -v dotnet >/dev/null 2>&1; then
    echo "error: the .NET 10 SDK (dotnet) is not on PATH; install it from https://dot.net and rerun." >&2
    exit 2
  fi
}

build() {
  need_dotnet
  dotnet build PgRuntimeAgent.sln -c "$CONFIG" -nologo -v quiet -clp:ErrorsOnly || { echo "error: build failed" >&2; return 1; }
}

pgra() {
  dotnet "$ROOT/src/Pgra/bin/$CONFIG/net10.0/pgra.dll" "$@"
}

# run_tests NAME PROJECT: runs one test project and leaves an xunit XML report under $RESULTS/NAME.
run_tests() {
  local name=$1 project=$2
  mkdir -p "$RESULTS/$name"
  dotnet test --project "$project" -c "$CONFIG" --no-build --report-xunit --results-directory "$RESULTS/$name"
  local rc=$?
  if ! ls "$RESULTS/$name"/*.xunit >/dev/null 2>&1; then
    echo "error: $name produced no test report (exit $rc); counting it as one failure" >&2
    count_failure "$name"
  fi
}

# count_failure NAME: a step that could not run its tests counts as one failure in the summary line.
count_failure() {
  mkdir -p "$RESULTS/$1"
  echo "<assemblies><assembly passed=\"0\" failed=\"1\" skipped=\"0\"/></assemblies>" >"$RESULTS/$1/crashed.xunit"
}

summarise() {
  # Sum the <assembly passed= failed= skipped=> counters of every report.
  cat "$RESULTS"/*/*.xunit 2>/dev/null | grep -o '<assembly [^>]*' | awk '
    { for (i = 1; i <= NF; i++) if (match($i, /^(passed|failed|skipped)="[0-9]+"/)) {
        split($i, kv, "\""); n[substr($i, 1, index($i, "=") - 1)] += kv[2] } }
    END {
      line = (n["passed"] + 0) " passed, " (n["failed"] + 0) " failed"
      if (n["skipped"] > 0) line = line ", " n["skipped"] " skipped"
      print line
      exit (n["failed"] > 0 ? 1 : 0)
    }'
}

FUZZ_TARGETS="inventory settings skill patroni-json prometheus-json pgbackrest-info-json loki-json victorialogs-jsonl postgres-log alertmanager-json eval-case"
FUZZ=$ROOT/artifacts/fuzz

# fuzz_setup: afl-fuzz and sharpfuzz on PATH, the fuzz project published and PgRuntimeAgent.dll (and YamlDotNet.dll,
# whose parser the YAML targets drive) instrumented. A fresh publish each time: sharpfuzz refuses an instrumented dll.
fuzz_setup() {
  need_dotnet
  if ! command -v afl-fuzz >/dev/null 2>&1; then
    echo "fuzz: installing afl++ (apt)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++ >/dev/null; } \
      || { echo "error: cannot install afl++ (apt-get install afl++); install it and rerun" >&2; return 1; }
  fi
  export PATH="$PATH:$HOME/.dotnet/tools"
  if ! command -v sharpfuzz >/dev/null 2>&1; then
    echo "fuzz: installing SharpFuzz.CommandLine (dotnet tool)" >&2
    dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0 >/dev/null \
      || { echo "error: cannot install the sharpfuzz tool (dotnet tool install --global SharpFuzz.CommandLine)" >&2; return 1; }
  fi
  rm -rf "$FUZZ/bin"
  dotnet publish tests/PgRuntimeAgent.Fuzz -c "$CONFIG" -o "$FUZZ/bin" -nologo -v quiet -clp:ErrorsOnly \
    || { echo "error: cannot publish tests/PgRuntimeAgent.Fuzz" >&2; return 1; }
  local dll
  for dll in PgRuntimeAgent.dll YamlDotNet.dll; do
    sharpfuzz "$FUZZ/bin/$dll" >/dev/null || { echo "error: sharpfuzz could not instrument $dll" >&2; return 1; }
  done
}

# fuzz_stat FILE KEY...: the first of KEYs that afl-fuzz's fuzzer_stats has (names changed across AFL++ versions).
fuzz_stat() {
  local file=$1 key v
  shift
  for key in "$@"; do
    v=$(awk -F' *: *' -v k="$key" '$1 == k { print $2; exit }' "$file" 2>/dev/null)
    if [ -n "$v" ]; then echo "$v"; return; fi
  done
  echo "?"
}

# fuzz_one TARGET SECONDS: runs afl-fuzz on one target, copies what it found, prints the summary line.
fuzz_one() {
  local target=$1 seconds=$2
  local seeds=$ROOT/tests/fixtures/hostile/seeds/$target out=$FUZZ/findings/$target keep=$ROOT/tests/fixtures/hostile/crashes/$target
  if [ ! -d "$seeds" ]; then echo "error: no seeds in $seeds" >&2; return 1; fi
  rm -rf "$out"
  mkdir -p "$out"
  # AFL++'s dictionaries: /usr/share/afl/dictionaries (upstream installs), /usr/share/doc/afl++-doc/afl/dictionaries
  # (Debian's afl++-doc). The log-text target uses the project's own (the tokens of PostgreSQL and Patroni log lines).
  local dict=() dicts="" d
  for d in /usr/share/afl/dictionaries /usr/share/doc/afl++-doc/afl/dictionaries; do
    [ -d "$d" ] && { dicts=$d; break; }
  done
  case "$target" in
    *-json | *-jsonl) [ -f "$dicts/json.dict" ] && dict=(-x "$dicts/json.dict") ;;
    postgres-log) dict=(-x "$ROOT/tests/fixtures/hostile/dictionaries/postgres-log.dict") ;;
    *) [ -f "$dicts/yaml.dict" ] && dict=(-x "$dicts/yaml.dict") ;;
  esac
  # SKIP_BIN_CHECK: the target is dotnet, instrumented by SharpFuzz, not by afl-cc. The CPU-frequency, core-pattern and
  # affinity checks would need /proc/sys changes or a free core on a shared machine: skipped, not changed.
  AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 \
    AFL_SHUFFLE_QUEUE=1 AFL_FAST_CAL=1 AFL_FORKSRV_INIT_TMOUT=60000 \
    afl-fuzz -V "$seconds" -i "$seeds" -o "$out" -t 5000 -m none "${dict[@]}" -- dotnet "$FUZZ/bin/PgRuntimeAgent.Fuzz.dll" "$target" \
    >"$out/afl.log" 2>&1
  local rc=$?
  local stats=$out/default/fuzzer_stats
  if [ ! -f "$stats" ]; then
    echo "fuzz $target: afl-fuzz did not start (exit $rc); last lines of $out/afl.log:" >&2
    tail -n 15 "$out/afl.log" >&2
    return 1
  fi
  local copied=0 f sum
  for f in "$out"/default/crashes/id:* "$out"/default/hangs/id:*; do
    [ -f "$f" ] || continue
    mkdir -p "$keep"
    sum=$(sha1sum "$f" | cut -c1-12)
    case "$f" in */hangs/*) cp "$f" "$keep/hang-$sum" ;; *) cp "$f" "$keep/crash-$sum" ;; esac
    copied=$((copied + 1))
  done
  local kept=""
  if [ "$copied" -gt 0 ]; then
    kept="; $copied input(s) kept in tests/fixtures/hostile/crashes/$target/"
    # What each input did and the input itself (base64), so a crash found on a CI host can be replayed from its log.
    for f in "$out"/default/crashes/id:* "$out"/default/hangs/id:*; do
      [ -f "$f" ] || continue
      echo "fuzz $target: input $(basename "$f") ($(stat -c %s "$f") bytes, base64): $(head -c 4096 "$f" | base64 -w0)" >&2
      timeout 20 dotnet "$FUZZ/bin/PgRuntimeAgent.Fuzz.dll" "$target" --repro "$f" 2>&1 | head -n 25 >&2
    done
  fi
  echo "fuzz $target: ${seconds}s, $(fuzz_stat "$stats" execs_done) execs ($(fuzz_stat "$stats" execs_per_sec) /s)," \
    "$(fuzz_stat "$stats" corpus_count paths_total) paths, $(fuzz_stat "$stats" saved_crashes unique_crashes) crashes," \
    "$(fuzz_stat "$stats" saved_hangs unique_hangs) hangs$kept"
}

# fuzz_ci: every target for PGRA_FUZZ_SECONDS (default 20) seconds, after the lab tests. Each target counts as one
# test in the summary line: passed when afl-fuzz ran and found no crash and no hang, failed otherwise (what it found is
# kept under tests/fixtures/hostile/crashes/TARGET/ and artifacts/fuzz/findings/TARGET/).
fuzz_ci() {
  local seconds=${PGRA_FUZZ_SECONDS:-10} passed=0 failed=0 t line
  mkdir -p "$RESULTS/fuzz"
  if ! fuzz_setup; then
    count_failure fuzz
    return
  fi
  for t in $FUZZ_TARGETS; do
    if line=$(fuzz_one "$t" "$seconds") && [[ "$line" == *" 0 crashes, 0 hangs" ]]; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
    fi
    echo "${line:-fuzz $t: did not run}"
  done
  echo "<assemblies><assembly passed=\"$passed\" failed=\"$failed\" skipped=\"0\"/></assemblies>" >"$RESULTS/fuzz/fuzz.xunit"
}

fuzz() {
  local target=${1:-} seconds=600
  shift || true
  while [ $# -gt 0 ]; do
    case "$1" in
      --seconds) seconds=${2:-}; shift 2 ;;
      *) echo "usage: ./build.sh fuzz TARGET|all [--seconds N]" >&2; return 2 ;;
    esac
  done
  if [ -z "$target" ] || ! [[ "$seconds" =~ ^[0-9]+$ ]] || { [ "$target" != all ] && [[ " $FUZZ_TARGETS " != *" $target "* ]]; }; then
    echo "usage: ./build.sh fuzz TARGET|all [--seconds N]; TARGET is one of: $FUZZ_TARGETS" >&2
    return 2
  fi
  fuzz_setup || return 1
  local t failed=0
  for t in $( [ "$target" = all ] && echo "$FUZZ_TARGETS" || echo "$target" ); do
    fuzz_one "$t" "$seconds" || failed=1
  done
  return $failed
}

cmd=${1:-test}
shift || true
case "$cmd" in
  test)
    rm -rf "$RESULTS"
    if ! (build); then
      # Nothing can run: still end with the summary line, counting the build as one failure.
      count_failure build
      summarise
      exit 1
    fi
    run_tests unit tests/PgRuntimeAgent.Tests
    # The lab: real PostgreSQL/Patroni/etcd/pgBackRest/Prometheus on 127.0.0.10-13. Always brought down afterwards.
    trap 'pgra lab down >/dev/null 2>&1 || true' EXIT
    # Always from a fresh lab: a lab left behind by an interrupted run (a fault still in place, WAL of timelines a
    # later promotion reuses, an archive it cannot write) must not decide the outcome. PGRA_KEEP_LAB=1 reuses it.
    if [ "${PGRA_KEEP_LAB:-0}" != 1 ]; then
      pgra lab down --purge || echo "warning: the old lab could not be removed; reusing it" >&2
    fi
    if ! pgra lab up; then
      echo "error: the lab did not come up; lab tests will report it" >&2
    fi
    run_tests lab tests/PgRuntimeAgent.LabTests
    pgra lab down || true
    trap - EXIT
    fuzz_ci
    summarise
    ;;
  bench)
    need_dotnet
    dotnet run -c "$CONFIG" --project tests/bench/PgRuntimeAgent.Bench -- "$@"
    ;;
  pgra)
    build >/dev/null || exit 1
    pgra "$@"
    ;;
  fuzz)
    fuzz "$@"
    exit $?
    ;;
  *)
    echo "usage: ./build.sh test|bench|pgra ARGS|fuzz TARGET|all [--seconds N]" >&2
    exit 2
    ;;
esac
