#!/usr/bin/env bash
# The Debian package (issue 18): `cmake --build BUILD --target package` writes
# ttmem_<version>_amd64.deb into BUILD; lintian finds no error in it; its contents, extracted into
# a scratch root, run: the installed ttmemd serves, `ttmem status` and `ttmem sim` work against it,
# the Python package imports and registers its pytest plugin, the units point at /usr/bin.
# Exit 77 (skipped) without dpkg-deb or lintian (./scripts/deps.sh installs both).
set -euo pipefail
build=${1:?usage: package_test.sh BUILD}
for tool in dpkg-deb lintian; do
  command -v $tool >/dev/null || { echo "skipped: no $tool (./scripts/deps.sh installs it)"; exit 77; }
done
work=$(mktemp -d /tmp/ttmem-deb-XXXXXX)
trap 'kill $daemon 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
daemon=0
fail() { echo "FAIL: $*" >&2; exit 1; }

rm -f "$build"/ttmem_*.deb
cmake --build "$build" --target package >"$work/package.log" 2>&1 || { cat "$work/package.log"; fail "the package target failed"; }
debs=("$build"/ttmem_*_amd64.deb)
[ -f "${debs[0]}" ] || fail "no ttmem_*_amd64.deb in $build"
deb=${debs[0]}
echo "package: $deb"

# lintian: no error (warnings are listed, not fatal).
lintian --fail-on error "$deb" >"$work/lintian.log" 2>&1 || { cat "$work/lintian.log"; fail "lintian reports errors"; }
grep -c '^W:' "$work/lintian.log" | xargs echo "lintian warnings:"

# Control: the runtime libraries it needs, found by dpkg-shlibdeps.
info=$(dpkg-deb --field "$deb" Package Version Architecture Depends)
echo "$info"
for dep in libc6 libstdc++6 libfmt9 libsqlite3-0 libncurses6 libprometheus-cpp-pull1.0; do
  grep -q "$dep" <<<"$info" || fail "Depends lacks $dep"
done

# Contents.
root=$work/root
dpkg-deb -x "$deb" "$root"
for f in usr/bin/ttmemd usr/bin/ttmem usr/bin/ttmem-sim usr/lib/libttmem.so.0 usr/lib/libttmem.a \
         usr/include/ttmem/ttmem.h usr/lib/cmake/ttmem/ttmemConfig.cmake usr/lib/pkgconfig/ttmem.pc \
         usr/lib/python3/dist-packages/ttmem/__init__.py \
         usr/lib/python3/dist-packages/ttmem/pytest_plugin.py \
         lib/systemd/system/ttmemd.service lib/systemd/system/ttmemd.socket \
         usr/share/ttmem/grafana/ttmem.json usr/share/ttmem/prometheus/ttmem-alerts.yml \
         usr/share/doc/ttmem/copyright usr/share/doc/ttmem/changelog.gz; do
  [ -e "$root/$f" ] || fail "the package lacks /$f"
done
grep -q '^ExecStart=/usr/bin/ttmemd ' "$root/lib/systemd/system/ttmemd.service" || fail "ttmemd.service does not start /usr/bin/ttmemd"
grep -q 'file:///usr/share/doc/ttmem/' "$root/lib/systemd/system/ttmemd.service" || fail "ttmemd.service's documentation path"

# It runs: the installed daemon, CLI and simulator (libraries from the package's tree).
export LD_LIBRARY_PATH=$root/usr/lib
sock=$work/ttmemd.sock
"$root/usr/bin/ttmemd" --socket "$sock" --shm-dir "" --driver-dir "$work/nodriver" 2>"$work/ttmemd.log" &
daemon=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
"$root/usr/bin/ttmem" status --socket "$sock" >"$work/status.txt" || fail "ttmem status failed"
grep -q "No processes are reporting" "$work/status.txt" || { cat "$work/status.txt"; fail "status"; }
"$root/usr/bin/ttmem" sim leak --repeat 2 --socket "$sock" 2>"$work/sim.err" || { cat "$work/sim.err"; fail "ttmem sim failed"; }
"$root/usr/bin/ttmem" status --socket "$sock" --json >"$work/status.json" || fail "ttmem status --json failed"
grep -q '"devices"' "$work/status.json" || fail "status --json"

# Python: the package and its pytest plugin's entry point, from the package's tree.
export PYTHONPATH=$root/usr/lib/python3/dist-packages
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" -c "import ttmem, sys; d = ttmem.status(sys.argv[1]); assert 'devices' in d" "$sock" || fail "import ttmem from the package"
if "$py" -c "import pytest" 2>/dev/null; then
  (cd "$work" && "$py" -m pytest --help >"$work/pytest-help.txt" 2>&1) || true
  grep -q -- "--ttmem-no-leaks" "$work/pytest-help.txt" || fail "the pytest plugin is not registered"
fi
echo "OK: $deb builds, passes lintian without errors, and its ttmemd, ttmem, ttmem-sim and Python package run"
