"""krait.Assistant on composite assistants (docs/COMPOSITE_ASSISTANTS.md): the tiny fixtures of
tools/gen_composite_fixtures.py, whose expected.safetensors hold a PyTorch reference's outputs:
pixel_values F32 [3, 3, H, W], input_ids I32 [2, L] (row 0 with image 0, row 1 with images 1 and 2,
placed as the case says), logits F32 [2, L, V], features F32 [3, rows, D], prompt I32 [P] (image 0) and
greedy I32 [8]. mamba_chat is a chat-ready MambaVision + Mamba assistant (images before the text).
"""

from __future__ import annotations

import numpy as np
import pytest

import krait
from conftest import FIXTURES, read_safetensors

COMPOSITE = FIXTURES / "composite"
CASES = ["mambavision_level_mamba", "mambavision_final_llama", "clip_layers_mamba", "vit_llama_prefix"]


def assert_close(got: np.ndarray, ref: np.ndarray) -> None:
    """The conformance tolerance: max abs diff <= 1e-5 * max(1, max |ref|)."""
    assert got.shape == ref.shape, (got.shape, ref.shape)
    tol = 1e-5 * max(1.0, float(np.abs(ref).max()))
    diff = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
    assert diff <= tol, f"max abs diff {diff:.3g} > tolerance {tol:.3g}"


@pytest.fixture(scope="module", params=CASES)
def case(request):
    return (krait.Assistant(COMPOSITE / request.param, threads=2),
            read_safetensors(COMPOSITE / request.param / "expected.safetensors"))


def test_forward_encode_and_greedy_match_the_reference(case):
    a, e = case
    ids, px = e["input_ids"], e["pixel_values"]
    assert_close(a.forward(ids[:1], px[:1])[0], e["logits"][0])
    assert_close(a.forward(ids[1:], px[1:])[0], e["logits"][1])
    assert_close(a.encode(px), e["features"])
    got = a.generate(e["prompt"].tolist(), pixel_values=px[:1], max_new_tokens=8, stop_at_eos=False)
    assert got.ids == e["greedy"].tolist()


def test_placement_is_reported():
    assert krait.Assistant(COMPOSITE / "mambavision_level_mamba").image_placement == "before_text"
    assert krait.Assistant(COMPOSITE / "clip_layers_mamba").image_placement == "at_marker"
    info = krait.Assistant(COMPOSITE / "vit_llama_prefix").info
    assert info["architecture"] == "krait_assistant" and info["image_placement"] == "before_text"


@pytest.fixture(scope="module")
def chat():
    return krait.Assistant(COMPOSITE / "mamba_chat", threads=2)


def test_a_text_prompt_gets_its_images_before_the_text(chat):
    px = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    prompt = "USER: What colour is it?\nASSISTANT:"
    text_ids = chat.tokenizer.encode(prompt)
    ids = [chat.image_token_id] * chat.image_rows + text_ids
    by_ids = chat.generate(ids, pixel_values=px, max_new_tokens=5, stop_at_eos=False)
    by_text = chat.generate(prompt, pixel_values=px, max_new_tokens=5, stop_at_eos=False)
    assert by_text.ids == by_ids.ids
    # The first token is the argmax of the forward pass over the same ids.
    logits = chat.forward(np.array([ids], dtype=np.int32), px)
    assert by_ids.ids[0] == int(np.argmax(logits[0, -1]))


def test_a_conversation_resumes_after_the_picture(chat):
    px = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)
    conv = chat.conversation()
    first = conv.say("What colour is it?", pixel_values=px, max_new_tokens=5, stop_at_eos=False)
    conv.undo()
    second = conv.say("How many shapes?", pixel_values=px, max_new_tokens=5, stop_at_eos=False)
    stats = conv.stats
    assert stats["reused_tokens"] == chat.image_rows and stats["images_encoded"] == 0
    fresh = krait.Assistant(COMPOSITE / "mamba_chat", threads=2).conversation()
    assert fresh.say("How many shapes?", pixel_values=px, max_new_tokens=5, stop_at_eos=False) == second
    assert first is not None


@pytest.mark.parametrize("name", ["mambavision_level_mamba", "clip_layers_mamba"])
def test_peft_lora_on_encoder_projector_and_language_model(name):
    a = krait.Assistant(COMPOSITE / name, threads=2)
    e = read_safetensors(COMPOSITE / name / "expected.safetensors")
    lora = a.load_adapter(COMPOSITE / name / "lora")
    ids, px = e["input_ids"], e["pixel_values"]
    assert_close(a.forward(ids[:1], px[:1], adapters={lora: 1.0})[0], e["lora_logits"][0])
    assert_close(a.forward(ids[1:], px[1:], adapters={lora: 1.0})[0], e["lora_logits"][1])
