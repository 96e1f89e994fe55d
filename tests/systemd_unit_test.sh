#!/usr/bin/env bash
# ctest Packaging.SystemdUnitIsConfined: `systemd-analyze security --offline=true` rates the
# shipped unit, alone and with the metrics drop-in applied, at an exposure of 4.5 or less; the
# unit keeps the socket-activated socket across restarts and names exactly its two capabilities.
# Usage: systemd_unit_test.sh PACKAGING_DIR. Exit 77 (skipped) without systemd-analyze.
set -euo pipefail
pkg=${1:?usage: systemd_unit_test.sh PACKAGING_DIR}
command -v systemd-analyze >/dev/null || { echo "skipped: no systemd-analyze (Debian: systemd)"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
mkdir -p "$work/plain" "$work/metrics"
cp "$pkg/ttmemd.service" "$work/plain/ttmemd.service"
# The drop-in's [Service] lines applied as systemd would (an empty ExecStart= resets the list).
python3 - "$pkg/ttmemd.service" "$pkg/ttmemd-metrics.conf" "$work/metrics/ttmemd.service" <<'PY'
import sys
unit, dropin, out = (open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3])
lines = [l for l in dropin.splitlines() if l and not l.startswith("#") and l != "[Service]"]
at = unit.index("[Install]")
open(out, "w").write(unit[:at] + "\n".join(lines) + "\n\n" + unit[at:])
PY
for variant in plain metrics; do
  out=$(systemd-analyze security --offline=true --threshold=45 "$work/$variant/ttmemd.service" 2>&1) ||
    fail "$variant: exposure above 4.5: $(tail -1 <<<"$out")"
  echo "$variant: $(grep 'Overall exposure' <<<"$out")"
done
grep -qx 'RuntimeDirectoryPreserve=yes' "$pkg/ttmemd.service" ||
  fail "RuntimeDirectoryPreserve=yes missing: a restart would delete the socket-activated socket"
grep -qx 'CapabilityBoundingSet=CAP_SYS_PTRACE CAP_DAC_READ_SEARCH' "$pkg/ttmemd.service" ||
  fail "the capability bounding set is not exactly CAP_SYS_PTRACE CAP_DAC_READ_SEARCH"
grep -qx 'PrivateNetwork=no' "$pkg/ttmemd-metrics.conf" || fail "the metrics drop-in keeps the network closed"
echo ok
