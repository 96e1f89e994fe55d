#!/usr/bin/env bash
# A/B of the daemon benchmarks that run against a live ttmemd: the same benchmarks against two
# ttmemd binaries, alternately, ROUNDS times (default 3), so both see the same machine. Prints each
# benchmark's counters per round and daemon.
# Usage: bench/ab_daemon.sh OLD_TTMEMD NEW_TTMEMD
#   FILTER (default: ingest, status at scale, ping under a snapshot flood) picks the benchmarks.
# Build the benchmarks first: bench/run.sh, or cmake --preset default -DTTMEM_BUILD_BENCH=ON &&
# cmake --build build --target ttmem_daemon_bench. (bench/ab_ingest.sh: ingest alone, through this.)
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?old ttmemd}
new=${2:?new ttmemd}
filter=${FILTER:-BM_DaemonIngest|BM_QueryAtScale|BM_PingUnderSnapshotFlood}
dir=$(mktemp -d /tmp/ttmem-ab-XXXXXX)
trap 'rm -rf "$dir"' EXIT
for round in $(seq "${ROUNDS:-3}"); do
  for which in old new; do
    bin=$old
    [ "$which" = new ] && bin=$new
    "$bin" --socket "$dir/$which.sock" --max-connections-per-uid 1024 --shm-dir '' 2>/dev/null &
    pid=$!
    sleep 0.3
    TT_ALLOC_TRACKING_ENABLED=1 TTMEM_SOCKET="$dir/$which.sock" build/bin/ttmem_daemon_bench \
      --benchmark_filter="$filter" --benchmark_format=json 2>/dev/null |
      python3 -c '
import json, sys
skip = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
        "iterations", "real_time", "cpu_time", "time_unit", "family_index",
        "per_family_instance_index", "aggregate_name", "error_occurred", "error_message"}
for b in json.load(sys.stdin)["benchmarks"]:
    counters = " ".join(f"{k}={v:.4g}" for k, v in b.items()
                        if k not in skip and isinstance(v, (int, float)))
    name = b["run_name"]
    print(f"round {sys.argv[2]} {sys.argv[1]:3} {name}: {counters}")
' "$which" "$round"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
done
