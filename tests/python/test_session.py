"""Stateful sessions (SequenceModel.session(): krait.Session, krait.State) over krait_session_append /
generate / snapshot / restore / truncate / save_state / load_state.

The expected outputs are never written down: each is what the same model gives from scratch
(SequenceModel.generate on the whole prompt, greedy), so a session that continues, restores, truncates
or reloads its context must agree with a fresh computation.
"""

from __future__ import annotations

import numpy as np
import pytest

import krait
from conftest import ROOT

CHAT_MODEL = ROOT / "models" / "chat-demo"
MAMBA_MODEL = ROOT / "models" / "mamba-demo"
N = 12  # new tokens per generation

FIRST = "<|im_start|>user\nHow much is the red teapot?<|im_end|>\n"
SECOND = "<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def chat_model():
    return krait.SequenceModel(CHAT_MODEL, threads=2)


@pytest.fixture(scope="module")
def mamba_model():
    return krait.SequenceModel(MAMBA_MODEL, threads=2)


@pytest.fixture(params=["chat", "mamba"])
def model(request, chat_model, mamba_model):
    return chat_model if request.param == "chat" else mamba_model


def ids_of(model, text):
    return model.tokenizer.encode(text, add_special_tokens=False)


def test_append_then_generate_equals_generate_on_the_whole_prompt(model):
    session = model.session()
    assert len(session) == 0 and session.tokens == []
    logits = session.append(FIRST)
    assert isinstance(logits, np.ndarray) and logits.dtype == np.float32 and logits.shape == (model.vocab_size,)
    # The logits after the prompt are those of a full forward pass at its last position.
    first_ids = ids_of(model, FIRST)
    full = model.forward(first_ids)[0, -1]
    assert np.abs(logits - full).max() <= 1e-3 * max(1.0, float(np.abs(full).max()))
    assert session.tokens == first_ids and session.n_tokens == len(first_ids)

    # The same ids as a fresh generation on the concatenated prompt.
    second_ids = ids_of(model, SECOND)
    result = session.generate(SECOND, max_new_tokens=N)
    expected = model.generate(first_ids + second_ids, max_new_tokens=N)
    assert isinstance(result, krait.GenerationResult)
    assert result.ids == expected.ids and result.text == expected.text
    assert session.tokens == first_ids + second_ids + result.ids


def test_generate_without_prompt_continues_the_context(chat_model):
    session = chat_model.session()
    session.append(FIRST + SECOND)
    context = session.tokens
    result = session.generate(max_new_tokens=N)
    assert result.ids == chat_model.generate(context, max_new_tokens=N).ids
    with pytest.raises(krait.KraitInvalidArgumentError):
        chat_model.session().generate(max_new_tokens=N)  # an empty prompt on an empty context


def test_snapshot_restore_gives_the_same_continuation_twice(model):
    session = model.session()
    session.append(FIRST + SECOND)
    state = session.snapshot()
    assert isinstance(state, krait.State) and state.n_tokens == session.n_tokens
    first = session.generate(max_new_tokens=N)
    assert session.n_tokens > state.n_tokens
    session.restore(state)
    assert session.n_tokens == state.n_tokens
    assert session.generate(max_new_tokens=N).ids == first.ids
    session.restore(state)  # a state may be restored again
    assert session.generate(max_new_tokens=N).ids == first.ids

    # Into a second session of the same model, which then continues the same way.
    other = model.session()
    other.restore(state)
    assert other.tokens == session.tokens[: state.n_tokens]
    assert other.generate(max_new_tokens=N).ids == first.ids
    del session, other
    assert state.n_tokens > 0  # the state lives on its own (and keeps the model alive)


def test_truncate_equals_a_fresh_prompt_of_the_prefix(chat_model):
    session = chat_model.session()
    prefix = ids_of(chat_model, FIRST)
    session.generate(prefix + ids_of(chat_model, SECOND), max_new_tokens=N)
    session.truncate(len(prefix))
    assert session.tokens == prefix
    result = session.generate(SECOND, max_new_tokens=N)
    assert result.ids == chat_model.generate(prefix + ids_of(chat_model, SECOND), max_new_tokens=N).ids
    with pytest.raises(krait.KraitInvalidArgumentError):
        session.truncate(session.n_tokens + 1)
    session.truncate(0)
    assert session.tokens == []


def test_mamba_truncates_only_where_it_holds_a_state(mamba_model):
    session = mamba_model.session()
    session.append(FIRST + SECOND)
    tokens = session.tokens
    with pytest.raises(krait.KraitUnsupportedError) as err:
        session.truncate(len(tokens) // 2)
    assert "holds no per-token history" in str(err.value) and "restore a snapshot" in str(err.value)
    assert session.tokens == tokens  # unchanged
    session.truncate(len(tokens))  # the whole context is fine
    session.reset()
    assert session.tokens == []


def test_save_and_load_state_continue_the_same_way(model, tmp_path):
    session = model.session()
    session.append(FIRST + SECOND)
    path = tmp_path / "session.krait-state"
    session.save_state(path)
    expected = session.generate(max_new_tokens=N)

    other = model.session()
    other.load_state(str(path))
    assert other.tokens == session.tokens[: len(other.tokens)] and other.n_tokens == session.n_tokens - len(expected.ids)
    assert other.generate(max_new_tokens=N).ids == expected.ids


def test_a_damaged_file_is_refused_and_the_session_kept(chat_model, tmp_path):
    session = chat_model.session()
    session.append(FIRST)
    path = tmp_path / "session.krait-state"
    session.save_state(path)
    data = path.read_bytes()

    target = chat_model.session()
    target.append(SECOND)
    before = target.tokens
    bad = tmp_path / "bad"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(krait.KraitFormatError):
        target.load_state(bad)
    assert target.tokens == before
    altered = bytearray(data)
    altered[len(altered) // 2] ^= 0x40
    bad.write_bytes(bytes(altered))
    with pytest.raises(krait.KraitFormatError):
        target.load_state(bad)
    assert target.tokens == before
    with pytest.raises(krait.KraitIOError):
        target.load_state(tmp_path / "missing")
    assert target.generate(max_new_tokens=N).ids == chat_model.generate(before, max_new_tokens=N).ids


def test_a_state_of_another_model_is_refused(chat_model, mamba_model, tmp_path):
    mamba = mamba_model.session()
    mamba.append(FIRST)
    path = tmp_path / "mamba.krait-state"
    mamba.save_state(path)
    state = mamba.snapshot()

    session = chat_model.session()
    session.append(SECOND)
    before = session.tokens
    with pytest.raises(krait.KraitInvalidArgumentError) as err:
        session.load_state(path)
    assert "another model" in str(err.value)
    with pytest.raises(krait.KraitInvalidArgumentError):
        session.restore(state)
    assert session.tokens == before


def test_streaming_generate_continues_the_context(chat_model):
    session = chat_model.session()
    session.append(FIRST)
    expected = chat_model.generate(ids_of(chat_model, FIRST) + ids_of(chat_model, SECOND), max_new_tokens=N)
    assert expected.text
    stream = session.generate(SECOND, max_new_tokens=N, stream=True)
    pieces = []
    while True:
        try:
            pieces.append(next(stream))
        except StopIteration as done:
            assert done.value.ids == expected.ids
            break
    assert "".join(pieces) == expected.text
    assert session.tokens[-len(expected.ids):] == expected.ids


def test_bad_arguments_are_refused(chat_model):
    session = chat_model.session()
    with pytest.raises(krait.KraitInvalidArgumentError):
        session.append([])
    with pytest.raises(krait.KraitInvalidArgumentError):
        session.append([chat_model.vocab_size])
    with pytest.raises(krait.KraitInvalidArgumentError):
        session.generate(FIRST, max_new_tokens=0)
    with pytest.raises(TypeError):
        session.restore("not a state")
    assert session.tokens == []
