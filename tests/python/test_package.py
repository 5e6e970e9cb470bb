"""The installed package: self-contained layout, and a module that uses only the public C ABI."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import krait
from conftest import ROOT

PACKAGE = Path(krait.__file__).parent
MODULE = Path(krait._krait.__file__)


def test_library_is_next_to_the_module():
    assert MODULE.parent == PACKAGE
    assert (PACKAGE / "libkrait.so.1").is_file()


@pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf (binutils) not installed")
def test_module_finds_the_library_through_origin():
    dynamic = subprocess.run(["readelf", "-d", str(MODULE)], capture_output=True, text=True, check=True).stdout
    assert "[libkrait.so.1]" in dynamic
    assert re.search(r"\((RUNPATH|RPATH)\).*\[\$ORIGIN\]", dynamic), dynamic


@pytest.mark.skipif(shutil.which("nm") is None, reason="nm (binutils) not installed")
def test_module_calls_only_the_public_abi():
    header = (ROOT / "abi" / "include" / "krait" / "krait.h").read_text()
    public = set(re.findall(r"KRAIT_API\s+[^;(]*?\b(krait_\w+)\s*\(", header))
    assert "krait_session_generate" in public and len(public) > 20
    undefined = subprocess.run(["nm", "-D", "--undefined-only", str(MODULE)], capture_output=True, text=True,
                               check=True).stdout.split()
    used = {s.split("@")[0] for s in undefined if s.startswith("krait")}  # drop a symbol version (@KRAIT_1)
    assert used, "the module imports no krait symbol?"
    assert used <= public, used - public
