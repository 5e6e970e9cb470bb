"""Generates tests/fixtures/mambavision/: tiny random MambaVision models and their reference logits.

    tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
    .venv/bin/python tools/gen_mambavision_fixtures.py      # a few seconds on one core

The reference is tools/mambavision_ref.py (the project's PyTorch MambaVision that follows the upstream NVlabs
forward pass and weight names; its self-check runs first). Each case directory is a model directory:
config.json + model.safetensors (hub layout, keys `model.*`, or the NVlabs layout without prefix) and
expected.safetensors with

    pixel_values  F32 [B, 3, H, W]   the input
    logits        F32 [B, classes]   the reference's output in float32

The cases together cover: depths with odd and even counts (both attention/mixer splits, one-block levels),
windows that need zero padding at levels 2 and 3 (and a window larger than the whole map), layer scale on
(gamma, gamma_1, gamma_2) and off, non-square and non-224 inputs, batch 2-3, hub and NVlabs layouts,
id2label present and absent, BF16 weights, widths whose dt_rank = ceil(dim/16) is not dim/16. Weights are perturbed so
nothing is at its trivial initial value: BatchNorm running stats and affine, LayerNorm affine, A_log, D,
dt_proj.bias, layer-scale gammas, and Linear weights with std 1/sqrt(fan_in).

The script also checks that the fixtures could catch the upstream quirks: for every case the logits with the
dt bias added only once differ from the stored ones by far more than the test tolerance (recorded in
manifest.json as single_dt_bias_max_diff).
"""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mambavision_ref as ref  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "mambavision"

CASES = [
    # name, config, input (B, H, W), layout
    ("odd_even_pad_hub", dict(depths=[1, 1, 3, 2], num_heads=[1, 2, 2, 4], window_size=[4, 4, 3, 2], dim=8, in_dim=8,
                              mlp_ratio=2, resolution=64), (2, 64, 96), "hub"),
    ("layer_scale_nvlabs", dict(depths=[1, 2, 2, 3], num_heads=[1, 2, 2, 4], window_size=[4, 4, 4, 2], dim=8,
                                in_dim=6, mlp_ratio=3, layer_scale=1e-5, layer_scale_conv=1e-5, resolution=80),
     (3, 80, 80), "nvlabs"),
    ("big_window_labels", dict(depths=[2, 1, 4, 1], num_heads=[2, 2, 4, 4], window_size=[8, 8, 7, 7], dim=10,
                               in_dim=8, mlp_ratio=2, drop_path_rate=0.2, resolution=56,
                               id2label={str(i): f"class_{i}" for i in range(5)}), (2, 50, 70), "hub"),
    ("no_pad_square", dict(depths=[1, 1, 2, 1], num_heads=[1, 1, 2, 2], window_size=[4, 4, 2, 1], dim=8, in_dim=4,
                           mlp_ratio=2, layer_scale=0.5), (2, 32, 32), "hub"),
    # Weights stored as BF16 (the reference runs the same BF16-rounded values in float32).
    ("bf16_weights", dict(depths=[1, 1, 3, 2], num_heads=[1, 2, 2, 4], window_size=[4, 4, 3, 2], dim=8, in_dim=8,
                          mlp_ratio=2), (2, 40, 56), "hub_bf16"),
]
NUM_CLASSES = {"odd_even_pad_hub": 7, "layer_scale_nvlabs": 10, "big_window_labels": 5, "no_pad_square": 3,
               "bf16_weights": 4}

README = """# MambaVision conformance fixtures

Made by `tools/gen_mambavision_fixtures.py` (do not edit by hand; rerun the script). Each folder is a model
directory (config.json + model.safetensors, hub layout with `model.` keys or the NVlabs layout without a prefix)
plus expected.safetensors: `pixel_values` F32 [B, 3, H, W] and `logits` F32 [B, classes] from the project's
PyTorch reference, tools/mambavision_ref.py. manifest.json lists each case's layout, input, class count, the
largest logit and how far the logits move when dt_proj.bias is counted once instead of twice (the upstream quirk).

| case | depths | windows | input | layer scale | layout |
|---|---|---|---|---|---|
| odd_even_pad_hub | 1,1,3,2 | 4,4,3,2 | 2x64x96 (pads at levels 2 and 3) | off | hub |
| layer_scale_nvlabs | 1,2,2,3 | 4,4,4,2 | 3x80x80 (pads at levels 2 and 3) | gamma, gamma_1/2 | NVlabs |
| big_window_labels | 2,1,4,1 | 8,8,7,7 | 2x50x70 (window > the level-3 map), id2label | off | hub |
| no_pad_square | 1,1,2,1 | 4,4,2,1 | 2x32x32 (no padding) | gamma_1/2 | hub |
| bf16_weights | 1,1,3,2 | 4,4,3,2 | 2x40x56 | off | hub, BF16 tensors |
"""


def perturb(model: ref.MambaVision, gen: torch.Generator) -> None:
    def rn(t, s=1.0):
        return torch.randn(t.shape, generator=gen) * s

    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.copy_(rn(m.weight, m.in_features ** -0.5))
                if m.bias is not None:
                    m.bias.copy_(rn(m.bias, 0.1))
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1.0 + rn(m.weight, 0.2))
                m.bias.copy_(rn(m.bias, 0.1))
                m.running_mean.copy_(rn(m.running_mean, 0.2))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
            elif isinstance(m, torch.nn.LayerNorm):
                m.weight.copy_(1.0 + rn(m.weight, 0.2))
                m.bias.copy_(rn(m.bias, 0.1))
            elif isinstance(m, ref.MambaVisionMixer):
                m.A_log.add_(rn(m.A_log, 0.5))
                m.D.copy_(1.0 + rn(m.D, 0.3))
                # softplus(W dt + 2 b): a bias around -1.5 keeps delta in a useful range, and counting it once
                # or twice makes a clear difference.
                m.dt_proj.bias.copy_(-1.5 + rn(m.dt_proj.bias, 0.5))
                m.conv1d_x.weight.copy_(rn(m.conv1d_x.weight, 0.5))
                m.conv1d_z.weight.copy_(rn(m.conv1d_z.weight, 0.5))
        for name, p in model.named_parameters():
            if name.endswith("gamma") or name.endswith("gamma_1") or name.endswith("gamma_2"):
                p.copy_(0.5 + torch.rand(p.shape, generator=gen))  # 1e-5 would hide the blocks from the test


def write_expected(path: Path, tensors: dict, metadata: dict) -> None:
    """A plain safetensors writer with a stable byte layout (sorted names, header padded to 8)."""
    header, blobs, offset = {"__metadata__": dict(sorted(metadata.items()))}, [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name], dtype="<f4")
        raw = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def single_bias_logits(model, x):
    """The same model with the dt bias counted once (the quirk removed), to show the fixtures detect it."""
    orig = ref.selective_scan

    def once(u, delta, A, B, C, D, delta_bias):
        return orig(u, delta, A, B, C, D, torch.zeros_like(delta_bias))

    ref.selective_scan = once
    try:
        with torch.no_grad():
            return model(x)
    finally:
        ref.selective_scan = orig


def main() -> None:
    torch.set_num_threads(1)
    ref.self_check()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    manifest = {"torch": torch.__version__, "reference": "tools/mambavision_ref.py", "cases": {}}
    for idx, (name, cfg, (B, H, W), layout) in enumerate(CASES):
        torch.manual_seed(100 + idx)
        gen = torch.Generator().manual_seed(1000 + idx)
        cfg = dict(cfg, num_classes=NUM_CLASSES[name])
        model = ref.MambaVision(cfg)
        perturb(model, gen)
        if layout.endswith("bf16"):
            with torch.no_grad():
                for p in model.parameters():
                    p.copy_(p.to(torch.bfloat16).float())
                for nm, b in model.named_buffers():
                    if b.is_floating_point():
                        b.copy_(b.to(torch.bfloat16).float())
        model.eval()
        x = torch.randn((B, 3, H, W), generator=gen)
        with torch.no_grad():
            logits = model(x)
        d = OUT / name
        ref.save_hub_layout(model, d, unprefixed=(layout == "nvlabs"),
                            dtype=torch.bfloat16 if layout.endswith("bf16") else None)
        # Round trip through the files: what Krait reads is what produced the logits.
        again = ref.load_safetensors_dir(d)
        with torch.no_grad():
            assert torch.equal(again(x), logits), f"{name}: reload changed the logits"
        alt = single_bias_logits(model, x)
        quirk_diff = (alt - logits).abs().max().item()
        scale = max(1.0, logits.abs().max().item())
        assert quirk_diff > 1e-3 * scale, f"{name}: the double dt bias is invisible ({quirk_diff})"
        write_expected(d / "expected.safetensors", {"pixel_values": x.numpy(), "logits": logits.numpy()},
                       {"torch": torch.__version__, "generator": "tools/gen_mambavision_fixtures.py"})
        manifest["cases"][name] = {"layout": layout, "input": [B, 3, H, W], "classes": NUM_CLASSES[name],
                                   "max_abs_logit": round(logits.abs().max().item(), 4),
                                   "single_dt_bias_max_diff": round(quirk_diff, 4)}
        print(f"{name}: logits {tuple(logits.shape)} max|.| {logits.abs().max().item():.3f} "
              f"single-bias diff {quirk_diff:.3f}")
    (OUT / "README.md").write_text(README)
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"wrote {OUT} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
