"""The installed package: self-contained layout, a module that uses only the public C ABI, a namespace
that holds exactly the public API (each name documented), type information, and the bundled CLI."""

from __future__ import annotations

import importlib
import inspect
import os
import pydoc
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import krait
from conftest import DEMO_MODEL, ROOT

PACKAGE = Path(krait.__file__).parent
MODULE = Path(importlib.import_module("krait._krait").__file__)
GUIDE = ROOT / "docs" / "PYTHON.md"
CLI = PACKAGE / "bin" / "krait"


def test_library_is_next_to_the_module():
    assert MODULE.parent == PACKAGE
    assert (PACKAGE / "libkrait.so.1").is_file()


@pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf (binutils) not installed")
def test_module_finds_the_library_through_origin():
    dynamic = subprocess.run(["readelf", "-d", str(MODULE)], capture_output=True, text=True, check=True).stdout
    assert "[libkrait.so.1]" in dynamic
    # $ORIGIN among the search paths (auditwheel adds its krait.libs folder to them).
    paths = re.search(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]*)\]", dynamic)
    assert paths and "$ORIGIN" in paths.group(1).split(":"), dynamic


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


# ---- The namespace: the public API and nothing else --------------------------------------------------

def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def test_namespace_is_exactly_all():
    assert len(krait.__all__) == len(set(krait.__all__))
    public = {name for name in dir(krait) if not _is_dunder(name)}
    assert public == set(krait.__all__), (sorted(public - set(krait.__all__)), sorted(set(krait.__all__) - public))
    for helper in ("os", "sys", "json", "queue", "threading", "Dict", "Optional", "Union", "dataclass", "annotations"):
        assert not hasattr(krait, helper), helper
    assert isinstance(krait.__version__, str)


def test_private_modules_stay_reachable():
    # Out of dir(krait), but importable and reachable as attributes (krait.__getattr__).
    assert krait._krait is importlib.import_module("krait._krait")
    assert krait._errors.error_from_status(krait.Status.IO, "x").__class__ is krait.KraitIOError
    with pytest.raises(AttributeError):
        krait.no_such_name  # noqa: B018


def test_public_classes_are_named_in_the_package():
    for name in krait.__all__:
        obj = getattr(krait, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ == "krait", (name, obj.__module__)


def _own_members(cls):
    """The public attributes a krait class defines (itself or through a krait base), not those
    inherited from object, Exception or pybind11's base."""
    seen = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("krait"):
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_"):
                seen[name] = value
    return seen


def _doc(value) -> str:
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    return (getattr(value, "__doc__", None) or "").strip()


def test_every_public_name_is_documented():
    guide = GUIDE.read_text(encoding="utf-8")
    for name in krait.__all__:
        # In the guide's reference ...
        assert f"`{name}`" in guide or f"krait.{name}" in guide, f"{name} is not in {GUIDE.name}"
        obj = getattr(krait, name)
        if not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue  # a type alias (IdsLike, ...): documented in the guide and in __init__.pyi
        # ... and with a docstring of its own, as every public method and property of a class.
        assert _doc(obj) and (not inspect.isclass(obj) or "__doc__" in vars(obj)), f"{name} has no docstring"
        if inspect.isclass(obj):
            for member, value in _own_members(obj).items():
                if isinstance(value, (int, str)):
                    continue  # Status codes, default_status
                assert _doc(value), f"{name}.{member} has no docstring"


def test_help_reads_well():
    text = pydoc.render_doc(krait.SequenceModel, renderer=pydoc.plaintext)
    for expected in ("class SequenceModel(builtins.object)", "generate(self, prompt_or_ids", "Generates up to",
                     "load_adapter(self, path", "LoRA adapters:", "conversation(self, system",
                     "session(self) -> 'Session'"):
        assert expected in text, expected
    assert "_core" not in text and "_AdapterMethods" not in text
    tokenizer = pydoc.render_doc(krait.Tokenizer, renderer=pydoc.plaintext)
    assert "from_file(path: object) -> krait.Tokenizer" in tokenizer
    assert "encode(self: krait.Tokenizer, text:" in tokenizer
    assert "krait._krait" not in tokenizer
    for cls in (krait.Adapter, krait.AdapterTarget, krait.State):
        assert "krait._krait" not in pydoc.render_doc(cls, renderer=pydoc.plaintext), cls


# ---- Typing: stubs and the PEP 561 marker ship with the package ----------------------------------------

def test_package_is_typed():
    assert (PACKAGE / "py.typed").is_file()
    for stub in ("__init__.pyi", "_krait.pyi"):
        assert (PACKAGE / stub).is_file(), stub
    stub = (PACKAGE / "__init__.pyi").read_text()
    for name in krait.__all__:
        assert re.search(rf"\b{name}\b", stub), f"{name} is missing from __init__.pyi"


# ---- The command-line tool bundled with the package --------------------------------------------------

def test_cli_is_bundled_next_to_the_library():
    assert CLI.is_file() and os.access(CLI, os.X_OK)


@pytest.mark.skipif(not (DEMO_MODEL / "config.json").is_file(), reason="models/mamba-demo is absent")
def test_cli_entry_point_runs_the_bundled_tool():
    # What the console script `krait` does (krait._cli.main), run as a module so no PATH is needed.
    out = subprocess.run([sys.executable, "-m", "krait._cli", "info", "-m", str(DEMO_MODEL)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "mamba" in out.stdout.lower()
    bad = subprocess.run([sys.executable, "-m", "krait._cli", "info", "-m", str(ROOT / "no-such-model")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and bad.stderr
