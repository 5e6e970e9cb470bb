#!/usr/bin/env python3
"""Krait Mamba conformance fixtures: tiny random HF Mamba models plus the outputs of
transformers' reference implementation, and a set of deliberately broken inputs.

Run:  tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
      .venv/bin/python tools/gen_mamba_fixtures.py
Writes (after deleting them first, so every run regenerates everything from scratch):
  tests/fixtures/mamba/<case>/    config.json + weights exactly as transformers' save_pretrained writes them
                                  (case original_layout: the state-spaces layout, written by this script),
                                  expected.safetensors with the reference results
  tests/fixtures/mamba/manifest.json   machine-readable summary of every case (shapes, sizes, checks)
  tests/fixtures/bad/<name>/      broken model directories derived from case f32_tied
  tests/fixtures/bad/README.md    file -> what is wrong -> expected error (generated, so it matches the bytes)

Reference = transformers' MambaForCausalLM on CPU, pure PyTorch path (no mamba_ssm / causal_conv1d kernels),
float32 compute, single thread. Every number comes from a model *reloaded from the written files*, so the files
are exactly what the results were computed from. Self-checks (assertions) before anything is accepted:
  * full-sequence logits == step-by-step decode through transformers' cache (1-token prefill, and a
    half-sequence prefill followed by steps), at every position;
  * full-sequence logits == an independent float64 NumPy implementation of the published equations that
    reads the written files itself (both layouts, shards, f16/bf16);
  * model.generate() greedy tokens == a plain argmax loop that recomputes the whole sequence without a cache;
  * every greedy step has a top-1 / top-2 logit gap >= MIN_GREEDY_MARGIN, so an engine whose float32 sums
    are ordered differently cannot legitimately pick another token (the prompt is redrawn if not);
  * reloaded weights equal the written ones (bit-exact for f32; the f16/bf16 rounding for f16/bf16).
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
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
import transformers  # noqa: E402
from transformers import GenerationConfig, MambaConfig, MambaForCausalLM  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"
OUT_MAMBA = FIX / "mamba"
OUT_BAD = FIX / "bad"

MIN_GREEDY_MARGIN = 2e-3  # logit units; logits here have std ~1
STEP_TOL = 1e-4  # full-sequence vs cached step-by-step logits (float32, max abs)
NUMPY_TOL = 1e-4  # transformers float32 vs the independent float64 NumPy reference (max abs)

# Realistic-range random init (see randomize()). Linear weights are N(0, (gain / sqrt(fan_in))^2): std 0.1-0.35
# for these sizes. The gains are large enough that the mixers, not the embedding, dominate the residual stream;
# with smaller ones a tied model just predicts its current token again and greedy output is one repeated id.
STD_EMBED = 0.2
STD_LM_HEAD = 0.2
GAIN_IN_PROJ = 1.2
GAIN_X_PROJ = 1.0
GAIN_OUT_PROJ = 2.0
STD_LINEAR_BIAS = 0.05
STD_CONV_BIAS = 0.1
CONV_WEIGHT_RANGE = 0.5  # uniform(-r, r)
DT_MIN, DT_MAX = 1e-3, 1e-1  # dt log-uniform, stored as inverse-softplus in dt_proj.bias
# A = exp(A_log) log-uniform over [0.01, 16]: the fast channels forget within a few tokens, the slowest
# (dt*A ~ 1e-5) keep state over the whole 600-token case, so a scan that drops state at a chunk boundary fails.
A_MIN, A_MAX = 0.01, 16.0


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------
CASE1_CFG = dict(vocab_size=97, hidden_size=32, state_size=16, conv_kernel=4, expand=2, num_hidden_layers=2)

CASES = [
    dict(name="f32_tied", seed=1001, cfg=CASE1_CFG, B=2, L=37, P=7, G=12, dtype="float32",
         what="baseline: tied embeddings, odd vocab, time_step_rank auto (=2)"),
    dict(name="f32_untied_odd", seed=1002,
         cfg=dict(vocab_size=61, hidden_size=24, state_size=8, conv_kernel=3, expand=2, time_step_rank=5,
                  num_hidden_layers=3, tie_word_embeddings=False, use_conv_bias=True),
         B=3, L=19, P=5, G=10, dtype="float32",
         what="untied lm_head, conv kernel 3, explicit time_step_rank 5 (not ceil(D/16)), 3 layers"),
    dict(name="f32_long", seed=1003,
         cfg=dict(vocab_size=53, hidden_size=16, state_size=4, conv_kernel=4, expand=2, num_hidden_layers=2),
         B=1, L=600, P=520, G=16, dtype="float32",
         what="L=600 and a 520-token prompt: longer than any 256/512 scan chunk"),
    dict(name="f16", seed=1001, cfg=CASE1_CFG, B=2, L=37, P=7, G=12, dtype="float16",
         what="case f32_tied's weights (same seed) rounded to F16 on disk; reference computed in f32 from them"),
    dict(name="bf16", seed=1001, cfg=CASE1_CFG, B=2, L=37, P=7, G=12, dtype="bfloat16",
         what="case f32_tied's weights (same seed) rounded to BF16 on disk; reference computed in f32 from them"),
    dict(name="sharded", seed=1006,
         cfg=dict(vocab_size=97, hidden_size=32, state_size=16, conv_kernel=4, expand=2, num_hidden_layers=3,
                  tie_word_embeddings=False),
         B=2, L=29, P=6, G=10, dtype="float32", max_shard_size="64KB",
         what="save_pretrained(max_shard_size='64KB'): 3 shards + model.safetensors.index.json; untied"),
    dict(name="use_bias", seed=1007,
         cfg=dict(vocab_size=71, hidden_size=32, state_size=8, conv_kernel=4, expand=2, num_hidden_layers=2,
                  use_bias=True, use_conv_bias=False),
         B=2, L=23, P=6, G=10, dtype="float32",
         what="in_proj/out_proj biases present, conv1d bias absent"),
    dict(name="original_layout", seed=1008,
         cfg=dict(vocab_size=56, hidden_size=32, state_size=16, conv_kernel=4, expand=2, num_hidden_layers=2),
         original_vocab=50, pad_vocab_size_multiple=8,
         B=2, L=31, P=6, G=10, dtype="float32",
         what="state-spaces layout (d_model/n_layer/ssm_cfg config, backbone.embedding.weight, no lm_head); "
              "config vocab 50 padded to 56"),
]


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(msg, flush=True)


def inv_softplus(y: torch.Tensor) -> torch.Tensor:
    # softplus(x) = y  <=>  x = y + log(1 - exp(-y)); the same formula transformers' init uses.
    return y + torch.log(-torch.expm1(-y))


@torch.no_grad()
def randomize(model: MambaForCausalLM, cfg: MambaConfig, gen: torch.Generator) -> None:
    """Overwrite every parameter with values in realistic ranges so that every term of the block matters
    (transformers' own init sets D=1, A_log=log(1..N), conv bias 0, norms 1: an engine could ignore those)."""

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=gen, dtype=torch.float32) * std + mean

    def uniform(shape, lo, hi):
        return torch.rand(shape, generator=gen, dtype=torch.float32) * (hi - lo) + lo

    for name, p in model.named_parameters():  # fixed order; a tied lm_head is not listed separately
        shape = tuple(p.shape)
        if name.endswith("embeddings.weight"):
            v = normal(shape, STD_EMBED)
        elif name == "lm_head.weight":
            v = normal(shape, STD_LM_HEAD)
        elif name.endswith("norm.weight") or name.endswith("norm_f.weight"):
            v = normal(shape, 0.1, 1.0)
        elif name.endswith("mixer.in_proj.weight"):
            v = normal(shape, GAIN_IN_PROJ / math.sqrt(shape[1]))
        elif name.endswith("mixer.out_proj.weight"):
            v = normal(shape, GAIN_OUT_PROJ / math.sqrt(shape[1]))
        elif name.endswith("mixer.in_proj.bias") or name.endswith("mixer.out_proj.bias"):
            v = normal(shape, STD_LINEAR_BIAS)
        elif name.endswith("mixer.x_proj.weight"):
            v = normal(shape, GAIN_X_PROJ / math.sqrt(shape[1]))
        elif name.endswith("mixer.conv1d.weight"):
            v = uniform(shape, -CONV_WEIGHT_RANGE, CONV_WEIGHT_RANGE)
        elif name.endswith("mixer.conv1d.bias"):
            v = normal(shape, STD_CONV_BIAS)
        elif name.endswith("mixer.dt_proj.weight"):
            r = cfg.time_step_rank ** -0.5
            v = uniform(shape, -r, r)
        elif name.endswith("mixer.dt_proj.bias"):
            dt = torch.exp(uniform(shape, math.log(DT_MIN), math.log(DT_MAX)))
            v = inv_softplus(dt)
        elif name.endswith("mixer.A_log"):
            v = uniform(shape, math.log(A_MIN), math.log(A_MAX))  # A_log of a log-uniform A
        elif name.endswith("mixer.D"):
            v = normal(shape, 0.3, 1.0)
        else:
            raise AssertionError(f"randomize: no rule for parameter {name} {shape}")
        p.copy_(v)


def make_config(case: dict) -> MambaConfig:
    return MambaConfig(**case["cfg"])


def load_ref(model_dir: Path) -> MambaForCausalLM:
    m = MambaForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    m.eval()
    for n, p in m.named_parameters():
        assert p.dtype == torch.float32, (n, p.dtype)
    return m


@torch.no_grad()
def full_logits(model, ids: torch.Tensor) -> torch.Tensor:
    return model(ids, use_cache=False).logits.float()


@torch.no_grad()
def stepped_logits(model, ids: torch.Tensor, prefill: int) -> torch.Tensor:
    """Logits of every position via transformers' cache: one call on ids[:, :prefill], then one token at a time."""
    out = model(ids[:, :prefill], use_cache=True)
    cache = out.cache
    parts = [out.logits.float()]
    for t in range(prefill, ids.shape[1]):
        out = model(ids[:, t:t + 1], cache=cache, use_cache=True)
        cache = out.cache
        parts.append(out.logits.float())
    return torch.cat(parts, dim=1)


@torch.no_grad()
def greedy_generate(model, prompt: torch.Tensor, G: int) -> torch.Tensor:
    """transformers' generate (recurrent cache path), greedy, exactly G new tokens. EOS is disabled instead of
    relying on min_new_tokens alone: min_new_tokens works by setting the EOS logit to -inf, which would make
    the reference differ from a plain argmax whenever the argmax is the EOS id. With no EOS the min_new_tokens
    processor is inactive and every step is a plain argmax over the whole vocabulary."""
    gc = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=G, min_new_tokens=G, use_cache=True,
                          eos_token_id=None, pad_token_id=None, bos_token_id=None)
    ids = prompt[None, :]
    # An explicit all-ones mask: with pad_token_id 0 transformers may otherwise infer a mask from the ids and
    # zero out positions whose token is 0.
    out = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=gc)
    assert out.shape == (1, prompt.numel() + G), out.shape
    assert torch.equal(out[0, :prompt.numel()], prompt)
    return out[0, prompt.numel():]


@torch.no_grad()
def argmax_loop(model, prompt: torch.Tensor, G: int):
    """Independent greedy reference: recompute the whole sequence without a cache each step.
    Returns (tokens [G], top1-top2 gap per step [G])."""
    seq = prompt.clone()
    toks, gaps = [], []
    for _ in range(G):
        last = full_logits(model, seq[None, :])[0, -1]
        top2 = torch.topk(last, 2)
        toks.append(int(top2.indices[0]))
        gaps.append(float(top2.values[0] - top2.values[1]))
        seq = torch.cat([seq, top2.indices[:1]])
    return torch.tensor(toks, dtype=torch.long), torch.tensor(gaps, dtype=torch.float32)


def dir_files(d: Path) -> dict:
    return {p.name: p.stat().st_size for p in sorted(d.iterdir()) if p.is_file()}


def st_summary(path: Path) -> dict:
    out = {}
    with safe_open(path, "pt") as f:
        for k in f.keys():
            sl = f.get_slice(k)
            out[k] = {"dtype": sl.get_dtype(), "shape": list(sl.get_shape())}
    return out


def write_expected(path: Path, tensors: dict, metadata: dict) -> None:
    """A plain safetensors writer with a stable byte layout: safetensors' save_file emits __metadata__ in hash
    order, which would make the file differ from run to run. Tensors in name order; all 4-byte dtypes, so with
    the header padded to a multiple of 8 every tensor is 4-byte aligned."""
    st_name = {torch.float32: "F32", torch.int32: "I32"}
    header = {"__metadata__": dict(sorted(metadata.items()))}
    buf = bytearray()
    for k in sorted(tensors):
        t = tensors[k].contiguous()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": st_name[t.dtype], "shape": list(t.shape), "data_offsets": [len(buf), len(buf) + len(data)]}
        buf += data
    path.write_bytes(st_encode(header, bytes(buf)))


def weight_files(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.suffix == ".safetensors" and p.name != "expected.safetensors")


# --------------------------------------------------------------------------------------------------
# Independent float64 reference (NumPy, from the published equations; reads the files directly)
# --------------------------------------------------------------------------------------------------
def read_model_dir(d: Path):
    """(hyper-parameters, {name: float64 array}) from a model directory, HF or state-spaces layout,
    single file or sharded. This is also the reading recipe an engine needs."""
    cfg = json.loads((d / "config.json").read_text())
    if "model_type" in cfg:
        assert cfg["model_type"] == "mamba"
        D, L, V = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
        N, K = cfg["state_size"], cfg["conv_kernel"]
        E = cfg.get("intermediate_size", cfg["expand"] * D)
        R = cfg["time_step_rank"]
        R = math.ceil(D / 16) if R == "auto" else R
        eps, tied = cfg["layer_norm_epsilon"], cfg.get("tie_word_embeddings", True)
        embed = "backbone.embeddings.weight"
    else:  # state-spaces: d_model, n_layer, ssm_cfg (Mamba1 defaults), padded vocab, "embedding"
        D, L = cfg["d_model"], cfg["n_layer"]
        mult = cfg.get("pad_vocab_size_multiple", 1)
        V = cfg["vocab_size"] + (mult - cfg["vocab_size"] % mult) % mult
        ssm = cfg.get("ssm_cfg", {})
        N, K, E = ssm.get("d_state", 16), ssm.get("d_conv", 4), ssm.get("expand", 2) * D
        R = ssm.get("dt_rank", "auto")
        R = math.ceil(D / 16) if R == "auto" else R
        eps, tied = 1e-5, cfg.get("tie_embeddings", True)
        embed = "backbone.embedding.weight"
    index = d / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else ["model.safetensors"]
    w = {}
    for f in files:
        with safe_open(d / f, "pt") as fh:
            for k in fh.keys():
                w[k] = fh.get_tensor(k).to(torch.float64).numpy()
    w["embed"] = w.pop(embed)
    w["head"] = w["embed"] if tied else w.pop("lm_head.weight")
    hp = dict(D=D, L=L, V=V, N=N, K=K, E=E, R=R, eps=eps)
    assert w["embed"].shape == (V, D) and w["head"].shape == (V, D)
    return hp, w


def numpy_logits(d: Path, ids) -> "np.ndarray":
    """float64 Mamba forward, token by token (the recurrence as written), for one batch row at a time."""
    import numpy as np

    hp, w = read_model_dir(d)
    D, N, K, E, R, eps = hp["D"], hp["N"], hp["K"], hp["E"], hp["R"], hp["eps"]
    softplus = lambda x: np.logaddexp(0.0, x)  # noqa: E731
    silu = lambda x: x / (1.0 + np.exp(-x))  # noqa: E731
    rms = lambda x, g: x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g  # noqa: E731
    out = []
    for row in np.asarray(ids):
        h = w["embed"][row]  # [T, D]
        T = h.shape[0]
        for i in range(hp["L"]):
            p = f"backbone.layers.{i}."
            u = rms(h, w[p + "norm.weight"])
            xz = u @ w[p + "mixer.in_proj.weight"].T + w.get(p + "mixer.in_proj.bias", 0.0)  # [T, 2E]
            x, z = xz[:, :E], xz[:, E:]
            cw = w[p + "mixer.conv1d.weight"][:, 0, :]  # [E, K]
            xp = np.concatenate([np.zeros((K - 1, E)), x])  # left zero padding
            xc = sum(xp[k:k + T] * cw[:, k] for k in range(K)) + w.get(p + "mixer.conv1d.bias", 0.0)
            xc = silu(xc)
            dbc = xc @ w[p + "mixer.x_proj.weight"].T  # [T, R+2N]
            dt, Bm, Cm = dbc[:, :R], dbc[:, R:R + N], dbc[:, R + N:]
            delta = softplus(dt @ w[p + "mixer.dt_proj.weight"].T + w[p + "mixer.dt_proj.bias"])  # [T, E]
            A = -np.exp(w[p + "mixer.A_log"])  # [E, N]
            s = np.zeros((E, N))
            y = np.empty((T, E))
            for t in range(T):
                s = np.exp(delta[t][:, None] * A) * s + (delta[t] * xc[t])[:, None] * Bm[t][None, :]
                y[t] = s @ Cm[t] + w[p + "mixer.D"] * xc[t]
            o = (y * silu(z)) @ w[p + "mixer.out_proj.weight"].T + w.get(p + "mixer.out_proj.bias", 0.0)
            h = h + o
        out.append(rms(h, w["backbone.norm_f.weight"]) @ w["head"].T)
    return np.stack(out)


# --------------------------------------------------------------------------------------------------
# One case
# --------------------------------------------------------------------------------------------------
def original_state_dict(hf_sd: dict) -> dict:
    """HF names -> state-spaces names: backbone.embeddings -> backbone.embedding; lm_head dropped (tied)."""
    out = {}
    for k, v in hf_sd.items():
        if k == "lm_head.weight":
            continue
        if k == "backbone.embeddings.weight":
            k = "backbone.embedding.weight"
        out[k] = v.detach().clone().contiguous()
    return out


def write_original_layout(case: dict, model: MambaForCausalLM, d: Path) -> None:
    c = case["cfg"]
    V0, mult = case["original_vocab"], case["pad_vocab_size_multiple"]
    padded = V0 + (mult - V0 % mult) % mult  # mamba_ssm's MambaLMHeadModel rule
    assert padded == c["vocab_size"], (padded, c["vocab_size"])
    # Keys exactly as state-spaces checkpoints name them; no model_type (their configs have none).
    # ssm_cfg {} means mamba_ssm's Mamba1 defaults: d_state 16, d_conv 4, expand 2, dt_rank ceil(d_model/16),
    # conv_bias true, bias false; norm eps 1e-5 (mamba_ssm's default norm_epsilon).
    cfg = {
        "d_model": c["hidden_size"],
        "n_layer": c["num_hidden_layers"],
        "vocab_size": V0,
        "ssm_cfg": {},
        "rms_norm": True,
        "residual_in_fp32": True,
        "fused_add_norm": True,
        "pad_vocab_size_multiple": mult,
        "tie_embeddings": True,
    }
    (d / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    sd = original_state_dict(model.state_dict())
    save_file(sd, str(d / "model.safetensors"), metadata={"format": "pt"})


def load_original_layout_ref(case: dict, d: Path) -> MambaForCausalLM:
    """Reference for the original layout: the file's tensors loaded into transformers' MambaForCausalLM with the
    padded vocab (vocab_size = 56), embedding renamed, lm_head tied to it."""
    sd = load_file(str(d / "model.safetensors"))
    assert "lm_head.weight" not in sd and "backbone.embeddings.weight" not in sd
    sd["backbone.embeddings.weight"] = sd.pop("backbone.embedding.weight")
    model = MambaForCausalLM(make_config(case))
    model.eval()
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected, unexpected
    assert set(missing) <= {"lm_head.weight"}, missing
    assert model.lm_head.weight.data_ptr() == model.backbone.embeddings.weight.data_ptr()
    return model


def gen_case(case: dict) -> dict:
    name = case["name"]
    d = OUT_MAMBA / name
    d.mkdir(parents=True)
    log(f"[{name}] building")

    torch.manual_seed(case["seed"])  # anything transformers draws during construction
    cfg = make_config(case)
    model = MambaForCausalLM(cfg)
    model.eval()
    gen = torch.Generator().manual_seed(case["seed"])
    randomize(model, cfg, gen)
    src_sd = {k: v.detach().clone() for k, v in model.state_dict().items()}

    # ---- write the model directory ----
    if name == "original_layout":
        write_original_layout(case, model, d)
        ref = load_original_layout_ref(case, d)
    else:
        save_kwargs = {}
        if "max_shard_size" in case:
            save_kwargs["max_shard_size"] = case["max_shard_size"]
        dt = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[case["dtype"]]
        model.to(dt).save_pretrained(d, **save_kwargs)
        ref = load_ref(d)

    # ---- the files hold what we meant, and the reloaded model equals it ----
    st_dtype = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}[case["dtype"]]
    tensors = {}
    for f in weight_files(d):
        for k, info in st_summary(f).items():
            assert k not in tensors, k
            assert info["dtype"] == st_dtype, (f.name, k, info)
            tensors[k] = dict(info, file=f.name)
    ref_sd = ref.state_dict()
    round_dt = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[case["dtype"]]
    for k, v in src_sd.items():
        want = v.to(round_dt).to(torch.float32)
        assert torch.equal(ref_sd[k], want), f"{name}: reloaded {k} differs from the written weights"
    if "max_shard_size" in case:
        idx = json.loads((d / "model.safetensors.index.json").read_text())
        assert 2 <= len(weight_files(d)) <= 3, [p.name for p in weight_files(d)]
        assert set(idx["weight_map"]) == set(tensors), "index weight_map does not list exactly the stored tensors"
        for k, f in idx["weight_map"].items():
            assert tensors[k]["file"] == f, (k, f)

    # ---- inputs (drawn from the real vocab: for original_layout the unpadded 50) ----
    V = case["cfg"]["vocab_size"]
    V_in = case.get("original_vocab", V)
    gin = torch.Generator().manual_seed(case["seed"] * 7 + 1)
    B, L, P, G = case["B"], case["L"], case["P"], case["G"]
    input_ids = torch.randint(0, V_in, (B, L), generator=gin, dtype=torch.long)

    # ---- full-sequence logits + cache self-consistency ----
    logits = full_logits(ref, input_ids)
    assert logits.shape == (B, L, V) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()
    diffs = {}
    for prefill in sorted({1, L // 2}):
        st = stepped_logits(ref, input_ids, prefill)
        diff = float((st - logits).abs().max())
        diffs[f"prefill_{prefill}"] = diff
        assert diff <= STEP_TOL, f"{name}: cached step-by-step logits differ from full-sequence by {diff}"
    last_diff = float((stepped_logits(ref, input_ids, 1)[:, -1] - logits[:, -1]).abs().max())
    assert last_diff <= STEP_TOL
    # The files alone, read by a from-scratch float64 implementation, give the same logits.
    np_diff = float((torch.from_numpy(numpy_logits(d, input_ids.numpy())) - logits.double()).abs().max())
    assert np_diff <= NUMPY_TOL, f"{name}: float64 NumPy reference differs from transformers by {np_diff}"

    # ---- greedy generation through transformers' cache, cross-checked against a no-cache argmax loop ----
    for attempt in range(50):
        gp = torch.Generator().manual_seed(case["seed"] * 13 + attempt)
        prompt = torch.randint(0, V_in, (P,), generator=gp, dtype=torch.long)
        greedy = greedy_generate(ref, prompt, G)
        loop_toks, gaps = argmax_loop(ref, prompt, G)
        assert torch.equal(greedy, loop_toks), f"{name}: generate {greedy.tolist()} != argmax loop {loop_toks.tolist()}"
        if float(gaps.min()) >= MIN_GREEDY_MARGIN:
            break
        log(f"[{name}] prompt attempt {attempt}: min greedy gap {float(gaps.min()):.2e} too small, redrawing")
    else:
        raise AssertionError(f"{name}: no prompt with a clear greedy margin")

    # ---- long-range sensitivity (does state from the first tokens still reach the last position?) ----
    alt = input_ids.clone()
    alt[:, :64] = (alt[:, :64] + 1) % V_in
    long_range = float((full_logits(ref, alt)[:, -1] - logits[:, -1]).abs().max())

    expected = {
        "input_ids": input_ids.to(torch.int32).contiguous(),
        "logits": logits.contiguous(),
        "prompt_ids": prompt.to(torch.int32).contiguous(),
        "greedy_ids": greedy.to(torch.int32).contiguous(),
        "greedy_margins": gaps.contiguous(),
    }
    write_expected(d / "expected.safetensors", expected,
                   {"case": name, "generator": "tools/gen_mamba_fixtures.py",
                    "transformers": transformers.__version__, "torch": torch.__version__, "logits_vocab": str(V)})
    back = load_file(str(d / "expected.safetensors"))
    assert set(back) == set(expected) and all(torch.equal(back[k], expected[k]) for k in expected)

    info = {
        "what": case["what"],
        "config": {k: v for k, v in json.loads((d / "config.json").read_text()).items()
                   if k in ("vocab_size", "hidden_size", "state_size", "conv_kernel", "expand",
                            "intermediate_size", "time_step_rank", "num_hidden_layers", "use_bias",
                            "use_conv_bias", "tie_word_embeddings", "layer_norm_epsilon", "dtype", "model_type",
                            "d_model", "n_layer", "pad_vocab_size_multiple", "tie_embeddings")},
        "weights_dtype": st_dtype,
        "files": dir_files(d),
        "weights": tensors,
        "expected": {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)}
                     for k, v in expected.items()},
        "checks": {
            "cache_vs_full_max_abs_diff": diffs,
            "float64_numpy_vs_transformers_max_abs_diff": np_diff,
            "greedy_min_margin": float(gaps.min()),
            "greedy_distinct_ids": len(set(greedy.tolist())),
            "greedy_ids": greedy.tolist(),
            "greedy_contains_config_eos_id_0": bool((greedy == 0).any()),
            "greedy_ids_in_padding_rows": bool((greedy >= V_in).any()),
            "logits_std": float(logits.std()),
            "logits_absmax": float(logits.abs().max()),
            "last_pos_logit_change_when_first_64_tokens_changed": long_range,
        },
    }
    if name == "original_layout":
        info["config"]["padded_vocab_size"] = V
    total = sum(info["files"].values())
    log(f"[{name}] ok: {total} bytes, logits {list(logits.shape)} std {info['checks']['logits_std']:.3f}, "
        f"greedy {greedy.tolist()} min gap {float(gaps.min()):.3g}, cache diff {max(diffs.values()):.2e}, "
        f"f64 diff {np_diff:.2e}, "
        f"long-range {long_range:.3g}")
    return info


# --------------------------------------------------------------------------------------------------
# Bad inputs (byte-level manipulation of case f32_tied's files)
# --------------------------------------------------------------------------------------------------
def st_read(path: Path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    return header, raw[8 + n:]


def st_encode(header: dict, buf: bytes) -> bytes:
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)  # writers pad the header with spaces to a multiple of 8
    return struct.pack("<Q", len(h)) + h + buf


def st_entries(header: dict, buf: bytes):
    """[(name, entry, bytes)] in buffer order; entry without data_offsets."""
    items = [(k, v) for k, v in header.items() if k != "__metadata__"]
    items.sort(key=lambda kv: kv[1]["data_offsets"][0])
    out = []
    for k, v in items:
        b, e = v["data_offsets"]
        out.append((k, {"dtype": v["dtype"], "shape": list(v["shape"])}, buf[b:e]))
    return out


def st_pack(entries, metadata) -> tuple[dict, bytes]:
    """Lay entries out contiguously (a well-formed file). Returns (header, buffer)."""
    header = {"__metadata__": metadata} if metadata is not None else {}
    buf = bytearray()
    for k, e, data in entries:
        header[k] = dict(e, data_offsets=[len(buf), len(buf) + len(data)])
        buf += data
    return header, bytes(buf)


def gen_bad(case1_dir: Path) -> list[dict]:
    src_cfg = (case1_dir / "config.json").read_bytes()
    src_st = case1_dir / "model.safetensors"
    header, buf = st_read(src_st)
    meta = header.get("__metadata__")
    entries = st_entries(header, buf)
    names = [k for k, _, _ in entries]
    raw = src_st.read_bytes()
    (hlen,) = struct.unpack("<Q", raw[:8])
    rows = []

    def new_dir(name: str, config: bytes | None = src_cfg) -> Path:
        d = OUT_BAD / name
        d.mkdir(parents=True)
        if config is not None:
            (d / "config.json").write_bytes(config)
        return d

    def add(name, file, wrong, status, message):
        rows.append(dict(dir=name, file=file, wrong=wrong, status=status, message=message))

    def entry_by_name(n):
        return next(e for e in entries if e[0] == n)

    # -- safetensors container defects (case-1 config.json is valid in every one) --
    d = new_dir("st_too_short")
    (d / "model.safetensors").write_bytes(raw[:5])
    add(d.name, "model.safetensors", "file is 5 bytes long: not even the 8-byte header length",
        "KRAIT_ERR_FORMAT", "`truncated: 5 bytes, too short for a safetensors header`")

    # Cut in the middle of a tensor that is not the last one (so the cut is mid-data, not on a boundary).
    k_cut, e_cut, d_cut = entries[len(entries) // 2]
    b_cut, e_end = header[k_cut]["data_offsets"]
    cut_at = 8 + hlen + b_cut + (e_end - b_cut) // 2 + 1
    d = new_dir("st_truncated")
    (d / "model.safetensors").write_bytes(raw[:cut_at])
    beyond = sorted(k for k in names if header[k]["data_offsets"][1] > cut_at - 8 - hlen)
    add(d.name, "model.safetensors",
        f"file cut to {cut_at} of {len(raw)} bytes, in the middle of tensor '{k_cut}' (header intact); the data "
        f"buffer is {cut_at - 8 - hlen} bytes but the header's offsets reach {len(buf)}, so {len(beyond)} tensors "
        f"end beyond it (alphabetically first: '{beyond[0]}')",
        "KRAIT_ERR_FORMAT", f"names one of those tensors (nlohmann's sorted keys: '{beyond[0]}'): "
        f"`data_offsets end ... is beyond the data buffer ({cut_at - 8 - hlen} bytes; file truncated?)`")

    d = new_dir("st_header_len_beyond_file")
    bad = struct.pack("<Q", len(raw)) + raw[8:]
    (d / "model.safetensors").write_bytes(bad)
    add(d.name, "model.safetensors",
        f"u64 header length = {len(raw)} (the whole file size; real value {hlen}); bytes after it unchanged",
        "KRAIT_ERR_FORMAT", f"`truncated: header length {len(raw)} goes beyond the file size {len(raw)}`")

    d = new_dir("st_header_len_huge")
    huge = (1 << 64) - 8
    (d / "model.safetensors").write_bytes(struct.pack("<Q", huge) + raw[8:])
    add(d.name, "model.safetensors",
        f"u64 header length = 2^64-8 = {huge} (overflow bait: 8 + N wraps to 0 in 64-bit arithmetic)",
        "KRAIT_ERR_FORMAT", f"`header length {huge} exceeds the 100 MB limit` (any bounds error; must not crash)")

    d = new_dir("st_header_not_json")
    junk = b"this is not JSON {\"backbone.norm_f.weight\": {dtype: F32"
    junk = (junk + b" " * hlen)[:hlen]
    (d / "model.safetensors").write_bytes(raw[:8] + junk + buf)
    add(d.name, "model.safetensors",
        f"the {hlen} header bytes replaced by `{junk.rstrip().decode()}` padded with spaces; length field and data "
        "buffer unchanged", "KRAIT_ERR_FORMAT", "`header is not valid JSON: ...`")

    # Last tensor (by offset) moved 1 MiB past its place; the file is otherwise byte-identical.
    k_last = entries[-1][0]
    h2 = json.loads(json.dumps(header))
    b0, e0 = h2[k_last]["data_offsets"]
    h2[k_last]["data_offsets"] = [b0 + (1 << 20), e0 + (1 << 20)]
    d = new_dir("st_offsets_beyond_buffer")
    (d / "model.safetensors").write_bytes(st_encode(h2, buf))
    add(d.name, "model.safetensors",
        f"tensor '{k_last}' (the last in the buffer) has data_offsets [{b0 + (1 << 20)}, {e0 + (1 << 20)}] "
        f"(its true [{b0}, {e0}] + 1 MiB); the buffer is {len(buf)} bytes. Size still matches shape*dtype; "
        "a hole is left where it was (reported second: the bounds check comes first)",
        "KRAIT_ERR_FORMAT", f"`tensor '{k_last}': data_offsets end {e0 + (1 << 20)} is beyond the data buffer "
        f"({len(buf)} bytes; file truncated?)`")

    # Overlap without any other defect: D of layer 0 aliases dt_proj.bias of layer 0 (both F32 [E]);
    # D's own bytes are removed and everything after repacked, so no hole and no trailing bytes remain.
    k_a, k_b = "backbone.layers.0.mixer.D", "backbone.layers.0.mixer.dt_proj.bias"
    assert len(entry_by_name(k_a)[2]) == len(entry_by_name(k_b)[2])
    h3, b3 = st_pack([e for e in entries if e[0] != k_a], meta)
    h3[k_a] = dict(entry_by_name(k_a)[1], data_offsets=list(h3[k_b]["data_offsets"]))
    d = new_dir("st_overlapping_offsets")
    (d / "model.safetensors").write_bytes(st_encode(h3, b3))
    add(d.name, "model.safetensors",
        f"'{k_a}' has the same data_offsets {h3[k_a]['data_offsets']} as '{k_b}' (both F32 [64]); D's bytes are "
        "gone and the rest is repacked, so every tensor is in bounds and sized right, with no hole or tail",
        "KRAIT_ERR_FORMAT", "`tensor '...' overlaps the previous tensor (offset ... < ...)` naming one of the two")

    # A 16-byte hole before one tensor; offsets after it shifted; nothing else wrong.
    k_hole = entries[3][0]
    buf4 = bytearray()
    h4 = {"__metadata__": meta} if meta is not None else {}
    for k, e, data in entries:
        if k == k_hole:
            hole_at = len(buf4)
            buf4 += b"\0" * 16
        h4[k] = dict(e, data_offsets=[len(buf4), len(buf4) + len(data)])
        buf4 += data
    d = new_dir("st_offsets_with_hole")
    (d / "model.safetensors").write_bytes(st_encode(h4, bytes(buf4)))
    add(d.name, "model.safetensors",
        f"16 zero bytes inserted at buffer offset {hole_at}, before tensor '{k_hole}'; later offsets shifted, so "
        "all tensors are in bounds and sized right and the buffer ends at the last tensor",
        "KRAIT_ERR_FORMAT", f"`hole in the data buffer before tensor '{k_hole}' (bytes {hole_at}..{hole_at + 16} "
        "belong to no tensor)`")

    d = new_dir("st_trailing_bytes")
    (d / "model.safetensors").write_bytes(raw + b"\0" * 8)
    add(d.name, "model.safetensors", "8 zero bytes appended after the last tensor (header unchanged)",
        "KRAIT_ERR_FORMAT", "`data buffer has 8 trailing bytes that belong to no tensor`")

    k_nb = "backbone.layers.0.mixer.A_log"
    h5 = json.loads(json.dumps(header))
    assert h5[k_nb]["shape"] == [64, 16]
    h5[k_nb]["shape"] = [64, 15]
    d = new_dir("st_nbytes_mismatch")
    (d / "model.safetensors").write_bytes(st_encode(h5, buf))
    b5, e5 = h5[k_nb]["data_offsets"]
    add(d.name, "model.safetensors",
        f"'{k_nb}' header shape [64, 15] but data_offsets [{b5}, {e5}] span {e5 - b5} bytes (= F32 [64, 16])",
        "KRAIT_ERR_FORMAT", f"`tensor '{k_nb}': holds {e5 - b5} bytes but F32 [64, 15] needs {64 * 15 * 4}`")

    # -- valid safetensors files whose contents do not fit the config (model-loader errors) --
    k_dt = "backbone.layers.0.mixer.D"
    h6 = json.loads(json.dumps(header))
    h6[k_dt]["dtype"] = "I32"  # same 4 bytes/element, so the container stays valid
    d = new_dir("wrong_dtype")
    (d / "model.safetensors").write_bytes(st_encode(h6, buf))
    add(d.name, "model.safetensors",
        f"'{k_dt}' declared I32 [64] (a valid container: 4 bytes/element like F32); the model needs a float dtype",
        "KRAIT_ERR_FORMAT (or KRAIT_ERR_UNSUPPORTED)", f"names '{k_dt}' and dtype I32")

    k_sh = "backbone.layers.1.mixer.A_log"
    h7 = json.loads(json.dumps(header))
    assert h7[k_sh]["shape"] == [64, 16]
    h7[k_sh]["shape"] = [16, 64]  # same numel, so the container stays valid
    d = new_dir("wrong_shape")
    (d / "model.safetensors").write_bytes(st_encode(h7, buf))
    add(d.name, "model.safetensors",
        f"'{k_sh}' has shape [16, 64] (same byte count) where config.json implies [64, 16] (E=64, N=16)",
        "KRAIT_ERR_FORMAT", f"`tensor '{k_sh}' has shape [16, 64], expected [64, 16]`")

    k_miss = "backbone.layers.1.mixer.dt_proj.bias"
    h8, b8 = st_pack([e for e in entries if e[0] != k_miss], meta)
    d = new_dir("missing_tensor")
    (d / "model.safetensors").write_bytes(st_encode(h8, b8))
    add(d.name, "model.safetensors", f"'{k_miss}' removed (entry and bytes; the rest repacked, a valid file)",
        "KRAIT_ERR_FORMAT", f"names the missing tensor '{k_miss}'")

    # -- config.json defects (weights are case-1's valid model.safetensors) --
    cfg = json.loads(src_cfg)

    def cfg_dir(name, text: bytes | None):
        dd = new_dir(name, text)
        shutil.copyfile(src_st, dd / "model.safetensors")
        return dd

    c = dict(cfg, model_type="mamba3")
    d = cfg_dir("config_unknown_model_type", (json.dumps(c, indent=2) + "\n").encode())
    add(d.name, "config.json", 'model_type "mamba3" (otherwise case 1\'s config)',
        "KRAIT_ERR_UNSUPPORTED", "names model_type 'mamba3'")

    text = json.dumps(cfg, indent=2).encode()
    cut = text.index(b'"num_hidden_layers"') + len(b'"num_hidden_layers": ')
    d = cfg_dir("config_malformed", text[:cut])
    add(d.name, "config.json", f"case 1's config.json cut after `\"num_hidden_layers\": ` ({cut} bytes): not JSON",
        "KRAIT_ERR_FORMAT", "says config.json is not valid JSON")

    c = dict(cfg, hidden_size=0)
    d = cfg_dir("config_hidden_size_zero", (json.dumps(c, indent=2) + "\n").encode())
    add(d.name, "config.json", "hidden_size 0 (intermediate_size left at 64)",
        "KRAIT_ERR_FORMAT", "names hidden_size and the value 0")

    c = dict(cfg, num_hidden_layers=-2)
    d = cfg_dir("config_negative_layers", (json.dumps(c, indent=2) + "\n").encode())
    add(d.name, "config.json", "num_hidden_layers -2",
        "KRAIT_ERR_FORMAT", "names num_hidden_layers and the value -2")

    d = cfg_dir("config_missing", None)
    add(d.name, "(directory)", "no config.json (model.safetensors present and valid)",
        "KRAIT_ERR_IO", "says config.json is missing")

    # -- sharded checkpoint whose index names a shard that is not there --
    d = OUT_BAD / "index_missing_shard"
    m = MambaForCausalLM.from_pretrained(case1_dir, dtype=torch.float32)
    m.save_pretrained(d, max_shard_size="40KB")
    gcfg = d / "generation_config.json"
    if gcfg.exists():
        gcfg.unlink()
    shards = sorted(p.name for p in d.glob("model-*.safetensors"))
    assert len(shards) >= 2, shards
    gone = shards[1]
    (d / gone).unlink()
    add(d.name, "model.safetensors.index.json",
        f"case 1 saved with max_shard_size='40KB' ({len(shards)} shards); '{gone}' deleted, the index still "
        "maps tensors to it", "KRAIT_ERR_FORMAT",
        f"`model.safetensors.index.json: names shard '{gone}', which does not exist`")
    return rows


def write_bad_readme(rows: list[dict]) -> None:
    lines = [
        "# Bad-input fixtures (generated)",
        "",
        "Generated by `tools/gen_mamba_fixtures.py` from case `tests/fixtures/mamba/f32_tied` (D=32, E=64, N=16,",
        "K=4, 2 layers, vocab 97, F32) with Python byte manipulation; do not edit by hand, rerun the script.",
        "Each entry is a model directory. Unless the row says otherwise it holds case 1's valid `config.json`",
        "and one defect. Safetensors headers are rewritten as compact JSON padded with spaces to a multiple",
        "of 8; tensor bytes are case 1's.",
        "",
        "`Expected error` is the status the SDK's categories call for (`sdk/core/error.h`: a file present but",
        "malformed, truncated or inconsistent is KRAIT_ERR_FORMAT; a missing file KRAIT_ERR_IO; a valid input",
        "this version does not handle KRAIT_ERR_UNSUPPORTED) and what the message must name. Messages in",
        "backticks are the ones `sdk/io/safetensors.cpp` produces today (prefixed with the file path);",
        "the others are requirements on the model loader. `st_*` rows are container errors: opening",
        "`<dir>/model.safetensors` alone with `SafetensorsFile` must fail. The rest need the model loader.",
        "",
        "| directory | file | what is wrong | expected error |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| `{r['dir']}/` | `{r['file']}` | {r['wrong']} | {r['status']}: {r['message']} |")
    lines.append("")
    (OUT_BAD / "README.md").write_text("\n".join(lines))


# --------------------------------------------------------------------------------------------------
def main() -> int:
    torch.set_num_threads(1)  # bit-reproducible sums, run to run
    torch.use_deterministic_algorithms(True)
    for d in (OUT_MAMBA, OUT_BAD):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)

    manifest = {
        "generator": "tools/gen_mamba_fixtures.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "cases": {},
    }
    for case in CASES:
        manifest["cases"][case["name"]] = gen_case(case)
    (OUT_MAMBA / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    rows = gen_bad(OUT_MAMBA / "f32_tied")
    write_bad_readme(rows)

    def du(p: Path) -> int:
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())

    total_m, total_b = du(OUT_MAMBA), du(OUT_BAD)
    log(f"mamba fixtures: {total_m} bytes; bad fixtures: {total_b} bytes ({len(rows)} cases)")
    assert total_m + total_b < 6_000_000, "fixtures exceed the 6 MB budget"
    return 0


if __name__ == "__main__":
    sys.exit(main())
