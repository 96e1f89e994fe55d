#!/usr/bin/env bash
# Installs what ttmem needs to build and test, from Debian 12's packages; skips what is present.
set -euo pipefail
packages=(g++ cmake ninja-build pkg-config libcli11-dev nlohmann-json3-dev libfmt-dev
          python3-pytest python3-venv dpkg-dev lintian
          libncurses-dev libgtest-dev libbenchmark-dev clang-format tmux procps
          clang libclang-rt-14-dev python3 libsqlite3-dev sqlite3 prometheus-cpp-dev prometheus
          libprotobuf32 libhwloc15 libnuma1)  # the last three: real tt-metal's runtime libraries
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "ttmem: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "ttmem: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
