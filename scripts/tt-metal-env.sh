# Sourced by the scripts that compile against tt-metal (scripts/tt-metal-build.sh,
# tests/tt-metal/*.sh): finds, in the tree TT_METAL_HOME names, the include directories and the
# directory of libtt_metal.so. Three layouts, each relocatable (paths are taken relative to
# TT_METAL_HOME):
#   - a built tt-metal distribution: include-dirs.txt (one directory a line, relative) and lib/;
#   - a tree from scripts/tt-metal-tree.sh: .ttmem-include-dirs (relative) and no libraries;
#   - a tt-metal checkout (build_metal.sh): its source folders, build*/lib, .cpmcache headers.
# Sets: tt_tree (absolute), tt_includes (-I flags), tt_libdir ("" when there are no libraries),
# tt_extra_flags (what the tree says it needs). tt_metal_find returns 1 with tt_why set when the
# tree is missing or incomplete.
tt_metal_find() {
  tt_tree="" tt_includes=() tt_libdir="" tt_extra_flags=() tt_why=""
  if [[ -z "${TT_METAL_HOME:-}" ]]; then
    tt_why="TT_METAL_HOME is not set"
    return 1
  fi
  if [[ ! -d "$TT_METAL_HOME" ]]; then
    tt_why="TT_METAL_HOME=$TT_METAL_HOME is not a directory"
    return 1
  fi
  tt_tree=$(cd "$TT_METAL_HOME" && pwd)
  local list="" d
  for f in include-dirs.txt .ttmem-include-dirs; do
    [[ -f "$tt_tree/$f" ]] && { list="$tt_tree/$f"; break; }
  done
  if [[ -n "$list" ]]; then
    while IFS= read -r d; do
      [[ -z "$d" ]] && continue
      [[ "$d" == /* ]] || d="$tt_tree/$d"
      tt_includes+=("-I$d")
    done <"$list"
  else
    for d in tt_metal/api tt_metal/api/tt-metalium tt_metal tt_metal/common tt_metal/llrt . tt_stl \
      tt_metal/hostdevcommon/api tt_metal/hw/inc tt_metal/third_party/umd/device/api \
      tt_metal/third_party/umd tt_metal/impl; do
      tt_includes+=("-I$tt_tree/$d")
    done
    for d in "$tt_tree"/.cpmcache/*/*/include "$tt_tree"/build*/_deps/*-src/include \
      "$tt_tree"/build*/tt_metal/llrt/hal/codegen*; do
      [[ -d "$d" ]] && tt_includes+=("-I$d")
    done
  fi
  local found=0
  for d in "${tt_includes[@]}"; do
    [[ -f "${d#-I}/tt-metalium/graph_tracking.hpp" ]] && found=1
  done
  if ((!found)); then
    tt_why="no tt-metalium/graph_tracking.hpp under the include directories of $tt_tree"
    return 1
  fi
  for d in "${TT_METAL_LIB_DIR:-}" "$tt_tree/lib" "$tt_tree/build/lib" "$tt_tree"/build_*/lib; do
    if [[ -n "$d" && -f "$d/libtt_metal.so" ]]; then
      tt_libdir=$(cd "$d" && pwd)
      break
    fi
  done
  if [[ -f "$tt_tree/.ttmem-cxxflags" ]]; then read -r -a tt_extra_flags <"$tt_tree/.ttmem-cxxflags"; fi
  return 0
}

# How to get a tree, for the skip line.
tt_metal_how() {
  echo "set TT_METAL_HOME to a built tt-metal (its include-dirs.txt and lib/, or a checkout built with build_metal.sh); scripts/tt-metal-tree.sh DIR assembles a source-only tree from snapshots (docs/tt-metal.md)"
}
