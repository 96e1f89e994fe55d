#!/usr/bin/env bash
# Builds libttmem_tt_metal.so (ttmem's processor for stock tt-metal) against the tt-metal tree
# that TT_METAL_HOME names, with GCC >= 12 and tt-metal's own warning flags, -Werror. ttmem's
# CMake build never needs tt-metal; this is the one place that does (docs/tt-metal.md).
#
# Usage: TT_METAL_HOME=TREE scripts/tt-metal-build.sh OUT_DIR [LIBTTMEM_DIR] [--probe]
#   OUT_DIR gets libttmem_tt_metal.so; LIBTTMEM_DIR holds libttmem.so (default build/lib).
#   --probe also builds OUT_DIR/ttmem_tt_metal_probe (tests/tt-metal/probe.cc), which needs
#   tt-metal's libraries; --bench builds OUT_DIR/ttmem_tt_metal_alloc_cost
#   (bench/tt-metal/alloc_cost.cc). Extra flags (sanitizers) in TT_METAL_EXTRA_CXXFLAGS.
# Exit 77 (skipped) with one line when there is no tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tt-metal-env.sh
. "$root/scripts/tt-metal-env.sh"
probe=0 bench=0
args=()
for a in "$@"; do
  case "$a" in
    --probe) probe=1 ;;
    --bench) bench=1 ;;
    *) args+=("$a") ;;
  esac
done
out=${args[0]:?usage: TT_METAL_HOME=TREE scripts/tt-metal-build.sh OUT_DIR [LIBTTMEM_DIR] [--probe]}
libdir=$(cd "${args[1]:-$root/build/lib}" && pwd)
if ! tt_metal_find; then
  echo "skipped: no tt-metal tree ($tt_why); $(tt_metal_how)"
  exit 77
fi
cxx=${CXX_TT_METAL:-g++}
major=$("$cxx" -dumpversion | cut -d. -f1)
if ((major < 12)); then
  echo "tt-metal-build: $cxx is GCC $major; tt-metal needs GCC >= 12" >&2
  exit 2
fi
# tt-metal's compile options (its top-level CMakeLists.txt, GCC) and C++20.
read -r -a extra <<<"${TT_METAL_EXTRA_CXXFLAGS:-}"
flags=(-std=c++20 -O2 -fPIC -fvisibility-inlines-hidden -Wall -Werror -Wno-deprecated-declarations
  -Wno-array-bounds -Wno-deprecated -Wno-int-in-bool-context -Wno-maybe-uninitialized
  -Wno-non-template-friend -Wno-restrict -Wno-sign-compare -Wno-strict-aliasing
  -Wno-stringop-overflow -Wno-stringop-overread -Wno-unused-local-typedefs -Wno-pessimizing-move
  -Wno-dangling-reference -Wno-overloaded-virtual -DFMT_HEADER_ONLY -DSPDLOG_FMT_EXTERNAL
  "${tt_extra_flags[@]}" "${extra[@]}")
mkdir -p "$out"
out=$(cd "$out" && pwd)
objs=()
for src in integrations/tt-metal/ttmem_tt_metal.cpp integrations/ttmem_tracking.cc integrations/thread_start.cc; do
  obj="$out/$(basename "$src").o"
  "$cxx" "${flags[@]}" "${tt_includes[@]}" -I"$root/include" -I"$root/integrations" -I"$root/src" -c "$root/$src" -o "$obj"
  objs+=("$obj")
done
# Against a tree with libraries the library is linked to libtt_metal.so, so that LD_PRELOAD
# brings tt-metal in first (a Python process loads it only at `import ttnn`). Against a
# source-only tree it is linked as far as it can be: tt-metal's symbols stay undefined, to
# resolve in a process that has tt-metal loaded. -rpath-link: libtt_metal.so's own dependencies
# sit beside it.
metal=()
[[ -n "$tt_libdir" ]] && metal=(-L"$tt_libdir" -ltt_metal -Wl,-rpath-link,"$tt_libdir" -Wl,-rpath,"$tt_libdir")
"$cxx" "${extra[@]}" -shared -o "$out/libttmem_tt_metal.so" "${objs[@]}" -L"$libdir" -lttmem "${metal[@]}" -ldl \
  -Wl,-rpath,'$ORIGIN' -Wl,-rpath,"$libdir"
if [[ -n "$tt_libdir" ]]; then
  echo "built $out/libttmem_tt_metal.so against $tt_tree, linked to $tt_libdir/libtt_metal.so"
else
  echo "built $out/libttmem_tt_metal.so against $tt_tree (no libtt_metal.so there: tt-metal symbols left to the process)"
fi
if ((probe || bench)) && [[ -z "$tt_libdir" ]]; then
  echo "tt-metal-build: the probe and the benchmark need tt-metal's libraries; $tt_tree has no libtt_metal.so (lib/, build/lib/ or TT_METAL_LIB_DIR)" >&2
  exit 2
fi
if ((probe)); then
  "$cxx" "${flags[@]}" -O1 "${tt_includes[@]}" "$root/tests/tt-metal/probe.cc" -o "$out/ttmem_tt_metal_probe" \
    -L"$tt_libdir" -ltt_metal -ltt_stl -Wl,-rpath-link,"$tt_libdir" -Wl,-rpath,"$tt_libdir" -ldl -lpthread
  echo "built $out/ttmem_tt_metal_probe"
fi
if ((bench)); then
  "$cxx" "${flags[@]}" -O2 "${tt_includes[@]}" "$root/bench/tt-metal/alloc_cost.cc" -o "$out/ttmem_tt_metal_alloc_cost" \
    -L"$tt_libdir" -ltt_metal -ltt_stl -lbenchmark -Wl,-rpath-link,"$tt_libdir" -Wl,-rpath,"$tt_libdir" -lpthread
  echo "built $out/ttmem_tt_metal_alloc_cost"
fi
