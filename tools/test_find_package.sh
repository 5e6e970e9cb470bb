#!/usr/bin/env bash
# Checks that an installed Krait is usable by a downstream project:
#   1. installs Krait into a temporary prefix: by default it configures, builds and installs this
#      repository (library and headers only: tests, CLI, samples and benchmarks off, to stay fast);
#      with --from-build it installs an existing build tree instead (cmake --install, no compiling);
#   2. builds tests/abi/find_package (find_package(krait) + krait::krait, from C99 and from C++17
#      through krait.hpp) against that prefix only;
#   3. builds the same C consumer with `pkg-config --cflags --libs krait` (the installed krait.pc);
#   4. builds samples/ on its own against the prefix (find_package, as a downstream project);
#   5. runs the consumers on a fixture model and checks they load the installed library.
#
# usage: tools/test_find_package.sh [--from-build BUILD_DIR] [BUILD_ROOT]
#   --from-build BUILD_DIR  install this already built tree (e.g. build, after tools/build.sh)
#                           instead of building the library again: CI builds it once.
#   BUILD_ROOT  where to put the build trees and the prefix (default: a fresh mktemp dir,
#               removed at the end). Give one to reuse the library build between runs.
# Env: JOBS (parallel build jobs, default 2), CMAKE_ARGS (extra args for the library configure).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="${JOBS:-2}"
from_build=""
if [[ "${1:-}" == "--from-build" ]]; then
    [[ $# -ge 2 ]] || { echo "usage: $0 [--from-build BUILD_DIR] [BUILD_ROOT]"; exit 2; }
    from_build="$(cd "$2" && pwd)"
    [[ -f "$from_build/CMakeCache.txt" ]] || { echo "FAIL: $2 is not a CMake build tree"; exit 1; }
    shift 2
fi
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

if [[ -n "$from_build" ]]; then
    echo "== installing the build tree $from_build into $prefix"
    step cmake --install "$from_build" --prefix "$prefix"
else
    echo "== building and installing Krait into $prefix"
    # shellcheck disable=SC2086
    step cmake -S "$repo" -B "$root/krait" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
         -DKRAIT_TESTS=OFF -DKRAIT_CLI=OFF -DKRAIT_SAMPLES=OFF -DKRAIT_BENCH=OFF ${CMAKE_ARGS:-}
    step cmake --build "$root/krait" -j "$jobs" --target krait
    step cmake --install "$root/krait"
fi

for f in include/krait/krait.h include/krait/krait.hpp; do
    [[ -f "$prefix/$f" ]] || { echo "FAIL: $f not installed"; exit 1; }
done
config="$(find "$prefix" -name kraitConfig.cmake | head -n 1)"
[[ -n "$config" ]] || { echo "FAIL: kraitConfig.cmake not installed"; exit 1; }
pc="$(find "$prefix" -name krait.pc | head -n 1)"
[[ -n "$pc" ]] || { echo "FAIL: krait.pc not installed"; exit 1; }

echo "== building the consumer against the installed package"
# Only the prefix is searched: the consumer must not see the source tree.
step cmake -S "$repo/tests/abi/find_package" -B "$root/consumer" -DCMAKE_BUILD_TYPE=Release \
     -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
step cmake --build "$root/consumer" -j "$jobs"

echo "== building the C consumer with pkg-config --cflags --libs krait"
PKG_CONFIG_PATH="$(dirname "$pc")"
export PKG_CONFIG_PATH
[[ "$(pkg-config --modversion krait)" == "$(sed -n 's/^project(krait VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")" ]] ||
    { echo "FAIL: krait.pc says version $(pkg-config --modversion krait)"; exit 1; }
pc_libdir="$(pkg-config --variable=libdir krait)"
# shellcheck disable=SC2046
step cc -std=c99 -Wall -Wextra -o "$root/consumer/consumer_pkgconfig" "$repo/tests/abi/find_package/main.c" \
     $(pkg-config --cflags --libs krait) -Wl,-rpath,"$pc_libdir"

echo "== building samples/ on its own against the installed package"
step cmake -S "$repo/samples" -B "$root/samples" -DCMAKE_BUILD_TYPE=Release \
     -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
step cmake --build "$root/samples" -j "$jobs"

echo "== running the consumers"
model="$repo/tests/fixtures/mamba/f32_tied"
for exe in consumer/consumer_c consumer/consumer_cpp consumer/consumer_pkgconfig samples/krait_sample_cpp_generate; do
    bin="$root/$exe"
    # The library the consumer really loads must be the installed one.
    lib="$(ldd "$bin" | awk '/libkrait\.so/ {print $3}')"
    case "$lib" in
        "$prefix"/*) ;;
        *) echo "FAIL: $exe loads '$lib', not the library in $prefix"; exit 1 ;;
    esac
    case "$exe" in
        */krait_sample_*)  # needs a tokenizer: the demo model
            "$bin" "$repo/models/mamba-demo" "Hello" 4 >"$root/sample.out" 2>&1 ||
                { cat "$root/sample.out"; echo "FAIL: $exe"; exit 1; }
            echo "$(basename "$exe"): generated 4 tokens" ;;
        */consumer_pkgconfig) "$bin" "$model" | sed "s/^consumer_c:/consumer_pkgconfig:/" ;;
        *) "$bin" "$model" ;;
    esac
done
echo "PASS: find_package(krait) and pkg-config krait work from an install prefix"
