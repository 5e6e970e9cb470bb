#!/usr/bin/env python3
"""The demo ViT (models/vit-digits) exported to ONNX, for Krait's ONNX importer in tools/demo.sh.

    .venv/bin/python tools/export_demo_onnx.py

Writes models/vit-digits-onnx/: model.onnx (torch.onnx TorchScript exporter, opset 17, dynamic batch) with the
config.json (labels) and preprocessor_config.json of models/vit-digits beside it, and checks onnxruntime's logits
against transformers' on random pixels (printed; the export is refused above 1e-4 relative).
"""

from __future__ import annotations

import pathlib
import shutil

import numpy as np
import onnxruntime as ort
import torch
from transformers import ViTForImageClassification

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = ROOT / "models" / "vit-digits"
DST = ROOT / "models" / "vit-digits-onnx"


class Logits(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values).logits


def main() -> None:
    torch.manual_seed(0)
    model = ViTForImageClassification.from_pretrained(str(SRC), attn_implementation="eager").eval()
    size = model.config.image_size
    DST.mkdir(parents=True, exist_ok=True)
    x = torch.randn(2, 3, size, size)
    torch.onnx.export(Logits(model), (x,), str(DST / "model.onnx"), input_names=["pixel_values"],
                      output_names=["logits"], dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copyfile(SRC / name, DST / name)
    session = ort.InferenceSession(str(DST / "model.onnx"), providers=["CPUExecutionProvider"])
    xs = np.random.default_rng(0).standard_normal((3, 3, size, size), dtype=np.float32)
    got = session.run(None, {"pixel_values": xs})[0]
    with torch.no_grad():
        want = model(pixel_values=torch.from_numpy(xs)).logits.numpy()
    err = float(np.abs(got - want).max() / np.abs(want).max())
    print(f"{DST / 'model.onnx'}: onnxruntime vs transformers max relative difference {err:.1e}")
    if err > 1e-4:
        raise SystemExit("export does not match transformers")


if __name__ == "__main__":
    main()
