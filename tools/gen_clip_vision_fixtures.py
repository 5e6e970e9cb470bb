#!/usr/bin/env python3
"""Krait CLIP / SigLIP vision-tower fixtures: tiny random transformers CLIPVisionModel and SiglipVisionModel
checkpoints with the reference hidden states, and the CLIP / SigLIP image processors' outputs.

Run:  tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
      .venv/bin/python tools/gen_clip_vision_fixtures.py
Writes (after deleting it first, so every run regenerates everything from scratch):
  tests/fixtures/clip_vision/<case>/   config.json + model.safetensors as save_pretrained writes them
                                       (clip_bf16_llava: renamed under a LLaVA prefix, see below),
                                       expected.safetensors: "pixel_values" F32 [B,3,H,W],
                                       "hidden_states" F32 [L+1, B, T, D] (transformers' output_hidden_states:
                                       0 = embeddings (after pre_layrnorm for CLIP), i = output of layer i),
                                       "post_layernorm" F32 [B, T, D]: post_layernorm(hidden_states[-1]) on every token
                                       (SigLIP's last_hidden_state; for CLIP, whose last_hidden_state is the
                                       un-normed encoder output, row 0 is pooler_output)
  tests/fixtures/clip_vision/manifest.json   every case: sizes, prefix, dtype
  tests/fixtures/clip_vision/preprocess/<case>/preprocessor_config.json and
  tests/fixtures/clip_vision/preprocess/expected.safetensors  F32 [3,H,W] "<case>/<sample>":
                                       CLIPImageProcessorPil / SiglipImageProcessorPil outputs (the PIL
                                       backends; transformers 5's default classes use torchvision)

Reference = transformers on CPU in float64 (the model reloaded from the written files, then .double()), eager
attention: the stored values are float64 results rounded to float32, so a comparison measures Krait's own
float32 error. The BF16 case's reference is computed from its bf16-rounded weights (widened to float64).
Self-checks: len(hidden_states) == num_layers + 1;
hidden_states[0] == pre_layrnorm(embeddings(x)) for CLIP, == embeddings(x) for SigLIP;
SigLIP's last_hidden_state == post_layernorm(hidden_states[-1]); CLIP's == hidden_states[-1] and its
pooler_output == post_layernorm(hidden_states[-1])[:, 0].
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
from PIL import Image  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
import transformers  # noqa: E402
from transformers import CLIPVisionConfig, CLIPVisionModel, SiglipVisionConfig, SiglipVisionModel  # noqa: E402
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil  # noqa: E402
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "clip_vision"
SAMPLES = ROOT / "tests" / "fixtures" / "images" / "samples"
MAX_TOTAL_BYTES = 1024 * 1024
LLAVA_PREFIX = "model.vision_tower.vision_model."

# Odd sizes everywhere: image 30, patch 6 (grid 5x5), hidden 40, 5 heads of 8, 3 layers, mlp 72.
SIZES = dict(image_size=30, patch_size=6, hidden_size=40, num_attention_heads=5, num_hidden_layers=3,
             intermediate_size=72, num_channels=3)

CASES = [
    dict(name="clip_f32", kind="clip", cfg=dict(hidden_act="quick_gelu", layer_norm_eps=1e-5), dtype="float32",
         prefix="vision_model."),
    # as transformers 5 saves it: no prefix
    dict(name="siglip_f32", kind="siglip", cfg=dict(hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6),
         dtype="float32", prefix=""),
    # BF16 weights saved as a LLaVA checkpoint holds them: under model.vision_tower.vision_model., next to
    # tensors of other modules (an LM embedding, a projector), config.json a llava config with vision_config.
    dict(name="clip_bf16_llava", kind="clip", cfg=dict(hidden_act="quick_gelu", layer_norm_eps=1e-5),
         dtype="bfloat16", prefix=LLAVA_PREFIX),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr)


def randomize(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Realistic-range random weights: nothing near zero or identity, so every tensor matters.
    Linear/conv weights N(0, 1/fan_in), biases N(0, 0.1^2), LayerNorm weight 1 + N(0, 0.2^2), bias N(0, 0.1^2),
    class and position embeddings N(0, 0.5^2). The SigLIP pooling head is randomised too (Krait must skip it)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.split(".")
            if name.endswith("class_embedding") or "position_embedding" in name or name.endswith("probe"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            elif any("norm" in part for part in leaf[-2:-1]):
                if name.endswith("weight"):
                    p.copy_(1.0 + torch.randn(p.shape, generator=gen) * 0.2)
                else:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))


def reference(model_cls, d: Path, kind: str, x: torch.Tensor, weights: dict | None = None):
    """float64 transformers outputs of the model saved in d (or, for the LLaVA layout, a fresh model
    loaded strictly from `weights`)."""
    if weights is None:
        m = model_cls.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    else:
        cfg = (CLIPVisionConfig if kind == "clip" else SiglipVisionConfig)(**SIZES_CFG[kind])
        cfg._attn_implementation = "eager"
        m = model_cls(cfg)
        m.load_state_dict({k: v.float() for k, v in weights.items()}, strict=True)  # no prefix: module names
    m = m.eval().double()
    xd = x.double()
    with torch.no_grad():
        out = m(pixel_values=xd, output_hidden_states=True)
        hs = out.hidden_states
        vm = getattr(m, "vision_model", m)  # transformers 5 dropped the vision_model submodule of CLIPVisionModel
        assert len(hs) == m.config.num_hidden_layers + 1, len(hs)
        emb = vm.embeddings(xd)
        first = vm.pre_layrnorm(emb) if kind == "clip" else emb
        assert torch.equal(hs[0], first), "hidden_states[0] is not what the fixture claims"
        post = vm.post_layernorm(hs[-1])
        if kind == "clip":
            # CLIP's last_hidden_state is the encoder output as is; post_layernorm only makes pooler_output (CLS).
            assert torch.equal(out.last_hidden_state, hs[-1])
            assert torch.allclose(out.pooler_output, post[:, 0], atol=1e-12, rtol=0)
        else:
            assert torch.allclose(out.last_hidden_state, post, atol=1e-12, rtol=0)
    stack = torch.stack(hs).float().contiguous()
    last = post.float().contiguous()
    # Every layer changes the state: a test reading the wrong index cannot pass.
    for i in range(1, stack.shape[0]):
        assert float((stack[i] - stack[i - 1]).abs().max()) > 0.1
    return stack, last


SIZES_CFG = {}


def make_case(case: dict, seed: int) -> dict:
    d = OUT / case["name"]
    gen = torch.Generator().manual_seed(seed)
    kind = case["kind"]
    kw = dict(SIZES, **case["cfg"])
    SIZES_CFG[kind] = kw
    cfg_cls, model_cls = (CLIPVisionConfig, CLIPVisionModel) if kind == "clip" else (SiglipVisionConfig,
                                                                                      SiglipVisionModel)
    model = model_cls(cfg_cls(**kw)).eval()
    randomize(model, gen)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[case["dtype"]]
    model.to(dtype).save_pretrained(d)
    for extra in d.iterdir():  # keep only what a Krait model dir needs
        if extra.name not in ("config.json", "model.safetensors"):
            extra.unlink()

    B = 2
    x = torch.randn((B, 3, kw["image_size"], kw["image_size"]), generator=gen)
    # transformers 5 saves CLIPVisionModel without the "vision_model." prefix that checkpoints on the Hub have
    # (and that it converts on load); lay each case out under its own prefix.
    saved = load_file(str(d / "model.safetensors"))
    base = {k[len("vision_model."):] if k.startswith("vision_model.") else k: v for k, v in saved.items()}
    weights = None
    if case["prefix"] == LLAVA_PREFIX:
        # A LLaVA checkpoint's layout: the vision tower under the prefix, other modules' tensors beside it.
        weights = base
        renamed = {case["prefix"] + k: v for k, v in base.items()}
        renamed["model.multi_modal_projector.linear_1.weight"] = torch.randn((16, kw["hidden_size"]),
                                                                             generator=gen).to(dtype)
        renamed["model.language_model.embed_tokens.weight"] = torch.randn((8, 16), generator=gen).to(dtype)
        save_file({k: v.contiguous() for k, v in sorted(renamed.items())}, str(d / "model.safetensors"))
        vision_config = json.loads((d / "config.json").read_text())
        llava = {"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava",
                 "vision_feature_layer": -2, "vision_feature_select_strategy": "default",
                 "vision_config": {k: v for k, v in vision_config.items() if k not in ("architectures", "dtype")}}
        (d / "config.json").write_text(json.dumps(llava, indent=2) + "\n")
    else:
        renamed = {case["prefix"] + k: v for k, v in base.items()}
        save_file({k: v.contiguous() for k, v in sorted(renamed.items())}, str(d / "model.safetensors"))
    stack, last = reference(model_cls, d, kind, x, weights)
    save_file({"pixel_values": x.contiguous(), "hidden_states": stack, "post_layernorm": last},
              str(d / "expected.safetensors"))
    log(f"{case['name']}: hidden_states {tuple(stack.shape)}, max |h| {float(stack.abs().max()):.3f}")
    T = (kw["image_size"] // kw["patch_size"]) ** 2 + (1 if kind == "clip" else 0)
    return {"name": case["name"], "kind": kind, "dtype": case["dtype"], "prefix": case["prefix"],
            "input": [B, 3, kw["image_size"], kw["image_size"]], "num_tokens": T, **kw}


def make_preprocess() -> dict:
    pdir = OUT / "preprocess"
    samples = ["photo_300x199.png", "rgb_37x53.png"]
    clip_mean, clip_std = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
    cases = {
        # name: (processor class, preprocessor_config.json, model side)
        # OpenAI style: integer size = shortest edge for CLIP (default_to_square=False), integer crop = square
        "clip_openai": (CLIPImageProcessorPil, {"crop_size": 30, "do_center_crop": True, "do_normalize": True,
                                                "do_resize": True, "feature_extractor_type": "CLIPFeatureExtractor",
                                                "image_mean": clip_mean, "image_std": clip_std, "resample": 3,
                                                "size": 30}, 30),
        # only sizes given: the class defaults (bicubic, center crop, OpenAI mean/std) apply
        "clip_defaults": (CLIPImageProcessorPil, {"image_processor_type": "CLIPImageProcessor",
                                                  "size": {"shortest_edge": 32},
                                                  "crop_size": {"height": 30, "width": 30}}, 30),
        # SigLIP as published: square resize, no crop, mean/std 0.5
        "siglip_full": (SiglipImageProcessorPil, {"do_normalize": True, "do_rescale": True, "do_resize": True,
                                                  "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
                                                  "image_processor_type": "SiglipImageProcessor",
                                                  "processor_class": "SiglipProcessor", "resample": 3,
                                                  "rescale_factor": 0.00392156862745098,
                                                  "size": {"height": 30, "width": 30}}, 30),
        # only the size: SigLIP's class defaults (bicubic, mean/std 0.5)
        "siglip_defaults": (SiglipImageProcessorPil, {"image_processor_type": "SiglipImageProcessor",
                                                      "size": {"height": 30, "width": 30}}, 30),
    }
    expected, manifest = {}, []
    for name, (cls, cfg, side) in cases.items():
        d = pdir / name
        d.mkdir(parents=True)
        (d / "preprocessor_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        proc = cls.from_pretrained(d)
        for s in samples:
            with Image.open(SAMPLES / s) as im:
                rgb = im.convert("RGB")
            out = proc(images=rgb, return_tensors="np")["pixel_values"][0]
            assert out.shape == (3, side, side), out.shape
            expected[f"{name}/{s}"] = np.ascontiguousarray(out.astype(np.float32))
        manifest.append({"name": name, "reference": f"transformers {cls.__name__}", "model_h": side,
                         "model_w": side, "samples": samples})
    save_file({k: torch.from_numpy(v) for k, v in expected.items()}, str(pdir / "expected.safetensors"))
    return {"cases": manifest}


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    cases = [make_case(c, 2000 + i) for i, c in enumerate(CASES)]
    pre = make_preprocess()
    manifest = {"generator": "tools/gen_clip_vision_fixtures.py", "transformers": transformers.__version__,
                "torch": torch.__version__,
                "tolerance": "every hidden state within 1e-5 * max(1, max |ref|) (reference in float64)",
                "cases": cases, "preprocess": pre}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    rows = ["# CLIP / SigLIP vision-tower fixtures (generated by tools/gen_clip_vision_fixtures.py; do not edit)", "",
            f"transformers {transformers.__version__}, torch {torch.__version__}. Each case directory holds",
            "config.json + model.safetensors and expected.safetensors: `pixel_values` F32 [B,3,H,W],",
            "`hidden_states` F32 [L+1,B,T,D] (output_hidden_states: 0 = embeddings, after pre_layrnorm for CLIP;",
            "i = output of layer i) and `post_layernorm` F32 [B,T,D] (post_layernorm of the last state, every token;",
            "SigLIP's last_hidden_state, CLIP's pooler_output in row 0), computed by",
            "transformers in float64. `clip_bf16_llava` is laid out as in a LLaVA checkpoint (prefix",
            f"`{LLAVA_PREFIX}`, other modules' tensors beside it, config.json a llava config with vision_config).",
            "`preprocess/`: CLIPImageProcessorPil / SiglipImageProcessorPil outputs for two sample images.", "",
            "| case | kind | weights | prefix | act | eps | image | patch | hidden | heads | layers | mlp | tokens |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows += [f"| `{c['name']}` | {c['kind']} | {c['dtype']} | `{c['prefix']}` | {c['hidden_act']} | "
             f"{c['layer_norm_eps']} | {c['image_size']} | {c['patch_size']} | {c['hidden_size']} | "
             f"{c['num_attention_heads']} | {c['num_hidden_layers']} | {c['intermediate_size']} | "
             f"{c['num_tokens']} |" for c in cases]
    (OUT / "README.md").write_text("\n".join(rows) + "\n")
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    log(f"total {total} bytes in {OUT}")
    assert total < MAX_TOTAL_BYTES, f"fixtures too large: {total} bytes"


if __name__ == "__main__":
    main()
