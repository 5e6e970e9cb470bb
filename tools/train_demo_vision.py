#!/usr/bin/env python3
"""Train Krait's demo image classifiers: a tiny HF ViT and a tiny MambaVision on scikit-learn's bundled digits.

Data: `sklearn.datasets.load_digits()` — the test part of the UCI "Optical Recognition of Handwritten Digits" data
set (E. Alpaydin, C. Kaynak, 1998) that ships inside scikit-learn (sklearn/datasets/data/digits.csv.gz): 1797 grey
8x8 images, values 0..16, ten classes. It is bundled with scikit-learn under scikit-learn's BSD 3-Clause licence
(the UCI source is under CC BY 4.0). Nothing is downloaded.

Each image becomes a 32x32 RGB uint8 picture: scale 0..16 to 0..255 (round), upscale with PIL's bilinear resize,
replicate the grey channel to R, G, B. These are exactly the pictures a user would feed Krait (the PNGs under
models/samples/ are such pictures); the model inputs are the models' own preprocessing of them (resize to 32x32 is
the identity, rescale 1/255, normalize with the mean/std in the model's config), so Krait's preprocessing of the
sample PNGs reproduces the training inputs exactly.

Split: stratified, 20% held out (`train_test_split(test_size=0.2, stratify=y, random_state=0)`): 1437 training and
360 held-out images. Training uses light augmentation (random rotation +-10 degrees, scale 0.9-1.1, shift +-2 px,
bilinear resampling of the normalized tensor with background fill); evaluation uses the plain held-out pictures.

    tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
    .venv/bin/python tools/train_demo_vision.py              # both models + samples, defaults reproduce models/
    .venv/bin/python tools/train_demo_vision.py --model vit  # only one of them

Everything runs on CPU with torch.set_num_threads(1) (the development machine is a shared 2-core VM).
Needs torch, transformers, scikit-learn, pillow (and safetensors for MambaVision, through tools/mambavision_ref.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import platform
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMAGE_SIZE = 32
SPLIT_SEED = 0
HOLDOUT_FRACTION = 0.2
SAMPLE_DIGITS = (0, 2, 3, 5, 7, 9)


# ----------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------
def digit_pictures(size: int = IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as uint8 RGB pictures [N, size, size, 3] and their labels [N]."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    grey = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)          # [N, 8, 8], 0..255
    out = np.empty((grey.shape[0], size, size, 3), dtype=np.uint8)
    for i, g in enumerate(grey):
        up = np.asarray(Image.fromarray(g, mode="L").resize((size, size), Image.BILINEAR))
        out[i] = up[:, :, None]                                               # replicate grey to R, G, B
    return out, digits.target.astype(np.int64)


def split_data(size: int = IMAGE_SIZE):
    """(train_pictures, train_labels, heldout_pictures, heldout_labels), deterministic."""
    from sklearn.model_selection import train_test_split

    pics, labels = digit_pictures(size)
    idx = np.arange(len(labels))
    tr, te = train_test_split(idx, test_size=HOLDOUT_FRACTION, stratify=labels, random_state=SPLIT_SEED)
    return pics[tr], labels[tr], pics[te], labels[te]


def pixel_values(pictures: np.ndarray, mean, std) -> torch.Tensor:
    """uint8 [N,H,W,3] -> float32 [N,3,H,W]: rescale 1/255 then (x - mean) / std per channel (the HF order)."""
    x = torch.from_numpy(pictures).permute(0, 3, 1, 2).float() * (1.0 / 255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - m) / s).contiguous()


def augment(x: torch.Tensor, background: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random rotation/scale/shift of normalized images [B,3,H,W]; uncovered pixels take the background value."""
    b, _, h, _ = x.shape
    ang = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(10)
    scale = 1.0 + (torch.rand(b, generator=gen) * 2 - 1) * 0.1
    shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * (2.0 * 2 / h)      # +-2 px in [-1,1] grid units
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # grid_sample fills with zeros: shift so that the background is zero, then shift back.
    bg = background.view(1, 3, 1, 1)
    return F.grid_sample(x - bg, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + bg


# ----------------------------------------------------------------------------------------------------------------
# Training loop shared by both models
# ----------------------------------------------------------------------------------------------------------------
def evaluate(forward, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> tuple[float, float]:
    """(accuracy, mean cross-entropy)."""
    correct, loss = 0, 0.0
    with torch.inference_mode():
        for i in range(0, len(y), batch):
            logits = forward(x[i:i + batch])
            loss += F.cross_entropy(logits, y[i:i + batch], reduction="sum").item()
            correct += (logits.argmax(-1) == y[i:i + batch]).sum().item()
    return correct / len(y), loss / len(y)


def train(model, forward, x_tr, y_tr, x_te, y_te, args, log) -> dict:
    gen = torch.Generator().manual_seed(args.seed)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and "position" not in name and "cls_token" not in name else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.999))
    steps_per_epoch = math.ceil(len(y_tr) / args.batch)
    total = steps_per_epoch * args.epochs
    warmup = min(100, total // 10)
    background = x_tr[:, :, 0, 0].mean(0)          # the corner pixel is background in every digit
    step, t0 = 0, time.time()
    history = []
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(y_tr), generator=gen)
        run_loss = 0.0
        for i in range(0, len(y_tr), args.batch):
            sel = perm[i:i + args.batch]
            xb = x_tr[sel]
            if args.augment:
                xb = augment(xb, background, gen)
            lr = args.lr * (step + 1) / warmup if step < warmup else \
                args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))))
            for g in opt.param_groups:
                g["lr"] = lr
            loss = F.cross_entropy(forward(xb), y_tr[sel], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            run_loss += loss.item() * len(sel)
            step += 1
        if (epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs:
            model.eval()
            acc, te_loss = evaluate(forward, x_te, y_te)
            history.append((epoch + 1, acc))
            log(f"epoch {epoch + 1:4d}  train loss {run_loss / len(y_tr):.4f}  held-out loss {te_loss:.4f}  "
                f"held-out acc {acc * 100:.2f}%  lr {lr:.2e}  {time.time() - t0:.0f}s")
        if args.time_limit_min > 0 and time.time() - t0 > args.time_limit_min * 60:
            log(f"time limit reached after epoch {epoch + 1}")
            break
    model.eval()
    tr_acc, tr_loss = evaluate(forward, x_tr, y_tr)
    te_acc, te_loss = evaluate(forward, x_te, y_te)
    return {"epochs": epoch + 1, "steps": step, "train_seconds": time.time() - t0, "train_acc": tr_acc,
            "train_loss": tr_loss, "heldout_acc": te_acc, "heldout_loss": te_loss,
            "heldout_correct": int(round(te_acc * len(y_te))), "heldout_n": len(y_te), "warmup": warmup}


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def dir_bytes(path: pathlib.Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def software() -> str:
    import sklearn
    import transformers
    import PIL
    return (f"torch {torch.__version__}, transformers {transformers.__version__}, scikit-learn {sklearn.__version__}, "
            f"Pillow {PIL.__version__}, Python {platform.python_version()}")


def data_section(n_tr: int, n_te: int) -> str:
    import sklearn
    return f"""## Data
- scikit-learn's bundled **digits** data set (`sklearn.datasets.load_digits()`, scikit-learn {sklearn.__version__}):
  1797 grey 8x8 handwritten digits (values 0..16), ten classes. It is the test part of the UCI "Optical
  Recognition of Handwritten Digits" data set (E. Alpaydin, C. Kaynak, 1998) and ships inside scikit-learn.
- Licence: distributed with scikit-learn under its **BSD 3-Clause** licence (the UCI original is under
  CC BY 4.0). Only weights trained on it and six upscaled example pictures (`models/samples/`) are stored here.
- Pictures: 0..16 scaled to 0..255 (rounded), upscaled to {IMAGE_SIZE}x{IMAGE_SIZE} with PIL's bilinear resize,
  grey replicated to RGB — exactly like the PNGs in `models/samples/`.
- Split: stratified, {int(HOLDOUT_FRACTION * 100)}% held out
  (`train_test_split(test_size={HOLDOUT_FRACTION}, stratify=y, random_state={SPLIT_SEED})`):
  {n_tr} training and {n_te} held-out images. Augmentation during training only: random rotation +-10 degrees,
  scale 0.9-1.1, shift +-2 px.
"""


def training_section(args, res, model_name: str) -> str:
    return f"""## Training
`tools/train_demo_vision.py --model {model_name}`: AdamW (betas 0.9/0.999, weight decay {args.weight_decay} on
matrices), peak learning rate {args.lr} with {res['warmup']} warm-up steps and cosine decay to 0.02x, batch
{args.batch}, label smoothing 0.05, gradient clipping 1.0, **{res['epochs']} epochs ({res['steps']} steps)**, seed {args.seed}.
Hardware: CPU only, `torch.set_num_threads(1)` on a shared 2-core VM; training took
{res['train_seconds'] / 60:.1f} min. Software: {software()}.

## Accuracy
| split | images | accuracy | cross-entropy |
|---|---|---|---|
| training (no augmentation) | {res['train_n']} | {res['train_acc'] * 100:.2f}% | {res['train_loss']:.4f} |
| **held-out** | {res['heldout_n']} | **{res['heldout_acc'] * 100:.2f}%** ({res['heldout_correct']}/{res['heldout_n']}) | {res['heldout_loss']:.4f} |

Measured with PyTorch on the saved weights reloaded from this directory. `tools/bench_vision.py` measures the same
held-out accuracy through Krait.

## Reproduce
```sh
tools/setup_tools_env.sh        # once: the pinned Python tools env in .venv/
.venv/bin/python tools/train_demo_vision.py --model {model_name}
```
Seeded (data split, initialisation, batches, augmentation): rerunning the script with the software versions above
reproduced these weights bit for bit; other versions (or a changed initialisation in the model code) may give
slightly different weights and accuracy.
"""


# ----------------------------------------------------------------------------------------------------------------
# ViT
# ----------------------------------------------------------------------------------------------------------------
VIT_MEAN = VIT_STD = (0.5, 0.5, 0.5)


def train_vit(args, data, log) -> dict:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    out = pathlib.Path(args.out_vit)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    config = ViTConfig(image_size=IMAGE_SIZE, patch_size=4, num_channels=3, hidden_size=args.vit_hidden,
                       num_hidden_layers=4, num_attention_heads=4, intermediate_size=args.vit_hidden * 4,
                       hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, qkv_bias=True,
                       num_labels=10, id2label={i: str(i) for i in range(10)},
                       label2id={str(i): i for i in range(10)})
    model = ViTForImageClassification(config).float()
    pics_tr, y_tr, pics_te, y_te = data
    x_tr, x_te = pixel_values(pics_tr, VIT_MEAN, VIT_STD), pixel_values(pics_te, VIT_MEAN, VIT_STD)

    # The image processor saved with the model must produce exactly the training inputs.
    proc = ViTImageProcessor(do_resize=True, size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, resample=2,
                             do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                             image_mean=list(VIT_MEAN), image_std=list(VIT_STD))
    check = proc(images=list(pics_te[:8]), return_tensors="pt")["pixel_values"]
    diff = (check - x_te[:8]).abs().max().item()
    log(f"ViTImageProcessor vs training inputs: max |diff| = {diff:.2e}")
    assert diff < 1e-6, diff

    log(f"ViT: {count_params(model):,} parameters")
    res = train(model, lambda x: model(pixel_values=x).logits, x_tr,
                torch.from_numpy(y_tr), x_te, torch.from_numpy(y_te), args, log)
    model.save_pretrained(out, safe_serialization=True)
    proc.save_pretrained(out)

    # Reload from disk and re-measure: the card reports what the saved files give.
    re = ViTForImageClassification.from_pretrained(out).float().eval()
    res["train_acc"], res["train_loss"] = evaluate(lambda x: re(pixel_values=x).logits, x_tr, torch.from_numpy(y_tr))
    res["heldout_acc"], res["heldout_loss"] = evaluate(lambda x: re(pixel_values=x).logits, x_te,
                                                       torch.from_numpy(y_te))
    res["heldout_correct"] = int(round(res["heldout_acc"] * len(y_te)))
    res["train_n"] = len(y_tr)
    res["params"] = count_params(re)
    log(f"ViT reloaded: held-out acc {res['heldout_acc'] * 100:.2f}%")
    write_vit_card(out, config, args, res)
    res["dir_bytes"] = dir_bytes(out)
    return res


def write_vit_card(out: pathlib.Path, config, args, res):
    n_tr, n_te = res["train_n"], res["heldout_n"]
    wbytes = (out / "model.safetensors").stat().st_size
    text = f"""# vit-digits: Krait's demo ViT image classifier

A deliberately tiny Vision Transformer (HF `ViTForImageClassification`, model_type `vit`) that recognises
handwritten digits 0-9 in {IMAGE_SIZE}x{IMAGE_SIZE} pictures. It exists for Krait's demos, samples and end-to-end tests;
it is useless for anything else.

```sh
krait classify -m models/vit-digits models/samples/digit_3.png --top-k 3
```

{data_section(n_tr, n_te)}
## Architecture (`config.json`, `model.safetensors`, `preprocessor_config.json`)
`ViTForImageClassification`: image_size {config.image_size}, patch_size {config.patch_size} ({(config.image_size // config.patch_size) ** 2} patches + CLS = {(config.image_size // config.patch_size) ** 2 + 1} tokens),
hidden_size {config.hidden_size}, {config.num_hidden_layers} layers, {config.num_attention_heads} heads, intermediate_size {config.intermediate_size},
GELU, layer_norm_eps {config.layer_norm_eps}, qkv_bias true, no pooler, num_labels 10, id2label "0".."9".
**{res['params']:,} parameters**, stored fp32: `model.safetensors` is {wbytes:,} bytes.
Preprocessing (`preprocessor_config.json`, `ViTImageProcessor`): resize to {IMAGE_SIZE}x{IMAGE_SIZE} (bilinear), rescale 1/255,
normalize with mean = std = 0.5.

{training_section(args, res, "vit")}"""
    (out / "README.md").write_text(text)


# ----------------------------------------------------------------------------------------------------------------
# MambaVision (through the project's own PyTorch reference, tools/mambavision_ref.py)
# ----------------------------------------------------------------------------------------------------------------
MV_MEAN = (0.485, 0.456, 0.406)
MV_STD = (0.229, 0.224, 0.225)


def train_mambavision(args, data, log) -> dict:
    sys.path.insert(0, str(ROOT / "tools"))
    import mambavision_ref as ref  # noqa: E402  (the project's reference; see tools/mambavision_ref.py)

    out = pathlib.Path(args.out_mv)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    cfg = mv_config(args)
    model = ref.MambaVision(cfg).float()
    pics_tr, y_tr, pics_te, y_te = data
    x_tr, x_te = pixel_values(pics_tr, MV_MEAN, MV_STD), pixel_values(pics_te, MV_MEAN, MV_STD)
    log(f"MambaVision: {count_params(model):,} parameters, config {cfg}")
    res = train(model, model, x_tr, torch.from_numpy(y_tr), x_te, torch.from_numpy(y_te), args, log)
    mv_save(ref, model, cfg, out)
    re = mv_load(ref, out).float().eval()
    res["train_acc"], res["train_loss"] = evaluate(re, x_tr, torch.from_numpy(y_tr))
    res["heldout_acc"], res["heldout_loss"] = evaluate(re, x_te, torch.from_numpy(y_te))
    res["heldout_correct"] = int(round(res["heldout_acc"] * len(y_te)))
    res["train_n"] = len(y_tr)
    res["params"] = count_params(re)
    log(f"MambaVision reloaded: held-out acc {res['heldout_acc'] * 100:.2f}%")
    res["level_kinds"] = mv_level_kinds(ref, cfg)
    write_mv_card(out, cfg, args, res)
    res["dir_bytes"] = dir_bytes(out)
    return res


def mv_config(args) -> dict:
    """Hub-style config.json content for the tiny model (mean/std/crop recorded for Krait's preprocessing)."""
    return {
        "architectures": ["MambaVisionModelForImageClassification"],
        "model_type": "mambavision",
        "dim": args.mv_dim,
        "in_dim": args.mv_in_dim,
        "depths": [1, 1, 2, 1],
        "num_heads": [2, 2, 4, 4],
        "window_size": [2, 2, 2, 1],
        "mlp_ratio": 4,
        "drop_path_rate": 0.0,
        "layer_scale": None,
        "layer_scale_conv": None,
        "num_classes": 10,
        "id2label": {str(i): str(i) for i in range(10)},
        "label2id": {str(i): i for i in range(10)},
        "mean": list(MV_MEAN),
        "std": list(MV_STD),
        "crop_pct": 1.0,
        "crop_mode": "center",
        "interpolation": "bicubic",
        "resolution": IMAGE_SIZE,          # the input size the model was trained at (Krait reads it)
    }


def mv_save(ref, model, cfg, out):
    ref.save_hub_layout(model, out, extra_config=cfg)


def mv_load(ref, out):
    return ref.load_safetensors_dir(out)


def mv_level_kinds(ref, cfg: dict) -> str:
    """Which blocks of levels 2-3 are mixers and which attention, as the reference assigns them."""
    parts = []
    for lvl in (2, 3):
        att = set(ref.attention_blocks(cfg["depths"][lvl]))
        kinds = ["attention" if b in att else "mixer" for b in range(cfg["depths"][lvl])]
        parts.append(f"level {lvl}: " + ", ".join(kinds))
    return "; ".join(parts)


def write_mv_card(out: pathlib.Path, cfg: dict, args, res):
    n_tr, n_te = res["train_n"], res["heldout_n"]
    wbytes = (out / "model.safetensors").stat().st_size
    d = cfg["dim"]
    text = f"""# mambavision-digits: Krait's demo MambaVision image classifier

A deliberately tiny MambaVision (NVlabs architecture, HF hub layout: `config.json` with model_type `mambavision`,
`model.safetensors` with weights prefixed `model.`) that recognises handwritten digits 0-9 in {IMAGE_SIZE}x{IMAGE_SIZE}
pictures. It exists for Krait's demos, samples and end-to-end tests; it is useless for anything else.
It was built and trained with the project's own PyTorch reference, `tools/mambavision_ref.py`, which follows the
upstream forward pass exactly.

```sh
krait classify -m models/mambavision-digits models/samples/digit_3.png --top-k 3
```

{data_section(n_tr, n_te)}
## Architecture (`config.json`, `model.safetensors`)
MambaVision with dim {d}, in_dim {cfg['in_dim']}, depths {cfg['depths']}, num_heads {cfg['num_heads']},
window_size {cfg['window_size']}, mlp_ratio {cfg['mlp_ratio']}, no layer scale, 10 classes (id2label "0".."9").
At {IMAGE_SIZE}x{IMAGE_SIZE} input the four levels see {IMAGE_SIZE // 4}x{IMAGE_SIZE // 4}, {IMAGE_SIZE // 8}x{IMAGE_SIZE // 8}, {IMAGE_SIZE // 16}x{IMAGE_SIZE // 16} and {IMAGE_SIZE // 32}x{IMAGE_SIZE // 32} feature maps with widths
{d}, {2 * d}, {4 * d}, {8 * d}; levels 0-1 are ConvBlocks; blocks of the token levels ({res['level_kinds']}).
At this input size the token levels see very short sequences ({(IMAGE_SIZE // 16) ** 2 if cfg['window_size'][2] >= IMAGE_SIZE // 16 else cfg['window_size'][2] ** 2} tokens per window at level 2, {(IMAGE_SIZE // 32) ** 2} at level 3): the
model exercises every code path of MambaVision (stem, ConvBlocks, downsampling, mixer, windowed attention, final
BatchNorm, pooling, head), not long scans.
**{res['params']:,} parameters** (plus BatchNorm running statistics), stored fp32: `model.safetensors` is {wbytes:,} bytes.
Input size `resolution` {IMAGE_SIZE} and preprocessing recorded in `config.json` (mean, std, crop_pct, crop_mode,
interpolation): resize to {IMAGE_SIZE}x{IMAGE_SIZE} (bicubic, crop_pct 1.0, center crop), rescale 1/255,
normalize with the ImageNet mean {list(MV_MEAN)} and std {list(MV_STD)} (the published checkpoints' values).

{training_section(args, res, "mambavision")}"""
    (out / "README.md").write_text(text)


# ----------------------------------------------------------------------------------------------------------------
# Samples
# ----------------------------------------------------------------------------------------------------------------
def save_samples(data, out: pathlib.Path, log):
    """One held-out picture per digit in SAMPLE_DIGITS, as 32x32 RGB PNG (the first held-out example of each)."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    _, _, pics_te, y_te = data
    lines = []
    for d in SAMPLE_DIGITS:
        i = int(np.nonzero(y_te == d)[0][0])
        path = out / f"digit_{d}.png"
        Image.fromarray(pics_te[i], mode="RGB").save(path, optimize=True)
        back = np.asarray(Image.open(path).convert("RGB"))
        assert np.array_equal(back, pics_te[i])
        lines.append(f"| `digit_{d}.png` | {d} | held-out image #{i} of the split |")
    readme = f"""# Sample pictures for the demo classifiers

Six held-out digits (never seen in training) from scikit-learn's bundled digits data set (BSD 3-Clause, see
`models/vit-digits/README.md`), upscaled from 8x8 to {IMAGE_SIZE}x{IMAGE_SIZE} with PIL's bilinear resize, grey replicated to RGB.
Written by `tools/train_demo_vision.py`.

| file | true digit | source |
|---|---|---|
""" + "\n".join(lines) + "\n"
    (out / "README.md").write_text(readme)
    log(f"samples written to {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["vit", "mambavision", "all"], default="all")
    ap.add_argument("--out-vit", default=str(ROOT / "models" / "vit-digits"))
    ap.add_argument("--out-mv", default=str(ROOT / "models" / "mambavision-digits"))
    ap.add_argument("--out-samples", default=str(ROOT / "models" / "samples"))
    ap.add_argument("--epochs", type=int, default=None, help="default: 60 (ViT), 60 (MambaVision)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=None, help="default: 2e-3 (ViT), 2e-3 (MambaVision)")
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--no-augment", dest="augment", action="store_false")
    ap.add_argument("--vit-hidden", type=int, default=64)
    ap.add_argument("--mv-dim", type=int, default=24)
    ap.add_argument("--mv-in-dim", type=int, default=16)
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--time-limit-min", type=float, default=0.0, help="stop after this many minutes (0: no limit)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)

    def log(msg):
        print(msg, flush=True)

    data = split_data()
    log(f"data: {len(data[1])} training, {len(data[3])} held-out pictures of {IMAGE_SIZE}x{IMAGE_SIZE}")
    results = {}
    for which in (["vit", "mambavision"] if args.model == "all" else [args.model]):
        a = argparse.Namespace(**vars(args))
        a.epochs = args.epochs or 60
        a.lr = args.lr or 2e-3
        results[which] = train_vit(a, data, log) if which == "vit" else train_mambavision(a, data, log)
        log(f"{which}: held-out {results[which]['heldout_acc'] * 100:.2f}%, "
            f"{results[which]['params']:,} params, dir {results[which]['dir_bytes']:,} bytes")
    if args.model in ("vit", "all"):
        save_samples(data, pathlib.Path(args.out_samples), log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
