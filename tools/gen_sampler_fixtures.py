#!/usr/bin/env python3
"""Generates tests/fixtures/sampler/ (the folder is deleted and rebuilt):

hf_chain.json: the distribution that Hugging Face transformers' own logits processors give for a grid
of sampling settings, for tests/unit/sampler_test.cpp.

text_stream_hf_decode.json: for tests/unit/text_stream_test.cpp, what a session hands TextStream when
it decodes the growing id sequence with Hugging Face tokenizers, for the tokenizer fixtures under
tests/fixtures/tokenizer/ (byte-level BPE and SentencePiece with ByteFallback) and texts full of
multi-byte characters. Each sequence lists decode(ids[:i]) for i = 1..n and the text a reader should
end up with.

Run:  tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
      .venv/bin/python tools/gen_sampler_fixtures.py   (from the repository root)

The processors are the real classes of transformers.generation.logits_process, built and chained in
the order GenerationMixin._get_logits_processor uses (repetition penalty, temperature, top-k, top-p,
min-p; each only when not at its "off" value), then torch.softmax in float32.

Logits are not stored (except in three small tie cases, where "logits" lists them, "-inf" as a
string): they come from a tiny generator (splitmix64 -> a 24-bit integer -> an exact
float32 in [-scale, scale), scale a power of two) that the C++ test reproduces bit for bit. This keeps
the file small and lets cases use a 50k vocabulary.

Krait computes the filter thresholds in float64 while torch works in float32 (cumsum with a float64
accumulator). So that a case never sits on a boundary where rounding decides, every case is checked
with a float64 reimplementation: the survivor set must agree and each top-p / min-p comparison must
clear its threshold by a relative margin of 1e-5; otherwise the case is redrawn with the next seed.
"""
import glob
import itertools
import json
import os
import shutil
import sys

import numpy as np
import torch
from transformers.generation.logits_process import (
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

MASK64 = (1 << 64) - 1
MARGIN = 1e-5


def splitmix64_stream(seed):
    state = seed & MASK64
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield z ^ (z >> 31)


def make_logits(seed, vocab, scale, mask_every):
    """Same as make_logits() in sampler_test.cpp. Per token: one draw r; value
    ((r >> 40) - 2^23) * 2^-23 * scale, exact in float32; if mask_every > 0 a second draw m and the
    token is -inf when m % mask_every == 0 (a masked vocabulary, as a grammar or bad-words filter makes)."""
    rng = splitmix64_stream(seed)
    out = np.empty(vocab, dtype=np.float32)
    for i in range(vocab):
        r = next(rng)
        out[i] = np.float32(((r >> 40) - (1 << 23)) * 2.0**-23 * scale)
        if mask_every > 0 and next(rng) % mask_every == 0:
            out[i] = -np.inf
    return out


def make_history(seed, vocab, length):
    rng = np.random.default_rng(seed)
    # Drawn from a small pool so that ids repeat (HF penalises each id once).
    pool = rng.choice(vocab, size=max(1, length // 2), replace=False)
    return [int(x) for x in rng.choice(pool, size=length)]


def f32(x):
    """The value a C++ float field holds; HF gets it as the Python float of that float32."""
    return float(np.float32(x))


def hf_chain(logits, history, t, top_k, top_p, min_p, penalty):
    scores = torch.from_numpy(logits.copy()).unsqueeze(0)
    input_ids = torch.tensor([history], dtype=torch.long)
    procs = []
    if penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(penalty))
    if t == 0.0:  # greedy: only the processors, then argmax (do_sample=False)
        for p in procs:
            scores = p(input_ids, scores)
        return int(torch.argmax(scores, dim=-1)[0]), None, None
    if t != 1.0:
        procs.append(TemperatureLogitsWarper(t))
    if top_k != 0:
        procs.append(TopKLogitsWarper(top_k=top_k, min_tokens_to_keep=1))
    if top_p < 1.0:
        procs.append(TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=1))
    if min_p > 0.0:
        procs.append(MinPLogitsWarper(min_p=min_p, min_tokens_to_keep=1))
    for p in procs:
        scores = p(input_ids, scores)
    probs = torch.softmax(scores, dim=-1)[0]
    ids = torch.nonzero(scores[0] != -float("inf")).flatten()
    # 9 significant digits identify a float32 exactly and keep the file small.
    return None, [int(i) for i in ids], [float("%.9g" % float(probs[i])) for i in ids]


def float64_check(logits, history, t, top_k, top_p, min_p, penalty):
    """Independent float64 chain; returns (survivor ids, smallest relative margin to a threshold)."""
    s = logits.copy()
    if penalty != 1.0:
        for i in set(history):
            s[i] = s[i] * np.float32(penalty) if s[i] < 0 else s[i] / np.float32(penalty)
    if t != 1.0:
        s = s / np.float32(t)  # float32, like torch and Krait
    s = s.astype(np.float64)
    alive = s != -np.inf
    if top_k != 0 and top_k < len(s):
        kth = np.sort(s)[::-1][top_k - 1]
        alive &= s >= kth
    margin = np.inf
    w = np.where(alive, np.exp(s - s.max()), 0.0)
    if top_p < 1.0:
        order = sorted(np.nonzero(alive)[0], key=lambda i: (-s[i], i))
        before = 0.0
        total = w.sum()
        keep = []
        for j, i in enumerate(order):
            frac = before / total
            if j > 0:
                margin = min(margin, abs(frac - top_p) / top_p)
            if j > 0 and not frac < top_p:
                # Equal scores across the boundary: torch.sort may order them either way.
                if s[i] == s[keep[-1]]:
                    margin = 0.0
                break
            keep.append(i)
            before += w[i]
        alive = np.zeros_like(alive)
        alive[keep] = True
    if min_p > 0.0:
        for i in np.nonzero(alive)[0]:
            margin = min(margin, abs(w[i] - min_p) / min_p)
        alive &= w >= min_p
    return [int(i) for i in np.nonzero(alive)[0]], margin


def build_case(name, seed, vocab, scale, mask_every, history_len, t, top_k, top_p, min_p, penalty, stats):
    t, top_p, min_p, penalty = f32(t), f32(top_p), f32(min_p), f32(penalty)
    for attempt in range(50):
        case_seed = seed + attempt * 1000003
        logits = make_logits(case_seed, vocab, scale, mask_every)
        history = make_history(case_seed, vocab, history_len)
        greedy, ids, probs = hf_chain(logits, history, t, top_k, top_p, min_p, penalty)
        case = {
            "name": name, "seed": case_seed, "vocab": vocab, "scale": scale, "mask_every": mask_every,
            "history": history, "temperature": t, "top_k": top_k, "top_p": top_p, "min_p": min_p,
            "repetition_penalty": penalty,
        }
        if greedy is not None:
            case["greedy_id"] = greedy
            return case
        check_ids, margin = float64_check(logits, history, t, top_k, top_p, min_p, penalty)
        if check_ids != ids:
            raise SystemExit(f"{name}: float64 check disagrees with transformers on the survivor set")
        if margin > MARGIN:
            case["ids"] = ids
            case["probs"] = probs
            return case
        stats["redrawn"] += 1
    raise SystemExit(f"{name}: no seed found with a clear margin")


STREAM_TEXTS = [
    "Hi \U0001F600\U0001F44D\U0001F3FD \u65E5\u672C\u8A9E na\u00EFve \u2014 \u201Cquotes\u201D ok.\nend \U0001F389",
    "\U0001F468\u200D\U0001F469\u200D\U0001F467 family, \u00E9t\u00E9 \u00E0 Z\u00FCrich \u2603",
    "\uD55C\uAD6D\uC5B4 \u0627\u0644\u0639\u0631\u0628\u064A\u0629 \u0939\u093F\u0928\u094D\u0926\u0940 \U0001D11E\U0001F1EB\U0001F1F7",
]


def text_stream_fixture(root):
    from tokenizers import Tokenizer

    sequences = []
    paths = sorted(glob.glob(os.path.join(root, "tests", "fixtures", "tokenizer", "*.tokenizer.json")))
    for path in paths:
        name = os.path.basename(path)[: -len(".tokenizer.json")]
        try:
            tok = Tokenizer.from_file(path)
        except Exception:
            continue  # a deliberately broken fixture
        for t, text in enumerate(STREAM_TEXTS):
            ids = tok.encode(text, add_special_tokens=False).ids
            prefixes = [tok.decode(ids[: i + 1]) for i in range(len(ids))]
            if not ids or prefixes[-1].strip() != text:
                continue  # the tokenizer cannot represent the text (unknown tokens): nothing to stream
            sequences.append({"name": f"{name}_text{t}", "prefixes": prefixes, "expected": prefixes[-1]})
            # Cut inside the last multi-byte character the tokens split: the generation ends unfinished.
            # TextStream's contract (text_stream.h): the reader keeps the last clean decode and then gets
            # the decoder's final U+FFFDs, or a single U+FFFD where the decoder revised the clean text
            # into U+FFFDs (ByteFallback).
            cuts = [i for i, p in enumerate(prefixes) if p.endswith("\ufffd")]
            if cuts:
                cut = cuts[-1]
                final = prefixes[cut]
                clean = ([""] + [p for p in prefixes[:cut] if "\ufffd" not in p])[-1]
                tail = final[len(clean):] if final.startswith(clean) else "\ufffd"
                sequences.append({"name": f"{name}_text{t}_unfinished", "prefixes": prefixes[: cut + 1],
                                  "expected": clean + tail})
    if len(sequences) < 8:
        raise SystemExit("text stream fixture: too few tokenizer fixtures found under tests/fixtures/tokenizer")
    return sequences


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = os.path.join(root, "tests", "fixtures", "sampler")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    stats = {"redrawn": 0}
    cases = []

    # The grid, on a 128-token vocabulary (every combination; the penalty cycles so each appears
    # with every other setting family).
    temperatures = [0.5, 1.0, 1.7]
    top_ks = [0, 1, 7, 40, 500]  # 500 > vocab: no-op, as HF's min(top_k, vocab)
    top_ps = [1.0, 0.95, 0.6, 0.2]
    min_ps = [0.0, 0.05, 0.3]
    penalties = [1.0, 1.25, 0.7]
    for n, (t, k, p, m) in enumerate(itertools.product(temperatures, top_ks, top_ps, min_ps)):
        for scale, mask in [(4.0, 0), (8.0, 5)]:
            pen = penalties[n % 3]
            name = f"grid_t{t}_k{k}_p{p}_m{m}_pen{pen}_s{scale}_mask{mask}"
            cases.append(build_case(name, 1000 + len(cases), 128, scale, mask, 24, t, k, p, m, pen, stats))

    # A Mamba-sized vocabulary (GPT-NeoX tokenizer, 50280 rows): the nth_element and lazy-sort paths.
    big = [
        ("big_k50_p0.9_m0.05", 0.8, 50, 0.9, 0.05, 1.3),
        ("big_k50_only", 1.0, 50, 1.0, 0.0, 1.0),
        ("big_p0.3_only", 1.0, 0, 0.3, 0.0, 1.1),
        ("big_t0.5_p0.8", 0.5, 0, 0.8, 0.0, 1.0),
        ("big_m0.6_only", 1.0, 0, 1.0, 0.6, 1.0),
        ("big_k2000_p0.5_m0.2", 1.2, 2000, 0.5, 0.2, 1.5),
    ]
    for name, t, k, p, m, pen in big:
        cases.append(build_case(name, 500000 + len(cases), 50280, 16.0, 0, 200, t, k, p, m, pen, stats))

    # Explicit logits with ties at the top-k boundary: HF keeps every token equal to the k-th score.
    for name, logits, k in [("ties_topk2", [0.5, 2.0, 1.0, 2.0, 2.0, -1.0], 2),
                            ("ties_topk1", [3.0, -1.0, 3.0, 0.0], 1),
                            ("ties_topk3_masked", [1.0, -np.inf, 1.0, 0.25, 1.0, 1.0, -2.0], 3)]:
        logits = np.array(logits, dtype=np.float32)
        _, ids, probs = hf_chain(logits, [], 1.0, k, 1.0, 0.0, 1.0)
        cases.append({"name": name, "logits": [float(x) if np.isfinite(x) else "-inf" for x in logits],
                      "history": [], "temperature": 1.0, "top_k": k, "top_p": 1.0, "min_p": 0.0,
                      "repetition_penalty": 1.0, "ids": ids, "probs": probs})

    # Greedy: argmax after the repetition penalty.
    for j, pen in enumerate([1.0, 1.3, 0.6, 3.0]):
        cases.append(build_case(f"greedy_pen{pen}", 900000 + j, 256, 4.0, 0, 64, 0.0, 50, 1.0, 0.0, pen, stats))

    with open(os.path.join(out_dir, "hf_chain.json"), "w") as f:
        json.dump({
            "generator": "tools/gen_sampler_fixtures.py",
            "transformers": __import__("transformers").__version__,
            "torch": torch.__version__,
            "cases": cases,
        }, f, separators=(",", ":"))
        f.write("\n")
    print(f"{len(cases)} cases written, {stats['redrawn']} redrawn for a clear margin", file=sys.stderr)

    sequences = text_stream_fixture(root)
    with open(os.path.join(out_dir, "text_stream_hf_decode.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "tools/gen_sampler_fixtures.py",
                   "tokenizers": __import__("tokenizers").__version__,
                   "sequences": sequences}, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"{len(sequences)} decode sequences written", file=sys.stderr)


if __name__ == "__main__":
    main()
