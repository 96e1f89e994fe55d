#!/usr/bin/env bash
# Configures and builds the Release preset into build/ (2 parallel jobs: the machines have 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset "${1:-default}" >/dev/null
cmake --build --preset "${1:-default}"
