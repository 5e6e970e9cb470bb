"""SequenceModel against the reference outputs of transformers (tests/fixtures/mamba/<case>/expected.safetensors,
written by tools/gen_mamba_fixtures.py): full-sequence logits and greedy generation."""

from __future__ import annotations

import json

import numpy as np
import pytest

import krait
from conftest import MAMBA, MAMBA_CASES, assert_logits_close, expected


@pytest.fixture(scope="module", params=MAMBA_CASES)
def case(request):
    return request.param, krait.SequenceModel(MAMBA / request.param), expected(request.param)


def test_fixture_cases_found():
    assert len(MAMBA_CASES) >= 8, MAMBA_CASES


def test_forward_matches_reference(case):
    name, model, ref = case
    logits = model.forward(ref["input_ids"])
    assert isinstance(logits, np.ndarray)
    assert logits.dtype == np.float32
    assert logits.shape == ref["logits"].shape
    assert logits.flags.c_contiguous
    assert_logits_close(logits, ref["logits"])


def test_forward_one_row_and_other_input_types(case):
    name, model, ref = case
    ids, want = ref["input_ids"], ref["logits"]
    # 1-D input is one row: [length] -> [1, length, vocab]
    one = model.forward(ids[0])
    assert one.shape == (1,) + want.shape[1:]
    assert_logits_close(one[0], want[0])
    # nested lists, int64, uint16 and non-contiguous arrays give the same logits as int32
    assert_logits_close(model.forward(ids.tolist()), want)
    assert_logits_close(model.forward(ids.astype(np.int64)), want)
    if ids.max() < 2**16:
        assert_logits_close(model.forward(ids.astype(np.uint16)), want)
    wide = np.zeros((ids.shape[0], ids.shape[1] * 2), dtype=np.int64)
    wide[:, ::2] = ids
    assert not wide[:, ::2].flags.c_contiguous
    assert_logits_close(model.forward(wide[:, ::2]), want)


def test_forward_rows_are_independent(case):
    # The batch is stateless per row: row i alone gives row i's logits.
    name, model, ref = case
    ids = ref["input_ids"]
    for i in range(ids.shape[0]):
        assert_logits_close(model.forward(ids[i:i + 1]), ref["logits"][i:i + 1])


def test_greedy_generate_matches_transformers(case):
    name, model, ref = case
    prompt, want = ref["prompt_ids"], ref["greedy_ids"].tolist()
    result = model.generate(prompt.tolist(), max_new_tokens=len(want))
    assert isinstance(result, krait.GenerationResult)
    assert result.ids == want
    assert result.text == ""  # fixture directories have no tokenizer.json
    # numpy prompt, and the same again: every call starts from an empty context
    assert model.generate(prompt, max_new_tokens=len(want)).ids == want
    # fewer tokens: a prefix of the same greedy sequence
    assert model.generate(prompt, max_new_tokens=3).ids == want[:3]


def test_info_matches_config(case):
    name, model, ref = case
    config = json.loads((MAMBA / name / "config.json").read_text())
    info = model.info
    assert info["kind"] == "sequence"
    assert info["architecture"] == "mamba"
    assert info["vocab_size"] == model.vocab_size == ref["logits"].shape[-1]
    assert info["hidden_size"] == config.get("hidden_size", config.get("d_model"))
    assert info["num_layers"] == config.get("num_hidden_layers", config.get("n_layer"))
    assert info["source_dtype"] in ("F32", "F16", "BF16")
    assert info["num_parameters"] > 0
    n = info["num_parameters"]
    if info["source_dtype"] == "F32":
        # The parameters, plus Mamba's A = -exp(A_log) [E, N] per layer derived at load, plus the zero padding of
        # the packed linears: panels of 32 output features (kernels/cpu/gemm.h), so x_proj's R + 2N outputs take
        # the next multiple of 32. E and R as the original layout defaults them (expand 2, ceil(D / 16)).
        D, L, N = info["hidden_size"], info["num_layers"], info["state_size"]
        E = config.get("intermediate_size") or 2 * D
        R = config.get("time_step_rank") or -(-D // 16)
        tied = config.get("tie_word_embeddings", config.get("tie_embeddings", True))
        pad = lambda out, k: (-(-out // 32) * 32 - out) * k  # noqa: E731
        padding = L * (pad(2 * E, D) + pad(R + 2 * N, E) + pad(E, R) + pad(D, E)) + (0 if tied else pad(info["vocab_size"], D))
        assert info["weight_bytes"] == 4 * (n + L * E * N + padding)
    else:  # F16/BF16 matrices in place (2 bytes), the small tensors converted to F32
        assert 2 * n < info["weight_bytes"] < 4 * n
    for key in ("bos_token_id", "eos_token_id"):
        assert info[key] is None or 0 <= info[key] < info["vocab_size"]
    assert model.tokenizer is None


@pytest.mark.parametrize("name", ["f16", "bf16"])
def test_weights_stored_or_f32(name):
    stored = krait.SequenceModel(MAMBA / name)
    upcast = krait.SequenceModel(MAMBA / name, weights="f32")
    n = stored.info["num_parameters"]
    assert stored.info["weight_bytes"] < 0.75 * upcast.info["weight_bytes"]
    assert upcast.info["weight_bytes"] >= 4 * n
    ids = np.array([[1, 2, 3, 4, 5]], dtype=np.int32)
    a, b = stored.forward(ids), upcast.forward(ids)
    assert np.allclose(a, b, rtol=0, atol=1e-5 * max(1.0, float(np.abs(b).max())))
    with pytest.raises(ValueError):
        krait.SequenceModel(MAMBA / name, weights="f8")


def test_bf16_dot_products_option():
    """matmul="bf16" on a BF16 Mamba: a 40-token forward (calls of 40 rows) within 2.5e-2 of
    max(1, max |logit|) of the exact model (see test_classifier's test of the same option)."""
    ids = (np.arange(40, dtype=np.int32).reshape(1, 40) * 7) % 50 + 1
    exact = krait.SequenceModel(MAMBA / "bf16").forward(ids)
    fast = krait.SequenceModel(MAMBA / "bf16", matmul="bf16").forward(ids)
    assert np.abs(fast - exact).max() <= 2.5e-2 * max(1.0, float(np.abs(exact).max()))
    with pytest.raises(ValueError, match="matmul"):
        krait.SequenceModel(MAMBA / "bf16", matmul="fast")


def test_source_dtypes():
    assert krait.SequenceModel(MAMBA / "f16").info["source_dtype"] == "F16"
    assert krait.SequenceModel(MAMBA / "bf16").info["source_dtype"] == "BF16"
    assert krait.SequenceModel(MAMBA / "f32_tied").info["source_dtype"] == "F32"


def test_threads_setting_keeps_results():
    ref = expected("f32_long")
    model = krait.SequenceModel(MAMBA / "f32_long", threads=1)
    assert model.threads == 1
    assert_logits_close(model.forward(ref["input_ids"]), ref["logits"])
    model.threads = 3
    assert model.threads == 3
    assert_logits_close(model.forward(ref["input_ids"]), ref["logits"])
    model.threads = None  # all cores
    assert model.threads is None
    assert model.generate(ref["prompt_ids"], max_new_tokens=len(ref["greedy_ids"])).ids == ref["greedy_ids"].tolist()


def test_path_like_and_repr():
    model = krait.SequenceModel(MAMBA / "f32_tied")  # a pathlib.Path
    assert "f32_tied" in repr(model)
    assert "vocab_size=97" in repr(model)


def test_version():
    assert isinstance(krait.__version__, str)
    parts = krait.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)
    from importlib.metadata import version

    assert version("krait") == krait.__version__


def test_generation_result_str():
    r = krait.GenerationResult(text="abc", ids=[1, 2])
    assert str(r) == "abc"


def test_cpu_kernels_named_and_capped_by_the_environment():
    import os
    import subprocess
    import sys

    assert krait.cpu_kernels() in ("portable", "avx2", "avx512")
    # A fresh process with the cap: the variant is chosen once per process, at the first use.
    code = "import krait; print(krait.cpu_kernels())"
    env = dict(os.environ, KRAIT_CPU_VARIANT="portable")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "portable"
    # (Each variant's results against the fixtures: the C++ conformance tests, run per variant by CTest.)


def test_cpu_bf16_products_named_and_capped_by_the_environment():
    import os
    import subprocess
    import sys

    assert krait.cpu_bf16_products() in ("none", "avx512_bf16", "amx")
    if krait.cpu_bf16_products() != "none":
        assert krait.cpu_kernels() == "avx512"
    code = "import krait; print(krait.cpu_bf16_products())"
    for cap in ("none", "avx512_bf16"):
        env = dict(os.environ, KRAIT_BF16_PRODUCTS=cap)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        got = out.stdout.strip()
        assert got == "none" if cap == "none" else got in ("none", "avx512_bf16")
