#!/usr/bin/env python3
"""Krait Mamba-2 conformance fixtures: tiny random transformers Mamba2ForCausalLM checkpoints plus the outputs of
transformers' reference implementation (pure PyTorch path: no mamba_ssm / causal_conv1d kernels, float32 compute).

Run:  .venv/bin/python tools/gen_mamba2_fixtures.py
Writes (after deleting it, so every run regenerates everything):
  tests/fixtures/mamba2/<case>/   config.json + weights exactly as save_pretrained writes them,
                                  expected.safetensors: input_ids [B, L] (I32), logits [B, L, V] (F32, full forward
                                  without cache = the chunked SSD path), prompt_ids [P], greedy_ids [G] (generate(),
                                  greedy: chunked prefill then the recurrent decode step)
  tests/fixtures/mamba2/f32_g1_tied/adapters/a/   a peft LoRA adapter on in_proj, out_proj and the embeddings, and in
                                  that case's expected.safetensors: logits_lora [B, L, V] and greedy_lora [G] (peft,
                                  unmerged; peft refuses out_proj on Mamba models because mamba_ssm's fused training
                                  kernel reads out_proj.weight directly: that check is switched off here, the torch
                                  path runs the layer as a module)
  tests/fixtures/mamba2/manifest.json

Every number comes from a model reloaded from the written files (F16/BF16 weights upcast to float32 for compute).
Self-checks: full-sequence logits == cached step-by-step logits; generate() == an argmax loop without cache; every
greedy step has a top-1/top-2 gap >= MIN_GREEDY_MARGIN (the prompt is redrawn otherwise).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import GenerationConfig, Mamba2Config, Mamba2ForCausalLM  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "mamba2"
MIN_GREEDY_MARGIN = 2e-3
STEP_TOL = 1e-4

BASE = dict(vocab_size=61, hidden_size=32, state_size=16, conv_kernel=4, expand=2, num_hidden_layers=2,
            num_heads=4, head_dim=16, chunk_size=8, layer_norm_epsilon=1e-5, pad_token_id=0, bos_token_id=1,
            eos_token_id=2)

CASES = [
    dict(name="f32_g1_tied", seed=2001, cfg=dict(BASE, n_groups=1, tie_word_embeddings=True), B=2, L=21, P=9, G=10,
         dtype="float32", what="n_groups 1, tied head, 21 tokens = 2 chunks of 8 + 5"),
    dict(name="f32_g2_untied", seed=2002,
         cfg=dict(BASE, n_groups=2, tie_word_embeddings=False, use_bias=True, use_conv_bias=True, state_size=8),
         B=2, L=19, P=11, G=10, dtype="float32", shard="12KB",
         what="n_groups 2, untied head, in/out_proj bias, state 8, sharded files, 19 tokens"),
    dict(name="f32_g2_long", seed=2003,
         cfg=dict(BASE, n_groups=2, tie_word_embeddings=True, num_heads=8, head_dim=8, use_conv_bias=False,
                  chunk_size=16),
         B=1, L=45, P=30, G=8, dtype="float32", what="8 heads of 8, no conv bias, chunk 16, 45 tokens"),
    dict(name="bf16", seed=2004, cfg=dict(BASE, n_groups=2, tie_word_embeddings=False), B=2, L=21, P=9, G=10,
         dtype="bfloat16", what="BF16 weights (computed in float32 from the stored values)"),
    dict(name="f16", seed=2005, cfg=dict(BASE, n_groups=1, tie_word_embeddings=True), B=2, L=21, P=9, G=10,
         dtype="float16", what="F16 weights (computed in float32 from the stored values)"),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@torch.no_grad()
def randomize(model: Mamba2ForCausalLM, cfg: Mamba2Config, gen: torch.Generator) -> None:
    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=gen) * std + mean

    def uniform(shape, lo, hi):
        return torch.rand(shape, generator=gen) * (hi - lo) + lo

    model.backbone.embeddings.weight.copy_(normal(model.backbone.embeddings.weight.shape, 0.2))
    for layer in model.backbone.layers:
        m = layer.mixer
        layer.norm.weight.copy_(normal(layer.norm.weight.shape, 0.1, 1.0))
        for lin, gain in ((m.in_proj, 1.2), (m.out_proj, 2.0)):
            lin.weight.copy_(normal(lin.weight.shape, gain / math.sqrt(lin.weight.shape[1])))
            if lin.bias is not None:
                lin.bias.copy_(normal(lin.bias.shape, 0.05))
        m.conv1d.weight.copy_(uniform(m.conv1d.weight.shape, -0.5, 0.5))
        if m.conv1d.bias is not None:
            m.conv1d.bias.copy_(normal(m.conv1d.bias.shape, 0.1))
        H = m.num_heads
        m.A_log.copy_(torch.log(uniform((H,), 0.05, 8.0)))
        dt = torch.exp(uniform((H,), math.log(1e-3), math.log(2e-1)))
        m.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        m.D.copy_(normal((H,), 0.3, 1.0))
        m.norm.weight.copy_(normal(m.norm.weight.shape, 0.1, 1.0))
    model.backbone.norm_f.weight.copy_(normal(model.backbone.norm_f.weight.shape, 0.1, 1.0))
    if not cfg.tie_word_embeddings:
        model.lm_head.weight.copy_(normal(model.lm_head.weight.shape, 0.2))


def load_ref(d: Path) -> Mamba2ForCausalLM:
    m = Mamba2ForCausalLM.from_pretrained(d, dtype=torch.float32)
    m.eval()
    return m


@torch.no_grad()
def full_logits(model, ids):
    return model(ids, use_cache=False).logits.float()


@torch.no_grad()
def stepped_logits(model, ids, prefill):
    out = model(ids[:, :prefill], use_cache=True)
    cache = out.cache if hasattr(out, "cache") else out.cache_params
    parts = [out.logits.float()]
    for t in range(prefill, ids.shape[1]):
        out = model(ids[:, t:t + 1], cache=cache, use_cache=True)
        cache = out.cache if hasattr(out, "cache") else out.cache_params
        parts.append(out.logits.float())
    return torch.cat(parts, dim=1)


@torch.no_grad()
def greedy_generate(model, prompt, G):
    gc = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=G, min_new_tokens=G, use_cache=True,
                          eos_token_id=None, pad_token_id=None, bos_token_id=None)
    ids = prompt[None, :]
    out = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=gc)
    return out[0, prompt.numel():]


@torch.no_grad()
def argmax_loop(model, prompt, G):
    seq = prompt.clone()
    toks, gaps = [], []
    for _ in range(G):
        last = full_logits(model, seq[None, :])[0, -1]
        top2 = torch.topk(last, 2)
        toks.append(int(top2.indices[0]))
        gaps.append(float(top2.values[0] - top2.values[1]))
        seq = torch.cat([seq, top2.indices[:1]])
    return torch.tensor(toks), min(gaps)


def st_encode(header: dict, buf: bytes) -> bytes:
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + buf


def write_expected(path: Path, tensors: dict, metadata: dict) -> None:
    st_name = {torch.float32: "F32", torch.int32: "I32"}
    header = {"__metadata__": dict(sorted(metadata.items()))}
    buf = bytearray()
    for k in sorted(tensors):
        t = tensors[k].contiguous()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": st_name[t.dtype], "shape": list(t.shape), "data_offsets": [len(buf), len(buf) + len(data)]}
        buf += data
    path.write_bytes(st_encode(header, bytes(buf)))


def gen_case(case: dict) -> dict:
    name = case["name"]
    d = OUT / name
    gen = torch.Generator().manual_seed(case["seed"])
    cfg = Mamba2Config(**case["cfg"])
    model = Mamba2ForCausalLM(cfg)
    randomize(model, cfg, gen)
    dt = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[case["dtype"]]
    kwargs = {"max_shard_size": case["shard"]} if "shard" in case else {}
    model.to(dt).save_pretrained(d, **kwargs)
    # Non-finite numbers in config.json (time_step_limit's inf) are written as JSON's non-standard Infinity by
    # transformers; keep the file as transformers writes it so the loader must cope.
    ref = load_ref(d)
    V = cfg.vocab_size
    for attempt in range(50):
        ids = torch.randint(0, V, (case["B"], case["L"]), generator=gen)
        prompt = torch.randint(0, V, (case["P"],), generator=gen)
        loop, gap = argmax_loop(ref, prompt, case["G"])
        if gap >= MIN_GREEDY_MARGIN:
            break
    else:
        raise SystemExit(f"{name}: no prompt with a greedy margin")
    logits = full_logits(ref, ids)
    stepped = stepped_logits(ref, ids, case["L"] // 2)
    err = (stepped - logits).abs().max().item()
    assert err < STEP_TOL, f"{name}: stepped vs full {err}"
    greedy = greedy_generate(ref, prompt, case["G"])
    assert torch.equal(greedy, loop), f"{name}: generate {greedy.tolist()} != loop {loop.tolist()}"
    write_expected(d / "expected.safetensors",
                   {"input_ids": ids.to(torch.int32), "logits": logits.contiguous(),
                    "prompt_ids": prompt.to(torch.int32), "greedy_ids": greedy.to(torch.int32)},
                   {"generator": "tools/gen_mamba2_fixtures.py", "case": name})
    log(f"{name}: stepped-vs-full {err:.2e}, greedy gap {gap:.3g}, greedy {greedy.tolist()}")
    return {"what": case["what"], "config": case["cfg"], "dtype": case["dtype"], "B": case["B"], "L": case["L"],
            "prompt": case["P"], "greedy": case["G"],
            "files": {p.name: p.stat().st_size for p in sorted(d.iterdir())}}


LORA_CASE = "f32_g1_tied"


@torch.no_grad()
def gen_lora(case: dict) -> dict:
    from peft import LoraConfig, PeftModel, get_peft_model
    from peft.tuners import tuners_utils

    tuners_utils._check_lora_target_modules_mamba = lambda *args, **kwargs: None
    d = OUT / case["name"]
    gen = torch.Generator().manual_seed(case["seed"] + 100)
    base = load_ref(d)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["in_proj", "out_proj", "embeddings"], lora_dropout=0.0)
    pm = get_peft_model(base, cfg)
    for name, p in pm.named_parameters():
        if "lora_" in name:
            p.copy_(torch.randn(p.shape, generator=gen) * 0.15)
    ad = d / "adapters" / "a"
    pm.peft_config["default"].base_model_name_or_path = f"tests/fixtures/mamba2/{case['name']}"  # not this machine's path
    # peft keeps target_modules as a set, written in hash order: sorted, so that every run writes the same bytes.
    pm.peft_config["default"].target_modules = sorted(pm.peft_config["default"].target_modules)
    pm.save_pretrained(ad)
    for f in ad.iterdir():  # peft also writes a model-card README.md
        if f.name not in ("adapter_config.json", "adapter_model.safetensors"):
            f.unlink()
        else:
            f.chmod(0o644)
    # Reload from the written files, as the base model was.
    pm = PeftModel.from_pretrained(load_ref(d), ad)
    pm.eval()
    expected = {}
    from safetensors.torch import load_file
    expected.update(load_file(d / "expected.safetensors"))
    ids = expected["input_ids"].long()
    logits = pm(input_ids=ids, use_cache=False).logits.float()
    assert (logits - expected["logits"]).abs().max() > 1e-2, "the adapter changes nothing"
    prompt = expected["prompt_ids"].long()
    seq = prompt.clone()
    toks, gaps = [], []
    for _ in range(case["G"]):
        last = pm(input_ids=seq[None, :], use_cache=False).logits.float()[0, -1]
        top2 = torch.topk(last, 2)
        toks.append(int(top2.indices[0]))
        gaps.append(float(top2.values[0] - top2.values[1]))
        seq = torch.cat([seq, top2.indices[:1]])
    assert min(gaps) >= MIN_GREEDY_MARGIN, f"lora greedy margin {min(gaps)}"
    gc = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=case["G"], min_new_tokens=case["G"],
                          use_cache=True, eos_token_id=None, pad_token_id=None, bos_token_id=None)
    out = pm.generate(input_ids=prompt[None, :], attention_mask=torch.ones_like(prompt[None, :]), generation_config=gc)
    greedy = out[0, prompt.numel():]
    assert greedy.tolist() == toks, f"lora generate {greedy.tolist()} != loop {toks}"
    expected["logits_lora"] = logits.contiguous()
    expected["greedy_lora"] = greedy.to(torch.int32)
    write_expected(d / "expected.safetensors", expected,
                   {"generator": "tools/gen_mamba2_fixtures.py", "case": case["name"]})
    log(f"{case['name']} lora: greedy gap {min(gaps):.3g}, greedy {greedy.tolist()}")
    return {"adapter": "adapters/a", "r": 4, "lora_alpha": 8, "target_modules": ["in_proj", "out_proj", "embeddings"]}


def main() -> int:
    torch.set_num_threads(1)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    cases = {c["name"]: gen_case(c) for c in CASES}
    lora_case = next(c for c in CASES if c["name"] == LORA_CASE)
    cases[LORA_CASE]["lora"] = gen_lora(lora_case)
    cases[LORA_CASE]["files"] = {p.name: p.stat().st_size for p in sorted((OUT / LORA_CASE).iterdir()) if p.is_file()}
    manifest = {"generator": "tools/gen_mamba2_fixtures.py", "transformers": transformers.__version__,
                "torch": torch.__version__, "cases": cases}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    log(f"total {total} bytes")
    assert total < 2_000_000
    return 0


if __name__ == "__main__":
    sys.exit(main())
