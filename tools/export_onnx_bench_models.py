#!/usr/bin/env python3
"""Full-size image classifiers with random weights, exported to ONNX for tools/bench_onnx.py (not run in CI).

    tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
    .venv/bin/python tools/export_onnx_bench_models.py [--work /tmp/krait-bench/onnx] [--models ...] [--force]

Writes into --work (existing files are kept unless --force):
  vit-b16.onnx                 transformers ViTForImageClassification, default ViTConfig (ViT-B/16 at 224), 1000 labels
  vit-b16-safetensors/         the same weights by save_pretrained (config.json, model.safetensors) and a
                               preprocessor_config.json (ViTImageProcessor defaults), for Krait's own loader
  resnet50.onnx, mobilenet_v3_large.onnx, efficientnet_b0.onnx, convnext_tiny.onnx
                               torchvision models with weights=None (random init), 1000 classes
Every model: torch.onnx.export with the TorchScript exporter (dynamo=False), opset 17, input "pixel_values"
float32 [batch,3,224,224] with a dynamic batch dimension, output "logits" [batch,1000]. Each file is checked
with onnxruntime against PyTorch on one random batch of 2 (max relative difference printed).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore")

MODELS = ["vit-b16", "resnet50", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny"]
DEFAULT_WORK = os.path.join(tempfile.gettempdir(), "krait-bench", "onnx")
OPSET = 17


def log(msg: str):
    print(msg, file=sys.stderr, flush=True)


def build(name: str, work: pathlib.Path):
    import torch
    import torchvision.models as tvm

    torch.manual_seed(0)
    if name == "vit-b16":
        from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

        st = work / "vit-b16-safetensors"
        if not (st / "model.safetensors").exists():
            model = ViTForImageClassification(ViTConfig(num_labels=1000)).float().eval()
            model.save_pretrained(st, safe_serialization=True)
            ViTImageProcessor().save_pretrained(st)
        model = ViTForImageClassification.from_pretrained(st).float().eval()

        class LogitsOnly(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, pixel_values):
                return self.m(pixel_values=pixel_values).logits

        return LogitsOnly(model).eval()
    return getattr(tvm, name)(weights=None, num_classes=1000).eval()


def export(name: str, work: pathlib.Path, force: bool):
    import numpy as np
    import onnxruntime as ort
    import torch

    path = work / f"{name}.onnx"
    if path.exists() and not force:
        log(f"{path}: exists, kept")
        return path
    t0 = time.time()
    model = build(name, work)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    tmp = path.with_suffix(".tmp.onnx")
    torch.onnx.export(model, (x,), str(tmp), input_names=["pixel_values"], output_names=["logits"],
                      dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}}, opset_version=OPSET,
                      do_constant_folding=True, dynamo=False)
    tmp.rename(path)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"pixel_values": x.numpy()})[0]
    with torch.inference_mode():
        ref = model(x).numpy()
    rel = float(np.abs(got - ref).max() / max(float(np.abs(ref).max()), 1e-12))
    params = sum(p.numel() for p in model.parameters())
    log(f"{path}: {params / 1e6:.1f}M parameters, {path.stat().st_size / 2**20:.0f} MiB, exported in "
        f"{time.time() - t0:.0f}s; onnxruntime vs PyTorch max relative difference {rel:.1e}")
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=DEFAULT_WORK)
    ap.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the export and the check")
    ap.add_argument("--force", action="store_true", help="export again even if the .onnx exists")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        export(name, work, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
