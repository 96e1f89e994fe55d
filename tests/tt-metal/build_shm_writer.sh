#!/usr/bin/env bash
# Builds tests/tt-metal/shm_writer.cc with tt-metal's own memory_stats_shm.cpp from the tree
# TT_METAL_HOME names, into OUT_DIR/shm_writer. The one change to tt-metal's file, made in a copy
# in OUT_DIR: its two reads of run-time options through MetalContext (verbose logging and the
# per-process switch) go to a stub returning the defaults, since a MetalContext needs a whole
# cluster; and update_allocator_stats.cpp (the CB path) gets a stand-in Device. Logging is
# tt-logger's, header-only. Exit 77 (skipped) with one line without a tree. With
# TTMEM_TT_METAL_V4_DIR, also OUT_DIR/shm_writer_v4 from PR #53721's v4 files (see below).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: TT_METAL_HOME=TREE build_shm_writer.sh OUT_DIR}
tree=${TT_METAL_HOME:-}
src="$tree/tt_metal/impl/memory_tracking/memory_stats_shm.cpp"
if [[ -z "$tree" || ! -f "$src" ]]; then
  echo "skipped: no tt-metal source tree with tt_metal/impl/memory_tracking/memory_stats_shm.cpp (set TT_METAL_HOME to a tt-metal checkout; scripts/tt-metal-tree.sh DIR MIRRORS assembles one, see docs/tt-metal.md)"
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
# Copies of one writer's sources in DIR, with the stubs in place of MetalContext and Device.
prepare() {
  local from_cpp=$1 from_cb=$2 dir=$3
  mkdir -p "$dir"
  sed -e 's|#include "impl/device/device_impl.hpp"|#include "device_stub.hpp"|' "$from_cb" \
    >"$dir/update_allocator_stats.cpp"
  sed -e 's|#include "impl/context/metal_context.hpp"|#include "metal_context_stub.hpp"|' \
    -e 's|MetalContext::instance()\.rtoptions()|ttmem_stub::rtoptions()|g' "$from_cpp" \
    >"$dir/memory_stats_shm.cpp"
  if grep -q "MetalContext" "$dir/memory_stats_shm.cpp"; then
    echo "build_shm_writer: $from_cpp uses MetalContext in a way this stub does not cover" >&2
    exit 2
  fi
}
# shellcheck source=../../scripts/tt-metal-env.sh
. "$root/scripts/tt-metal-env.sh"
if ! tt_metal_find; then
  echo "build_shm_writer: $tt_why" >&2
  exit 2
fi
includes=("${tt_includes[@]}")
more=("${tt_extra_flags[@]}")
# compile DIR OUTPUT [flags...]: DIR's copies with shm_writer.cc; DIR comes first on the include
# path, so a header placed under DIR/impl/memory_tracking/ is the one used.
compile() {
  local dir=$1 output=$2
  shift 2
  g++ -std=c++20 -O2 -Wall -Werror -Wno-deprecated-declarations -DFMT_HEADER_ONLY \
    -DSPDLOG_FMT_EXTERNAL "${more[@]}" "$@" -I"$dir" -I"$out" "${includes[@]}" \
    "$dir/memory_stats_shm.cpp" "$dir/update_allocator_stats.cpp" \
    "$root/tests/tt-metal/shm_writer.cc" -o "$output" -lpthread -lrt
}
prepare "$src" "$tree/tt_metal/impl/memory_tracking/update_allocator_stats.cpp" "$out/v3"
compile "$out/v3" "$out/shm_writer"
(cd "$tree" && sed -n 's/^apande-TT\/tt-metal //p' .ttmem-tree-commits 2>/dev/null) >"$out/commit" || true
echo "built $out/shm_writer from $src"

# The v4 writer of the still-open PR #53721, when given: TTMEM_TT_METAL_V4_DIR names a directory
# with that revision's memory_stats_shm.hpp, memory_stats_shm.cpp and update_allocator_stats.cpp
# (docs/tt-metal.md says where they are read). Built against the same tree for everything else.
rm -f "$out/shm_writer_v4"
v4=${TTMEM_TT_METAL_V4_DIR:-}
if [[ -z "$v4" ]]; then
  echo "v4 writer: not built (set TTMEM_TT_METAL_V4_DIR to PR #53721's three memory_tracking files)"
elif [[ ! -f "$v4/memory_stats_shm.hpp" || ! -f "$v4/memory_stats_shm.cpp" ||
  ! -f "$v4/update_allocator_stats.cpp" ]]; then
  echo "build_shm_writer: TTMEM_TT_METAL_V4_DIR=$v4 lacks memory_stats_shm.hpp, memory_stats_shm.cpp or update_allocator_stats.cpp" >&2
  exit 2
else
  prepare "$v4/memory_stats_shm.cpp" "$v4/update_allocator_stats.cpp" "$out/v4"
  mkdir -p "$out/v4/impl/memory_tracking"
  cp "$v4/memory_stats_shm.hpp" "$out/v4/impl/memory_tracking/"
  compile "$out/v4" "$out/shm_writer_v4" -DTTMEM_SHM_WRITER_V4
  echo "built $out/shm_writer_v4 from $v4"
fi
