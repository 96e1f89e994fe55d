#!/usr/bin/env bash
# ttmem's CB residency at dispatch against tt-metal's own CB accounting code, one run
# (bench/upstream_cb_bench.cc). Needs a tt-metal tree: TT_METAL_HOME=TREE bench/upstream_cb.sh
# (scripts/tt-metal-tree.sh assembles one). Extracts Device::get_total_cb_allocated() and
# ProgramImpl::get_cb_l1_regions_per_core() from the tree into the build directory only.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=${TT_METAL_HOME:?set TT_METAL_HOME to a tt-metal tree (scripts/tt-metal-tree.sh DIR makes one)}
out=build/upstream-cb
mkdir -p "$out"
# A function from its definition line to the first "}" at column 0 after it.
extract() {
  awk -v start="$2" 'index($0, start) == 1 { on = 1 } on { print } on && /^}/ { exit }' "$1"
}
{
  echo "// Extracted from $tree ($(cat "$tree/.ttmem-tree-commits" 2>/dev/null | head -1)); not part of ttmem."
  extract "$tree/tt_metal/impl/program/program.cpp" \
    "std::map<CoreCoord, std::vector<std::pair<uint64_t, uint64_t>>> detail::ProgramImpl::get_cb_l1_regions_per_core("
  extract "$tree/tt_metal/impl/device/device.cpp" "uint64_t Device::get_total_cb_allocated() const {"
} >"$out/upstream_cb_extracted.inc"
grep -q get_total_cb_allocated "$out/upstream_cb_extracted.inc" || {
  echo "upstream_cb: Device::get_total_cb_allocated() not found in $tree" >&2
  exit 2
}
# core_coord.cpp includes Tracy's header for nothing it uses here: an empty stand-in.
mkdir -p "$out/stubs/tracy"
echo "// stand-in for Tracy's header (profiling off)" >"$out/stubs/tracy/Tracy.hpp"
cmake --build build --target ttmem ttmem_integration ttmemd >/dev/null
includes=()
while read -r d; do includes+=("-I$d"); done <"$tree/.ttmem-include-dirs"
more=()
[[ -f "$tree/.ttmem-cxxflags" ]] && read -r -a more <"$tree/.ttmem-cxxflags"
g++ -std=c++20 -O3 -DNDEBUG -DFMT_HEADER_ONLY -DSPDLOG_FMT_EXTERNAL -Wno-deprecated-declarations \
  "${more[@]}" "${includes[@]}" -I"$out/stubs" \
  -Iinclude -Iintegrations -I"$out" bench/upstream_cb_bench.cc \
  "$tree/tt_metal/common/core_coord.cpp" "$tree/tt_metal/third_party/umd/device/types/xy_pair.cpp" -o "$out/upstream_cb_bench" \
  build/lib/libttmem_integration.a -Lbuild/lib -lttmem -Wl,-rpath,"$PWD/build/lib" \
  -lbenchmark -lpthread
dir=$(mktemp -d /tmp/ttmem-upstream-cb-XXXXXX)
build/bin/ttmemd --socket "$dir/d.sock" 2>"$dir/ttmemd.log" &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
sleep 0.3
TT_ALLOC_TRACKING_ENABLED=1 TTMEM_SOCKET="$dir/d.sock" "$out/upstream_cb_bench" \
  --benchmark_repetitions="${BENCH_REPETITIONS:-5}" --benchmark_report_aggregates_only=true "$@"
