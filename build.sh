#!/usr/bin/env bash
# PgRuntimeAgent build entry point (README.md names these commands).
#   ./build.sh test      build warning-free, run unit tests, bring the loopback lab up, run lab tests, bring it down;
#                        ends with one line "N passed, N failed[, N skipped]" summing every test.
#   ./build.sh bench     run the benchmarks (they print figures).
#   ./build.sh pgra ARGS run the pgra CLI (Release build).
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
    if ! pgra lab up; then
      echo "error: the lab did not come up; lab tests will report it" >&2
    fi
    run_tests lab tests/PgRuntimeAgent.LabTests
    pgra lab down || true
    trap - EXIT
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
  *)
    echo "usage: ./build.sh test|bench|pgra ARGS" >&2
    exit 2
    ;;
esac
