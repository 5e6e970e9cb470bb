"""krait.Assistant: vision-language assistants (the tiny LLaVA fixtures) through the Python package.

Reference values: tests/fixtures/llava/<case>/expected.safetensors, made by tools/gen_llava_fixtures.py
with transformers (LlavaForConditionalGeneration): input_ids I32 [2, L] (row 0 holds 1 image, row 1
holds 2, each image as image_rows copies of the image token), pixel_values F32 [3, 3, 30, 30], logits
F32 [2, L, V], prompt I32 [P] (one image), greedy I32 [8] (transformers' greedy continuation of prompt
with image 0) and features F32 [3, rows, D] (the projector's output).
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import krait
from conftest import DEMO_MODEL, FIXTURES, MAMBA, TOKENIZERS, read_safetensors

LLAVA = FIXTURES / "llava"
CASES = ["llava_clip_llama", "llava_legacy", "llava_layers_full", "llava_siglip_qwen2"]
IMAGES = FIXTURES / "images"
SAMPLE = "rgb_37x53.png"  # a lossless sample, so its file, its bytes and its decoded pixels are one image


def assert_close(got: np.ndarray, ref: np.ndarray) -> None:
    """The LLaVA conformance tolerance: max abs diff <= 1e-5 * max(1, max |ref|)."""
    assert got.shape == ref.shape, (got.shape, ref.shape)
    assert got.dtype == np.float32
    tol = 1e-5 * max(1.0, float(np.abs(ref).max()))
    diff = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
    assert diff <= tol, f"max abs diff {diff:.3g} > tolerance {tol:.3g}"


@pytest.fixture(scope="module", params=CASES)
def case(request):
    """(assistant, expected tensors) of one fixture case."""
    return krait.Assistant(LLAVA / request.param, threads=2), read_safetensors(LLAVA / request.param / "expected.safetensors")


@pytest.fixture(scope="module")
def clip():
    return krait.Assistant(LLAVA / "llava_clip_llama", threads=2)


@pytest.fixture(scope="module")
def clip_expected():
    return read_safetensors(LLAVA / "llava_clip_llama" / "expected.safetensors")


def image_count(ids: np.ndarray, token: int, rows: int) -> int:
    n = int((ids == token).sum())
    assert n % rows == 0
    return n // rows


def test_info(clip, clip_expected):
    assert clip.image_token_id == 119
    assert clip.image_rows == clip_expected["features"].shape[1] == 25
    assert clip.image_size == (30, 30)
    assert clip.vocab_size == clip_expected["logits"].shape[2] == 120
    info = clip.info
    assert info["kind"] == "assistant"
    assert (info["image_token_id"], info["image_rows"]) == (119, 25)
    assert (info["image_height"], info["image_width"]) == (30, 30)
    assert info["hidden_size"] == clip_expected["features"].shape[2]
    assert clip.tokenizer is None  # the fixtures have no tokenizer.json
    assert "krait.Assistant" in repr(clip)


def test_forward_batch_matches_transformers(case):
    model, e = case
    assert_close(model.forward(e["input_ids"], e["pixel_values"]), e["logits"])


def test_forward_each_row_alone_matches_transformers(case):
    model, e = case
    ids, pixels = e["input_ids"], e["pixel_values"]
    first = 0
    for row in range(ids.shape[0]):
        n = image_count(ids[row], model.image_token_id, model.image_rows)
        got = model.forward(ids[row], pixels[first:first + n])  # 1-D ids: one row
        assert_close(got, e["logits"][row:row + 1])
        first += n
    assert first == pixels.shape[0]


def test_forward_without_images(clip):
    ids = np.array([[5, 6, 7, 8]], dtype=np.int64)
    logits = clip.forward(ids)
    assert logits.shape == (1, 4, 120)
    assert np.isfinite(logits).all()


def test_encode_matches_transformers(case):
    model, e = case
    assert_close(model.encode(e["pixel_values"]), e["features"])
    assert_close(model.encode(e["pixel_values"][1:2]), e["features"][1:2])


def test_greedy_generation_matches_transformers(case):
    model, e = case
    result = model.generate(e["prompt"], pixel_values=e["pixel_values"][:1], max_new_tokens=8, temperature=0)
    assert result.ids == e["greedy"].tolist()
    assert result.text == ""  # no tokenizer
    # Each generate() starts from an empty context: the same call again gives the same ids.
    again = model.generate(e["prompt"].tolist(), pixel_values=e["pixel_values"][:1], max_new_tokens=8)
    assert again.ids == e["greedy"].tolist()


def test_generation_depends_on_the_image(clip, clip_expected):
    e = clip_expected
    other = clip.generate(e["prompt"], pixel_values=e["pixel_values"][2:3], max_new_tokens=8)
    assert other.ids != e["greedy"].tolist()


def test_wrong_image_count_is_refused_and_the_assistant_still_works(clip, clip_expected):
    e = clip_expected
    with pytest.raises(krait.KraitInvalidArgumentError) as info:
        clip.forward(e["input_ids"], e["pixel_values"][:2])  # the ids hold 3 images
    message = info.value.message
    assert "holds 3 images" in message and "2 images were given" in message, message
    with pytest.raises(krait.KraitInvalidArgumentError) as info:
        clip.generate(e["prompt"], pixel_values=e["pixel_values"][:2], max_new_tokens=2)  # the prompt holds 1
    message = info.value.message
    assert "holds 1 image " in message and "2 images were given" in message, message
    with pytest.raises(krait.KraitInvalidArgumentError):
        clip.generate(e["prompt"], max_new_tokens=2)  # an image token but no image
    with pytest.raises(krait.KraitInvalidArgumentError):
        clip.encode(np.zeros((0, 3, 30, 30), np.float32))
    assert_close(clip.forward(e["input_ids"], e["pixel_values"]), e["logits"])
    assert clip.generate(e["prompt"], pixel_values=e["pixel_values"][:1], max_new_tokens=8).ids == e["greedy"].tolist()


def test_wrong_pixels_are_refused(clip, clip_expected):
    e = clip_expected
    row0 = e["input_ids"][0]
    small = np.zeros((1, 3, 24, 24), np.float32)
    with pytest.raises(krait.KraitInvalidArgumentError) as info:
        clip.forward(row0, small)
    assert "24x24" in info.value.message and "30x30" in info.value.message, info.value.message
    with pytest.raises(krait.KraitInvalidArgumentError):
        clip.encode(small)
    with pytest.raises(krait.KraitInvalidArgumentError):
        clip.generate(e["prompt"], pixel_values=small, max_new_tokens=2)
    with pytest.raises(krait.KraitInvalidArgumentError):  # 4 channels
        clip.encode(np.zeros((1, 4, 30, 30), np.float32))
    with pytest.raises(krait.KraitInvalidArgumentError):  # integers need preprocess()
        clip.encode(np.zeros((1, 3, 30, 30), np.uint8))
    with pytest.raises(krait.KraitInvalidArgumentError):  # one image must still be [1, 3, H, W]
        clip.encode(np.zeros((3, 30, 30), np.float32))
    # float64 is converted
    assert_close(clip.encode(e["pixel_values"][:1].astype(np.float64)), e["features"][:1])


def test_images_and_pixel_values_together_are_refused(clip, clip_expected):
    e = clip_expected
    with pytest.raises(krait.KraitInvalidArgumentError):
        clip.generate(e["prompt"], images=[IMAGES / "samples" / SAMPLE], pixel_values=e["pixel_values"][:1])


def test_preprocess_input_forms_agree(clip):
    path = IMAGES / "samples" / SAMPLE
    from_file = clip.preprocess(path)
    assert from_file.shape == (1, 3, 30, 30)
    assert from_file.dtype == np.float32
    assert np.isfinite(from_file).all() and float(np.abs(from_file).max()) > 0
    assert np.array_equal(clip.preprocess(str(path)), from_file)
    data = path.read_bytes()
    assert np.array_equal(clip.preprocess(data), from_file)
    assert np.array_equal(clip.preprocess(bytearray(data)), from_file)
    assert np.array_equal(clip.preprocess(memoryview(data)), from_file)
    pixels = read_safetensors(IMAGES / "decoded.safetensors")[SAMPLE]
    assert pixels.dtype == np.uint8 and pixels.shape == (53, 37, 3)
    assert np.array_equal(clip.preprocess(pixels), from_file)
    rgba = np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), 255, np.uint8)], axis=2)
    assert np.array_equal(clip.preprocess(rgba), from_file)  # alpha ignored
    # Another image gives other pixels.
    assert not np.array_equal(clip.preprocess(IMAGES / "samples" / "rgb_45x33.bmp"), from_file)


def test_preprocess_gray_and_pil(clip):
    gray = np.arange(20 * 24, dtype=np.uint8).reshape(20, 24)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    assert np.array_equal(clip.preprocess(gray), clip.preprocess(rgb))
    try:
        from PIL import Image
    except ImportError:
        return  # PIL is optional
    assert np.array_equal(clip.preprocess(Image.fromarray(rgb)), clip.preprocess(rgb))


def test_preprocess_refuses_bad_inputs(clip):
    with pytest.raises(krait.KraitIOError):
        clip.preprocess(IMAGES / "samples" / "no_such_file.png")
    with pytest.raises(krait.KraitFormatError):
        clip.preprocess(b"not an image at all")
    with pytest.raises(krait.KraitInvalidArgumentError):
        clip.preprocess(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(krait.KraitInvalidArgumentError):
        clip.preprocess(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(krait.KraitInvalidArgumentError):
        clip.preprocess(12)


def test_generate_with_images_equals_pixel_values(clip, clip_expected):
    e = clip_expected
    path = IMAGES / "samples" / SAMPLE
    pixels = clip.preprocess(path)
    by_pixels = clip.generate(e["prompt"], pixel_values=pixels, max_new_tokens=6)
    assert clip.generate(e["prompt"], images=[path], max_new_tokens=6).ids == by_pixels.ids
    assert clip.generate(e["prompt"], images=path, max_new_tokens=6).ids == by_pixels.ids  # one image alone
    assert clip.generate(e["prompt"], images=[path.read_bytes()], max_new_tokens=6).ids == by_pixels.ids


def test_wrong_kind_is_refused():
    with pytest.raises(krait.KraitWrongKindError) as info:
        krait.Assistant(MAMBA / "f32_tied")
    assert "sequence" in info.value.message and "assistant" in info.value.message, info.value.message
    # And the other way round: an assistant is not a sequence model.
    with pytest.raises(krait.KraitWrongKindError):
        krait.SequenceModel(LLAVA / "llava_clip_llama")


def test_demo_model_is_not_an_assistant():
    if not (DEMO_MODEL / "config.json").is_file():
        pytest.skip(f"demo model {DEMO_MODEL} is absent (it is trained separately: see tools/)")
    with pytest.raises(krait.KraitWrongKindError):
        krait.Assistant(DEMO_MODEL)


# ---- with a tokenizer: text prompts and streaming ---------------------------------------------------

@pytest.fixture(scope="module")
def talking(tmp_path_factory):
    """llava_clip_llama with a tokenizer.json: the byte-level smollm2 fixture tokenizer (every id below
    120 decodes) in which id 119, the image token, is the special token "<image>" (its byte token
    moved to a new id past the others)."""
    d = tmp_path_factory.mktemp("llava_with_tokenizer")
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        shutil.copyfile(LLAVA / "llava_clip_llama" / name, d / name)
    tok = json.loads((TOKENIZERS / "smollm2.tokenizer.json").read_text(encoding="utf-8"))
    vocab = tok["model"]["vocab"]
    byte_token = next(k for k, i in vocab.items() if i == 119)
    vocab[byte_token] = max(max(vocab.values()), max(a["id"] for a in tok["added_tokens"])) + 1
    vocab["<image>"] = 119
    tok["added_tokens"].append({"id": 119, "content": "<image>", "single_word": False, "lstrip": False,
                                "rstrip": False, "normalized": False, "special": True})
    (d / "tokenizer.json").write_text(json.dumps(tok), encoding="utf-8")
    return krait.Assistant(d, threads=2)


def test_streaming_gives_the_same_ids(talking, clip_expected):
    e = clip_expected
    pixels = e["pixel_values"][:1]
    gen = talking.generate(e["prompt"], pixel_values=pixels, max_new_tokens=8, stream=True)
    pieces = []
    while True:
        try:
            pieces.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    assert result.ids == e["greedy"].tolist()
    assert "".join(pieces) == result.text
    plain = talking.generate(e["prompt"], pixel_values=pixels, max_new_tokens=8)
    assert plain.ids == result.ids and plain.text == result.text


def test_text_prompt_expands_each_image_token(talking, clip_expected):
    e = clip_expected
    tok = talking.tokenizer
    text = "a<image>b"
    ids = tok.encode(text)
    assert ids.count(talking.image_token_id) == 1 and max(ids) < talking.vocab_size, ids
    expanded = []
    for i in ids:
        expanded += [i] * (talking.image_rows if i == talking.image_token_id else 1)
    pixels = e["pixel_values"][:1]
    by_ids = talking.generate(expanded, pixel_values=pixels, max_new_tokens=6)
    assert talking.generate(text, pixel_values=pixels, max_new_tokens=6).ids == by_ids.ids
    # ids are taken as given: an unexpanded image token is one token, not one image.
    with pytest.raises(krait.KraitInvalidArgumentError):
        talking.generate(ids, pixel_values=pixels, max_new_tokens=6)


def test_text_only_prompts_need_no_images(clip):
    ids = np.array([5, 6, 7, 8, 9], dtype=np.int32)
    logits = clip.forward(ids)  # no pixel_values
    assert logits.shape == (1, 5, 120)
    first = clip.generate(ids, max_new_tokens=1)
    assert first.ids == [int(np.argmax(logits[0, -1]))]
    assert np.array_equal(clip.forward(ids, None), logits)


# ---- LoRA adapters ------------------------------------------------------------------------------------

def _write_safetensors(path: Path, tensors: dict) -> None:
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def _q_proj_adapter(d: Path, scale_b: float) -> Path:
    """A PEFT LoRA folder (r = 2) on the language model's layer-0 q_proj (48 -> 48), named as the
    language model names it; lora_B = scale_b * a fixed pattern (0 = no effect)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": 2, "lora_alpha": 2, "target_modules": ["q_proj"]}))
    rng = np.random.default_rng(0)
    prefix = "base_model.model.model.layers.0.self_attn.q_proj."
    _write_safetensors(d / "adapter_model.safetensors", {
        prefix + "lora_A.weight": rng.standard_normal((2, 48)).astype(np.float32),
        prefix + "lora_B.weight": (scale_b * rng.standard_normal((48, 2))).astype(np.float32),
    })
    return d


def test_adapters_per_call(tmp_path, clip_expected):
    e = clip_expected
    model = krait.Assistant(LLAVA / "llava_clip_llama", threads=2)
    zero = model.load_adapter(_q_proj_adapter(tmp_path / "zero", 0.0))
    strong = model.load_adapter(_q_proj_adapter(tmp_path / "strong", 3.0))
    assert set(model.adapters) == {"zero", "strong"}
    base = model.forward(e["input_ids"], e["pixel_values"])
    assert_close(base, e["logits"])
    assert_close(model.forward(e["input_ids"], e["pixel_values"], adapters={zero: 1.0}), e["logits"])
    changed = model.forward(e["input_ids"], e["pixel_values"], adapters={"strong": 1.0})
    assert float(np.abs(changed - base).max()) > 1e-3
    # Each call sets its own adapters: the next call without them is the base model again.
    assert_close(model.forward(e["input_ids"], e["pixel_values"]), e["logits"])
    greedy = e["greedy"].tolist()
    args = dict(pixel_values=e["pixel_values"][:1], max_new_tokens=8)
    assert model.generate(e["prompt"], adapters={zero: 1.0}, **args).ids == greedy
    assert model.generate(e["prompt"], adapters={strong: 1.0}, **args).ids != greedy
    assert model.generate(e["prompt"], **args).ids == greedy
    model.unload_adapter("strong")
    assert not strong.loaded
    with pytest.raises(krait.KraitInvalidArgumentError):
        model.forward(e["input_ids"], e["pixel_values"], adapters={"strong": 1.0})


@pytest.mark.parametrize("adapter,expected", [("lora_vision", "lora_vision_logits"), ("lora_all", "lora_all_logits"),
                                              ("lora_all_v4", "lora_all_logits")])
def test_peft_lora_on_the_tower_and_projector_matches_peft(clip_expected, adapter, expected):
    """peft adapters on the tower and projector (and the LM), under transformers 5 and 4 names
    (tools/gen_llava_fixtures.py): forward logits against peft's; encode() sees them too."""
    e = clip_expected
    model = krait.Assistant(LLAVA / "llava_clip_llama", threads=2)
    a = model.load_adapter(LLAVA / "llava_clip_llama" / adapter)
    assert_close(model.forward(e["input_ids"], e["pixel_values"], adapters={a: 1.0}), e[expected])
    if adapter == "lora_vision":
        assert float(np.abs(model.encode(e["pixel_values"], adapters={a: 1.0}) - e["features"]).max()) > 1e-4
    assert_close(model.encode(e["pixel_values"]), e["features"])
