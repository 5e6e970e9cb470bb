"""generate(): text, sampling, streaming, stop strings, EOS, abort.

Most tests use `text_model` (conftest.py): fixture f32_tied with the bytelevel_neox tokenizer, whose
ids 2..95 decode to the single ASCII characters '!'..'~', so the expected text of any ids is known.
The demo model (models/mamba-demo) is used where present."""

from __future__ import annotations

import inspect
import threading

import pytest

import krait
from conftest import MAMBA, expected

SPECIAL = {0, 1}  # bytelevel_neox: <|endoftext|>, <|padding|>
EOS = 0           # f32_tied's eos_token_id


def ascii_text(tok, ids):
    """The text of ids, special tokens skipped: the reference for .text."""
    return tok.decode([i for i in ids if i not in SPECIAL])


@pytest.fixture(scope="module")
def ref():
    return expected("f32_tied")


def test_greedy_text_is_the_decoded_ids(text_model, ref):
    want = ref["greedy_ids"].tolist()
    result = text_model.generate(ref["prompt_ids"].tolist(), max_new_tokens=len(want))
    assert result.ids == want  # a tokenizer in the directory changes nothing about the ids
    assert all(2 <= i < 96 for i in want)  # precondition: printable ASCII ids only
    assert result.text == ascii_text(text_model.tokenizer, want)
    assert len(result.text) == len(want)


def test_text_prompt_is_encoded_without_special_tokens(text_model):
    tok = text_model.tokenizer
    prompt = "Q@Z!"
    ids = tok.encode(prompt)
    assert max(ids) < text_model.vocab_size  # precondition: encodable within the model's vocab
    assert ids == tok.encode(prompt, add_special_tokens=False)
    for kwargs in (dict(), dict(temperature=0.8, seed=11)):
        by_text = text_model.generate(prompt, max_new_tokens=10, **kwargs)
        by_ids = text_model.generate(ids, max_new_tokens=10, **kwargs)
        assert by_text == by_ids
        assert text_model.generate(prompt.encode(), max_new_tokens=10, **kwargs) == by_ids


SAMPLING = dict(max_new_tokens=64, temperature=1.0, top_k=0, stop_at_eos=False)


def test_seeded_sampling_is_deterministic(text_model, ref):
    prompt = ref["prompt_ids"].tolist()
    first = text_model.generate(prompt, seed=1234, **SAMPLING)
    assert len(first.ids) == 64
    for _ in range(3):
        assert text_model.generate(prompt, seed=1234, **SAMPLING) == first
    # in between, other calls must not change it (each generate starts from an empty context)
    text_model.forward([prompt])
    text_model.generate(prompt, seed=99, **SAMPLING)
    assert text_model.generate(prompt, seed=1234, **SAMPLING) == first
    assert first.text == ascii_text(text_model.tokenizer, first.ids)


def test_seeds_and_parameters_matter(text_model, ref):
    prompt = ref["prompt_ids"].tolist()
    greedy = text_model.generate(prompt, max_new_tokens=64, stop_at_eos=False).ids
    sampled = {tuple(text_model.generate(prompt, seed=s, **SAMPLING).ids) for s in range(5)}
    assert len(sampled) == 5  # 64 tokens at temperature 1: distinct seeds, distinct sequences
    assert tuple(greedy) not in sampled
    # top_k=1 is greedy whatever the seed and temperature
    assert text_model.generate(prompt, temperature=1.0, top_k=1, seed=5, max_new_tokens=64, stop_at_eos=False).ids == greedy
    # the repetition penalty breaks the greedy run of repeated 65s ('`')
    assert text_model.generate(prompt, max_new_tokens=64, stop_at_eos=False, repetition_penalty=1.5).ids != greedy


def test_streaming_pieces_concatenate_to_the_text(text_model, ref):
    prompt = ref["prompt_ids"].tolist()
    for kwargs in (dict(), dict(temperature=0.9, seed=7), dict(temperature=1.0, top_k=0, seed=3, stop_at_eos=False)):
        full = text_model.generate(prompt, max_new_tokens=48, **kwargs)
        stream = text_model.generate(prompt, max_new_tokens=48, stream=True, **kwargs)
        assert inspect.isgenerator(stream)
        pieces = []
        while True:
            try:
                pieces.append(next(stream))
            except StopIteration as stop:
                result = stop.value  # the generator returns the GenerationResult
                break
        assert all(isinstance(p, str) and p for p in pieces)
        assert "".join(pieces) == full.text
        assert len(pieces) > 1
        assert result == full


def test_stream_yields_before_the_generation_ends(text_model, ref):
    # No clock: the proof is that the generation is still running after the first pieces arrived. An abort made
    # then stops it, so the stream raises KraitAbortedError; had the pieces only come out once the generation
    # was over (a million tokens, minutes of work), the abort would come too late and the stream would end
    # normally. An abort requested while no call runs is cleared by the next call, so nothing leaks.
    stream = text_model.generate(ref["prompt_ids"].tolist(), max_new_tokens=1_000_000, stop_at_eos=False,
                                 temperature=1.0, seed=1, stream=True)
    first = [next(stream) for _ in range(3)]
    assert all(first)
    text_model.abort()
    with pytest.raises(krait.KraitAbortedError):
        for _ in stream:
            pass
    # The same stream closed early (close() sets the stop flag and aborts, then joins the worker): the same
    # first pieces, and the session is free again afterwards.
    stream = text_model.generate(ref["prompt_ids"].tolist(), max_new_tokens=1_000_000, stop_at_eos=False,
                                 temperature=1.0, seed=1, stream=True)
    assert [next(stream) for _ in range(3)] == first
    stream.close()
    assert text_model.generate(ref["prompt_ids"].tolist(), max_new_tokens=12).ids == ref["greedy_ids"].tolist()


def test_breaking_out_of_a_stream(text_model, ref):
    prompt = ref["prompt_ids"].tolist()
    for piece in text_model.generate(prompt, max_new_tokens=500_000, stop_at_eos=False, stream=True):
        break
    assert piece
    assert text_model.generate(prompt, max_new_tokens=12).ids == ref["greedy_ids"].tolist()


def test_stop_strings(text_model, ref):
    prompt = ref["prompt_ids"].tolist()
    full = text_model.generate(prompt, max_new_tokens=12)  # greedy: '_/?`````X5g5'
    assert full.text == ascii_text(text_model.tokenizer, ref["greedy_ids"].tolist())
    for stop in ("``", "X5", "5g"):
        at = full.text.find(stop)
        assert at > 0, (stop, full.text)  # precondition
        for stop_arg in (stop, [stop], ["no such text", stop]):
            r = text_model.generate(prompt, max_new_tokens=12, stop=stop_arg)
            assert r.text == full.text[:at]  # cut before the stop string
            assert r.ids == full.ids[:at + len(stop)]  # one ASCII character per token: stops at its end
            streamed = "".join(text_model.generate(prompt, max_new_tokens=12, stop=stop_arg, stream=True))
            assert streamed == r.text
    assert text_model.generate(prompt, max_new_tokens=12, stop=["never"]) == full
    assert text_model.generate(prompt, max_new_tokens=12, stop=[]) == full


def test_eos_ends_generation(text_model, ref):
    prompt = ref["prompt_ids"].tolist()
    kwargs = dict(max_new_tokens=60, temperature=1.0, top_k=0)
    for seed in range(100):
        r = text_model.generate(prompt, seed=seed, **kwargs)
        if EOS in r.ids:
            break
    else:
        pytest.fail("no seed in 0..99 sampled EOS within 60 tokens")
    assert r.ids[-1] == EOS and r.ids.count(EOS) == 1  # EOS included, and last
    assert len(r.ids) < 60
    longer = text_model.generate(prompt, seed=seed, stop_at_eos=False, **kwargs)
    assert len(longer.ids) == 60
    assert longer.ids[:len(r.ids)] == r.ids  # same draws up to there


def test_abort_a_stream_from_this_thread(text_model, ref):
    # A streamed generation runs on the package's worker thread; this thread aborts it once the first piece has
    # arrived, i.e. while it certainly runs (a million tokens to go). Deterministic: the result is exactly ABORTED.
    stream = text_model.generate([1, 2, 3], max_new_tokens=1_000_000, stop_at_eos=False, temperature=1.0, stream=True)
    assert next(stream)
    text_model.abort()
    with pytest.raises(krait.KraitAbortedError) as info:
        for _ in stream:
            pass
    assert info.value.status == krait.Status.ABORTED
    assert text_model.generate(ref["prompt_ids"].tolist(), max_new_tokens=12).ids == ref["greedy_ids"].tolist()


def test_abort_before_a_call_stops_that_call_only():
    # No call runs: the request waits for the next one, which uses it up; the call after runs normally.
    model = krait.SequenceModel(MAMBA / "f32_tied", threads=1)
    model.abort()
    model.abort()  # several requests count as one
    with pytest.raises(krait.KraitAbortedError) as e:
        model.generate([1, 2, 3], max_new_tokens=5)
    assert e.value.status == krait.Status.ABORTED
    assert model.generate(expected("f32_tied")["prompt_ids"], max_new_tokens=12).ids == \
        expected("f32_tied")["greedy_ids"].tolist()
    model.abort()
    model.clear_abort()  # withdrawn: the next call runs
    assert model.forward([[1, 2, 3]]).shape == (1, 3, model.vocab_size)


def test_abort_from_another_thread():
    # One request, whenever it lands: before the worker's generation starts it is kept for it, while it
    # runs it stops it; the generation (10**9 tokens) cannot finish first. No timing is involved: the
    # join timeout only keeps a broken build from hanging the suite.
    model = krait.SequenceModel(MAMBA / "f32_tied", threads=1)
    errors = []

    def run():
        try:
            model.generate([1, 2, 3], max_new_tokens=10**9, stop_at_eos=False, temperature=1.0)
        except krait.KraitError as e:
            errors.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    model.abort()
    worker.join(timeout=300)
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], krait.KraitAbortedError), errors
    assert errors[0].status == krait.Status.ABORTED
    assert model.generate(expected("f32_tied")["prompt_ids"], max_new_tokens=12).ids == \
        expected("f32_tied")["greedy_ids"].tolist()


def test_closing_streams_never_aborts_the_next_call(text_model, ref):
    # Closing a stream aborts its generation, which may be returning already; the request must not
    # outlive it and stop the next call, however the two meet.
    prompt = ref["prompt_ids"].tolist()
    for max_new_tokens in (1, 2, 3, 1_000_000) * 5:
        stream = text_model.generate(prompt, max_new_tokens=max_new_tokens, stop_at_eos=False, stream=True)
        next(stream, None)
        stream.close()
        assert text_model.generate(prompt, max_new_tokens=12).ids == ref["greedy_ids"].tolist()


def test_streaming_error_reaches_the_consumer(text_model):
    # A library error during a streamed generation is raised by the generator.
    with pytest.raises(krait.KraitInvalidArgumentError, match="temperature"):
        list(text_model.generate([5, 6], temperature=float("inf"), stream=True))


# ---- the demo model (trained separately; skipped when absent) --------------------------------------

def test_demo_streaming_matches_non_streaming(demo_model):
    prompt = "Once upon a time"
    for kwargs in (dict(), dict(temperature=0.8, top_p=0.95, seed=42), dict(temperature=1.0, seed=7, top_k=0)):
        full = demo_model.generate(prompt, max_new_tokens=40, **kwargs)
        assert 0 < len(full.ids) <= 40
        pieces = list(demo_model.generate(prompt, max_new_tokens=40, stream=True, **kwargs))
        assert "".join(pieces) == full.text
        assert demo_model.generate(prompt, max_new_tokens=40, **kwargs) == full  # deterministic


def test_demo_text_and_stop(demo_model):
    tok = demo_model.tokenizer
    assert tok is not None
    full = demo_model.generate("Once upon a time", max_new_tokens=40)
    assert full.text
    words = full.text.split()
    if len(words) >= 3:
        stop = " " + words[2]
        at = full.text.find(stop)
        r = demo_model.generate("Once upon a time", max_new_tokens=40, stop=stop)
        assert r.text == full.text[:at]


def test_token_callback_can_stop_and_raise(text_model, ref):
    # The binding's C callback must stop on a truthy return and carry a Python exception back out
    # (never through the C library). Exercised through the private two-step API that generate() uses.
    prompt = ref["prompt_ids"].tolist()
    request = text_model._impl.prepare_generation(prompt, 12, 0.0, 50, 1.0, 0.0, 1.0, 0, [], True, True)
    seen = []
    ids, text = text_model._impl.run_generation(request, lambda token_id, piece: seen.append(token_id) or len(seen) == 4)
    assert ids == seen == ref["greedy_ids"].tolist()[:4]

    def boom(token_id, piece):
        raise RuntimeError("raised in the token callback")

    with pytest.raises(RuntimeError, match="raised in the token callback"):
        text_model._impl.run_generation(request, boom)
    assert text_model.generate(prompt, max_new_tokens=12).ids == ref["greedy_ids"].tolist()
