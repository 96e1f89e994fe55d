#!/usr/bin/env bash
# A/B of daemon ingest alone: BM_DaemonIngest (paced and unpaced, 4 producer processes) against
# two ttmemd binaries, alternately, ROUNDS times (default 3). bench/ab_daemon.sh does the work.
# Usage: bench/ab_ingest.sh OLD_TTMEMD NEW_TTMEMD
exec env FILTER=BM_DaemonIngest "$(dirname "$0")/ab_daemon.sh" "$@"
