#!/usr/bin/env bash
# ctest label tt-metal-run: ttmem inside real tt-metal processes (tests/tt_metal_run_test.cc).
#   run_tests.sh build OUT LIBTTMEM_DIR [tsan]  builds the shell and the probe against the
#                                            tree TT_METAL_HOME names into OUT (with tsan:
#                                            under ThreadSanitizer), and a writable copy of its
#                                            runtime root into OUT/runtime;
#   run_tests.sh run OUT TEST_BINARY [ARGS]  runs the test binary in a mount namespace of its
#                                            own with a private /dev/shm.
# Without TT_METAL_HOME: exit 77 (skipped) with one line saying how to get a tree. With it, a
# test that cannot run fails: a tree that is not there or not built, a build that fails, no
# namespace.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/tt-metal-env.sh
. "$root/scripts/tt-metal-env.sh"
mode=${1:?usage: run_tests.sh build OUT LIBTTMEM_DIR | run OUT TEST_BINARY [ARGS]}
out=${2:?}
shift 2
if [[ -z "${TT_METAL_HOME:-}" ]]; then
  echo "skipped: TT_METAL_HOME is not set; $(tt_metal_how)"
  exit 77
fi
if ! tt_metal_find; then
  echo "tt-metal-run: $tt_why" >&2
  exit 1
fi
if [[ -z "$tt_libdir" ]]; then
  echo "tt-metal-run: $tt_tree has headers but no libtt_metal.so (lib/, build/lib/ or TT_METAL_LIB_DIR): these tests run real tt-metal, so they need a built one" >&2
  exit 1
fi
case "$mode" in
  build)
    libdir=${1:?LIBTTMEM_DIR}
    if [[ "${2:-}" == tsan ]]; then
      TT_METAL_EXTRA_CXXFLAGS="-fsanitize=thread -g" "$root/scripts/tt-metal-build.sh" "$out" "$libdir" --probe
      touch "$out/tsan"
    else
      rm -f "$out/tsan"
      "$root/scripts/tt-metal-build.sh" "$out" "$libdir" --probe
    fi
    # tt-metal writes generated/ into its runtime root: a copy of the tree's (a built
    # distribution's runtime/, or a checkout itself).
    rm -rf "$out/runtime"
    if [[ -d "$tt_tree/runtime/tt_metal" ]]; then
      cp -r "$tt_tree/runtime" "$out/runtime"
    else
      mkdir -p "$out/runtime"
      cp -r "$tt_tree/tt_metal" "$out/runtime/"
    fi
    chmod -R u+w "$out/runtime"
    ;;
  run)
    bin=${1:?TEST_BINARY}
    shift
    [[ -x "$out/ttmem_tt_metal_probe" ]] || { echo "tt-metal-run: no probe in $out (the build step failed?)" >&2; exit 1; }
    export TTMEM_TT_METAL_OUT="$out" TTMEM_TT_METAL_RUNTIME="$out/runtime"
    if [[ -f "$out/tsan" ]]; then  # a report ends the probe with 66 (the tests want 0)
      export TTMEM_TT_METAL_TSAN=1 TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$root/tests/tt-metal/tsan.supp"
    fi
    # libtt_metal.so's own dependencies sit beside it (its RUNPATH names the machine it was built on).
    export LD_LIBRARY_PATH="$tt_libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    ns=(unshare --mount --propagation private)
    [[ $(id -u) -eq 0 ]] || ns=(unshare --map-root-user --mount --propagation private)
    if ! "${ns[@]}" true 2>/dev/null; then
      echo "tt-metal-run: cannot make a mount namespace (${ns[*]}): the tests need a private /dev/shm for tt-metal's statistics regions" >&2
      exit 1
    fi
    exec "${ns[@]}" sh -c 'mount -t tmpfs -o mode=1777 ttmem-test-shm /dev/shm && exec "$@"' sh "$bin" "$@"
    ;;
  *)
    echo "usage: run_tests.sh build OUT LIBTTMEM_DIR | run OUT TEST_BINARY [ARGS]" >&2
    exit 2
    ;;
esac
