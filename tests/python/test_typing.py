"""The installed package's type information: ``mypy --strict`` on the samples and on typing_check.py (the
public API used as the tests use it), and mypy's stubtest of the stubs against the installed modules.

Needs mypy in the interpreter running the tests (tools/test_wheel.sh installs the pinned one); skipped
without it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT

pytest.importorskip("mypy", reason="mypy is not installed (tools/test_wheel.sh installs it)")

SAMPLES = sorted(str(p) for p in (ROOT / "samples" / "python").glob("*.py"))
ALLOWLIST = ROOT / "bindings" / "python" / "stubtest_allowlist.txt"


def run_mypy(args, tmp_path):
    # From a directory outside the source tree, so that the installed package (with its py.typed and
    # stubs), not bindings/python/krait, is what mypy reads.
    env = dict(os.environ, MYPY_CACHE_DIR=str(tmp_path / "mypy-cache"))
    env.pop("MYPYPATH", None)
    return subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)


def test_samples_and_typing_check_pass_mypy_strict(tmp_path):
    out = run_mypy(["mypy", "--strict", "--no-error-summary", str(ROOT / "tests" / "python" / "typing_check.py"),
                    *SAMPLES], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_stubs_match_the_installed_modules(tmp_path):
    out = run_mypy(["mypy.stubtest", "krait", "--allowlist", str(ALLOWLIST)], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
