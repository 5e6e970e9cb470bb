"""krait.Tokenizer against Hugging Face tokenizers' outputs (tests/fixtures/tokenizer/*.expected.json,
written by tools/gen_tokenizer_fixtures.py)."""

from __future__ import annotations

import json

import pytest

import krait
from conftest import TOKENIZERS

EXPECTED = sorted(p.name[: -len(".expected.json")] for p in TOKENIZERS.glob("*.expected.json"))


def load(name):
    spec = json.loads((TOKENIZERS / f"{name}.expected.json").read_text(encoding="utf-8"))
    return krait.Tokenizer.from_file(TOKENIZERS / spec["tokenizer"]), spec


def mismatches(pairs, limit=5):
    bad = [(what, got, want) for what, got, want in pairs if got != want]
    return f"{len(bad)} mismatches, first: {bad[:limit]}" if bad else ""


def test_fixtures_found():
    assert len(EXPECTED) >= 5, EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_vocab_size(name):
    tok, spec = load(name)
    assert tok.vocab_size == spec["vocab_size"]
    assert len(tok) == spec["vocab_size"]


@pytest.mark.parametrize("name", EXPECTED)
def test_encode_matches_hf(name):
    tok, spec = load(name)
    pairs = [(c["text"], tok.encode(c["text"]), c["ids"]) for c in spec["cases"]]
    assert not mismatches(pairs), mismatches(pairs)


@pytest.mark.parametrize("name", EXPECTED)
def test_encode_with_special_tokens_matches_hf(name):
    tok, spec = load(name)
    pairs = [(c["text"], tok.encode(c["text"], add_special_tokens=True), c["ids_special"]) for c in spec["cases"]]
    assert not mismatches(pairs), mismatches(pairs)


@pytest.mark.parametrize("name", EXPECTED)
def test_decode_matches_hf(name):
    # decode() keeps special tokens: HF's decode(ids, skip_special_tokens=False) (of ids_special for "cases").
    tok, spec = load(name)
    pairs = [(c["ids_special"], tok.decode(c["ids_special"]), c["decode"]) for c in spec["cases"]]
    pairs += [(c["ids"], tok.decode(c["ids"]), c["decode"]) for c in spec["decode_cases"]]
    assert not mismatches(pairs), mismatches(pairs)


@pytest.mark.parametrize("name", EXPECTED)
def test_decode_skipping_special_tokens_matches_hf(name):
    # HF's decode(ids, skip_special_tokens=True), recorded by tools/gen_tokenizer_fixtures.py as "decode_skip".
    tok, spec = load(name)
    pairs = [(c["ids_special"], tok.decode(c["ids_special"], skip_special_tokens=True), c["decode_skip"])
             for c in spec["cases"]]
    pairs += [(c["ids"], tok.decode(c["ids"], skip_special_tokens=True), c["decode_skip"]) for c in spec["decode_cases"]]
    assert not mismatches(pairs), mismatches(pairs)


def test_encode_accepts_utf8_bytes_and_decode_accepts_arrays():
    import numpy as np

    tok, spec = load("bytelevel_neox")
    text = "Café naïve 😀"
    ids = tok.encode(text)
    assert tok.encode(text.encode("utf-8")) == ids
    assert tok.encode(bytearray(text.encode("utf-8"))) == ids
    assert tok.decode(np.array(ids, dtype=np.int64)) == tok.decode(ids) == text
    assert tok.encode("") == []
    assert tok.decode([]) == ""


def test_encode_long_text():
    # Longer than any first-guess buffer in the binding would matter for: exercises the size query path.
    tok, _ = load("sp_legacy")
    text = "The quick brown fox jumps over the lazy dog. " * 400
    ids = tok.encode(text)
    assert len(ids) > 1000
    assert tok.decode(ids).strip() == text.strip()


def test_tokenizer_outlives_nothing_it_needs():
    # A tokenizer borrowed from a model keeps the model alive.
    import gc
    import shutil
    import tempfile
    from pathlib import Path

    from conftest import MAMBA

    with tempfile.TemporaryDirectory() as d:
        for name in ("config.json", "model.safetensors"):
            shutil.copyfile(MAMBA / "f32_tied" / name, Path(d) / name)
        shutil.copyfile(TOKENIZERS / "bytelevel_neox.tokenizer.json", Path(d) / "tokenizer.json")
        model = krait.SequenceModel(d)
        tok = model.tokenizer
        assert isinstance(tok, krait.Tokenizer)
        del model
        gc.collect()
        assert tok.decode(tok.encode("still alive")) == "still alive"


def test_from_file_path_types():
    path = TOKENIZERS / "tiny_unk.tokenizer.json"
    sizes = {krait.Tokenizer.from_file(p).vocab_size for p in (path, str(path), bytes(path))}
    assert len(sizes) == 1
    assert "vocab_size=" in repr(krait.Tokenizer.from_file(path))
