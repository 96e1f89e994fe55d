#!/usr/bin/env bash
# Builds the benchmarks, starts a ttmemd on a private socket, runs the client benchmarks with
# tracking enabled (live daemon) and disabled, and prints one table: figure, target, measured,
# ratio to the proof-of-concept baseline measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake --preset default -DTTMEM_BUILD_BENCH=ON >/dev/null
cmake --build --preset default --target ttmem_client_bench ttmem_daemon_bench ttmemd >/dev/null
dir=$(mktemp -d /tmp/ttmem-bench-XXXXXX)
trap 'kill $daemon 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
build/bin/ttmemd --socket "$dir/d.sock" 2>"$dir/ttmemd.log" &
daemon=$!
sleep 0.3
reps=${BENCH_REPETITIONS:-5}
common=(--benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true --benchmark_format=json)
TT_ALLOC_TRACKING_ENABLED=1 TTMEM_SOCKET="$dir/d.sock" build/bin/ttmem_client_bench "${common[@]}" \
  --benchmark_out="$dir/enabled.json" >/dev/null
TT_ALLOC_TRACKING_ENABLED=0 build/bin/ttmem_client_bench "${common[@]}" \
  --benchmark_filter='BM_HotPath/real_time/threads:1$' --benchmark_out="$dir/disabled.json" >/dev/null
TT_ALLOC_TRACKING_ENABLED=1 TTMEM_SOCKET="$dir/d.sock" build/bin/ttmem_daemon_bench \
  --benchmark_format=json --benchmark_out="$dir/daemon.json" >/dev/null
python3 - "$dir/enabled.json" "$dir/disabled.json" "$dir/daemon.json" <<'PY'
import json, sys
def med(path):
    out = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") == "median":
            out[b["run_name"]] = b
    return out
en, dis = med(sys.argv[1]), med(sys.argv[2])
daemon = {b["run_name"]: b for b in json.load(open(sys.argv[3]))["benchmarks"]}
mem = next(b for n, b in daemon.items() if n.startswith("BM_MemoryPerLiveBuffer"))
ingest = next(b for n, b in daemon.items() if n.startswith("BM_DaemonIngest"))
def ns(b):
    return b["ns_per_event"] * 1e9 if "ns_per_event" in b else b["real_time"] / 2
base1 = ns(en["BM_PocBaseline/real_time/threads:1"])
rows = [
    ("hot path, 1 thread, live daemon (ns/event)", "<= 25", ns(en["BM_HotPath/real_time/threads:1"])),
    ("hot path, 2 threads (ns/event per thread)", "<= 60", ns(en["BM_HotPath/real_time/threads:2"]) * 2),
    ("hot path, 4 threads (ns/event per thread)", "-", ns(en["BM_HotPath/real_time/threads:4"]) * 4),
    ("tracking disabled (ns/call)", "<= 1", ns(dis["BM_HotPath/real_time/threads:1"])),
    ("proof of concept: blocking send, 1 thread (ns/event)", "baseline", base1),
    ("proof of concept: 2 threads (ns/event per thread)", "-", ns(en["BM_PocBaseline/real_time/threads:2"]) * 2),
    ("ledger alloc or free, 100k live (ns/op)", "-", en["BM_LedgerAllocFree"]["real_time"] / 2),
]
print(f"{'figure':58} {'target':>9} {'measured':>10} {'x faster than PoC':>18}")
for name, target, value in rows:
    print(f"{name:58} {target:>9} {value:10.2f} {base1 / value:18.1f}")
print(f"{'daemon ingest, 4 producer processes (M events/s)':58} {'>= 10':>9} "
      f"{ingest['events_per_second'] / 1e6:10.2f}   (dropped {int(ingest['dropped'])})")
print(f"{'daemon memory per live buffer at 1M (bytes)':58} {'<= 100':>9} "
      f"{mem['bytes_per_buffer']:10.1f}")
PY
