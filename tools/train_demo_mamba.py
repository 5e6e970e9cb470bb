#!/usr/bin/env python3
"""Train Krait's embedded demo language model: a tiny HF Mamba (MambaForCausalLM) on a real text corpus.

Corpus: the reStructuredText sources of the Python 3.11 documentation as shipped by the Debian package
`python3.11-doc` under /usr/share/doc/python3.11/html/_sources (497 *.rst.txt files, about 11 MB).
Licence: the Python documentation is under the PSF License Agreement (code examples in it are additionally
0BSD), see /usr/share/doc/python3.11-doc/copyright and _sources/license.rst.txt. Install it with

    apt-get install --no-install-recommends python3.11-doc

Everything below runs on CPU with one thread (the development machine has 2 cores shared with others):

    tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
    .venv/bin/python tools/train_demo_mamba.py            # defaults reproduce models/mamba-demo

Steps:
  1. read the corpus files (sorted), hold out ~5% of the documents (chosen by a hash of the relative path, so the
     split does not depend on file order), train a GPT-NeoX-style byte-level BPE tokenizer on the training part;
  2. train MambaForCausalLM with AdamW on random windows of the concatenated training documents (each document
     ends with <|endoftext|>, id 0);
  3. evaluate train/held-out loss, save with save_pretrained (safetensors, fp32), reload with transformers and
     generate the demo samples, write the model card README.md.

Speed note: transformers' pure-PyTorch selective scan indexes one time step at a time, and autograd then builds a
full-size zero gradient for every index, which makes CPU training ~20x slower than necessary. For training (and the
bulk evaluation) we replace `mamba_selective_scan` inside transformers' Mamba module with `fast_selective_scan`, a
custom autograd function that computes the same recurrence with hand-written gradients. The script checks it
against transformers' own implementation (logits and all parameter gradients) before training, and compares the
held-out loss with the unpatched implementation afterwards; generation for the model card uses unpatched
transformers.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import pathlib
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

CORPUS_PACKAGE = "python3.11-doc"
DEFAULT_CORPUS = "/usr/share/doc/python3.11/html/_sources"
EOS = "<|endoftext|>"
DEFAULT_PROMPT = "This module provides"


# ----------------------------------------------------------------------------------------------------------------
# Fast selective scan for CPU training (same math as transformers' mamba_selective_scan reference path)
# ----------------------------------------------------------------------------------------------------------------
class _SelectiveScan(torch.autograd.Function):
    """y_t[b,e] = sum_n h_t[b,e,n] C_t[b,n],  h_t = exp(dt_t[b,e] A[e,n]) h_{t-1} + u_t[b,e] B_t[b,n],  h_{-1} = 0.

    Inputs are time-major so that each time step is one contiguous slice:
      dt, u: [T, B, E] (u = dt * x), A: [E, N], Bm, Cm: [T, B, N]. Output y: [T, B, E].
    """

    @staticmethod
    def forward(ctx, dt, A, u, Bm, Cm):
        dA = torch.exp(dt[..., None] * A)                    # [T,B,E,N]
        h = u[..., None] * Bm[:, :, None, :]                 # [T,B,E,N], starts as the input term, scanned in place
        for t in range(1, h.shape[0]):
            h[t].addcmul_(dA[t], h[t - 1])
        y = torch.einsum("tben,tbn->tbe", h, Cm)
        ctx.save_for_backward(dt, A, u, Bm, Cm, dA, h)
        return y

    @staticmethod
    def backward(ctx, gy):
        dt, A, u, Bm, Cm, dA, h = ctx.saved_tensors
        gy = gy.contiguous()
        g_C = torch.einsum("tbe,tben->tbn", gy, h)
        dh = gy[..., None] * Cm[:, :, None, :]               # dL/dh_t, accumulated backwards in time in place
        for t in range(dh.shape[0] - 2, -1, -1):
            dh[t].addcmul_(dA[t + 1], dh[t + 1])
        g_u = torch.einsum("tben,tbn->tbe", dh, Bm)
        g_B = torch.einsum("tben,tbe->tbn", dh, u)
        # dL/d(dt_t*A) = dh_t * h_{t-1} * dA_t  (t >= 1; h_{-1} = 0 so t = 0 contributes nothing)
        gx = dh[1:].mul_(h[:-1]).mul_(dA[1:])                 # reuses dh's storage, dh is no longer needed
        g_dt = torch.zeros_like(dt)
        g_dt[1:] = (gx * A).sum(-1)
        g_A = torch.einsum("tben,tbe->en", gx, dt[1:])
        return g_dt, g_A, g_u, g_B, g_C


def fast_selective_scan(hidden_states, dt, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                        return_last_state=False, **kwargs):
    """Drop-in for transformers.models.mamba.modeling_mamba.mamba_selective_scan (no final-state output).

    hidden_states, dt, z: [B, E, T]; A: [E, N]; B, C: [B, N, T]. Returns [B, E, T].
    """
    if return_last_state:
        raise NotImplementedError("fast_selective_scan is for full-sequence training/eval only")
    dtype = hidden_states.dtype
    if delta_bias is not None:
        dt = dt + delta_bias.to(dt.dtype)[..., None]
    if delta_softplus:
        dt = F.softplus(dt)
    dt_t = dt.float().permute(2, 0, 1).contiguous()                   # [T,B,E]
    u_t = (dt_t * hidden_states.float().permute(2, 0, 1)).contiguous()  # [T,B,E]
    B_t = B.float().permute(2, 0, 1).contiguous()                      # [T,B,N]
    C_t = C.float().permute(2, 0, 1).contiguous()                      # [T,B,N]
    y = _SelectiveScan.apply(dt_t, A.float(), u_t, B_t, C_t).permute(1, 2, 0).to(dtype)  # [B,E,T]
    if D is not None:
        y = y + hidden_states * D[None, :, None]
    if z is not None:
        y = y * F.silu(z)
    return y


@contextlib.contextmanager
def fast_scan(enabled: bool = True):
    import transformers.models.mamba.modeling_mamba as mm
    original = mm.mamba_selective_scan
    if enabled:
        mm.mamba_selective_scan = fast_selective_scan
    try:
        yield
    finally:
        mm.mamba_selective_scan = original


def check_fast_scan() -> float:
    """Compare logits and every parameter gradient of a small random model, fast scan vs transformers."""
    from transformers import MambaConfig, MambaForCausalLM
    torch.manual_seed(1234)
    cfg = MambaConfig(vocab_size=97, hidden_size=32, num_hidden_layers=2, state_size=8, expand=2, conv_kernel=4)
    model = MambaForCausalLM(cfg).train()
    ids = torch.randint(0, 97, (3, 40))
    results = []
    for enabled in (False, True):
        model.zero_grad()
        with fast_scan(enabled):
            out = model(input_ids=ids, labels=ids, use_cache=False)
        out.loss.backward()
        results.append((out.logits.detach(), [p.grad.clone() for p in model.parameters()]))
    (l0, g0), (l1, g1) = results
    worst = (l0 - l1).abs().max().item() / l0.abs().max().item()
    for a, b in zip(g0, g1):
        worst = max(worst, ((a - b).abs().max() / a.abs().max().clamp_min(1e-30)).item())
    if worst > 1e-4:
        raise SystemExit(f"fast selective scan disagrees with transformers (max relative error {worst:.2e})")
    return worst


# ----------------------------------------------------------------------------------------------------------------
# Corpus and tokenizer
# ----------------------------------------------------------------------------------------------------------------
def package_info(package: str) -> dict:
    info = {"package": package, "version": "unknown"}
    try:
        info["version"] = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], check=True,
                                         capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def load_corpus(root: pathlib.Path, holdout_mod: int):
    if not root.is_dir():
        raise SystemExit(f"corpus directory {root} not found; install it with:\n"
                         f"  apt-get install --no-install-recommends {CORPUS_PACKAGE}")
    files = sorted(p for p in root.rglob("*.rst.txt") if p.is_file())
    if not files:
        raise SystemExit(f"no *.rst.txt files under {root}")
    train, held = [], []
    for p in files:
        rel = p.relative_to(root).as_posix()
        text = p.read_text(encoding="utf-8")
        # Held-out documents are picked by a stable hash of the relative path (~1/holdout_mod of the documents).
        bucket = int(hashlib.sha256(rel.encode()).hexdigest(), 16) % holdout_mod
        (held if bucket == 0 else train).append((rel, text))
    return train, held


def train_tokenizer(texts, vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    # GPT-NeoX layout: NFC, byte-level pre-tokenizer with the GPT-2 regex, no prefix space, <|endoftext|> = id 0.
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    assert tok.token_to_id(EOS) == 0
    # The Python ByteLevel decoder constructor ignores its arguments and serializes add_prefix_space=true; write the
    # NeoX decoder fields explicitly (decoding is the same either way: the ByteLevel decoder only maps bytes back).
    spec = json.loads(tok.to_str())
    spec["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return Tokenizer.from_str(json.dumps(spec))


def encode_docs(tok, texts) -> torch.Tensor:
    ids = []
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        ids.extend(enc.ids)
        ids.append(0)  # <|endoftext|> closes every document
    return torch.tensor(ids, dtype=torch.long)


# ----------------------------------------------------------------------------------------------------------------
# Training / evaluation
# ----------------------------------------------------------------------------------------------------------------
def windows(stream: torch.Tensor, seq_len: int, limit: int | None = None) -> torch.Tensor:
    """Non-overlapping [n, seq_len + 1] windows (consecutive windows share one boundary token)."""
    n = (stream.numel() - 1) // seq_len
    if limit is not None:
        n = min(n, limit)
    idx = torch.arange(n)[:, None] * seq_len + torch.arange(seq_len + 1)[None, :]
    return stream[idx]


@torch.no_grad()
def mean_loss(model, wins: torch.Tensor, batch: int, fast: bool = True) -> float:
    model.eval()
    total, count = 0.0, 0
    with fast_scan(fast):
        for i in range(0, wins.shape[0], batch):
            w = wins[i:i + batch]
            logits = model(input_ids=w[:, :-1], use_cache=False).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), w[:, 1:].reshape(-1),
                                   reduction="sum")
            total += loss.item()
            count += w[:, 1:].numel()
    model.train()
    return total / count


def lr_at(step: int, args) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=DEFAULT_CORPUS, help="directory of *.rst.txt files (python3.11-doc)")
    ap.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parents[1] / "models" / "mamba-demo"))
    ap.add_argument("--steps", type=int, default=1000,
                    help="optimizer steps (the default fits ~20 min on one contended CPU thread)")
    ap.add_argument("--time-limit-min", type=float, default=21.0,
                    help="safety stop for the training loop; the card records it if it triggered")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--state", type=int, default=16)
    ap.add_argument("--holdout-mod", type=int, default=20, help="hold out documents whose hash %% mod == 0 (~5%%)")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--train-eval-windows", type=int, default=128, help="training windows for the final train loss")
    ap.add_argument("--prompt", default=DEFAULT_PROMPT)
    ap.add_argument("--gen-tokens", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    import transformers
    import tokenizers
    from transformers import (AutoTokenizer, GenerationConfig, MambaConfig, MambaForCausalLM,
                              PreTrainedTokenizerFast)
    transformers.logging.set_verbosity_error()

    def log(msg):
        print(f"[{time.time() - t_start:7.1f}s] {msg}", flush=True)

    err = check_fast_scan()
    log(f"fast selective scan matches transformers (max relative error {err:.1e})")

    corpus_root = pathlib.Path(args.corpus)
    pkg = package_info(CORPUS_PACKAGE)
    train_docs, held_docs = load_corpus(corpus_root, args.holdout_mod)
    train_texts = [t for _, t in train_docs]
    held_texts = [t for _, t in held_docs]
    train_bytes = sum(len(t.encode()) for t in train_texts)
    held_bytes = sum(len(t.encode()) for t in held_texts)
    log(f"corpus {corpus_root} ({pkg['package']} {pkg['version']}): {len(train_docs)} train docs {train_bytes} B, "
        f"{len(held_docs)} held-out docs {held_bytes} B ({100 * held_bytes / (train_bytes + held_bytes):.1f}%)")

    tok = train_tokenizer(train_texts, args.vocab_size)
    train_ids = encode_docs(tok, train_texts)
    held_ids = encode_docs(tok, held_texts)
    log(f"tokenizer vocab {tok.get_vocab_size()}; train {train_ids.numel()} tokens "
        f"({train_bytes / train_ids.numel():.2f} B/token), held-out {held_ids.numel()} tokens")

    config = MambaConfig(vocab_size=tok.get_vocab_size(), hidden_size=args.hidden, num_hidden_layers=args.layers,
                         state_size=args.state, expand=2, conv_kernel=4, time_step_rank="auto", use_bias=False,
                         use_conv_bias=True, layer_norm_epsilon=1e-5, residual_in_fp32=True,
                         tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0, use_cache=True)
    model = MambaForCausalLM(config)
    n_params = sum(p.numel() for p in model.parameters())  # tied lm_head is counted once
    log(f"model: hidden {args.hidden}, layers {args.layers}, state {args.state}, {n_params} parameters")

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        # Matrices decay; embeddings (tied with lm_head), norms, biases, A_log and D do not.
        (decay if p.ndim >= 2 and "embeddings" not in name and "A_log" not in name else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    held_wins = windows(held_ids, args.seq_len)
    train_eval_wins = windows(train_ids, args.seq_len)
    pick = torch.randperm(train_eval_wins.shape[0], generator=torch.Generator().manual_seed(args.seed + 1))
    train_eval_wins = train_eval_wins[pick[:args.train_eval_windows]]
    quick_held = held_wins[:16]
    log(f"held-out eval: {held_wins.shape[0]} windows of {args.seq_len} tokens")

    gen = torch.Generator().manual_seed(args.seed)
    max_start = train_ids.numel() - args.seq_len - 1
    history, recent = [], []
    model.train()
    t_train = time.time()
    steps_done, stopped_early = 0, False
    with fast_scan(True):
        for step in range(args.steps):
            if time.time() - t_train > args.time_limit_min * 60:
                stopped_early = True
                log(f"time limit reached after {step} steps")
                break
            for g in opt.param_groups:
                g["lr"] = lr_at(step, args)
            starts = torch.randint(0, max_start + 1, (args.batch,), generator=gen)
            batch = train_ids[starts[:, None] + torch.arange(args.seq_len + 1)[None, :]]
            logits = model(input_ids=batch[:, :-1], use_cache=False).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), batch[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            steps_done = step + 1
            recent.append(loss.item())
            if steps_done % args.log_every == 0 or steps_done == args.steps:
                avg = sum(recent[-args.log_every:]) / len(recent[-args.log_every:])
                elapsed = time.time() - t_train
                log(f"step {steps_done}/{args.steps} loss {avg:.4f} lr {lr_at(step, args):.2e} "
                    f"{elapsed / steps_done:.2f}s/step")
                history.append({"step": steps_done, "train_loss": round(avg, 4)})
            if steps_done % args.eval_every == 0:
                ql = mean_loss(model, quick_held, args.batch)
                log(f"step {steps_done} quick held-out loss {ql:.4f} (16 windows)")
                history[-1]["quick_heldout_loss"] = round(ql, 4)
    train_seconds = time.time() - t_train
    last = recent[-min(len(recent), 20):]
    train_loss_last = sum(last) / len(last)

    train_loss = mean_loss(model, train_eval_wins, args.batch)
    held_loss = mean_loss(model, held_wins, args.batch)
    # The bulk evaluation uses the fast scan; confirm on a few windows that transformers' own path agrees.
    check_wins = held_wins[:4]
    ref_fast, ref_hf = mean_loss(model, check_wins, 4, fast=True), mean_loss(model, check_wins, 4, fast=False)
    if abs(ref_fast - ref_hf) > 1e-4:
        raise SystemExit(f"fast vs transformers held-out loss mismatch: {ref_fast} vs {ref_hf}")
    log(f"final: train loss {train_loss:.4f} (ppl {math.exp(train_loss):.1f}), held-out loss {held_loss:.4f} "
        f"(ppl {math.exp(held_loss):.1f}); check on 4 windows fast {ref_fast:.6f} vs transformers {ref_hf:.6f}")

    # ---- save ----------------------------------------------------------------------------------------------
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(bos_token_id=0, eos_token_id=0, pad_token_id=0)
    model.save_pretrained(out, safe_serialization=True)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS,
                                     pad_token=EOS, model_max_length=2048)
    hf_tok.save_pretrained(out)
    # transformers 5 writes its internal class name "TokenizersBackend"; the public name also loads in 4.x.
    tc_path = out / "tokenizer_config.json"
    tc = json.loads(tc_path.read_text())
    tc["tokenizer_class"] = "PreTrainedTokenizerFast"
    tc_path.write_text(json.dumps(tc, indent=2) + "\n")
    for f in out.iterdir():
        f.chmod(0o644)  # save_pretrained creates model.safetensors with mode 0600

    # ---- reload with plain transformers and generate the card samples ---------------------------------------
    model2 = MambaForCausalLM.from_pretrained(out).eval()
    tok2 = AutoTokenizer.from_pretrained(out)
    prompt_ids = tok2(args.prompt, return_tensors="pt").input_ids
    assert prompt_ids.tolist()[0] == tok.encode(args.prompt).ids, "AutoTokenizer disagrees with tokenizers"
    with torch.no_grad():
        greedy = model2.generate(prompt_ids, max_new_tokens=args.gen_tokens, do_sample=False)
        torch.manual_seed(args.seed)
        sampled = model2.generate(prompt_ids, max_new_tokens=args.gen_tokens, do_sample=True, temperature=0.8,
                                  top_k=40)
    greedy_text = tok2.decode(greedy[0], skip_special_tokens=False)
    sampled_text = tok2.decode(sampled[0], skip_special_tokens=False)
    log(f"greedy:  {greedy_text!r}")
    log(f"sampled: {sampled_text!r}")

    weights = out / "model.safetensors"
    total_seconds = time.time() - t_start
    stats = {
        "corpus": {"package": pkg["package"], "version": pkg["version"], "path": str(corpus_root),
                   "licence": "PSF-2.0 (documentation; code examples also 0BSD)",
                   "train_docs": len(train_docs), "heldout_docs": len(held_docs),
                   "train_bytes": train_bytes, "heldout_bytes": held_bytes,
                   "train_tokens": int(train_ids.numel()), "heldout_tokens": int(held_ids.numel())},
        "model": {"parameters": n_params, "weights_bytes": weights.stat().st_size},
        "training": {"steps": steps_done, "steps_requested": args.steps, "stopped_early": stopped_early,
                     "tokens_seen": steps_done * args.batch * args.seq_len, "train_seconds": round(train_seconds, 1),
                     "total_seconds": round(total_seconds, 1), "history": history},
        "result": {"train_loss_last20_steps": round(train_loss_last, 4), "train_loss": round(train_loss, 4),
                   "heldout_loss": round(held_loss, 4), "heldout_ppl": round(math.exp(held_loss), 2),
                   "heldout_windows": int(held_wins.shape[0])},
        "samples": {"prompt": args.prompt, "prompt_ids": prompt_ids.tolist()[0],
                    "greedy_ids": greedy[0].tolist(), "greedy": greedy_text, "sampled": sampled_text},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "tokenizers": tokenizers.__version__, "python": sys.version.split()[0]},
    }
    write_card(out, args, config, stats)
    log(f"wrote {out} (model.safetensors {weights.stat().st_size} bytes) in {total_seconds / 60:.1f} min")
    return 0


def write_card(out: pathlib.Path, args, config, s) -> None:
    c, r, tr, sm = s["corpus"], s["result"], s["training"], s["samples"]
    cmd = ".venv/bin/python tools/train_demo_mamba.py"
    defaults = {"steps": 1000}
    extra = [f"--steps {args.steps}"] if args.steps != defaults["steps"] else []
    if args.prompt != DEFAULT_PROMPT:
        extra.append(f"--prompt {json.dumps(args.prompt)}")
    cmd = " ".join([cmd] + extra)
    hist = "\n".join(f"| {h['step']} | {h['train_loss']:.3f} | {h.get('quick_heldout_loss', '')} |"
                     for h in tr["history"] if h["step"] % args.eval_every == 0 or h["step"] == tr["steps"])
    text = f"""# mamba-demo: Krait's embedded demo Mamba language model

A deliberately tiny Mamba language model (HF `MambaForCausalLM`, model_type `mamba`) for Krait's demos, samples
and end-to-end tests. It writes text that looks like the reStructuredText sources of the Python documentation; it
is far too small to be useful for anything else.

## Corpus
- Debian package **`{c['package']}`**, version **{c['version']}** (Debian 12 "bookworm"),
  files `{c['path']}/**/*.rst.txt` (the reStructuredText sources of the Python 3.11 documentation).
  Install: `apt-get install --no-install-recommends {c['package']}`.
- Licence: **PSF License Agreement** (Python Software Foundation License Version 2), per the package's
  `/usr/share/doc/{c['package']}/copyright` and the documentation's own `license.rst`: "Python software and
  documentation are licensed under the PSF License Agreement"; since 3.8.6 the examples, recipes and other code in
  the documentation are additionally under the Zero-Clause BSD licence. Permissive; the corpus text itself is not
  redistributed here, only weights trained on it.
- Split: {c['train_docs']} training documents ({c['train_bytes']:,} bytes, {c['train_tokens']:,} tokens) and
  {c['heldout_docs']} held-out documents ({c['heldout_bytes']:,} bytes, {c['heldout_tokens']:,} tokens,
  {100 * c['heldout_bytes'] / (c['train_bytes'] + c['heldout_bytes']):.1f}% of the bytes), chosen by
  `sha256(relative path) % {args.holdout_mod} == 0`. Each document ends with `<|endoftext|>`.

## Tokenizer (`tokenizer.json`)
Byte-level BPE trained with HF `tokenizers` on the training documents only, GPT-NeoX layout: NFC normalizer,
`ByteLevel` pre-tokenizer (GPT-2 regex, `add_prefix_space=False`), `ByteLevel` decoder and post-processor,
vocabulary {config.vocab_size} (256 byte symbols + merges, min frequency 2), special token `<|endoftext|>` = id 0,
used as bos, eos, pad and unk. No BOS is prepended when encoding. `tokenizer_config.json` makes it loadable with
`AutoTokenizer` / `PreTrainedTokenizerFast`.

## Architecture (`config.json`, `model.safetensors`)
`MambaForCausalLM`: vocab_size {config.vocab_size}, hidden_size D = {config.hidden_size},
num_hidden_layers {config.num_hidden_layers}, state_size N = {config.state_size}, expand 2
(intermediate_size E = {config.intermediate_size}), conv_kernel {config.conv_kernel},
time_step_rank R = {config.time_step_rank}, use_bias false, use_conv_bias true,
layer_norm_epsilon {config.layer_norm_epsilon}, residual_in_fp32 true, tied embeddings (no `lm_head.weight` in
the file), bos/eos/pad id 0. **{s['model']['parameters']:,} parameters**, stored fp32:
`model.safetensors` is {s['model']['weights_bytes']:,} bytes.

## Training
`tools/train_demo_mamba.py`: AdamW (betas 0.9/0.95, weight decay {args.weight_decay} on matrices except the
embedding), peak learning rate {args.lr} with {args.warmup} warm-up steps and cosine decay to
{args.min_lr_ratio}x, gradient clipping 1.0, batch {args.batch} x {args.seq_len} tokens of random windows,
**{tr['steps']} steps** ({tr['tokens_seen']:,} tokens seen, about
{tr['tokens_seen'] / c['train_tokens']:.2f} epochs){' - stopped early by the time limit' if tr['stopped_early'] else ''}.
Hardware: CPU only, `torch.set_num_threads(1)` on a shared 2-core machine; training loop
{tr['train_seconds'] / 60:.1f} min, whole script {tr['total_seconds'] / 60:.1f} min. Seed {args.seed}.
Software: torch {s['versions']['torch']}, transformers {s['versions']['transformers']}, tokenizers
{s['versions']['tokenizers']}, Python {s['versions']['python']}.
(For speed the training loop swaps transformers' per-time-step reference scan for an equivalent scan with
hand-written gradients; the script checks logits and gradients against transformers before training and the
held-out loss against transformers afterwards.)

| step | train loss (mean of last {args.log_every} steps) | held-out loss (16 windows) |
|---|---|---|
{hist}

## Results
- Final train loss: **{r['train_loss']:.4f}** nats/token (perplexity {math.exp(r['train_loss']):.1f}) on
  {args.train_eval_windows} random training windows; mean minibatch loss of the last 20 steps
  {r['train_loss_last20_steps']:.4f}.
- Held-out loss: **{r['heldout_loss']:.4f}** nats/token (perplexity **{r['heldout_ppl']:.1f}**) over all
  {r['heldout_windows']} non-overlapping {args.seq_len}-token windows of the held-out documents.

## Samples (transformers `generate`, model and tokenizer reloaded from this folder)
Demo prompt: **`{sm['prompt']}`** (token ids {sm['prompt_ids']}), {args.gen_tokens} new tokens.

Greedy (`do_sample=False`):
```text
{sm['greedy']}
```
Greedy token ids (prompt + continuation), useful as an exact reference:
`{sm['greedy_ids']}`

Sampled (`do_sample=True, temperature=0.8, top_k=40`, `torch.manual_seed({args.seed})` before generating):
```text
{sm['sampled']}
```

## Reproduce
```sh
apt-get install --no-install-recommends {c['package']}
tools/setup_tools_env.sh        # once: the pinned Python tools env in .venv/
{cmd}
```
Takes about {tr['total_seconds'] / 60:.0f} minutes on one CPU thread and overwrites this folder. Exact numbers can
differ slightly on other CPUs or library versions.
"""
    (out / "README.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
