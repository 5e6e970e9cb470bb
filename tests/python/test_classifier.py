"""krait.Classifier: image classifiers (ViT fixture models) through the Python package.

Reference values: the transformers logits stored with the ViT fixtures (tools/gen_vit_fixtures.py), and
forward() + a plain numpy softmax for classify(), on inputs whose preprocessing is computed here exactly.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import krait
from conftest import FIXTURES, read_safetensors

VIT = FIXTURES / "vit"
IMAGES = FIXTURES / "images"
SAMPLES = IMAGES / "samples"
SIZE = 48  # the input size of the classifier fixture below (preprocessor_config.json of vit_bilinear_48)
LABELS = ["cat_0", "dog_1", "heron_2", "newt_3", "otter_4"]
VIT_CASES = [c["name"] for c in json.loads((VIT / "manifest.json").read_text())["cases"]]


def _vit_dir(dest: Path) -> Path:
    """The f32_base ViT (5 labels, trained at 8x8, patch 2) with a preprocessor_config.json that resizes
    to 48 x 48 (bilinear, rescale 1/255, normalize mean = std = 0.5)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(VIT / "f32_base" / name, dest / name)
    shutil.copyfile(IMAGES / "preprocess" / "vit_bilinear_48" / "preprocessor_config.json",
                    dest / "preprocessor_config.json")
    return dest


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory) -> Path:
    return _vit_dir(tmp_path_factory.mktemp("vit48"))


@pytest.fixture(scope="module")
def clf(vit_dir):
    return krait.Classifier(vit_dir, threads=2)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def model_input(rgb: np.ndarray) -> np.ndarray:
    """HF ViTImageProcessor on an image already at the model size (the resize is the identity):
    float32(double(v) * (1/255)), then (x - 0.5) / 0.5 in float32; HWC -> CHW."""
    x = (rgb.astype(np.float64) * (1.0 / 255.0)).astype(np.float32)
    x = (x - np.float32(0.5)) / np.float32(0.5)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def random_rgb(seed: int, h: int = SIZE, w: int = SIZE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def check_top_k(got, probs: np.ndarray, k: int, tol: float) -> None:
    """got: [(label, p)] for one image; probs: reference probabilities by label id."""
    assert len(got) == k
    order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))
    for rank, (label, p) in enumerate(got):
        assert isinstance(label, str) and isinstance(p, float)
        assert label == LABELS[order[rank]], (rank, got, probs)
        assert abs(p - probs[order[rank]]) <= tol, (rank, p, probs[order[rank]])


# ---- the model and forward() -------------------------------------------------------------------

def test_facts(clf, vit_dir):
    assert clf.labels == LABELS
    assert clf.num_labels == 5
    assert clf.image_size == (8, 8)  # trained size (config.json image_size); preprocessing goes to 48
    info = clf.info
    assert info["kind"] == "classifier" and info["architecture"] == "vit"
    assert info["num_labels"] == 5 and (info["image_height"], info["image_width"]) == (8, 8)
    # the linears are held packed only (output features rounded up to 32 per panel), the rest in place
    assert info["num_parameters"] == 4533 and 4 * 4533 <= info["weight_bytes"] < 3 * 4 * 4533
    assert info["source_dtype"] == "F32"
    assert "vit" in repr(clf) and "num_labels=5" in repr(clf)
    assert "Classifier" in krait.__all__


@pytest.mark.parametrize("case", VIT_CASES)
def test_forward_matches_transformers(case):
    ref = read_safetensors(VIT / case / "expected.safetensors")
    model = krait.Classifier(VIT / case, threads=1)
    got = model.forward(ref["pixel_values"])
    assert got.dtype == np.float32 and got.shape == ref["logits"].shape
    tol = 1e-5 * max(1.0, float(np.abs(ref["logits"]).max()))  # the fixtures' manifest tolerance
    assert float(np.abs(got - ref["logits"]).max()) <= tol


@pytest.mark.parametrize("case", ["bf16", "f16"])
def test_half_weights_as_stored_or_upcast(case):
    """A BF16/F16 checkpoint kept in its stored precision (16-bit packed panels) gives the same logits
    as upcast to F32 (each weight widens exactly; the sums run in F32 in the same order) in fewer bytes."""
    ref = read_safetensors(VIT / case / "expected.safetensors")
    stored = krait.Classifier(VIT / case, threads=1)
    upcast = krait.Classifier(VIT / case, threads=1, weights="f32")
    assert stored.info["source_dtype"] == case.upper()
    assert stored.info["weight_bytes"] < upcast.info["weight_bytes"]
    got = stored.forward(ref["pixel_values"])
    np.testing.assert_array_equal(got, upcast.forward(ref["pixel_values"]))
    with pytest.raises(krait.KraitError, match="weights"):
        krait.Classifier(VIT / case, weights="f8")


def test_bf16_dot_products_option():
    """matmul="bf16" (KRAIT_MATMUL_BF16): BF16 weights times activations rounded to BF16 on AMX /
    AVX512-BF16 CPUs (the exact path elsewhere). Tolerance 2.5e-2 of max(1, max |logit|), as the C++
    Llama test states it (transformers in torch.bfloat16 is 2.7e-2 from its fp32 logits there)."""
    ref = read_safetensors(VIT / "bf16" / "expected.safetensors")
    fast = krait.Classifier(VIT / "bf16", threads=1, matmul="bf16")
    got = fast.forward(ref["pixel_values"])
    scale = max(1.0, float(np.abs(ref["logits"]).max()))
    assert float(np.abs(got - ref["logits"]).max()) <= 2.5e-2 * scale
    np.testing.assert_array_equal(krait.Classifier(VIT / "bf16", threads=1, matmul="exact").forward(ref["pixel_values"]),
                                  krait.Classifier(VIT / "bf16", threads=1).forward(ref["pixel_values"]))
    with pytest.raises(ValueError, match="matmul"):
        krait.Classifier(VIT / "bf16", matmul="bf8")


def test_forward_accepts_one_image_and_other_float_widths(clf):
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 10)).astype(np.float32)
    batch = clf.forward(x)
    assert batch.shape == (2, 5)
    one = clf.forward(x[1])  # [3, H, W] is a batch of one
    assert one.shape == (1, 5)
    np.testing.assert_allclose(one[0], batch[1], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(clf.forward(x.astype(np.float64)), batch)
    np.testing.assert_array_equal(clf.forward(np.asfortranarray(x)), batch)


@pytest.mark.parametrize("bad, words", [
    (np.zeros((1, 3, 8, 8), dtype=np.uint8), "float"),
    (np.zeros((1, 3, 8, 8), dtype=np.int64), "float"),
    (np.zeros((3, 8), dtype=np.float32), "dimensions"),
    (np.zeros((1, 1, 3, 8, 8), dtype=np.float32), "dimensions"),
    (np.zeros((1, 4, 8, 8), dtype=np.float32), "3 channels"),
    (np.zeros((1, 3, 7, 8), dtype=np.float32), "7"),  # not a multiple of the patch size 2
    (np.zeros((0, 3, 8, 8), dtype=np.float32), "batch"),
    ("not an array", "float"),
])
def test_forward_refuses_wrong_tensors(clf, bad, words):
    with pytest.raises(krait.KraitInvalidArgumentError) as info:
        clf.forward(bad)
    assert words in str(info.value)
    assert info.value.status == krait.Status.INVALID_ARGUMENT


# ---- classify(): correctness ---------------------------------------------------------------------

def test_classify_pixels_equals_forward_plus_softmax(clf):
    images = [random_rgb(s) for s in range(4)]
    probs = softmax(clf.forward(np.stack([model_input(im) for im in images])))
    for top_k in (1, 3, 5, 50):
        got = clf.classify(images, top_k=top_k)
        assert len(got) == 4
        for row, p in zip(got, probs):
            check_top_k(row, p, min(top_k, 5), 1e-6)
    # Full top-5 probabilities sum to one.
    assert abs(sum(p for _, p in clf.classify(images[0], top_k=5)) - 1.0) < 1e-5


def test_single_image_and_batch_forms(clf):
    a, b = random_rgb(10), random_rgb(11)
    single = clf.classify(a, top_k=2)
    assert isinstance(single, list) and len(single) == 2 and isinstance(single[0], tuple)
    both = clf.classify([a, b], top_k=2)
    assert [label for label, _ in both[0]] == [label for label, _ in single]
    assert clf.classify((a, b), top_k=2) == both
    stacked = clf.classify(np.stack([a, b]), top_k=2)  # uint8 [N, H, W, C] is a batch
    assert len(stacked) == 2
    assert [x for x, _ in stacked[1]] == [x for x, _ in both[1]]


def test_gray_rgba_and_strided_arrays_are_the_same_picture(clf):
    rgb = random_rgb(20)
    gray = rgb[:, :, 0].copy()
    gray_rgb = np.repeat(gray[:, :, None], 3, axis=2)
    rgba = np.concatenate([rgb, np.random.default_rng(3).integers(0, 256, (SIZE, SIZE, 1), dtype=np.uint8)], axis=2)
    big = np.zeros((SIZE + 10, SIZE + 20, 3), dtype=np.uint8)
    big[5:5 + SIZE, 7:7 + SIZE] = rgb
    view = big[5:5 + SIZE, 7:7 + SIZE]  # rows strided, not contiguous
    assert not view.flags["C_CONTIGUOUS"]
    bgr_view = rgb[:, :, ::-1][:, :, ::-1]  # negative channel stride, same pixels
    results = clf.classify([rgb, rgba, view, bgr_view, gray, gray[:, :, None], gray_rgb], top_k=5)
    probs = softmax(clf.forward(np.stack([model_input(rgb), model_input(gray_rgb)])))
    for row in results[:4]:
        check_top_k(row, probs[0], 5, 1e-6)
    for row in results[4:]:
        check_top_k(row, probs[1], 5, 1e-6)


def test_paths_bytes_and_pixels_agree(clf):
    # PNG is lossless: the file, its bytes and PIL's decoded pixels (decoded.safetensors) give the same input.
    decoded_all = read_safetensors_u8(IMAGES / "decoded.safetensors")
    names = ["photo_300x199.png", "rgb_37x53.png", "gray_13x7.png", "rgba_41x29.png"]
    paths = [SAMPLES / n for n in names]
    raw = [p.read_bytes() for p in paths]
    decoded = [decoded_all[n] for n in names]
    from_paths = clf.classify([str(p) for p in paths])
    assert clf.classify(paths) == from_paths  # pathlib.Path
    assert clf.classify(raw) == from_paths
    assert clf.classify([bytearray(b) for b in raw]) == from_paths
    assert clf.classify([memoryview(b) for b in raw]) == from_paths
    assert clf.classify(decoded) == from_paths
    # A mixed list keeps its order (it runs as one batch per kind: batch sizes differ, so the
    # probabilities may differ in float rounding).
    mixed = clf.classify([decoded[0], str(paths[1]), raw[2], paths[3]])
    assert_same(mixed, from_paths, 1e-6)


def assert_same(a, b, tol: float) -> None:
    """Two classify() results: the same labels in the same order, probabilities within tol."""
    assert len(a) == len(b)
    for row_a, row_b in zip(a, b):
        assert [x for x, _ in row_a] == [x for x, _ in row_b]
        np.testing.assert_allclose([p for _, p in row_a], [p for _, p in row_b], rtol=0, atol=tol)


def test_batch_size_does_not_change_results(vit_dir):
    images = [random_rgb(s) for s in range(5)]
    results = [krait.Classifier(vit_dir, threads=1, batch_size=b).classify(images) for b in (1, 2, 0, None)]
    for other in results[1:]:
        assert_same(results[0], other, 1e-6)


def test_equal_probabilities_list_the_lower_id_first(tmp_path):
    # A copy of the model whose classifier rows 0 and 1 (cat_0, dog_1) are identical: every image
    # gets equal logits for both, and cat_0 must come right before dog_1.
    d = _vit_dir(tmp_path / "tied_labels")
    raw = bytearray((d / "model.safetensors").read_bytes())
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    for name in ("classifier.weight", "classifier.bias"):
        meta = header[name]
        assert meta["dtype"] == "F32"
        begin = 8 + n + meta["data_offsets"][0]
        row = 4 * (meta["shape"][1] if len(meta["shape"]) == 2 else 1)
        raw[begin + row:begin + 2 * row] = raw[begin:begin + row]
    (d / "model.safetensors").write_bytes(bytes(raw))
    model = krait.Classifier(d, threads=1)
    for row in model.classify([random_rgb(s) for s in range(6)], top_k=5):
        labels = [x for x, _ in row]
        i = labels.index("cat_0")
        assert labels[i + 1] == "dog_1", labels
        assert row[i][1] == row[i + 1][1]


# ---- classify(): errors --------------------------------------------------------------------------

def read_safetensors_u8(path: Path) -> dict:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        assert meta["dtype"] == "U8"
        b, e = meta["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=np.uint8).reshape(meta["shape"]).copy()
    return out


BAD = json.loads((IMAGES / "manifest.json").read_text())["bad"]
_ERRORS = {"FORMAT": krait.KraitFormatError, "INVALID_ARGUMENT": krait.KraitInvalidArgumentError,
           "UNSUPPORTED": krait.KraitUnsupportedError, "IO": krait.KraitIOError}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_images_raise_their_error_naming_the_image(clf, name):
    bad = IMAGES / "bad" / name
    good = random_rgb(0)
    # The bad one third in a mixed list: the message names its index in the caller's list.
    with pytest.raises(_ERRORS[BAD[name]]) as info:
        clf.classify([good, SAMPLES / "rgb_37x53.png", bad])
    assert "image 2" in str(info.value), str(info.value)
    with pytest.raises(_ERRORS[BAD[name]]) as info:
        clf.classify([bad.read_bytes()])
    assert "image 0" in str(info.value)


def test_missing_file_is_an_os_error(clf):
    with pytest.raises(krait.KraitIOError) as info:
        clf.classify(str(IMAGES / "no-such-file.png"))
    assert isinstance(info.value, OSError)
    assert "no-such-file.png" in str(info.value)


def test_max_image_pixels(vit_dir):
    small = krait.Classifier(vit_dir, threads=1, max_image_pixels=300 * 199 - 1)
    with pytest.raises(krait.KraitInvalidArgumentError) as info:
        small.classify(SAMPLES / "photo_300x199.png")
    assert str(300 * 199 - 1) in str(info.value)
    with pytest.raises(krait.KraitInvalidArgumentError):
        small.classify(np.zeros((199, 300, 3), dtype=np.uint8))
    assert len(small.classify(np.zeros((198, 300, 3), dtype=np.uint8))) == 5
    for bad in (0, -5):
        with pytest.raises(krait.KraitInvalidArgumentError):
            krait.Classifier(vit_dir, max_image_pixels=bad)
    with pytest.raises(krait.KraitInvalidArgumentError):
        krait.Classifier(vit_dir, batch_size=-1)


@pytest.mark.parametrize("images, words", [
    ([], "empty"),
    (42, "int"),
    ([random_rgb(0), 3.5], "image 1"),
    (np.zeros((8, 8, 3), dtype=np.float32), "uint8"),
    (np.zeros((8, 8, 2), dtype=np.uint8), "channels"),
    (np.zeros((0, 8, 3), dtype=np.uint8), "0"),
    (np.zeros((2, 2, 2, 2, 3), dtype=np.uint8), "dimensions"),
])
def test_bad_image_arguments(clf, images, words):
    with pytest.raises(krait.KraitInvalidArgumentError) as info:
        clf.classify(images)
    assert words in str(info.value), str(info.value)


@pytest.mark.parametrize("top_k", [0, -1, True, 2.5, "3", None])
def test_bad_top_k(clf, top_k):
    with pytest.raises(krait.KraitInvalidArgumentError):
        clf.classify(random_rgb(0), top_k=top_k)


def test_huge_top_k_is_all_labels(clf):
    assert len(clf.classify(random_rgb(0), top_k=10**12)) == 5


def test_wrong_kinds_are_refused(text_model_dir, vit_dir):
    with pytest.raises(krait.KraitWrongKindError) as info:
        krait.Classifier(text_model_dir)
    assert "not an image classifier" in str(info.value)
    with pytest.raises(krait.KraitWrongKindError):
        krait.SequenceModel(vit_dir)


def test_threads_property(vit_dir):
    model = krait.Classifier(vit_dir)
    assert model.threads is None
    model.threads = 1
    assert model.threads == 1
    assert len(model.classify(random_rgb(0))) == 5
    with pytest.raises(krait.KraitInvalidArgumentError):
        model.threads = -1


# ---- MambaVision ----------------------------------------------------------------------------------

def test_mambavision_classify_equals_forward_plus_softmax():
    # Fixture odd_even_pad_hub (hub layout, 7 labels, trained at 64 x 64, no preprocessing fields in
    # config.json: timm's eval transform with crop_pct 1.0, ImageNet mean/std). At 64 x 64 the resize
    # and crop are the identity, so the input is torchvision's ToTensor + Normalize, computed here:
    # float32(v) / 255, then (x - mean) / std in float32.
    model = krait.Classifier(FIXTURES / "mambavision" / "odd_even_pad_hub", threads=2)
    info = model.info
    assert info["architecture"] == "mambavision" and info["num_labels"] == 7
    assert model.image_size == (64, 64)
    assert model.labels == [f"LABEL_{i}" for i in range(7)]  # config.json has no id2label
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    images = [random_rgb(s, 64, 64) for s in range(3)]
    x = np.stack([np.ascontiguousarray(((im.astype(np.float32) / np.float32(255) - mean) / std).transpose(2, 0, 1))
                  for im in images])
    probs = softmax(model.forward(x))
    got = model.classify(images, top_k=7)
    labels = model.labels
    for row, p in zip(got, probs):
        order = sorted(range(7), key=lambda i: (-p[i], i))
        assert [x for x, _ in row] == [labels[i] for i in order]
        np.testing.assert_allclose([q for _, q in row], p[order], rtol=0, atol=1e-6)


def test_abort_before_a_call_stops_that_call_only(vit_dir):
    c = krait.Classifier(vit_dir, threads=1)
    image = SAMPLES / "rgb_37x53.png"
    want = c.classify(image)
    c.abort()  # no call runs: the next one takes the request and uses it up
    with pytest.raises(krait.KraitAbortedError):
        c.classify(image)
    assert c.classify(image) == want
    c.abort()
    with pytest.raises(krait.KraitAbortedError):
        c.forward(np.zeros((1, 3, SIZE, SIZE), np.float32))
    c.abort()
    c.clear_abort()
    assert c.classify(image) == want
