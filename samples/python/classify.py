#!/usr/bin/env python3
"""classify.py: image classification with a ViT (or MambaVision, or ONNX) classifier.

    python3 samples/python/classify.py [IMAGE...] [--model MODEL] [--top-k K]

Defaults: models/vit-digits (a tiny ViT that recognises handwritten digits) on the sample pictures
models/samples/digit_*.png, whose file names hold the true digit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import krait

ROOT = Path(__file__).resolve().parents[2]  # the repository: samples/python/classify.py


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="*", type=Path, help="PNG, JPEG, BMP or GIF files")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "vit-digits",
                        help="a ViT / MambaVision directory or an .onnx file")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args()
    images = args.images or sorted((ROOT / "models" / "samples").glob("digit_*.png"))

    clf = krait.Classifier(args.model)
    height, width = clf.image_size
    print(f"{args.model.name}: {clf.info['architecture']}, {clf.num_labels} labels, {height}x{width} input")

    # One call classifies the whole list (in batches); the images are decoded and preprocessed as the
    # model's own configuration says. Each result is a list of (label, probability), best first.
    results = clf.classify(images, top_k=args.top_k)
    correct = 0
    for path, top in zip(images, results):
        guesses = ", ".join(f"{label} ({probability:.2f})" for label, probability in top)
        truth = path.stem.rpartition("_")[2]  # digit_7.png -> "7"
        correct += top[0][0] == truth
        print(f"{path.name}: {guesses}")
    if all(p.stem.startswith("digit_") for p in images):
        print(f"-- {correct} of {len(images)} right")

    # Images may also be encoded bytes or uint8 arrays [H, W] / [H, W, C]; forward() takes ready
    # float32 pixels [batch, 3, H, W] and returns the logits. Here: a blank picture, both ways.
    blank = np.zeros((height, width, 3), np.uint8)
    print(f"a blank picture: {clf.classify(blank, top_k=1)[0]}")
    logits = clf.forward(np.zeros((1, 3, height, width), np.float32))
    print(f"logits of zero pixels: shape {logits.shape}, argmax label {clf.labels[int(logits[0].argmax())]!r}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except krait.KraitError as error:
        sys.exit(f"classify.py: {error}")
