#!/usr/bin/env bash
# Assembles a tt-metal source tree that ttmem's tt-metal integration compiles against, from
# snapshots of the public repositories (bare git directories laid out as MIRRORS/OWNER+NAME/repo,
# e.g. `git clone --mirror`): tt-metal (apande-TT/tt-metal, a mirror of upstream
# main), its UMD submodule and the third-party headers its public headers include, plus the HAL
# headers tt-metal generates at build time (tt_metal/llrt/hal/codegen/codegen.sh). Nothing of it
# enters ttmem's repository. Then: TT_METAL_HOME=OUT ctest -L tt-metal (docs/tt-metal.md).
#
# The include list it writes (OUT/.ttmem-include-dirs) is relative to OUT, so the tree can be moved.
#
# Usage: scripts/tt-metal-tree.sh OUT MIRRORS
set -euo pipefail
out=${1:?usage: scripts/tt-metal-tree.sh OUT MIRRORS}
mirrors=${2:?usage: scripts/tt-metal-tree.sh OUT MIRRORS}

git_dir() {  # owner+name -> its git dir, or a clear error
  local d="$mirrors/$1/repo"
  if ! git --git-dir="$d" rev-parse HEAD >/dev/null 2>&1; then
    echo "tt-metal-tree: no snapshot of ${1/+//} in $d: make one first (git clone --mirror https://github.com/${1/+//} $d)" >&2
    exit 2
  fi
  echo "$d"
}
# Extracts REV:PATHS of a snapshot into DEST (REV falls back to HEAD when the snapshot lacks it).
extract() {
  local repo=$1 rev=$2 dest=$3
  shift 3
  local d
  d=$(git_dir "$repo")
  if ! git --git-dir="$d" cat-file -e "$rev^{commit}" 2>/dev/null; then
    echo "tt-metal-tree: ${repo/+//} has no $rev here; using its HEAD $(git --git-dir="$d" rev-parse --short HEAD)" >&2
    rev=HEAD
  fi
  mkdir -p "$dest"
  git --git-dir="$d" archive "$rev" "$@" | tar -x -C "$dest"
  echo "${repo/+//} $(git --git-dir="$d" rev-parse "$rev")" >>"$out/.ttmem-tree-commits"
}

mkdir -p "$out"
: >"$out/.ttmem-tree-commits"
# tt-metal: the headers and sources the integration and the tests use (the snapshot lacks some
# large media blobs, so not the whole tree).
extract apande-TT+tt-metal HEAD "$out" tt_metal tt_stl ttnn/api CMakeLists.txt
# Versions tt-metal pins (third_party/CMakeLists.txt, the umd submodule).
deps="$out/.ttmem-deps"
extract tenstorrent+tt-umd 453a1a1a91eaed19adb5508a946839685dacdb46 "$out/tt_metal/third_party/umd" device/api device/types
extract tenstorrent+tt-logger v1.1.8 "$deps/tt-logger" include
extract ZXShady+enchantum 8ca5b0eb7e7ebe0252e5bc6915083f1dd1b8294e "$deps/enchantum" enchantum/include
extract boost-ext+reflect v1.2.6 "$deps/reflect" reflect
extract gabime+spdlog v1.15.2 "$deps/spdlog" include
extract fmtlib+fmt 11.1.4 "$deps/fmt" include
# The HAL's generated headers (dev_msgs, fabric_telemetry), as tt-metal's build makes them.
(cd "$out" && bash tt_metal/llrt/hal/codegen/codegen.sh "$out" "$deps/hal-gen/hal/generated" >/dev/null)
# Include directories, in the order tt-metal's targets give them, relative to OUT.
cat >"$out/.ttmem-include-dirs" <<DIRS
tt_metal/api
tt_metal/api/tt-metalium
tt_metal
tt_metal/common
tt_metal/llrt
.
tt_stl
tt_metal/hostdevcommon/api
tt_metal/hw/inc
tt_metal/third_party/umd/device/api
tt_metal/third_party/umd
tt_metal/impl
.ttmem-deps/hal-gen
.ttmem-deps/tt-logger/include
.ttmem-deps/enchantum/enchantum/include
.ttmem-deps/reflect
.ttmem-deps/spdlog/include
.ttmem-deps/fmt/include
DIRS
# The spdlog snapshot here is 1.13 (tt-metal pins 1.15.2, which knows fmt 11's
# basic_format_string from <fmt/xchar.h>); with the pinned spdlog this file is not needed.
if grep -q "SPDLOG_VER_MINOR 13" "$deps/spdlog/include/spdlog/version.h"; then
  echo "-include fmt/xchar.h" >"$out/.ttmem-cxxflags"
fi
echo "tt-metal tree in $out (commits in $out/.ttmem-tree-commits)"
