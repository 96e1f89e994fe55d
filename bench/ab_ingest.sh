#!/usr/bin/env bash
# A/B of daemon ingest: the same BM_DaemonIngest (paced and unpaced, 4 producer processes) against
# two ttmemd binaries, alternately, ROUNDS times (default 3), so both see the same machine.
# Usage: bench/ab_ingest.sh OLD_TTMEMD NEW_TTMEMD   (build the benchmarks first: bench/run.sh or
# cmake --preset default -DTTMEM_BUILD_BENCH=ON && cmake --build build --target ttmem_daemon_bench)
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?old ttmemd}
new=${2:?new ttmemd}
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
      --benchmark_filter='BM_DaemonIngest' --benchmark_format=json 2>/dev/null |
      python3 -c '
import json, sys
for b in json.load(sys.stdin)["benchmarks"]:
    kind = "paced" if b["run_name"].startswith("BM_DaemonIngest/1/") else "unpaced"
    rate, dropped = b["events_per_second"] / 1e6, int(b["dropped"])
    print(f"round {sys.argv[2]} {sys.argv[1]:3} {kind:7} {rate:6.2f} M events/s  dropped {dropped}")
' "$which" "$round"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
done
