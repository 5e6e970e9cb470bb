"""The GIL is released around compute, and one model may be shared by Python threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import krait
from conftest import MAMBA, assert_logits_close, expected


def abort_during(model, call):
    """Runs call() (a long krait call on `model`) on a worker thread and requests one abort from this thread
    as soon as this thread can run; returns the exception call() raised, or None if it returned.

    A proof that the call releases the GIL, without a clock: this thread is woken by the worker right before
    the call and needs the GIL to run model.abort(). If the call releases the GIL, this thread gets it at that
    moment and the abort stops the call (KraitAbortedError). If the call held the GIL, this thread could run
    only once the call had returned (the interpreter switches threads every few milliseconds, and only a few
    bytecodes separate the wake-up from the call), the call ends normally and the test fails; the request
    left behind is then withdrawn so it cannot stop a later call (krait.h: an abort applies to the running
    call or else the next one)."""
    outcome = {}
    started = threading.Event()

    def worker():
        started.set()
        try:
            call()
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    t = threading.Thread(target=worker)
    t.start()
    started.wait()
    model.abort()
    t.join()
    model.clear_abort()
    return outcome.get("error")


def test_forward_releases_the_gil():
    model = krait.SequenceModel(MAMBA / "f32_tied", threads=1)
    ids = np.random.default_rng(0).integers(0, 97, size=(128, 1024), dtype=np.int32)
    error = abort_during(model, lambda: model.forward(ids))
    assert isinstance(error, krait.KraitAbortedError), f"forward was not aborted while running: {error!r}"
    assert model.forward(ids[:2, :8]).shape == (2, 8, 97)  # usable again


def test_generate_releases_the_gil():
    model = krait.SequenceModel(MAMBA / "f32_tied", threads=1)
    error = abort_during(
        model, lambda: model.generate([1, 2, 3], max_new_tokens=1_000_000, stop_at_eos=False, temperature=1.0))
    assert isinstance(error, krait.KraitAbortedError), f"generate was not aborted while running: {error!r}"


def test_one_model_shared_by_threads():
    # Calls on the shared session are serialised by the binding; each gets its own correct result.
    ref = expected("f32_untied_odd")
    model = krait.SequenceModel(MAMBA / "f32_untied_odd", threads=1)
    greedy = ref["greedy_ids"].tolist()

    def job(i):
        if i % 2:
            return "forward", model.forward(ref["input_ids"])
        return "generate", model.generate(ref["prompt_ids"], max_new_tokens=len(greedy)).ids

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(job, range(16)))
    for kind, value in results:
        if kind == "forward":
            assert_logits_close(value, ref["logits"])
        else:
            assert value == greedy


def test_tokenizer_shared_by_threads():
    from conftest import TOKENIZERS

    tok = krait.Tokenizer.from_file(TOKENIZERS / "sp_legacy.tokenizer.json")
    texts = [f"Thread number {i} says hello, café {i * 7}" for i in range(32)]
    want = [tok.encode(t) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(tok.encode, texts))
    assert got == want
    with ThreadPoolExecutor(max_workers=4) as pool:
        decoded = list(pool.map(tok.decode, got))
    assert decoded == [tok.decode(ids) for ids in got]
    assert all(d.strip() == t for d, t in zip(decoded, texts))
