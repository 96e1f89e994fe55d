#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit, C ABI, end-to-end with
# the real daemon, clients and CLI, the install/package check), the thread-safety analysis of the
# client's locks, then the fuzzers for 15 s each.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh default
ctest --preset default --timeout 300
# Clang's thread-safety analysis of the locks libttmem and the integration hold (issue 27).
./scripts/build.sh thread-safety
# The libFuzzer targets (fuzz/), built with clang, each run for a bounded time on its corpus.
./scripts/build.sh fuzz
ctest --preset fuzz
