#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit, C ABI, end-to-end with
# the real daemon, clients and CLI, the install/package check), then the fuzzers for 15 s each.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh default
ctest --preset default --timeout 300
# The libFuzzer targets (fuzz/), built with clang, each run for a bounded time on its corpus.
./scripts/build.sh fuzz
ctest --preset fuzz
