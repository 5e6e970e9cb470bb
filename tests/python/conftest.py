"""Shared helpers for the krait Python tests (run from anywhere: paths are resolved from this file).

The package under test is the installed one (tools/build_python.sh); these tests never import
bindings/python/krait from the source tree.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
MAMBA = FIXTURES / "mamba"
TOKENIZERS = FIXTURES / "tokenizer"
BAD = FIXTURES / "bad"
DEMO_MODEL = ROOT / "models" / "mamba-demo"

# Every fixture model case: a directory with the reference outputs next to the weights.
MAMBA_CASES = sorted(d.name for d in MAMBA.iterdir() if (d / "expected.safetensors").is_file())

_DTYPES = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "I64": np.int64, "F64": np.float64, "U8": np.uint8}


def read_safetensors(path: Path) -> dict:
    """The tensors of a .safetensors file as numpy arrays (a plain reading of the format: u64 header
    length, JSON header, one data buffer), so the tests need neither torch nor the safetensors package."""
    raw = Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    data = raw[8 + header_len:]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        dtype = np.dtype(_DTYPES[meta["dtype"]]).newbyteorder("<")
        out[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(meta["shape"]).copy()
    return out


def expected(case: str) -> dict:
    return read_safetensors(MAMBA / case / "expected.safetensors")


def assert_logits_close(got: np.ndarray, ref: np.ndarray) -> None:
    """The project's tolerance for logits: max abs diff <= 1e-4 * max(1, max |ref|)."""
    assert got.shape == ref.shape
    tol = 1e-4 * max(1.0, float(np.abs(ref).max()))
    diff = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
    assert diff <= tol, f"max abs diff {diff:.3g} > tolerance {tol:.3g}"


@pytest.fixture(scope="session")
def text_model_dir(tmp_path_factory) -> Path:
    """Fixture model f32_tied (vocab 97) with a tokenizer.json: bytelevel_neox, whose ids 2..95 are the
    printable ASCII characters '!'..'~' (0 and 1 are special, 96 is the lone byte 0xA1). Every id the
    model can produce decodes, so generation with text, streaming and stop strings can run without the
    (optional) demo model."""
    d = tmp_path_factory.mktemp("f32_tied_with_tokenizer")
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(MAMBA / "f32_tied" / name, d / name)
    shutil.copyfile(TOKENIZERS / "bytelevel_neox.tokenizer.json", d / "tokenizer.json")
    return d


@pytest.fixture(scope="session")
def text_model(text_model_dir):
    import krait

    return krait.SequenceModel(text_model_dir, threads=1)


@pytest.fixture(scope="session")
def demo_model():
    import krait

    if not (DEMO_MODEL / "config.json").is_file():
        pytest.skip(f"demo model {DEMO_MODEL} is absent (it is trained separately: see tools/)")
    return krait.SequenceModel(DEMO_MODEL)
