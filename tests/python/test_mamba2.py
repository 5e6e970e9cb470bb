"""Mamba-2 (transformers' Mamba2ForCausalLM) through krait.SequenceModel, on the fixtures of
tools/gen_mamba2_fixtures.py: logits and greedy continuations against transformers, a LoRA adapter against peft,
and the recurrent state (decode after prefill equals the full forward)."""

from __future__ import annotations

import numpy as np
import pytest

import krait
from conftest import FIXTURES, assert_logits_close, read_safetensors

MAMBA2 = FIXTURES / "mamba2"


@pytest.mark.parametrize("case", ["f32_g1_tied", "f32_g2_untied", "f32_g2_long", "bf16", "f16"])
def test_forward_matches_transformers(case):
    ref = read_safetensors(MAMBA2 / case / "expected.safetensors")
    m = krait.SequenceModel(MAMBA2 / case, threads=2)
    assert m.info["architecture"] == "mamba2"
    assert_logits_close(m.forward(ref["input_ids"]), ref["logits"])


@pytest.mark.parametrize("case", ["f32_g1_tied", "f32_g2_long"])
def test_greedy_generation_matches_transformers(case):
    ref = read_safetensors(MAMBA2 / case / "expected.safetensors")
    m = krait.SequenceModel(MAMBA2 / case, threads=1)
    out = m.generate(ref["prompt_ids"].tolist(), max_new_tokens=len(ref["greedy_ids"]), temperature=0,
                     stop_at_eos=False)
    assert list(out.ids) == ref["greedy_ids"].tolist()


def test_lora_adapter_matches_peft():
    ref = read_safetensors(MAMBA2 / "f32_g1_tied" / "expected.safetensors")
    m = krait.SequenceModel(MAMBA2 / "f32_g1_tied", threads=2)
    lora = m.load_adapter(MAMBA2 / "f32_g1_tied" / "adapters" / "a")
    assert_logits_close(m.forward(ref["input_ids"], adapters={lora: 1.0}), ref["logits_lora"])
    assert_logits_close(m.forward(ref["input_ids"]), ref["logits"])   # the base model is untouched


def test_decode_after_prefill_equals_the_full_forward():
    ref = read_safetensors(MAMBA2 / "f32_g2_long" / "expected.safetensors")
    ids = ref["input_ids"][0].tolist()
    m = krait.SequenceModel(MAMBA2 / "f32_g2_long", threads=1)
    s = m.session()
    last = s.append(ids[:20])                      # prefill by chunks (chunk_size is smaller than 20)
    rows = [last]
    for t in ids[20:]:
        rows.append(s.append([t]))                 # one recurrence step each
    full = m.forward([ids])[0]
    np.testing.assert_allclose(np.stack(rows), full[19:], rtol=1e-5, atol=1e-5)
