#!/usr/bin/env bash
# The cost of tracking inside a real tt-metal process (mock devices), docs/benchmarks.md.
# Builds bench/tt-metal/alloc_cost.cc and the shell against the tree TT_METAL_HOME names, then
# runs five configurations in alternation, ROUNDS rounds, each a fresh process:
#   none     tt-metal's statistics tracker off, no processor
#   empty    tracker off, a processor that does nothing (GraphTracker's own dispatch: the floor)
#   tt-metal tt-metal's statistics tracker (its default)
#   ttmem    tracker off, ttmem's processor (LD_PRELOAD) reporting to a private ttmemd
#   both     tt-metal's tracker and ttmem's processor
# and prints the median ns per create+destroy of each, for a 4 KiB DRAM buffer on one chip of
# DESC and a replicated 4 KiB DRAM mesh buffer on MESH_DESC's chips.
# Usage: TT_METAL_HOME=TREE bench/tt_metal_cost.sh [ROUNDS]   (7)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/tt-metal-env.sh"
rounds=${1:-7}
if ! tt_metal_find || [[ -z "$tt_libdir" ]]; then
  echo "tt_metal_cost: needs a built tt-metal in TT_METAL_HOME (${tt_why:-no libtt_metal.so}); $(tt_metal_how)" >&2
  exit 2
fi
out=$root/build/tt-metal-bench
"$root/scripts/tt-metal-build.sh" "$out" "$root/build/lib" --bench >/dev/null
rm -rf "$out/runtime"
if [[ -d "$tt_tree/runtime/tt_metal" ]]; then cp -r "$tt_tree/runtime" "$out/runtime"; else
  mkdir -p "$out/runtime" && cp -r "$tt_tree/tt_metal" "$out/runtime/"; fi
chmod -R u+w "$out/runtime"
if [[ "${TTMEM_COST_IN_NS:-}" != 1 ]]; then  # a private /dev/shm for tt-metal's regions
  ns=(unshare --mount --propagation private)
  [[ $(id -u) -eq 0 ]] || ns=(unshare --map-root-user --mount --propagation private)
  exec "${ns[@]}" sh -c 'mount -t tmpfs -o mode=1777 ttmem-bench-shm /dev/shm && TTMEM_COST_IN_NS=1 exec "$@"' sh "$0" "$@"
fi
work=$(mktemp -d)
trap 'kill $daemon 2>/dev/null; rm -rf "$work"' EXIT
"$root/build/bin/ttmemd" --socket "$work/d.sock" --shm-dir "" 2>"$work/d.log" &
daemon=$!
sleep 0.3
descs=$out/runtime/tt_metal/third_party/umd/tests/cluster_descriptor_examples
export LD_LIBRARY_PATH="$tt_libdir" TT_METAL_RUNTIME_ROOT="$out/runtime" TT_METAL_SLOW_DISPATCH_MODE=1 \
  TT_METAL_LOGGER_LEVEL=Error TTMEM_SOCKET="$work/d.sock"
run() {  # CONFIG DESC ROWS COLS FILTER -> ns per create+destroy
  local env=(TT_METAL_MOCK_CLUSTER_DESC_PATH="$descs/$2.yaml")
  case $1 in
    none) env+=(TT_METAL_SHM_TRACKING_DISABLED=1) ;;
    empty) env+=(TT_METAL_SHM_TRACKING_DISABLED=1 TTMEM_BENCH_EMPTY_PROCESSOR=1) ;;
    tt-metal) ;;
    ttmem) env+=(TT_METAL_SHM_TRACKING_DISABLED=1 TT_ALLOC_TRACKING_ENABLED=1 LD_PRELOAD="$out/libttmem_tt_metal.so") ;;
    both) env+=(TT_ALLOC_TRACKING_ENABLED=1 LD_PRELOAD="$out/libttmem_tt_metal.so") ;;
  esac
  # The result goes to a file, read once the process is gone: a reader running beside it would
  # take the core the daemon drains on (2 cores here) and slow only the ttmem configurations.
  env "${env[@]}" "$out/ttmem_tt_metal_alloc_cost" "$3" "$4" --benchmark_filter="$5" \
    --benchmark_out="$work/result.json" --benchmark_out_format=json >/dev/null 2>&1
  python3 -c '
import json, sys
print(json.load(open(sys.argv[1]))["benchmarks"][0]["ns_per_create_destroy"] * 1e9)  # seconds' \
    "$work/result.json"
}
configs=(none empty tt-metal ttmem both)
declare -A single mesh
for ((r = 0; r < rounds; r++)); do
  for c in "${configs[@]}"; do
    single[$c]+="$(run "$c" wormhole_N150 1 1 BM_CreateDestroyBuffer) "
    mesh[$c]+="$(run "$c" t3k_cluster_desc 2 4 BM_CreateDestroyMeshBuffer) "
  done
done
[[ -n "${TTMEM_COST_RAW:-}" ]] && for c in "${configs[@]}"; do echo "raw $c: ${single[$c]}| ${mesh[$c]}"; done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "rounds: $rounds; $(date -u +%F); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
printf '%-9s %22s %22s\n' config "N150 buffer (ns)" "T3K mesh buffer (ns)"
for c in "${configs[@]}"; do
  printf '%-9s %22.0f %22.0f\n' "$c" "$(median <<<"${single[$c]}")" "$(median <<<"${mesh[$c]}")"
done
