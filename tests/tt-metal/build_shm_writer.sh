#!/usr/bin/env bash
# Builds tests/tt-metal/shm_writer.cc with tt-metal's own memory_stats_shm.cpp from the tree
# TT_METAL_HOME names, into OUT_DIR/shm_writer. The one change to tt-metal's file, made in a copy
# in OUT_DIR: its two reads of run-time options through MetalContext (verbose logging and the
# per-process switch) go to a stub returning the defaults, since a MetalContext needs a whole
# cluster; and update_allocator_stats.cpp (the CB path) gets a stand-in Device. Logging is
# tt-logger's, header-only. Exit 77 (skipped) with one line without a tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: TT_METAL_HOME=TREE build_shm_writer.sh OUT_DIR}
tree=${TT_METAL_HOME:-}
src="$tree/tt_metal/impl/memory_tracking/memory_stats_shm.cpp"
if [[ -z "$tree" || ! -f "$src" ]]; then
  echo "skipped: no tt-metal tree with memory_stats_shm.cpp (set TT_METAL_HOME; scripts/tt-metal-tree.sh DIR assembles one, see docs/tt-metal.md)"
  exit 77
fi
mkdir -p "$out"
cat >"$out/metal_context_stub.hpp" <<'STUB'
// Stand-in for MetalContext::instance().rtoptions() in memory_stats_shm.cpp: the defaults.
#pragma once
namespace ttmem_stub {
struct RunTimeOptions {
  bool get_shm_verbose() const { return false; }
  bool get_shm_tracking_disabled() const { return false; }
};
inline const RunTimeOptions& rtoptions() {
  static RunTimeOptions o;
  return o;
}
}  // namespace ttmem_stub
STUB
# update_allocator_stats.cpp (tt-metal's CB path: update_from_allocator(Device*)) asks a Device for
# its id and its CB total: a stand-in Device that answers with what the writer is told.
cat >"$out/device_stub.hpp" <<'STUB'
// Stand-in for tt-metal's Device in update_allocator_stats.cpp: an id and a CB total.
#pragma once
#include <cstdint>
namespace tt::tt_metal {
class Device {
 public:
  Device(int id, uint64_t cb) : id_(id), cb_(cb) {}
  int id() const { return id_; }
  uint64_t get_total_cb_allocated() const { return cb_; }

 private:
  int id_;
  uint64_t cb_;
};
}  // namespace tt::tt_metal
STUB
sed -e 's|#include "impl/device/device_impl.hpp"|#include "device_stub.hpp"|' \
  "$tree/tt_metal/impl/memory_tracking/update_allocator_stats.cpp" >"$out/update_allocator_stats.cpp"
sed -e 's|#include "impl/context/metal_context.hpp"|#include "metal_context_stub.hpp"|' \
  -e 's|MetalContext::instance()\.rtoptions()|ttmem_stub::rtoptions()|g' "$src" >"$out/memory_stats_shm.cpp"
if grep -q "MetalContext" "$out/memory_stats_shm.cpp"; then
  echo "build_shm_writer: memory_stats_shm.cpp uses MetalContext in a way this stub does not cover" >&2
  exit 2
fi
includes=()
while read -r d; do includes+=("-I$d"); done <"$tree/.ttmem-include-dirs"
more=()
[[ -f "$tree/.ttmem-cxxflags" ]] && read -r -a more <"$tree/.ttmem-cxxflags"
g++ -std=c++20 -O2 -Wall -Werror -Wno-deprecated-declarations -DFMT_HEADER_ONLY \
  -DSPDLOG_FMT_EXTERNAL "${more[@]}" -I"$out" "${includes[@]}" \
  "$out/memory_stats_shm.cpp" "$out/update_allocator_stats.cpp" "$root/tests/tt-metal/shm_writer.cc" \
  -o "$out/shm_writer" -lpthread -lrt
(cd "$tree" && sed -n 's/^apande-TT\/tt-metal //p' .ttmem-tree-commits 2>/dev/null) >"$out/commit" || true
echo "built $out/shm_writer from $src"
