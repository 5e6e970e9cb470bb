#!/usr/bin/env bash
# Creates the Python tools environment (.venv/ at the repository root) from the pinned
# tools/requirements-tools.txt: torch, transformers, peft, tokenizers, onnxruntime, ... for the
# fixture generators (tools/gen_*.py), the demo trainers and the peer benchmarks. Krait itself
# never needs it, and neither does the test suite (fixtures are committed).
#
#   tools/setup_tools_env.sh          # create or update .venv
#   .venv/bin/python tools/gen_mambavision_fixtures.py
#
# Environment: PYTHON (the interpreter to build the venv from, default python3), VENV (default .venv).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/tools/requirements-tools.txt"
# Packages whose own metadata pins conflicting versions (see the file): installed without their dependencies.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$ROOT/tools/requirements-tools-nodeps.txt"
"$VENV/bin/python" -c 'import torch, transformers, peft, tokenizers; print("tools env:", "torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__, "tokenizers", tokenizers.__version__)'
