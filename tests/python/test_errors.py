"""Failures raise krait.KraitError (one base, a subclass per status) carrying the library's message."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import krait
from conftest import BAD, MAMBA, TOKENIZERS

IO, FORMAT, UNSUPPORTED, INVALID = krait.Status.IO, krait.Status.FORMAT, krait.Status.UNSUPPORTED, krait.Status.INVALID_ARGUMENT

# tests/fixtures/bad/README.md: directory -> (acceptable statuses, words the message must contain)
BAD_MODELS = {
    "st_too_short": ({FORMAT}, ["model.safetensors", "5 bytes"]),
    "st_truncated": ({FORMAT}, ["model.safetensors", "beyond the data buffer"]),
    "st_header_len_beyond_file": ({FORMAT}, ["model.safetensors", "header length 94320"]),
    "st_header_len_huge": ({FORMAT}, ["model.safetensors", "header length"]),
    "st_header_not_json": ({FORMAT}, ["model.safetensors", "JSON"]),
    "st_offsets_beyond_buffer": ({FORMAT}, ["backbone.norm_f.weight", "beyond the data buffer"]),
    "st_overlapping_offsets": ({FORMAT}, ["overlaps"]),
    "st_offsets_with_hole": ({FORMAT}, ["hole", "backbone.layers.0.mixer.conv1d.bias"]),
    "st_trailing_bytes": ({FORMAT}, ["8 trailing bytes"]),
    "st_nbytes_mismatch": ({FORMAT}, ["backbone.layers.0.mixer.A_log", "[64, 15]"]),
    "wrong_dtype": ({FORMAT, UNSUPPORTED}, ["backbone.layers.0.mixer.D", "I32"]),
    "wrong_shape": ({FORMAT}, ["backbone.layers.1.mixer.A_log", "[16, 64]", "[64, 16]"]),
    "missing_tensor": ({FORMAT}, ["backbone.layers.1.mixer.dt_proj.bias"]),
    "config_unknown_model_type": ({UNSUPPORTED}, ["mamba3"]),
    "config_malformed": ({FORMAT}, ["config.json", "JSON"]),
    "config_hidden_size_zero": ({FORMAT}, ["hidden_size", "0"]),
    "config_negative_layers": ({FORMAT}, ["num_hidden_layers", "-2"]),
    "config_missing": ({IO}, ["config.json"]),
    "index_missing_shard": ({FORMAT}, ["model-00002-of-00003.safetensors"]),
}


def test_every_bad_fixture_is_covered():
    present = {d.name for d in BAD.iterdir() if d.is_dir()}
    assert present == set(BAD_MODELS), present ^ set(BAD_MODELS)


@pytest.mark.parametrize("name", sorted(BAD_MODELS))
def test_bad_model_directory(name):
    statuses, words = BAD_MODELS[name]
    with pytest.raises(krait.KraitError) as info:
        krait.SequenceModel(BAD / name)
    err = info.value
    assert err.status in statuses, (err.status, str(err))
    for word in words:
        assert word in str(err), (word, str(err))
    assert type(err) is krait._errors.error_from_status(err.status, "").__class__


def test_missing_path(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(krait.KraitIOError) as info:
        krait.SequenceModel(missing)
    assert info.value.status == IO
    assert str(missing) in str(info.value)
    assert isinstance(info.value, krait.KraitError)
    assert isinstance(info.value, OSError)  # generic handlers work too
    assert info.value.status_name == "i/o error"


def test_exception_hierarchy_and_pickling():
    for status in range(1, 12):
        err = krait._errors.error_from_status(status, f"message {status}")
        assert type(err) is not krait.KraitError, f"status {status} has no class of its own"
        assert isinstance(err, krait.KraitError)
        assert err.status == status and str(err) == f"message {status}"
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and back.status == status and str(back) == str(err)
    assert issubclass(krait.KraitInvalidArgumentError, ValueError)
    assert issubclass(krait.KraitFormatError, ValueError)
    assert issubclass(krait.KraitIOError, OSError)
    assert isinstance(krait._errors.error_from_status(krait.Status.BUSY, "b"), krait.KraitBusyError)
    assert krait._krait.status_string(krait.Status.BUSY) == "session busy"


@pytest.fixture(scope="module")
def model():
    return krait.SequenceModel(MAMBA / "f32_tied")  # vocab 97


@pytest.fixture(scope="module")
def tok():
    return krait.Tokenizer.from_file(TOKENIZERS / "bytelevel_neox.tokenizer.json")  # vocab 1478


@pytest.mark.parametrize("bad_id", [97, 1000, -1, 2**31 - 1, -(2**31)])
def test_forward_id_out_of_vocab(model, bad_id):
    with pytest.raises(krait.KraitInvalidArgumentError) as info:
        model.forward([[1, 2, bad_id, 3]])
    assert f"token id {bad_id} at position 2" in str(info.value)
    assert "[0, 97)" in str(info.value)


@pytest.mark.parametrize("bad_id", [2**32 + 5, 2**31, -(2**31) - 1, 2**63 - 1])
def test_forward_int64_id_not_wrapped_to_int32(model, bad_id):
    # 2**32 + 5 would wrap to 5, a valid id: it must be refused, not narrowed.
    ids = np.array([[1, 2, 3], [4, bad_id, 6]], dtype=np.int64)
    with pytest.raises(krait.KraitInvalidArgumentError) as info:
        model.forward(ids)
    assert f"token id {bad_id} at position 4" in str(info.value)


def test_unsigned_and_python_big_ints_not_wrapped(model):
    with pytest.raises(krait.KraitInvalidArgumentError, match=f"token id {2**32 + 1} at position 1"):
        model.forward(np.array([1, 2**32 + 1], dtype=np.uint64))
    with pytest.raises(krait.KraitInvalidArgumentError, match=f"token id {2**70} at position 1"):
        model.forward([1, 2**70])
    with pytest.raises(krait.KraitInvalidArgumentError, match=f"token id {2**40}"):
        model.generate([1, 2**40], max_new_tokens=2)


@pytest.mark.parametrize("bad", [[[1.5, 2.0]], [True, False], [[[1, 2]]], [[1, 2], [3]], [], [[]], "abc"])
def test_forward_bad_input_shapes_and_types(model, bad):
    with pytest.raises(krait.KraitInvalidArgumentError):
        model.forward(bad)


def test_generate_bad_prompt_ids(model):
    with pytest.raises(krait.KraitInvalidArgumentError, match="token id 97 at position 1"):
        model.generate([5, 97], max_new_tokens=2)
    with pytest.raises(krait.KraitInvalidArgumentError, match="empty prompt"):
        model.generate([], max_new_tokens=2)
    with pytest.raises(krait.KraitInvalidArgumentError, match="1-D"):
        model.generate([[1, 2]], max_new_tokens=2)


@pytest.mark.parametrize("kwargs, field", [
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(max_new_tokens=-3), "max_new_tokens"),
    (dict(temperature=-1.0), "temperature"),
    (dict(temperature=float("nan")), "temperature"),
    (dict(temperature=1.0, top_p=1.5), "top_p"),
    (dict(temperature=1.0, top_p=0.0), "top_p"),
    (dict(temperature=1.0, top_k=-1), "top_k"),
    (dict(temperature=1.0, min_p=2.0), "min_p"),
    (dict(repetition_penalty=0.0), "repetition_penalty"),
    (dict(seed=-1), "seed"),
    (dict(seed=2**64), "seed"),
    (dict(seed=1.5), "seed"),
])
def test_generate_bad_parameters_name_the_field(model, kwargs, field):
    with pytest.raises(krait.KraitInvalidArgumentError) as info:
        model.generate([1, 2, 3], **kwargs)
    assert field in str(info.value)


def test_text_features_need_a_tokenizer(model):
    # The fixture directories have no tokenizer.json: ids work, text does not, with a message saying why.
    assert model.tokenizer is None
    for call in (lambda: model.generate("hello"),
                 lambda: model.generate([1, 2], stop=["x"]),
                 lambda: model.generate([1, 2], stream=True)):
        with pytest.raises(krait.KraitUnsupportedError, match="tokenizer.json"):
            call()


def test_bad_device_and_threads():
    with pytest.raises(krait.KraitInvalidArgumentError, match="device"):
        krait.SequenceModel(MAMBA / "f32_tied", device="tpu")
    with pytest.raises(krait.KraitUnsupportedError):  # CPU-only build
        krait.SequenceModel(MAMBA / "f32_tied", device="cuda")
    with pytest.raises(krait.KraitInvalidArgumentError, match="threads"):
        krait.SequenceModel(MAMBA / "f32_tied", threads=-1)
    model = krait.SequenceModel(MAMBA / "f32_tied", threads=2)
    with pytest.raises(krait.KraitInvalidArgumentError, match="threads"):
        model.threads = -4
    assert model.threads == 2


def test_tokenizer_file_errors(tmp_path):
    with pytest.raises(krait.KraitIOError) as info:
        krait.Tokenizer.from_file(tmp_path / "missing.json")
    assert "missing.json" in str(info.value)
    with pytest.raises(krait.KraitFormatError, match="broken.tokenizer.json"):
        krait.Tokenizer.from_file(TOKENIZERS / "broken.tokenizer.json")
    with pytest.raises(krait.KraitUnsupportedError, match="WordPiece"):
        krait.Tokenizer.from_file(TOKENIZERS / "wordpiece.tokenizer.json")


def test_encode_refuses_non_utf8_bytes(tok):
    with pytest.raises(krait.KraitInvalidArgumentError) as info:
        tok.encode(b"abc\xff\xfedef")
    assert "UTF-8" in str(info.value) and "3" in str(info.value)  # names the byte offset
    with pytest.raises(krait.KraitInvalidArgumentError, match="UTF-8"):
        tok.encode(b"\xc3")  # a truncated two-byte sequence
    with pytest.raises(krait.KraitInvalidArgumentError, match="UTF-8"):
        tok.encode(b"\xed\xa0\x80")  # an encoded surrogate is not UTF-8


def test_encode_refuses_lone_surrogates(tok):
    text = b"ab\xff".decode("utf-8", errors="surrogateescape")  # 'ab\udcff'
    with pytest.raises(krait.KraitInvalidArgumentError, match="surrogate U\\+DCFF at character index 2"):
        tok.encode(text)


def test_generate_refuses_non_utf8_prompt_and_stop(text_model):
    with pytest.raises(krait.KraitInvalidArgumentError, match="UTF-8"):
        text_model.generate(b"AB\xff", max_new_tokens=2)
    with pytest.raises(krait.KraitInvalidArgumentError, match="UTF-8"):
        text_model.generate("AB", max_new_tokens=2, stop=["x\udcff"])
    with pytest.raises(krait.KraitInvalidArgumentError, match="NUL"):
        text_model.generate("AB", max_new_tokens=2, stop=["a\0b"])


def test_decode_errors(tok):
    with pytest.raises(krait.KraitInvalidArgumentError, match="1478"):
        tok.decode([5, 1478])
    with pytest.raises(krait.KraitInvalidArgumentError):
        tok.decode([-1])
    with pytest.raises(krait.KraitInvalidArgumentError, match=f"token id {2**33}"):
        tok.decode(np.array([2**33], dtype=np.int64))
    with pytest.raises(krait.KraitInvalidArgumentError, match="integer"):
        tok.decode([1.0, 2.0])
    with pytest.raises(krait.KraitInvalidArgumentError):
        tok.encode(12)
