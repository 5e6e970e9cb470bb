#!/usr/bin/env python3
"""Krait ViT conformance fixtures: tiny random HF ViTForImageClassification models plus the logits of
transformers' reference implementation, and a set of deliberately broken model directories.

Run:  tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
      .venv/bin/python tools/gen_vit_fixtures.py
Writes (after deleting it first, so every run regenerates everything from scratch):
  tests/fixtures/vit/<case>/       config.json + model.safetensors exactly as save_pretrained writes them,
                                   expected.safetensors: "pixel_values" F32 [B,3,H,W], "logits" F32 [B,num_labels]
  tests/fixtures/vit/manifest.json every case: sizes, input shape, labels (model.config.id2label in order)
  tests/fixtures/vit/bad/<name>/   broken model directories derived from one tiny valid model
  tests/fixtures/vit/bad/README.md name -> what is wrong -> the error Krait must give (generated)

Reference = transformers' ViTForImageClassification on CPU, float32, eager attention, one thread, with
interpolate_pos_encoding=True whenever the input size differs from config.image_size (Krait interpolates
whenever the patch grid differs; transformers only when asked). Every number comes from a model *reloaded
from the written files*. Self-check before anything is accepted: the transformers logits equal an
independent float64 NumPy implementation (patch conv, torch-style bicubic interpolation of the position
grid with A = -0.75 and align_corners=False, pre-LN blocks, final LN, classifier on CLS) that reads the
written safetensors itself, to NUMPY_TOL.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
import transformers  # noqa: E402
from transformers import ViTConfig, ViTForImageClassification  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "vit"
NUMPY_TOL = 2e-5  # transformers float32 vs float64 NumPy, max abs relative to max(1, max |logit|)
MAX_TOTAL_BYTES = 3 * 1024 * 1024

ANIMALS = ["cat", "dog", "heron", "newt", "otter", "lynx", "wren", "ibex", "koi", "yak", "mole", "tapir", "gecko"]

# name, config overrides, dtype of the saved weights, input (batch, height, width)
CASES = [
    # default input size, qkv bias, even depth, named labels
    dict(name="f32_base", cfg=dict(image_size=8, patch_size=2, hidden_size=16, num_hidden_layers=2,
                                   num_attention_heads=2, intermediate_size=24, qkv_bias=True, num_labels=5),
         dtype="float32", input=(2, 8, 8)),
    # odd depth, no qkv bias, non-square larger input (grid 3x3 -> 4x2), 3 heads of 4
    dict(name="f32_nonsquare_up", cfg=dict(image_size=12, patch_size=4, hidden_size=12, num_hidden_layers=3,
                                           num_attention_heads=3, intermediate_size=20, qkv_bias=False,
                                           num_labels=7),
         dtype="float32", input=(3, 16, 8)),
    # patch 3, grid 3x3 -> 5x4, 4 layers, eps 1e-6
    dict(name="f32_patch3_deep", cfg=dict(image_size=9, patch_size=3, hidden_size=24, num_hidden_layers=4,
                                          num_attention_heads=4, intermediate_size=40, qkv_bias=True,
                                          num_labels=3, layer_norm_eps=1e-6),
         dtype="float32", input=(2, 15, 12)),
    # smaller input than trained: grid 4x4 -> 2x3 (bicubic downsampling), one head, one layer
    dict(name="f32_downsize", cfg=dict(image_size=16, patch_size=4, hidden_size=8, num_hidden_layers=1,
                                       num_attention_heads=1, intermediate_size=16, qkv_bias=True, num_labels=9),
         dtype="float32", input=(2, 8, 12)),
    # same number of patches as trained (16) but not square: transformers still interpolates 4x4 -> 8x2
    dict(name="f32_same_count", cfg=dict(image_size=8, patch_size=2, hidden_size=16, num_hidden_layers=1,
                                         num_attention_heads=4, intermediate_size=32, qkv_bias=False,
                                         num_labels=1),
         dtype="float32", input=(4, 16, 4)),
    # wider: head_dim 8, 6 heads, grid 4x4 -> 5x7, tanh GELU
    dict(name="f32_wide_gelu_tanh", cfg=dict(image_size=16, patch_size=4, hidden_size=48, num_hidden_layers=2,
                                             num_attention_heads=6, intermediate_size=96, qkv_bias=True,
                                             num_labels=11, hidden_act="gelu_new"),
         dtype="float32", input=(2, 20, 28)),
    # half-precision weights (converted to F32 at load; reference computes in F32 from the same rounded values)
    dict(name="f16", cfg=dict(image_size=8, patch_size=2, hidden_size=16, num_hidden_layers=2,
                              num_attention_heads=4, intermediate_size=24, qkv_bias=True, num_labels=5),
         dtype="float16", input=(2, 10, 6)),
    dict(name="bf16", cfg=dict(image_size=8, patch_size=2, hidden_size=16, num_hidden_layers=3,
                               num_attention_heads=2, intermediate_size=24, qkv_bias=False, num_labels=3),
         dtype="bfloat16", input=(3, 8, 8)),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr)


def make_config(case: dict) -> ViTConfig:
    kw = dict(case["cfg"])
    n = kw["num_labels"]
    kw["id2label"] = {i: f"{ANIMALS[i % len(ANIMALS)]}_{i}" for i in range(n)}
    kw["label2id"] = {v: k for k, v in kw["id2label"].items()}
    kw.setdefault("hidden_act", "gelu")
    return ViTConfig(**kw)


def randomize(model: ViTForImageClassification, gen: torch.Generator) -> None:
    """Realistic-range random weights: nothing near zero or identity, so every tensor matters.
    Linear/conv weights N(0, (1.0/sqrt(fan_in))^2), biases N(0, 0.1^2), LayerNorm weight 1 + N(0, 0.2^2),
    CLS and position embeddings N(0, 0.5^2)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("cls_token") or name.endswith("position_embeddings"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            elif "layernorm" in name or "norm" in name.split(".")[-2]:
                if name.endswith("weight"):
                    p.copy_(1.0 + torch.randn(p.shape, generator=gen) * 0.2)
                else:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))


def load_ref(model_dir: Path) -> ViTForImageClassification:
    m = ViTForImageClassification.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    return m.eval()


# ---------------------------------------------------------------- independent float64 NumPy reference
def cubic_weights(t: float, A: float = -0.75) -> list[float]:
    def c1(x):  # |x| <= 1
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def c2(x):  # 1 < |x| < 2
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    return [c2(t + 1), c1(t), c1(1 - t), c2(2 - t)]


def bicubic_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] interpolation matrix of torch's bicubic, align_corners=False, size given (scale = in/out),
    border taps clamped to the edge."""
    M = np.zeros((n_out, n_in))
    scale = n_in / n_out
    for i in range(n_out):
        src = scale * (i + 0.5) - 0.5
        i0 = min(math.floor(src), n_in - 1)
        t = min(max(src - i0, 0.0), 1.0)
        for j, w in enumerate(cubic_weights(t)):
            M[i, min(max(i0 + j - 1, 0), n_in - 1)] += w
    return M


def numpy_vit(model_dir: Path, cfg: ViTConfig, x: np.ndarray) -> np.ndarray:
    # safetensors' own reader (not transformers' loading code); torch only to decode bf16
    W = {k: v.to(torch.float64).numpy() for k, v in load_file(str(model_dir / "model.safetensors")).items()}
    B, C, H, Wd = x.shape
    p, D, nh = cfg.patch_size, cfg.hidden_size, cfg.num_attention_heads
    gh, gw, g0 = H // p, Wd // p, cfg.image_size // p
    x = x.astype(np.float64)
    # patch conv as a matmul over (c, kh, kw) patches
    patches = x.reshape(B, C, gh, p, gw, p).transpose(0, 2, 4, 1, 3, 5).reshape(B, gh * gw, C * p * p)
    pw = W["vit.embeddings.patch_embeddings.projection.weight"].reshape(D, -1)
    tok = patches @ pw.T + W["vit.embeddings.patch_embeddings.projection.bias"]
    pos = W["vit.embeddings.position_embeddings"].reshape(1 + g0 * g0, D)
    grid = pos[1:].reshape(g0, g0, D)
    if (gh, gw) != (g0, g0):
        grid = np.einsum("ya,xb,abd->yxd", bicubic_matrix(g0, gh), bicubic_matrix(g0, gw), grid)
    cls = W["vit.embeddings.cls_token"].reshape(1, 1, D)
    h = np.concatenate([np.broadcast_to(cls, (B, 1, D)), tok], axis=1)
    h = h + np.concatenate([pos[:1], grid.reshape(gh * gw, D)], axis=0)

    def ln(v, name):
        mu = v.mean(-1, keepdims=True)
        var = ((v - mu) ** 2).mean(-1, keepdims=True)
        return (v - mu) / np.sqrt(var + cfg.layer_norm_eps) * W[name + ".weight"] + W[name + ".bias"]

    def lin(v, name, bias=True):
        out = v @ W[name + ".weight"].T
        return out + W[name + ".bias"] if bias else out

    erf = np.vectorize(math.erf)

    def act(v):
        if cfg.hidden_act == "gelu":
            return 0.5 * v * (1 + erf(v / math.sqrt(2)))
        assert cfg.hidden_act == "gelu_new"
        return 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))

    T, hd = h.shape[1], D // nh
    for i in range(cfg.num_hidden_layers):
        pre = f"vit.encoder.layer.{i}."
        a = ln(h, pre + "layernorm_before")
        q, k, v = (lin(a, pre + "attention.attention." + n, cfg.qkv_bias).reshape(B, T, nh, hd).transpose(0, 2, 1, 3)
                   for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = (s @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
        h = h + lin(o, pre + "attention.output.dense")
        m = act(lin(ln(h, pre + "layernorm_after"), pre + "intermediate.dense"))
        h = h + lin(m, pre + "output.dense")
    h = ln(h, "vit.layernorm")
    return lin(h[:, 0], "classifier")


# ---------------------------------------------------------------- cases
def make_case(case: dict, seed: int) -> dict:
    d = OUT / case["name"]
    gen = torch.Generator().manual_seed(seed)
    cfg = make_config(case)
    model = ViTForImageClassification(cfg).eval()
    randomize(model, gen)
    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[case["dtype"]]
    model.to(dtype).save_pretrained(d)
    for extra in d.iterdir():  # keep only what a Krait model dir needs
        if extra.name not in ("config.json", "model.safetensors"):
            extra.unlink()

    ref = load_ref(d)
    B, H, Wd = case["input"]
    x = torch.randn((B, 3, H, Wd), generator=gen)
    interp = (H, Wd) != (cfg.image_size, cfg.image_size)
    with torch.no_grad():
        logits = ref(pixel_values=x, interpolate_pos_encoding=interp).logits.float()
    want = numpy_vit(d, cfg, x.numpy())
    scale = max(1.0, float(np.abs(want).max()))
    err = float(np.abs(logits.numpy() - want).max())
    assert err <= NUMPY_TOL * scale, f"{case['name']}: transformers vs NumPy {err} > {NUMPY_TOL * scale}"
    # Logits spread: a test comparing them cannot pass by accident on constant outputs.
    assert float(logits.max() - logits.min()) > 0.1, f"{case['name']}: logits nearly constant"
    # No __metadata__ (its key order varies between runs); versions are in manifest.json.
    save_file({"pixel_values": x.contiguous(), "logits": logits.contiguous()}, str(d / "expected.safetensors"))
    log(f"{case['name']}: logits {tuple(logits.shape)}, max |logit| {scale:.3f}, numpy diff {err:.2e}")
    return {
        "name": case["name"], "dtype": case["dtype"], "input": [B, 3, H, Wd],
        "image_size": cfg.image_size, "patch_size": cfg.patch_size, "hidden_size": cfg.hidden_size,
        "num_hidden_layers": cfg.num_hidden_layers, "num_attention_heads": cfg.num_attention_heads,
        "intermediate_size": cfg.intermediate_size, "qkv_bias": cfg.qkv_bias, "hidden_act": cfg.hidden_act,
        "layer_norm_eps": cfg.layer_norm_eps, "num_labels": cfg.num_labels,
        "labels": [ref.config.id2label[i] for i in range(cfg.num_labels)],
        "interpolate_pos_encoding": interp,
        "num_parameters": sum(p.numel() for p in ref.parameters()),
    }


# ---------------------------------------------------------------- broken model directories
def make_bad() -> list[dict]:
    """Each entry: name, what is wrong, status Krait must return, a substring its message must contain."""
    bad = OUT / "bad"
    base = bad / "_base"
    gen = torch.Generator().manual_seed(99)
    cfg = make_config(dict(cfg=dict(image_size=4, patch_size=2, hidden_size=8, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=8, qkv_bias=True, num_labels=3)))
    model = ViTForImageClassification(cfg)
    randomize(model, gen)
    model.save_pretrained(base)
    weights = load_file(str(base / "model.safetensors"))
    config = json.loads((base / "config.json").read_text())
    shutil.rmtree(base)

    entries = []

    def add(name, what, status, message, config_edit=None, weights_edit=None):
        d = bad / name
        d.mkdir(parents=True)
        c = json.loads(json.dumps(config))
        w = dict(weights)
        if config_edit:
            config_edit(c)
        if weights_edit:
            weights_edit(w)
        (d / "config.json").write_text(json.dumps(c, indent=2) + "\n")
        save_file({k: v.contiguous() for k, v in w.items()}, str(d / "model.safetensors"))
        entries.append(dict(name=name, what=what, status=status, message=message))

    def set_(key, value):
        return lambda c: c.__setitem__(key, value)

    add("wrong_shape_position_embeddings", "position_embeddings [1,7,8] instead of [1,5,8]", "KRAIT_ERR_FORMAT",
        "vit.embeddings.position_embeddings",
        weights_edit=lambda w: w.__setitem__("vit.embeddings.position_embeddings", torch.zeros(1, 7, 8)))
    add("wrong_shape_classifier", "classifier.weight has 4 rows but id2label 3 labels", "KRAIT_ERR_FORMAT",
        "classifier.weight",
        weights_edit=lambda w: w.__setitem__("classifier.weight", torch.zeros(4, 8)))
    add("missing_tensor", "vit.encoder.layer.1.attention.attention.value.weight removed", "KRAIT_ERR_FORMAT",
        "vit.encoder.layer.1.attention.attention.value.weight",
        weights_edit=lambda w: w.pop("vit.encoder.layer.1.attention.attention.value.weight"))
    add("missing_qkv_bias", "qkv_bias true but query.bias of layer 0 absent", "KRAIT_ERR_FORMAT",
        "vit.encoder.layer.0.attention.attention.query.bias",
        weights_edit=lambda w: w.pop("vit.encoder.layer.0.attention.attention.query.bias"))
    add("heads_not_dividing", "num_attention_heads 3 does not divide hidden_size 8", "KRAIT_ERR_FORMAT",
        "num_attention_heads", config_edit=set_("num_attention_heads", 3))
    add("patch_size_zero", "patch_size 0", "KRAIT_ERR_FORMAT", "patch_size", config_edit=set_("patch_size", 0))
    add("image_not_multiple_of_patch", "image_size 5 with patch_size 2", "KRAIT_ERR_FORMAT", "image_size",
        config_edit=set_("image_size", 5))
    add("num_channels_one", "num_channels 1 (Krait takes RGB)", "KRAIT_ERR_FORMAT", "num_channels",
        config_edit=set_("num_channels", 1))
    add("hidden_size_negative", "hidden_size -8", "KRAIT_ERR_FORMAT", "hidden_size",
        config_edit=set_("hidden_size", -8))
    add("layers_not_integer", "num_hidden_layers \"two\"", "KRAIT_ERR_FORMAT", "num_hidden_layers",
        config_edit=set_("num_hidden_layers", "two"))
    add("eps_zero", "layer_norm_eps 0", "KRAIT_ERR_FORMAT", "layer_norm_eps", config_edit=set_("layer_norm_eps", 0))
    add("unknown_activation", "hidden_act \"swoosh\"", "KRAIT_ERR_UNSUPPORTED", "hidden_act",
        config_edit=set_("hidden_act", "swoosh"))
    add("id2label_gap", "id2label keys 0, 1, 5", "KRAIT_ERR_FORMAT", "id2label",
        config_edit=set_("id2label", {"0": "a", "1": "b", "5": "c"}))
    add("num_labels_mismatch", "num_labels 4 but id2label has 3 entries", "KRAIT_ERR_FORMAT", "num_labels",
        config_edit=set_("num_labels", 4))
    add("label2id_out_of_range", "label2id maps a label to 7 with 3 labels", "KRAIT_ERR_FORMAT", "label2id",
        config_edit=set_("label2id", {"LABEL_0": 0, "LABEL_1": 7, "LABEL_2": 2}))

    rows = ["# Broken ViT model directories (generated by tools/gen_vit_fixtures.py; do not edit)", "",
            "Each is a 2-layer hidden-8 ViT (image 4, patch 2) with one thing wrong. Loading it must fail",
            "with the status below and a message containing the quoted text.", "",
            "| dir | what is wrong | status | message contains |", "|---|---|---|---|"]
    rows += [f"| `{e['name']}` | {e['what']} | {e['status']} | `{e['message']}` |" for e in entries]
    (bad / "README.md").write_text("\n".join(rows) + "\n")
    return entries


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    cases = [make_case(c, 1000 + i) for i, c in enumerate(CASES)]
    bad = make_bad()
    manifest = {"generator": "tools/gen_vit_fixtures.py", "transformers": transformers.__version__,
                "torch": torch.__version__, "tolerance": "logits within 1e-5 * max(1, max |ref|)",
                "cases": cases, "bad": bad}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    rows = ["# ViT conformance fixtures (generated by tools/gen_vit_fixtures.py; do not edit)", "",
            f"transformers {transformers.__version__}, torch {torch.__version__}. Each case directory is a",
            "ViTForImageClassification.save_pretrained output (config.json, model.safetensors) plus",
            "expected.safetensors: `pixel_values` F32 [B,3,H,W] and the reference `logits` F32 [B,num_labels]",
            "(interpolate_pos_encoding=True when H x W differs from image_size). Krait must match to",
            "1e-5 * max(1, max |logit|). Broken directories: bad/README.md.", "",
            "| case | weights | layers | hidden | heads | mlp | patch | image | qkv bias | act | labels | input |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows += [f"| `{c['name']}` | {c['dtype']} | {c['num_hidden_layers']} | {c['hidden_size']} | "
             f"{c['num_attention_heads']} | {c['intermediate_size']} | {c['patch_size']} | {c['image_size']} | "
             f"{c['qkv_bias']} | {c['hidden_act']} | {c['num_labels']} | {'x'.join(map(str, c['input']))} |"
             for c in cases]
    (OUT / "README.md").write_text("\n".join(rows) + "\n")
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    log(f"total {total} bytes in {OUT}")
    assert total < MAX_TOTAL_BYTES, f"fixtures too large: {total} bytes"


if __name__ == "__main__":
    main()
