"""The GIL is released around compute, and one model may be shared by Python threads."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import krait
from conftest import MAMBA, assert_logits_close, expected


def longest_stall(call):
    """Runs call() on a worker thread while this thread keeps reading the clock; returns (seconds the
    call took, the longest time this thread could not run during it). A call that held the GIL would
    stall this thread for (nearly) its whole duration: this thread runs Python code, which needs the
    GIL. (Checked against a call known to hold it, list.sort: that stalls for ~90% of its time.)"""
    window = {}
    started = threading.Event()

    def worker():
        started.set()
        window["t0"] = time.perf_counter()
        call()
        window["t1"] = time.perf_counter()

    ticks = []
    t = threading.Thread(target=worker)
    t.start()
    started.wait()
    while t.is_alive():
        ticks.append(time.perf_counter())
    t.join()
    t0, t1 = window["t0"], window["t1"]
    points = [t0] + [x for x in ticks if t0 < x < t1] + [t1]
    return t1 - t0, max(b - a for a, b in zip(points, points[1:]))


def test_forward_releases_the_gil():
    model = krait.SequenceModel(MAMBA / "f32_tied", threads=1)
    ids = np.random.default_rng(0).integers(0, 97, size=(128, 1024), dtype=np.int32)
    seconds, stall = longest_stall(lambda: model.forward(ids))
    assert seconds > 0.1, f"forward took only {seconds:.3f}s: too short to tell"
    assert stall < 0.5 * seconds, f"the other thread stalled {stall:.3f}s during a {seconds:.3f}s forward"


def test_generate_releases_the_gil():
    model = krait.SequenceModel(MAMBA / "f32_tied", threads=1)
    seconds, stall = longest_stall(
        lambda: model.generate([1, 2, 3], max_new_tokens=60_000, stop_at_eos=False, temperature=1.0))
    assert seconds > 0.1, f"generate took only {seconds:.3f}s: too short to tell"
    assert stall < 0.5 * seconds, f"the other thread stalled {stall:.3f}s during a {seconds:.3f}s generate"


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
