"""Llama-family models (llama, mistral, qwen2) through krait.SequenceModel: the calls Mamba has, and the
context length of the KV cache."""

from __future__ import annotations

import numpy as np
import pytest

import krait
from conftest import FIXTURES, assert_logits_close, read_safetensors

LLAMA = FIXTURES / "llama"


@pytest.mark.parametrize("case", ["llama_gqa", "mistral_window", "qwen2_bias", "llama_rope_yarn"])
def test_forward_matches_transformers(case):
    ref = read_safetensors(LLAMA / case / "expected.safetensors")
    m = krait.SequenceModel(LLAMA / case, threads=2)
    assert_logits_close(m.forward(ref["input_ids"]), ref["logits"])


def test_greedy_generation_matches_transformers():
    ref = read_safetensors(LLAMA / "llama_mqa_tied" / "expected.safetensors")
    m = krait.SequenceModel(LLAMA / "llama_mqa_tied", threads=2)
    out = m.generate(ref["prompt"].tolist(), max_new_tokens=len(ref["greedy"]), temperature=0, stop_at_eos=False)
    assert list(out.ids) == ref["greedy"].tolist()


def test_context_length_bounds_the_session():
    m = krait.SequenceModel(LLAMA / "llama_gqa", threads=1, context_length=6)
    # 4 prompt tokens + 2 generated ones fill the cache; the third is produced but cannot be run: the end.
    out = m.generate([3, 4, 5, 6], max_new_tokens=10, stop_at_eos=False)
    assert len(out.ids) == 3
    with pytest.raises(krait.KraitInvalidArgumentError, match="context length of 6"):
        m.generate([3, 4, 5, 6, 7, 8, 9], max_new_tokens=1)
    with pytest.raises(ValueError):
        krait.SequenceModel(LLAMA / "llama_gqa", context_length=0)


def test_info_names_the_architecture():
    m = krait.SequenceModel(LLAMA / "qwen2_bias")
    assert m.info["architecture"] == "qwen2"
    assert m.info["state_size"] == 0


def test_cli_generates_within_the_context_length(tmp_path):
    """krait generate on a Llama model with a tokenizer; --context-length bounds the generation."""
    from test_adapters import run_cli
    import shutil
    from conftest import TOKENIZERS

    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(LLAMA / "llama_gqa" / name, tmp_path / name)
    # ids 2..95 of this tokenizer are printable ASCII, all inside the model's vocabulary of 101
    shutil.copyfile(TOKENIZERS / "bytelevel_neox.tokenizer.json", tmp_path / "tokenizer.json")
    full = run_cli("generate", "-m", tmp_path, "-p", "!?~", "-n", "20", "--temperature", "0", "--ignore-eos")
    assert full.returncode == 0, full.stderr
    bounded = run_cli("generate", "-m", tmp_path, "-p", "!?~", "-n", "20", "--temperature", "0", "--ignore-eos",
                      "--context-length", "6")
    assert bounded.returncode == 0, bounded.stderr
    # 3 prompt tokens + 3 generated fill 6 positions; the generation ends with the 4th token.
    assert "krait: generated 4 tokens," in bounded.stderr, bounded.stderr
    assert "krait: generated 20 tokens," in full.stderr, full.stderr


def test_lora_adapters_match_peft():
    """PEFT adapters on a Llama model through the Python API: each adapter's logits equal peft's."""
    lora = LLAMA / "lora"
    ref = read_safetensors(lora / "expected.safetensors")
    m = krait.SequenceModel(LLAMA / "llama_gqa", threads=2)
    a = m.load_adapter(lora / "adapters" / "a", name="a")
    m.load_adapter(lora / "adapters" / "b", name="b")
    assert_logits_close(m.forward(ref["input_ids"], adapters={a: 1.0}), ref["logits_a"])
    assert_logits_close(m.forward(ref["input_ids"], adapters={"b": 1.0}), ref["logits_b"])
    base = m.forward(ref["input_ids"])
    assert np.abs(base - ref["logits_a"]).max() > 1e-2  # the adapter is not a no-op
