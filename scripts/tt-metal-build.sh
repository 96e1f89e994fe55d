#!/usr/bin/env bash
# Builds libttmem_tt_metal.so (ttmem's processor for stock tt-metal) against the tt-metal tree
# that TT_METAL_HOME names, with GCC >= 12 and tt-metal's own warning flags, -Werror. ttmem's
# CMake build never needs tt-metal; this is the one place that does (docs/tt-metal.md).
#
# Usage: TT_METAL_HOME=TREE scripts/tt-metal-build.sh OUT_DIR [LIBTTMEM_DIR]
#   OUT_DIR gets libttmem_tt_metal.so; LIBTTMEM_DIR holds libttmem.so (default build/lib).
# Exit 77 (skipped) with one line when there is no tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: TT_METAL_HOME=TREE scripts/tt-metal-build.sh OUT_DIR [LIBTTMEM_DIR]}
libdir=${2:-$root/build/lib}
tree=${TT_METAL_HOME:-}
if [[ -z "$tree" || ! -f "$tree/tt_metal/api/tt-metalium/graph_tracking.hpp" ]]; then
  echo "skipped: no tt-metal tree (set TT_METAL_HOME to a tt-metal checkout; to assemble one from snapshots: scripts/tt-metal-tree.sh DIR, see docs/tt-metal.md)"
  exit 77
fi
cxx=${CXX_TT_METAL:-g++}
major=$("$cxx" -dumpversion | cut -d. -f1)
if ((major < 12)); then
  echo "tt-metal-build: $cxx is GCC $major; tt-metal needs GCC >= 12" >&2
  exit 2
fi
# Include directories: the ones scripts/tt-metal-tree.sh lists, or a built tt-metal's.
includes=()
if [[ -f "$tree/.ttmem-include-dirs" ]]; then
  while read -r d; do includes+=("-I$d"); done <"$tree/.ttmem-include-dirs"
else
  for d in tt_metal/api tt_metal/api/tt-metalium tt_metal tt_metal/common tt_metal/llrt . tt_stl tt_metal/hostdevcommon/api tt_metal/hw/inc \
    tt_metal/third_party/umd/device/api tt_metal/third_party/umd; do includes+=("-I$tree/$d"); done
  for d in "$tree"/.cpmcache/*/*/include "$tree"/build*/_deps/*-src/include "$tree"/build*/tt_metal/llrt/hal/codegen*; do
    [[ -d "$d" ]] && includes+=("-I$d")
  done
fi
# tt-metal's compile options (its top-level CMakeLists.txt, GCC) and C++20.
flags=(-std=c++20 -O2 -fPIC -fvisibility-inlines-hidden -Wall -Werror -Wno-deprecated-declarations
  -Wno-array-bounds -Wno-deprecated -Wno-int-in-bool-context -Wno-maybe-uninitialized
  -Wno-non-template-friend -Wno-restrict -Wno-sign-compare -Wno-strict-aliasing
  -Wno-stringop-overflow -Wno-stringop-overread -Wno-unused-local-typedefs -Wno-pessimizing-move
  -Wno-dangling-reference -Wno-overloaded-virtual -DFMT_HEADER_ONLY -DSPDLOG_FMT_EXTERNAL
  ${TT_METAL_EXTRA_CXXFLAGS:-})
# Flags scripts/tt-metal-tree.sh found its tree needs (a stand-in for a dependency's version).
if [[ -f "$tree/.ttmem-cxxflags" ]]; then read -r -a more <"$tree/.ttmem-cxxflags"; flags+=("${more[@]}"); fi
mkdir -p "$out"
objs=()
for src in integrations/tt-metal/ttmem_tt_metal.cpp integrations/ttmem_tracking.cc integrations/thread_start.cc; do
  obj="$out/$(basename "$src").o"
  "$cxx" "${flags[@]}" "${includes[@]}" -I"$root/include" -I"$root/integrations" -c "$root/$src" -o "$obj"
  objs+=("$obj")
done
# Against a built tree (build_metal.sh: build/lib/libtt_metal.so, or TT_METAL_LIB_DIR) the library
# is linked to libtt_metal.so, so that LD_PRELOAD brings tt-metal in first (a Python process
# loads it only at `import ttnn`). Against a source-only tree it is linked as far as it can be:
# tt-metal's symbols stay undefined, to resolve in a process that has tt-metal loaded.
metal=()
for d in "${TT_METAL_LIB_DIR:-}" "$tree/build/lib" "$tree"/build_*/lib; do
  if [[ -n "$d" && -f "$d/libtt_metal.so" ]]; then
    metal=(-L"$d" -ltt_metal -Wl,-rpath,"$d")
    break
  fi
done
"$cxx" -shared -o "$out/libttmem_tt_metal.so" "${objs[@]}" -L"$libdir" -lttmem "${metal[@]}" -ldl \
  -Wl,-rpath,'$ORIGIN' -Wl,-rpath,"$libdir"
if ((${#metal[@]})); then
  echo "built $out/libttmem_tt_metal.so against $tree, linked to ${metal[0]#-L}/libtt_metal.so"
else
  echo "built $out/libttmem_tt_metal.so against $tree (no libtt_metal.so there: tt-metal symbols left to the process)"
fi
