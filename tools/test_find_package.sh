#!/usr/bin/env bash
# Checks that an installed Krait is usable by a downstream CMake project:
#   1. configures, builds and installs this repository into a temporary prefix
#      (library and headers only: tests, CLI and samples off, to stay fast);
#   2. builds tests/abi/find_package (find_package(krait) + krait::krait, from C99 and
#      from C++17 through krait.hpp) against that prefix only;
#   3. runs both consumers on a fixture model and checks they link the installed library.
#
# usage: tools/test_find_package.sh [BUILD_ROOT]
#   BUILD_ROOT  where to put the build trees and the prefix (default: a fresh mktemp dir,
#               removed at the end). Give one to reuse the library build between runs.
# Env: JOBS (parallel build jobs, default 2), CMAKE_ARGS (extra args for the library configure).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="${JOBS:-2}"
if [[ $# -ge 1 ]]; then
    root="$1"
    mkdir -p "$root"
    root="$(cd "$root" && pwd)"
else
    root="$(mktemp -d "${TMPDIR:-/tmp}/krait_find_package.XXXXXX")"
    trap 'rm -rf "$root"' EXIT
fi
prefix="$root/prefix"
log="$root/build.log"
rm -rf "$prefix" "$root/consumer"
: >"$log"

# Runs a build step with its output in $log; shows the end of it if the step fails.
step() {
    if ! "$@" >>"$log" 2>&1; then
        echo "FAIL: $*"
        tail -n 40 "$log"
        exit 1
    fi
}

echo "== building and installing Krait into $prefix"
# shellcheck disable=SC2086
step cmake -S "$repo" -B "$root/krait" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
     -DKRAIT_TESTS=OFF -DKRAIT_CLI=OFF -DKRAIT_SAMPLES=OFF ${CMAKE_ARGS:-}
step cmake --build "$root/krait" -j "$jobs" --target krait
step cmake --install "$root/krait"

for f in include/krait/krait.h include/krait/krait.hpp; do
    [[ -f "$prefix/$f" ]] || { echo "FAIL: $f not installed"; exit 1; }
done
config="$(find "$prefix" -name kraitConfig.cmake | head -n 1)"
[[ -n "$config" ]] || { echo "FAIL: kraitConfig.cmake not installed"; exit 1; }

echo "== building the consumer against the installed package"
# Only the prefix is searched: the consumer must not see the source tree.
step cmake -S "$repo/tests/abi/find_package" -B "$root/consumer" -DCMAKE_BUILD_TYPE=Release \
     -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
step cmake --build "$root/consumer" -j "$jobs"

echo "== running the consumers"
model="$repo/tests/fixtures/mamba/f32_tied"
for exe in consumer_c consumer_cpp; do
    bin="$root/consumer/$exe"
    # The library the consumer really loads must be the installed one.
    lib="$(ldd "$bin" | awk '/libkrait\.so/ {print $3}')"
    case "$lib" in
        "$prefix"/*) ;;
        *) echo "FAIL: $exe loads '$lib', not the library in $prefix"; exit 1 ;;
    esac
    "$bin" "$model"
done
echo "PASS: find_package(krait) works from an install prefix"
