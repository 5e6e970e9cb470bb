#!/usr/bin/env python3
"""Krait conformance fixtures for composite assistants (docs/COMPOSITE_ASSISTANTS.md): tiny random image encoders,
projectors and language models joined by a `krait_assistant` config.json, with the outputs of a PyTorch reference of
their own (this script's CompositeReference: the encoder's reference implementation, the projector as nn layers,
the language model as transformers runs it on inputs_embeds).

Run:  tools/setup_tools_env.sh && .venv/bin/python tools/gen_composite_fixtures.py
Writes (deleting what it wrote before; README.md is kept) tests/fixtures/composite/<case>/:
  config.json               the composite config (model_type krait_assistant)
  image_encoder/            a MambaVision classifier (tools/mambavision_ref.py, hub layout), a CLIPVisionModel or
                            a ViTForImageClassification directory as saved
  projector.safetensors     the projector's tensors, named as an nn.Sequential names them ("0.weight", ...)
  language_model/           a MambaForCausalLM or LlamaForCausalLM directory as save_pretrained writes it
  expected.safetensors:
      pixel_values   F32 [3, 3, H, W]    three images (random normal: the encoder's model-ready input)
      features       F32 [3, R, D]       each image's projected rows
      input_ids      I32 [2, L]          batch 2; row 0 holds image 0, row 1 images 1 and 2, where the case's
                                         placement puts them (prefix: first; marker: at the image tokens)
      logits         F32 [2, L, V]       the full forward of both rows
      prompt         I32 [P]             one image (image 0) and text, placed as the case says ...
      greedy         I32 [G]             ... and its greedy continuation (argmax, full recompute each step)
      lora_logits    F32 [2, L, V]       (mambavision_level_mamba, clip_layers_mamba) the logits with <case>/lora/:
                                         a peft LoRA (r=3, alpha 6, random A and B) on the reference module, on
                                         modules of the encoder, the projector and the language model, named as
                                         peft names them there (image_encoder.*, projector.<i>, language_model.*)
  tests/fixtures/composite/mamba_chat/  a chat-ready MambaVision + Mamba assistant (prefix placement) with the
                            llava_chat fixture's tokenizer and a template that writes nothing for image parts;
                            no expected outputs (tests compare Krait with itself: reuse against recompute)
  tests/fixtures/composite/manifest.json   every case: what it covers, rows per image

Cases:
  mambavision_level_mamba   MambaVision, feature_level 2 (the map before level 2's downsample), projector
                            linear-gelu-linear-layer_norm, Mamba LM, prefix placement (Cobra's)
  mambavision_final_llama   MambaVision's output (after the final BatchNorm), one linear without bias, a GQA
                            Llama LM, marker placement
  clip_layers_mamba         a CLIP tower, feature_layer [-2, -1] concatenated, drop_first_token, projector
                            linear-quick_gelu-linear, Mamba LM, marker placement
  vit_llama_prefix          a ViT classifier's last_hidden_state (CLS kept), linear-silu-linear, Llama LM, prefix

Reference: float32 on CPU, eager attention. Self-checks before anything is written: the greedy continuation keeps a
top-1 / top-2 gap >= MIN_GREEDY_MARGIN at every step (the seed is changed otherwise), and the reference reloaded
from the written files gives the same logits.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import (  # noqa: E402
    CLIPVisionConfig,
    CLIPVisionModel,
    LlamaConfig,
    LlamaForCausalLM,
    MambaConfig,
    MambaForCausalLM,
    ViTConfig,
    ViTForImageClassification,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import mambavision_ref  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "composite"
MIN_GREEDY_MARGIN = 2e-3
VOCAB = 160       # the llava_chat fixture's tokenizer has 160 ids ...
IMAGE_TOKEN = 2   # ... and <image> is id 2
TEXT_IDS = (3, VOCAB)

MAMBAVISION = dict(depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4], window_size=[4, 4, 2, 2], dim=8, in_dim=8,
                   mlp_ratio=2, resolution=64, num_classes=3, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25],
                   crop_pct=1.0, crop_mode="center", interpolation="bicubic")
CLIP = dict(image_size=30, patch_size=6, hidden_size=40, intermediate_size=72, num_hidden_layers=3,
            num_attention_heads=5, hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=24)
VIT = dict(image_size=28, patch_size=7, hidden_size=36, intermediate_size=64, num_hidden_layers=2,
           num_attention_heads=3, num_labels=2)
MAMBA = dict(vocab_size=VOCAB, hidden_size=48, state_size=8, conv_kernel=4, expand=2, num_hidden_layers=2,
             tie_word_embeddings=False)
LLAMA = dict(vocab_size=VOCAB, hidden_size=48, intermediate_size=80, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5, tie_word_embeddings=False,
             bos_token_id=0, eos_token_id=1, pad_token_id=None)

# peft LoRA adapters on the whole reference (name -> target_modules), with expected lora_logits.
LORA = {
    "mambavision_level_mamba": r".*(image_encoder\.levels\.2\.blocks\.0\.mixer\.in_proj|projector\.2|"
                               r"language_model\.backbone\.layers\.1\.mixer\.out_proj)",
    "clip_layers_mamba": r".*(image_encoder.*\.q_proj|projector\.0|language_model.*\.in_proj)",
}

# name -> what it covers, encoder kind, encoder options (config.json image_encoder fields), projector layers
# (("linear", in, out, bias) / ("act", name) / ("ln", width)), LM kind, placement
CASES = {
    "mambavision_level_mamba": (
        "MambaVision feature_level 2, projector linear-gelu-linear-layer_norm, Mamba LM, prefix placement",
        "mambavision", {"feature_level": 2}, [("linear", 32, 40, True), ("act", "gelu"), ("linear", 40, 48, True),
                                               ("ln", 48)], "mamba", "prefix"),
    "mambavision_final_llama": (
        "MambaVision output (final BatchNorm), one linear without bias, GQA Llama LM, marker placement",
        "mambavision", {}, [("linear", 64, 48, False)], "llama", "marker"),
    "clip_layers_mamba": (
        "CLIP tower, feature_layer [-2, -1], drop_first_token, linear-quick_gelu-linear, Mamba LM, marker placement",
        "clip", {"feature_layer": [-2, -1], "drop_first_token": True},
        [("linear", 80, 56, True), ("act", "quick_gelu"), ("linear", 56, 48, True)], "mamba", "marker"),
    "vit_llama_prefix": (
        "ViT last_hidden_state (CLS kept), linear-silu-linear, Llama LM, prefix placement",
        "vit", {}, [("linear", 36, 48, True), ("act", "silu"), ("linear", 48, 48, True)], "llama", "prefix"),
}
ACTIVATIONS = {"gelu": lambda: nn.GELU(), "quick_gelu": None, "silu": lambda: nn.SiLU(), "relu": lambda: nn.ReLU()}


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class CompositeReference(nn.Module):
    """The composite assistant in PyTorch, as docs/COMPOSITE_ASSISTANTS.md defines it."""

    # Module names (what peft names adapters by): image_encoder.*, projector.<i>, language_model.*.
    def __init__(self, encoder_kind, encoder, options, projector, lm, placement):
        super().__init__()
        self.encoder_kind, self.image_encoder, self.options = encoder_kind, encoder, options
        self.projector, self.language_model, self.placement = projector, lm, placement

    def features(self, pixels):  # [n, 3, H, W] -> [n, T, F]
        o = self.options
        if self.encoder_kind == "mambavision":
            m = self.image_encoder
            x = m.patch_embed(pixels)
            level = o.get("feature_level")
            if level is None:
                for lv in m.levels:
                    x = lv(x)
                x = m.norm(x)
            else:
                for lv in m.levels[:level]:
                    x = lv(x)
                lv = m.levels[level]
                ds, lv.downsample = lv.downsample, None  # the map after the level's blocks, before its downsample
                try:
                    x = lv(x)
                finally:
                    lv.downsample = ds
            return x.flatten(2).transpose(1, 2)
        if self.encoder_kind == "clip":
            hs = self.image_encoder(pixel_values=pixels, output_hidden_states=True).hidden_states
            layers = o.get("feature_layer", -1)
            layers = layers if isinstance(layers, list) else [layers]
            f = torch.cat([hs[i] for i in layers], dim=-1)
        else:  # vit: last_hidden_state, after the final layernorm
            f = self.image_encoder.vit(pixel_values=pixels).last_hidden_state
        return f[:, 1:] if o.get("drop_first_token") else f

    def image_rows(self, pixels):  # [n, 3, H, W] -> [n, R, D]
        return self.projector(self.features(pixels))

    def logits(self, ids, pixels):
        """ids [B, L] with each image as IMAGE_TOKEN repeated R times; pixels the images in order."""
        emb = self.language_model.get_input_embeddings()(ids.clamp(min=0))
        if pixels is not None and len(pixels):
            rows = self.image_rows(pixels).reshape(-1, emb.shape[-1])
            emb = emb.clone()
            emb[ids == IMAGE_TOKEN] = rows
        return self.language_model(inputs_embeds=emb).logits


def make_projector(layers) -> nn.Sequential:
    mods = []
    for layer in layers:
        if layer[0] == "linear":
            mods.append(nn.Linear(layer[1], layer[2], bias=layer[3]))
        elif layer[0] == "act":
            mods.append(QuickGELU() if layer[1] == "quick_gelu" else ACTIVATIONS[layer[1]]())
        else:
            mods.append(nn.LayerNorm(layer[1], eps=1e-5))
    return nn.Sequential(*mods)


def projector_config(layers, seq: nn.Sequential) -> list:
    out = []
    for i, layer in enumerate(layers):
        if layer[0] == "linear":
            d = {"type": "linear", "weight": f"{i}.weight"}
            if layer[3]:
                d["bias"] = f"{i}.bias"
        elif layer[0] == "act":
            d = {"type": "activation", "function": layer[1]}
        else:
            d = {"type": "layer_norm", "weight": f"{i}.weight", "bias": f"{i}.bias", "eps": 1e-5}
        out.append(d)
    return out


def make_encoder(kind):
    if kind == "mambavision":
        cfg = {k: v for k, v in MAMBAVISION.items()}
        m = mambavision_ref.MambaVision(cfg).eval()
        side = cfg["resolution"]
    elif kind == "clip":
        m = CLIPVisionModel(CLIPVisionConfig(**CLIP)).eval()
        side = CLIP["image_size"]
    else:
        m = ViTForImageClassification(ViTConfig(**VIT)).eval()
        side = VIT["image_size"]
    return m, side


def save_encoder(kind, m, d: Path):
    if kind == "mambavision":
        extra = {k: MAMBAVISION[k] for k in ("mean", "std", "crop_pct", "crop_mode", "interpolation")}
        mambavision_ref.save_hub_layout(m, d, extra_config=extra)
    else:
        m.save_pretrained(d, safe_serialization=True)
        side = CLIP["image_size"] if kind == "clip" else VIT["image_size"]
        proc = {"do_resize": True, "size": {"shortest_edge": side}, "do_center_crop": True,
                "crop_size": {"height": side, "width": side}, "do_rescale": True, "rescale_factor": 1 / 255,
                "do_normalize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711], "do_convert_rgb": True, "resample": 3,
                "image_processor_type": "CLIPImageProcessor"}
        (d / "preprocessor_config.json").write_text(json.dumps(proc, indent=2) + "\n")


def make_lm(kind):
    return (MambaForCausalLM(MambaConfig(**MAMBA)) if kind == "mamba" else
            LlamaForCausalLM(LlamaConfig(**LLAMA))).eval()


def place(images, text, R, placement):
    """Token ids: `images` image runs and the text pieces, as the placement puts them. text: list of tensors, one
    more than images for marker (text, image, text, ...), any for prefix (images first, then all text)."""
    img = torch.full((R,), IMAGE_TOKEN)
    if placement == "prefix":
        return torch.cat([img] * images + text)
    parts = [text[0]]
    for i in range(images):
        parts += [img, text[i + 1]]
    return torch.cat(parts)


def greedy(ref, prompt, pixels, steps=8):
    ids, margin = prompt.clone(), float("inf")
    for _ in range(steps):
        with torch.no_grad():
            logits = ref.logits(ids[None], pixels)[0, -1]
        top = torch.topk(logits, 2).values
        margin = min(margin, float(top[0] - top[1]))
        ids = torch.cat([ids, logits.argmax()[None]])
    return ids[len(prompt):].to(torch.int32), margin


def build(name, spec):
    what, enc_kind, enc_opts, layers, lm_kind, placement = spec
    for seed in range(100):
        torch.manual_seed(2000 + seed)
        encoder, side = make_encoder(enc_kind)
        projector = make_projector(layers).eval()
        lm = make_lm(lm_kind)
        with torch.no_grad():  # larger-than-default weights so that the images move the logits visibly
            for mod in (encoder, projector, lm):
                for p in mod.parameters():
                    if p.dim() >= 2:
                        p.normal_(0.0, 0.1)
            for mod in projector:
                if isinstance(mod, nn.LayerNorm):
                    mod.weight.normal_(1.0, 0.2)
                    mod.bias.normal_(0.0, 0.2)
        ref = CompositeReference(enc_kind, encoder, enc_opts, projector, lm, placement).eval()
        gen = torch.Generator().manual_seed(seed)
        pixels = torch.randn(3, 3, side, side, generator=gen)
        with torch.no_grad():
            feats = ref.image_rows(pixels)
        R = feats.shape[1]
        text = lambda k: torch.randint(*TEXT_IDS, (k,), generator=gen)  # noqa: E731
        row0 = place(1, [text(4), text(9)], R, placement)
        row1 = place(2, [text(2), text(3), text(3)], R, placement)
        L = max(len(row0), len(row1))
        row0 = torch.cat([row0, text(L - len(row0))])
        row1 = torch.cat([row1, text(L - len(row1))])
        ids = torch.stack([row0, row1])
        with torch.no_grad():
            logits = torch.cat([ref.logits(ids[:1], pixels[:1]), ref.logits(ids[1:], pixels[1:])])
        prompt = place(1, [text(3), text(5)], R, placement)
        cont, margin = greedy(ref, prompt, pixels[:1])
        if margin >= MIN_GREEDY_MARGIN:
            break
    else:
        raise SystemExit(f"{name}: no seed gave a greedy margin >= {MIN_GREEDY_MARGIN}")

    d = OUT / name
    save_encoder(enc_kind, encoder, d / "image_encoder")
    lm.save_pretrained(d / "language_model", safe_serialization=True)
    save_file({k: v.contiguous() for k, v in projector.state_dict().items()}, str(d / "projector.safetensors"),
              metadata={"format": "pt"})
    config = {"model_type": "krait_assistant", "format_version": 1,
              "image_encoder": {"path": "image_encoder", **enc_opts},
              "projector": {"weights": "projector.safetensors", "layers": projector_config(layers, projector)},
              "language_model": {"path": "language_model"},
              "image_placement": placement, "image_token_id": IMAGE_TOKEN}
    (d / "config.json").write_text(json.dumps(config, indent=2) + "\n")

    # The reference reloaded from the written files gives the same logits.
    if enc_kind == "mambavision":
        encoder2 = mambavision_ref.load_safetensors_dir(d / "image_encoder")
    elif enc_kind == "clip":
        encoder2 = CLIPVisionModel.from_pretrained(d / "image_encoder").eval()
    else:
        encoder2 = ViTForImageClassification.from_pretrained(d / "image_encoder").eval()
    lm2 = (MambaForCausalLM if lm_kind == "mamba" else LlamaForCausalLM).from_pretrained(d / "language_model").eval()
    projector2 = make_projector(layers).eval()
    from safetensors.torch import load_file
    projector2.load_state_dict(load_file(str(d / "projector.safetensors")))
    ref2 = CompositeReference(enc_kind, encoder2, enc_opts, projector2, lm2, placement).eval()
    with torch.no_grad():
        again = torch.cat([ref2.logits(ids[:1], pixels[:1]), ref2.logits(ids[1:], pixels[1:])])
    assert torch.equal(again, logits), f"{name}: the reloaded reference differs"

    expected = {"pixel_values": pixels.contiguous(), "features": feats.contiguous(),
                "input_ids": ids.to(torch.int32).contiguous(), "logits": logits.contiguous(),
                "prompt": prompt.to(torch.int32).contiguous(), "greedy": cont.contiguous()}
    if name in LORA:
        from peft import LoraConfig, get_peft_model
        torch.manual_seed(11)
        peft_model = get_peft_model(ref2, LoraConfig(r=3, lora_alpha=6, init_lora_weights=False,
                                                     target_modules=LORA[name]))
        inner = peft_model.base_model.model  # the reference with the LoRA layers in place
        with torch.no_grad():
            expected["lora_logits"] = torch.cat([inner.logits(ids[:1], pixels[:1]),
                                                 inner.logits(ids[1:], pixels[1:])]).contiguous()
        peft_model.peft_config["default"].base_model_name_or_path = str(d.relative_to(ROOT))
        peft_model.save_pretrained(d / "lora")
        for f in (d / "lora").iterdir():
            if f.name not in ("adapter_config.json", "adapter_model.safetensors"):
                f.unlink()
    save_file(expected, str(d / "expected.safetensors"), metadata={"format": "pt"})
    print(f"{name}: rows/image {R}, L {L}, greedy margin {margin:.4f}, seed {seed}")
    return {"covers": what, "rows_per_image": int(R), "placement": placement, "seed": 2000 + seed}


def build_chat():
    """mamba_chat: mambavision_level_mamba's parts with a tokenizer and a chat template (no expected outputs)."""
    src, d = OUT / "mambavision_level_mamba", OUT / "mamba_chat"
    shutil.copytree(src, d, ignore=shutil.ignore_patterns("expected.safetensors", "lora"))
    chat = ROOT / "tests" / "fixtures" / "llava" / "llava_chat"
    shutil.copy(chat / "tokenizer.json", d / "language_model" / "tokenizer.json")
    tok_cfg = json.loads((chat / "tokenizer_config.json").read_text())
    tok_cfg["chat_template"] = (
        "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] + '\n' }}"
        "{% else %}{{ message['role'].upper() + ': ' }}{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
        "{% endfor %}{% endif %}{{ '</s>\n' if message['role'] == 'assistant' else '\n' }}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}")
    (d / "language_model" / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2) + "\n")
    return {"covers": "chat-ready mambavision_level_mamba (tokenizer of llava_chat, a template that writes nothing "
                      "for image parts); no expected outputs", "placement": "prefix"}


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if OUT.exists():
        for p in OUT.iterdir():
            if p.name != "README.md":
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {"torch": torch.__version__, "cases": {}}
    for name, spec in CASES.items():
        manifest["cases"][name] = build(name, spec)
    manifest["cases"]["mamba_chat"] = build_chat()
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
