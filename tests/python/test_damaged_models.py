"""Damaged copies of the demo models and adapters load or raise a KraitError subclass (issue 17).

Every case runs in its own subprocess, so a crash (a signal) or an exception of another type (the
UnicodeDecodeError of issue 17) fails the test with the case named, instead of taking pytest down.
The copies are made the way a bad download or disk makes them: one byte set to a random value
(half the time a byte >= 0x80, which is not UTF-8 on its own), seeded so every run sees the same
cases. Only the damaged file is written; the others are symlinks to the demo model's.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT

MODELS = ROOT / "models"

# What a case does in its subprocess: load, then print one JSON line saying how it went.
CHILD = r"""
import json, sys
import krait
kind, path, base = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    if kind == "sequence":
        krait.SequenceModel(path, threads=1)
    elif kind == "classifier":
        krait.Classifier(path, threads=1)
    else:
        model = (krait.SequenceModel if kind == "adapter-sequence" else krait.Classifier)(base, threads=1)
        model.load_adapter(path)
    print(json.dumps({"outcome": "loaded"}))
except krait.KraitError as e:
    print(json.dumps({"outcome": "error", "type": type(e).__name__, "status": e.status, "message": str(e)}))
"""

# (kind, model folder, base model folder for adapters, files to damage)
TARGETS = [
    ("sequence", "mamba-demo", None, ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"]),
    ("classifier", "vit-digits", None, ["config.json", "preprocessor_config.json", "model.safetensors"]),
    ("classifier", "mambavision-digits", None, ["config.json", "model.safetensors"]),
    ("adapter-sequence", "mamba-demo-lora-licenses", "mamba-demo", ["adapter_config.json", "adapter_model.safetensors"]),
    ("adapter-classifier", "mambavision-digits-lora-parity", "mambavision-digits",
     ["adapter_config.json", "adapter_model.safetensors", "config.json"]),
]
ROUNDS = 12  # damaged copies per file: 12 x 14 files = 168 subprocesses, about 30 s on 2 cores


def damage_region(data: bytes, name: str) -> int:
    """Bytes a parser reads: the whole of a JSON file, the length and JSON header of a safetensors."""
    if name.endswith(".safetensors"):
        (header_len,) = struct.unpack("<Q", data[:8])
        return min(len(data), 8 + header_len)
    return len(data)


def cases():
    rng = random.Random(17)
    out = []
    for kind, folder, base, files in TARGETS:
        for name in files:
            data = (MODELS / folder / name).read_bytes()
            region = damage_region(data, name)
            for k in range(ROUNDS):
                pos = rng.randrange(region)
                value = rng.randrange(0x80, 0x100) if rng.random() < 0.5 else rng.randrange(0x100)
                out.append((kind, folder, base, name, pos, value))
    return out


# The failure the issue reported, made on purpose: a byte 0x87 right after a JSON string, which
# the JSON parser quotes in its message ("last read: '"..."\x87'").
def quoted_byte_case(folder: str, name: str) -> bytes:
    text = (MODELS / folder / name).read_bytes()
    colon = text.index(b'":') + 1
    return text[:colon] + b"\x87" + text[colon:]


def stage(tmp: Path, folder: str, victim: str, data: bytes) -> Path:
    d = tmp / "copy"
    d.mkdir()
    for f in (MODELS / folder).iterdir():
        if f.name == victim:
            (d / f.name).write_bytes(data)
        else:
            (d / f.name).symlink_to(f.resolve())
    return d


def run_child(kind: str, path: Path, base: str | None) -> dict:
    """Runs CHILD; returns its verdict, or raises AssertionError naming the case's failure."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, str(path), str(MODELS / base) if base else ""],
                          capture_output=True, text=True, encoding="utf-8", errors="backslashreplace",
                          env=env, timeout=120, cwd="/")
    if proc.returncode != 0:
        how = f"died of signal {-proc.returncode}" if proc.returncode < 0 else f"exited {proc.returncode}"
        raise AssertionError(f"{how}; stderr:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_verdict(verdict: dict) -> None:
    import krait

    if verdict["outcome"] == "loaded":
        return
    assert verdict["type"].startswith("Krait"), verdict
    assert verdict["status"] != krait.Status.INTERNAL, verdict
    assert verdict["message"], verdict


@pytest.mark.parametrize("folder,name", [("mamba-demo", "config.json"), ("vit-digits", "preprocessor_config.json"),
                                         ("mamba-demo-lora-licenses", "adapter_config.json")])
def test_a_quoted_non_utf8_byte_raises_kraitformaterror(tmp_path, folder, name):
    kind, base = {"mamba-demo": ("sequence", None), "vit-digits": ("classifier", None),
                  "mamba-demo-lora-licenses": ("adapter-sequence", "mamba-demo")}[folder]
    verdict = run_child(kind, stage(tmp_path, folder, name, quoted_byte_case(folder, name)), base)
    assert verdict["outcome"] == "error" and verdict["type"] == "KraitFormatError", verdict
    # The byte is named, escaped, in a message that decoded as UTF-8.
    assert "\\x87" in verdict["message"], verdict["message"]


def test_damaged_copies_load_or_raise_kraiterror(tmp_path):
    all_cases = cases()
    tmp_path.mkdir(exist_ok=True)

    def one(i_case):
        i, (kind, folder, base, name, pos, value) = i_case
        data = bytearray((MODELS / folder / name).read_bytes())
        data[pos] = value
        d = tmp_path / f"case{i}"
        d.mkdir()
        path = stage(d, folder, name, bytes(data))
        label = f"{folder}/{name} byte {pos} set to 0x{value:02X}"
        try:
            verdict = run_child(kind, path, base)
            check_verdict(verdict)
        except AssertionError as e:
            return f"{label}: {e}"
        return verdict["outcome"]

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(one, enumerate(all_cases)))
    failures = [r for r in results if r not in ("loaded", "error")]
    assert not failures, f"{len(failures)} of {len(results)} damaged copies failed:\n" + "\n".join(failures[:10])
    # The damage reaches the parsers: a fair share of the copies is refused.
    assert results.count("error") > len(results) // 4, results.count("error")
