#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit, C ABI, end-to-end with
# the real daemon, clients and CLI, and the install/package check).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh default
ctest --preset default --timeout 300
