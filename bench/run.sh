#!/usr/bin/env bash
# Builds the benchmarks, starts a ttmemd on a private socket, runs the client benchmarks with
# tracking enabled (live daemon) and disabled, and prints one table: figure, target, measured,
# ratio to the proof-of-concept baseline measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake --preset default -DTTMEM_BUILD_BENCH=ON >/dev/null
cmake --build --preset default --target ttmem_client_bench ttmem_daemon_bench ttmemd ttmem_cli_main >/dev/null
dir=$(mktemp -d /tmp/ttmem-bench-XXXXXX)
trap 'kill $daemon 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
# 256 client processes + the benchmark itself exceed the default per-uid connection limit (256).
build/bin/ttmemd --socket "$dir/d.sock" --max-connections-per-uid 1024 2>"$dir/ttmemd.log" &
daemon=$!
sleep 0.3
reps=${BENCH_REPETITIONS:-5}
common=(--benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true --benchmark_format=json)
TT_ALLOC_TRACKING_ENABLED=1 TTMEM_SOCKET="$dir/d.sock" build/bin/ttmem_client_bench "${common[@]}" \
  --benchmark_out="$dir/enabled.json" >/dev/null
TT_ALLOC_TRACKING_ENABLED=0 build/bin/ttmem_client_bench "${common[@]}" \
  --benchmark_filter='BM_HotPath/real_time/threads:1$' --benchmark_out="$dir/disabled.json" >/dev/null
# Against the live daemon, then (in a process of its own, so that its 10 M-entry heap does not
# shape the others' allocations) the in-process memory and status-building benchmarks.
TT_ALLOC_TRACKING_ENABLED=1 TTMEM_SOCKET="$dir/d.sock" build/bin/ttmem_daemon_bench \
  --benchmark_filter='Ingest|Query|Visible|Idle|Record|PingUnder' --benchmark_format=json \
  --benchmark_out="$dir/daemon.json" >/dev/null
build/bin/ttmem_daemon_bench --benchmark_filter='Memory|BuildStatus' --benchmark_format=json \
  --benchmark_out="$dir/inproc.json" >/dev/null
python3 - "$dir/enabled.json" "$dir/disabled.json" "$dir/daemon.json" "$dir/inproc.json" <<'PY'
import json, sys
def med(path):
    out = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") == "median":
            out[b["run_name"]] = b
    return out
en, dis = med(sys.argv[1]), med(sys.argv[2])
daemon = {b["run_name"]: b for f in sys.argv[3:5] for b in json.load(open(f))["benchmarks"]}
def find(prefix):
    return next(b for n, b in daemon.items() if n.startswith(prefix))
mem1, mem10 = find("BM_MemoryPerLiveBuffer/1000000/"), find("BM_MemoryPerLiveBuffer/10000000/")
paced, unpaced = find("BM_DaemonIngest/1/"), find("BM_DaemonIngest/0/")
query, visible, idle = find("BM_QueryAtScale"), find("BM_EventToVisible"), find("BM_IdleWakeups")
build_cold, build_warm = find("BM_BuildStatus/0"), find("BM_BuildStatus/1")
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
def line(name, target, value, note=""):
    print(f"{name:58} {target:>9} {value:10.2f}   {note}")
for label, b in (("paced", paced), ("unpaced", unpaced)):
    line(f"daemon ingest, 4 producers, {label} (M events/s)", ">= 10",
         b["events_per_second"] / 1e6, f"dropped {int(b['dropped'])}")
line("daemon memory per live buffer at 1M (bytes)", "-", mem1["bytes_per_buffer"])
line("daemon memory per live buffer at 10M (bytes)", "<= 100", mem10["bytes_per_buffer"])
line("status round trip, 32 dev/256 proc/1M buf, median (ms)", "<= 5", query["median_ms"],
     f"reply {query['reply_bytes'] / 1e6:.2f} MB")
line("status round trip at that scale, p99 (ms)", "-", query["p99_ms"],
     f"without the drain: median {query['median_nodrain_ms']:.2f}")
line("  of which building the reply, every process changed (ms)", "-", build_cold["real_time"])
line("  of which building the reply, no process changed (ms)", "-", build_warm["real_time"])
line("ingest alone / during back-to-back queries (M ev/s)", "-", query["ingest_alone_Meps"],
     f"with queries {query['ingest_with_queries_Meps']:.2f} "
     f"({int(query['queries_during_ingest'])} queries), dropped {int(query['dropped'])}")
line("event to visible (daemon's own drain), p99 (ms)", "<= 10", visible["p99_ms"],
     f"median {visible['median_ms']:.2f}, max {visible['max_ms']:.2f}")
line("idle daemon wakeups (per second)", "few", idle["wakeups_per_second"])
rec = find("BM_RecordDuringIngest")
flood = find("BM_PingUnderSnapshotFlood")
line("ping p99 while 4 conns snapshot a 1M-buffer process (ms)", "<= 50", flood["flood_p99_ms"],
     f"same run, no flood: p99 {flood['idle_p99_ms']:.2f}; median {flood['flood_median_ms']:.2f}, "
     f"max {flood['flood_max_ms']:.1f}; {flood['snapshots_per_s']:.1f} snapshots/s")
line("ttmem record: events stored per second (saturated)", "-", rec["recorded_per_second"] / 1e6,
     f"M/s; stored {int(rec['recorded_events'])} + lost {int(rec['lost_events'])} "
     f"of {int(rec['applied_events'])} applied; indices {rec['index_seconds']:.1f} s; "
     f"{rec['bytes_per_event']:.0f} B/event")
line("paced ingest, 2 producers: alone / while recording (M ev/s)", "-", rec["ingest_alone_Meps"],
     f"while recording {rec['ingest_recorded_Meps']:.2f} "
     f"(ratio {rec['ingest_recorded_Meps'] / rec['ingest_alone_Meps']:.2f})")
PY
