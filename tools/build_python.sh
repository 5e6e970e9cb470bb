#!/usr/bin/env bash
# Builds the krait Python package (bindings/python: scikit-build-core + pybind11 over the C ABI; the
# package holds libkrait and the `krait` CLI too) and installs it into the current python with pip,
# straight from the source tree: the quick way while developing. Build requirements come from PyPI.
# tools/test_wheel.sh builds the distributable manylinux wheel instead (auditwheel) and tests it from a
# fresh virtualenv (samples, CLI, mypy, pytest): that is what CI runs.
#
#   tools/build_python.sh            # pip install ./bindings/python
#   tools/build_python.sh --test     # also install numpy and pytest and run tests/python
#
# Environment:
#   PYTHON              interpreter to install into (default: python3 on PATH)
#   KRAIT_PY_BUILD_DIR  keep the CMake build here for incremental rebuilds (default: a temporary dir)
#   CMAKE_BUILD_PARALLEL_LEVEL  compile jobs (default 2)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
RUN_TESTS=0
for arg in "$@"; do
  case "$arg" in
    --test) RUN_TESTS=1 ;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "build_python.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
config=()
if [[ -n "${KRAIT_PY_BUILD_DIR:-}" ]]; then
  config+=("--config-settings=build-dir=${KRAIT_PY_BUILD_DIR}")
fi

"$PY" -m pip install --upgrade ${config[@]+"${config[@]}"} "$ROOT/bindings/python"
# Import from outside the source tree so that the installed package, not bindings/python/krait, is used.
(cd / && "$PY" -c 'import krait; print("krait", krait.__version__, "installed at", krait.__file__)')

if [[ "$RUN_TESTS" == 1 ]]; then
  "$PY" -m pip install numpy pytest
  cd "$ROOT"
  "$PY" -m pytest tests/python -q
fi
