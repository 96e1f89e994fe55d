#!/usr/bin/env bash
# ctest TtMetal.RealShmWriter: builds tt-metal's own shared-memory statistics writer from the tree
# TT_METAL_HOME names (build_shm_writer.sh; exit 77, skipped, without one) and runs RealWriter.*
# against it. Usage: real_writer_test.sh OUT_DIR E2E_TEST_BINARY
set -euo pipefail
out=${1:?}
e2e=${2:?}
rc=0
"$(dirname "$0")/build_shm_writer.sh" "$out" || rc=$?
((rc == 0)) || exit "$rc"
echo "tt-metal commit: $(cat "$out/commit" 2>/dev/null)"
v4=()
[[ -x "$out/shm_writer_v4" ]] && v4=(TTMEM_TT_METAL_SHM_WRITER_V4="$out/shm_writer_v4")
env TTMEM_TT_METAL_SHM_WRITER="$out/shm_writer" "${v4[@]}" "$e2e" --gtest_filter='*RealWriter.*'
