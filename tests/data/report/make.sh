#!/usr/bin/env bash
# Makes the recordings the report's golden test keeps (tests/report_golden_test.cc), with a
# private ttmemd: the simulator's leak (3 rounds), traced_model and a short churn on 2 devices.
# Then the golden documents: TTMEM_UPDATE_GOLDEN=1 build/bin/ttmem_e2e_tests
#   --gtest_filter='Recordings/ReportGolden.*'. Run from the repository root after a build.
set -euo pipefail
cd "$(dirname "$0")"
bin=../../../build/bin
dir=$(mktemp -d /tmp/ttmem-golden-XXXXXX)
trap 'kill "$daemon" 2>/dev/null; rm -rf "$dir"' EXIT
"$bin/ttmemd" --socket "$dir/d.sock" 2>"$dir/ttmemd.log" &
daemon=$!
sleep 0.5
rec() { "$bin/ttmem" record --socket "$dir/d.sock" -q -o "$1" -- "$bin/ttmem" sim --socket "$dir/d.sock" "${@:2}"; }
rm -f leak.db traced_model.db churn.db
rec leak.db leak --repeat 3
rec traced_model.db traced_model
rec churn.db churn --threads 2 --seconds 0.5 --rate 20000 --mesh 1x2
rm -f ./*.db-shm ./*.db-wal
