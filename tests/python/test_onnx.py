"""krait.Classifier on .onnx files: Krait's own ONNX importer through the Python package.

Reference values: onnxruntime's outputs stored beside each exported fixture (tools/gen_onnx_fixtures.py,
test_data_set_*/output_0.pb, read here with a plain protobuf reader so the tests need no onnx package),
and Krait's own safetensors loader on the same ViT weights.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import krait
from conftest import FIXTURES

ONNX = FIXTURES / "onnx"
MODELS = ONNX / "models"
EXPORTS = sorted(d.name for d in MODELS.iterdir() if (d / "model.onnx").is_file() and not d.name.startswith("light_"))
SAMPLE = FIXTURES / "images" / "samples" / "photo_300x199.png"


def _varint(buf: bytes, i: int):
    value, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def read_tensor_pb(path: Path) -> np.ndarray:
    """A serialized onnx TensorProto holding FLOAT raw_data (what the generator writes): dims (field 1),
    data_type (2), raw_data (9); other fields are skipped."""
    buf = Path(path).read_bytes()
    dims, dtype, raw, i = [], None, b"", 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            if field == 1:
                dims.append(value)
            elif field == 2:
                dtype = value
        elif wire == 2:
            n, i = _varint(buf, i)
            chunk = buf[i:i + n]
            i += n
            if field == 1:  # packed dims
                j = 0
                while j < len(chunk):
                    d, j = _varint(chunk, j)
                    dims.append(d)
            elif field == 9:
                raw = chunk
        elif wire == 5:
            i += 4
        elif wire == 1:
            i += 8
        else:
            raise ValueError(f"{path}: unexpected wire type {wire}")
    assert dtype == 1, f"{path}: not a FLOAT tensor"
    return np.frombuffer(raw, dtype="<f4").reshape(dims)


@pytest.mark.parametrize("name", EXPORTS)
def test_exports_match_onnxruntime(name):
    clf = krait.Classifier(MODELS / name / "model.onnx", threads=2)
    assert clf.info["architecture"] == "onnx"
    for data in sorted((MODELS / name).glob("test_data_set_*")):
        x = read_tensor_pb(data / "input_0.pb")
        want = read_tensor_pb(data / "output_0.pb")
        got = clf.forward(x)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def test_vit_export_equals_its_safetensors_and_classifies_alike():
    onnx_clf = krait.Classifier(MODELS / "hf_vit_torchscript_opset17" / "model.onnx")
    st_clf = krait.Classifier(MODELS / "hf_vit_safetensors")
    assert onnx_clf.labels == st_clf.labels
    assert onnx_clf.image_size == st_clf.image_size
    x = np.random.default_rng(3).standard_normal((4, 3, *onnx_clf.image_size), dtype=np.float32)
    a, b = onnx_clf.forward(x), st_clf.forward(x)
    assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max()
    ra, rb = onnx_clf.classify(str(SAMPLE), top_k=3), st_clf.classify(str(SAMPLE), top_k=3)
    assert [label for label, _ in ra] == [label for label, _ in rb]
    for (_, pa), (_, pb) in zip(ra, rb):
        assert pa == pytest.approx(pb, abs=1e-4)


def test_describe_lists_graph_opsets_and_passes():
    clf = krait.Classifier(MODELS / "resnet_torchscript_opset17" / "model.onnx")
    text = clf.describe()
    assert "input pixel_values [batch, 3, 48, 48]" in text
    assert "opsets ai.onnx=17" in text
    assert "Conv+BatchNormalization+Relu" in text
    assert krait.Classifier(MODELS / "hf_vit_safetensors").describe() == ""


def test_bad_files_raise_typed_errors(tmp_path):
    with pytest.raises(krait.KraitUnsupportedError, match="NonMaxSuppression"):
        krait.Classifier(ONNX / "bad" / "unsupported_op.onnx")
    with pytest.raises(krait.KraitFormatError, match="cycle"):
        krait.Classifier(ONNX / "bad" / "cycle.onnx")
    with pytest.raises(krait.KraitFormatError, match="outside the model's folder"):
        krait.Classifier(ONNX / "bad" / "external_outside.onnx")
    with pytest.raises(krait.KraitIOError):
        krait.Classifier(tmp_path / "missing.onnx")
    # A truncated copy of a real export.
    src = (MODELS / "resnet_torchscript_opset17" / "model.onnx").read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(src[: len(src) // 2])
    with pytest.raises(krait.KraitFormatError):
        krait.Classifier(cut)


def test_wrong_image_size_is_refused():
    clf = krait.Classifier(MODELS / "resnet_torchscript_opset17" / "model.onnx")
    with pytest.raises(krait.KraitInvalidArgumentError, match="48x48"):
        clf.forward(np.zeros((1, 3, 40, 48), dtype=np.float32))


def test_demo_export_equals_the_demo_vit():
    root = Path(__file__).resolve().parents[2] / "models"
    onnx_clf = krait.Classifier(root / "vit-digits-onnx" / "model.onnx")
    st_clf = krait.Classifier(root / "vit-digits")
    x = np.random.default_rng(5).standard_normal((3, 3, *st_clf.image_size), dtype=np.float32)
    a, b = onnx_clf.forward(x), st_clf.forward(x)
    assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max()
    samples = sorted(str(p) for p in (root / "samples").glob("digit_*.png"))
    assert [r[0][0] for r in onnx_clf.classify(samples, top_k=1)] == [r[0][0] for r in st_clf.classify(samples, top_k=1)]


def test_caller_preprocessing_replaces_the_files():
    path = MODELS / "hf_vit_torchscript_opset17" / "model.onnx"
    given = krait.Classifier(path, preprocessor_config={"image_mean": [0, 0, 0], "image_std": [1, 1, 1]})
    files = krait.Classifier(path)
    gray = np.full((8, 8, 3), 128, dtype=np.uint8)
    a = given.classify(gray, top_k=5)
    b = files.classify(gray, top_k=5)
    assert a != b  # other pixels reach the model
    with pytest.raises(krait.KraitFormatError):
        krait.Classifier(path, preprocessor_config="{not json")
