#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer, then ThreadSanitizer
# (too slow for .ci/run on 2 cores: about 10 minutes). Usage: scripts/sanitizers.sh [asan|tsan]...
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
for preset in "${@:-asan tsan}"; do
  for p in $preset; do
    ./scripts/build.sh "$p"
    ctest --preset "$p" --timeout 600
  done
done
