#!/usr/bin/env bash
# Checks the Conan 2 recipe (conan/conanfile.py) offline: `conan create conan --build=missing` builds the
# library from the exported sources, packages it, then builds and runs conan/test_package (a CMake consumer
# using find_package(krait) + krait::krait) on models/mamba-demo. No remote is used: the recipe has no Conan
# requirements (Eigen, nlohmann-json, ICU, Oniguruma, protobuf are the system's, see tools/setup.sh).
#
# usage: tools/test_conan.sh [EXTRA CONAN CREATE ARGS...]     e.g. -o "krait/*:python=True"
#        tools/test_conan.sh --from-build BUILD_DIR           package an already built tree instead
#            (`conan export-pkg` with conf user.krait:build_tree: the recipe's package() runs cmake --install
#            on it, no compiling), then the same test_package: checks the recipe, its package_info and the
#            consumer in seconds, so CI need not build the library a second time.
# Env: JOBS         parallel build jobs (default: nproc)
#      CONAN_VENV   a virtual environment to install Conan into and reuse (default: a temporary one,
#                   unless a `conan` of the pinned version is already on PATH)
#      KEEP=1       keep the temporary folder (CONAN_HOME with the package, the log) and print its path
# Prints the steps, the test_package's output and the time taken; the full Conan log is shown on failure.
set -euo pipefail

CONAN_VERSION=2.34.0  # pinned; the recipe uses only Conan 2 APIs documented since 2.0

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
from_build=""
if [[ "${1:-}" == "--from-build" ]]; then
    [[ $# -ge 2 && -f "$2/CMakeCache.txt" ]] || { echo "usage: $0 --from-build BUILD_DIR (a CMake build tree)"; exit 2; }
    from_build="$(cd "$2" && pwd)"
    shift 2
fi
jobs="${JOBS:-$(nproc)}"
work="$(mktemp -d "${TMPDIR:-/tmp}/krait_conan.XXXXXX")"
if [[ "${KEEP:-0}" == 1 ]]; then
    trap 'echo "kept: $work"' EXIT
else
    trap 'rm -rf "$work"' EXIT
fi
log="$work/conan.log"
start=$SECONDS

if command -v conan >/dev/null && [[ "$(conan --version 2>/dev/null)" == *" $CONAN_VERSION" ]]; then
    conan=conan
else
    venv="${CONAN_VENV:-$work/venv}"
    if [[ ! -x "$venv/bin/conan" || "$("$venv/bin/conan" --version 2>/dev/null)" != *" $CONAN_VERSION" ]]; then
        echo "== installing conan==$CONAN_VERSION into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "conan==$CONAN_VERSION"
    fi
    conan="$venv/bin/conan"
fi
echo "== $("$conan" --version), CONAN_HOME=$work/conan_home (private)"

export CONAN_HOME="$work/conan_home"
"$conan" profile detect --force >>"$log" 2>&1
# Offline: no remote at all (the default one is unreachable here, and nothing is needed from it).
"$conan" remote remove "*" >>"$log" 2>&1 || true

# The test package runs from a copy, so that its build folder stays out of the repository.
cp -r "$repo/conan/test_package" "$work/test_package"
rm -rf "$work/test_package/build" "$work/test_package/CMakeUserPresets.json"
export KRAIT_TEST_MODEL="$repo/models/mamba-demo"
if [[ -n "$from_build" ]]; then
    echo "== conan export-pkg conan (the built tree $from_build) $* (log: $log)"
    cmd=("$conan" export-pkg "$repo/conan" --output-folder "$work/export_pkg" --test-folder "$work/test_package"
         -c "user.krait:build_tree=$from_build" "$@")
else
    echo "== conan create conan --build=missing $* (log: $log)"
    cmd=("$conan" create "$repo/conan" --test-folder "$work/test_package" --build=missing --no-remote "$@")
fi
if ! "${cmd[@]}" -c "tools.build:jobs=$jobs" >>"$log" 2>&1; then
    tail -n 60 "$log"
    echo "FAIL: ${cmd[1]} (after $((SECONDS - start)) s)"
    KEEP=1
    trap 'echo "kept: $work"' EXIT
    exit 1
fi

echo "== test_package output"
grep -E '^test_package_(c|cpp):' "$log" || { tail -n 40 "$log"; echo "FAIL: no test_package output"; exit 1; }
[[ "$(grep -c '^test_package_' "$log")" -ge 3 ]] || { tail -n 40 "$log"; echo "FAIL: a test_package step is missing"; exit 1; }
package="$("$conan" list 'krait/*:*' --format=compact 2>/dev/null | grep -m1 -oE '#[0-9a-f]+:[0-9a-f]+' || true)"
echo "PASS: conan ${cmd[1]} made and tested krait (package ${package:-?}) in $((SECONDS - start)) s"
