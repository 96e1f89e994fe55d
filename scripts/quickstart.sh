#!/usr/bin/env bash
# Installs what is missing, builds, starts ttmemd (unless one already answers), runs the built-in
# simulated workload and opens the live view. When stdout is not a terminal, prints the status
# table once and exits 0. Stops what it started on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh default >/dev/null
bin=build/bin
started=()
# Stop in reverse order: the workload first (it flushes to the daemon), then the daemon.
cleanup() {
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    kill "${started[i]}" 2>/dev/null || true
    wait "${started[i]}" 2>/dev/null || true
  done
}
trap cleanup EXIT
if ! "$bin/ttmem" status >/dev/null 2>&1; then
  "$bin/ttmemd" 2>build/ttmemd.log &   # default socket, or $TTMEM_SOCKET
  started+=($!)
  for _ in $(seq 50); do "$bin/ttmem" status >/dev/null 2>&1 && break; sleep 0.1; done
fi
"$bin/ttmem" sim churn --system t3000 --threads 2 --rate 200 --scale 8 --seconds 0 2>build/ttmem-sim.log &
started+=($!)
# Wait until the workload shows up with memory in use, so the first screen is not empty.
for _ in $(seq 50); do
  "$bin/ttmem" status --json 2>/dev/null | grep -q '"name": "ttmem-sim"' && break
  sleep 0.1
done
sleep 0.5
"$bin/ttmem" top -r 500
