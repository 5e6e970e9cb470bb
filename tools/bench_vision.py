#!/usr/bin/env python3
"""Image classifier benchmark: Krait next to PyTorch eager and onnxruntime, on this CPU, in one run.

    tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
    .venv/bin/python tools/bench_vision.py [--threads 2] [--batches 1 16] [--repeats 5] [--rounds 3]
        [--krait-python python3] [--md out.md] [--plot docs/vision_comparison.png] [--json out.json]

Measures, one engine after the other with the same thread count:
  1. the demo models (models/vit-digits, models/mambavision-digits): held-out accuracy on the 360 held-out digits
     of tools/train_demo_vision.py's split through Krait (`Classifier.classify` on the uint8 pictures, i.e. Krait's
     own preprocessing, and `Classifier.forward` on PyTorch's pixel values, whose logits are compared with
     PyTorch's), through PyTorch on the same weights, and for the ViT through onnxruntime; images/s for one pass
     over the held-out set in batches of --demo-batch (model-ready float tensors, no decoding);
  2. random-weight models of the real shapes at 224x224: ViT-B/16 (transformers ViTConfig defaults, 1000 labels),
     MambaVision-T and MambaVision-B (tools/mambavision_ref.py, hub layout), at each --batches size: images/s of
     `forward` on a random float tensor [B,3,224,224] for Krait, PyTorch eager (transformers for ViT, the project's
     reference for MambaVision) and onnxruntime (ViT only, exported with torch.onnx.export).

Timing: one warm-up call, then at least --repeats calls and at least --min-seconds; the best call counts. The
engines take turns for --rounds rounds and each keeps its best, so that bursts of load from other users of a shared
machine do not land on one engine only.
Krait runs in a subprocess of --krait-python (the interpreter the `krait` package is installed into by
tools/build_python.sh; this script's own interpreter needs torch, transformers, onnx, onnxruntime, onnxscript,
scikit-learn, pillow, safetensors, matplotlib). If `krait.Classifier` is missing or fails, its cells read
"pending" with the reason and the rest of the table is still measured.
Random-weight models and ONNX files are cached under --work.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

# Shared by this process and the Krait subprocess so that every engine is timed the same way.
TIMING_SRC = r'''
def time_calls(fn, repeats, min_seconds):
    """Seconds of the fastest call after one warm-up; at least `repeats` calls and `min_seconds` in total."""
    import time as _t
    fn()
    times = []
    start = _t.perf_counter()
    while len(times) < repeats or (_t.perf_counter() - start < min_seconds and len(times) < 200):
        t0 = _t.perf_counter()
        fn()
        times.append(_t.perf_counter() - t0)
    return min(times), len(times)
'''
exec(TIMING_SRC)

KRAIT_SCRIPT = TIMING_SRC + r'''
import json, sys, time, traceback
import numpy as np
spec = json.load(open(sys.argv[1]))
res = {}
try:
    import krait
    if not hasattr(krait, "Classifier"):
        raise RuntimeError("this krait package has no Classifier (krait %s at %s)" % (krait.__version__, krait.__file__))
    t0 = time.perf_counter()
    clf = krait.Classifier(spec["model"], threads=spec["threads"])
    res["load_s"] = time.perf_counter() - t0
    res["labels"] = list(clf.labels)
    b = spec["batch"]
    if spec["kind"] == "demo":
        x = np.load(spec["pixels"])
        logits = np.concatenate([np.asarray(clf.forward(x[i:i + b])) for i in range(0, len(x), b)])
        np.save(spec["logits_out"], logits.astype(np.float32))
        pics = np.load(spec["pictures"])
        top = []
        for i in range(0, len(pics), b):
            top += [r[0][0] for r in clf.classify([p for p in pics[i:i + b]], top_k=1)]
        res["classify_top1"] = top
        def run():
            for i in range(0, len(x), b):
                clf.forward(x[i:i + b])
        best, n = time_calls(run, spec["repeats"], spec["min_seconds"])
        res["images_s"] = len(x) / best
    else:
        x = np.random.default_rng(0).standard_normal((b, 3, spec["height"], spec["width"])).astype(np.float32)
        out = np.asarray(clf.forward(x))
        res["finite"] = bool(np.isfinite(out).all())
        best, n = time_calls(lambda: clf.forward(x), spec["repeats"], spec["min_seconds"])
        res["images_s"] = b / best
    res["calls"] = n
except BaseException as e:
    res = {"error": "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")}
    res["traceback"] = traceback.format_exc()[-2000:]
json.dump(res, open(spec["out"], "w"))
'''


# ----------------------------------------------------------------------------------------------------------------
# Engines
# ----------------------------------------------------------------------------------------------------------------
def run_krait(args, spec: dict) -> dict:
    """Runs one Krait job in a subprocess; returns its result dict or {"error": ...}."""
    with tempfile.TemporaryDirectory(prefix="krait-bench-") as tmp:
        spec = dict(spec, threads=args.threads, repeats=args.repeats, min_seconds=args.min_seconds,
                    out=os.path.join(tmp, "out.json"))
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        try:
            proc = subprocess.run([args.krait_python, "-c", KRAIT_SCRIPT, spec_path], capture_output=True, text=True,
                                  timeout=args.krait_timeout, cwd="/")
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {args.krait_timeout} s"}
        except OSError as e:
            return {"error": f"cannot run {args.krait_python}: {e}"}
        if not os.path.exists(spec["out"]):
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or [""]
            return {"error": f"Krait process exited with {proc.returncode} and no result ({tail[0][:200]})"}
        with open(spec["out"]) as f:
            res = json.load(f)
        return res


def torch_images_s(forward, x, batch, args) -> float:
    import torch

    torch.set_num_threads(args.threads)
    with torch.inference_mode():
        def run():
            for i in range(0, len(x), batch):
                forward(x[i:i + batch])
        best, _ = time_calls(run, args.repeats, args.min_seconds)
    return len(x) / best


def ort_session(path: str, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def export_vit_onnx(model, path: pathlib.Path, height: int, width: int, log):
    """transformers ViT -> ONNX with a dynamic batch dimension (torch.onnx.export, dynamo exporter)."""
    import torch

    if path.exists():
        return
    class Logits(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            return self.m(pixel_values=pixel_values).logits

    t0 = time.time()
    example = torch.zeros(2, 3, height, width)
    batch = torch.export.Dim("batch", min=1, max=1024)
    tmp = path.with_suffix(".tmp.onnx")
    torch.onnx.export(Logits(model).eval(), (example,), str(tmp), input_names=["pixel_values"],
                      output_names=["logits"], dynamic_shapes={"pixel_values": {0: batch}}, external_data=False,
                      dynamo=True)
    tmp.rename(path)
    log(f"exported {path.name} in {time.time() - t0:.0f}s")


# ----------------------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------------------
MV_SHAPES = {
    "MambaVision-T": {"dim": 80, "in_dim": 32, "depths": [1, 3, 8, 4], "num_heads": [2, 4, 8, 16],
                      "window_size": [8, 8, 14, 7], "mlp_ratio": 4, "layer_scale": None, "layer_scale_conv": None},
    "MambaVision-B": {"dim": 128, "in_dim": 64, "depths": [3, 3, 10, 5], "num_heads": [2, 4, 8, 16],
                      "window_size": [8, 8, 14, 7], "mlp_ratio": 4, "layer_scale": 1e-5, "layer_scale_conv": None},
}
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def make_vit_b16(path: pathlib.Path):
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    if not (path / "model.safetensors").exists():
        torch.manual_seed(0)
        model = ViTForImageClassification(ViTConfig(num_labels=1000)).float().eval()   # ViT-B/16 at 224
        model.save_pretrained(path, safe_serialization=True)
        ViTImageProcessor().save_pretrained(path)
    return ViTForImageClassification.from_pretrained(path).float().eval()


def make_mambavision(name: str, path: pathlib.Path):
    import torch
    import mambavision_ref as ref

    if not (path / "model.safetensors").exists():
        torch.manual_seed(0)
        cfg = dict(MV_SHAPES[name], num_classes=1000, mean=IMAGENET_MEAN, std=IMAGENET_STD, crop_pct=1.0,
                   crop_mode="center", interpolation="bicubic")
        ref.save_hub_layout(ref.MambaVision(cfg).float().eval(), path, extra_config=cfg)
    return ref.load_safetensors_dir(path).float().eval()


# ----------------------------------------------------------------------------------------------------------------
# Benchmark parts
# ----------------------------------------------------------------------------------------------------------------
def bench_demo(args, work: pathlib.Path, log) -> list[dict]:
    import torch
    from transformers import ViTForImageClassification
    import mambavision_ref as ref
    import train_demo_vision as tdv

    _, _, pics, labels = tdv.split_data()
    rows = []
    for name, mdir in (("vit-digits", ROOT / "models" / "vit-digits"),
                       ("mambavision-digits", ROOT / "models" / "mambavision-digits")):
        if not (mdir / "config.json").exists():
            log(f"{name}: {mdir} missing, skipped (run tools/train_demo_vision.py)")
            continue
        cfg = json.loads((mdir / "config.json").read_text())
        if cfg["model_type"] == "vit":
            pp = json.loads((mdir / "preprocessor_config.json").read_text())
            x = tdv.pixel_values(pics, pp["image_mean"], pp["image_std"])
            model = ViTForImageClassification.from_pretrained(mdir).float().eval()
            forward = lambda t, m=model: m(pixel_values=t).logits
            id2label = {int(k): v for k, v in model.config.id2label.items()}
        else:
            x = tdv.pixel_values(pics, cfg["mean"], cfg["std"])
            model = ref.load_safetensors_dir(mdir).float().eval()
            forward = model
            id2label = {int(k): v for k, v in cfg["id2label"].items()}
        torch.set_num_threads(args.threads)
        with torch.inference_mode():
            pt_logits = torch.cat([forward(x[i:i + args.demo_batch]) for i in range(0, len(x), args.demo_batch)])
        pt_pred = pt_logits.argmax(-1).numpy()
        row = {"model": name, "n": len(labels), "params": sum(p.numel() for p in model.parameters()),
               "torch_acc": float((pt_pred == labels).mean()),
               "torch_images_s": torch_images_s(forward, x, args.demo_batch, args)}
        log(f"{name}: PyTorch {row['torch_acc'] * 100:.2f}%  {row['torch_images_s']:.0f} img/s")
        if cfg["model_type"] == "vit" and not args.no_ort:
            onnx_path = work / f"{name}.onnx"
            export_vit_onnx(model, onnx_path, x.shape[2], x.shape[3], log)
            sess = ort_session(str(onnx_path), args.threads)
            xn = x.numpy()
            ort_logits = np.concatenate([sess.run(None, {"pixel_values": xn[i:i + args.demo_batch]})[0]
                                         for i in range(0, len(xn), args.demo_batch)])
            row["ort_acc"] = float((ort_logits.argmax(-1) == labels).mean())
            row["ort_max_abs_diff"] = float(np.abs(ort_logits - pt_logits.numpy()).max())

            def ort_run():
                for i in range(0, len(xn), args.demo_batch):
                    sess.run(None, {"pixel_values": xn[i:i + args.demo_batch]})
            best, _ = time_calls(ort_run, args.repeats, args.min_seconds)
            row["ort_images_s"] = len(xn) / best
            log(f"{name}: onnxruntime {row['ort_acc'] * 100:.2f}%  {row['ort_images_s']:.0f} img/s")
        if not args.no_krait:
            px, pc, lo = work / f"{name}.pixels.npy", work / f"{name}.pictures.npy", work / f"{name}.krait_logits.npy"
            np.save(px, x.numpy())
            np.save(pc, pics)
            if lo.exists():
                lo.unlink()
            k = run_krait(args, {"kind": "demo", "model": str(mdir), "batch": args.demo_batch, "pixels": str(px),
                                 "pictures": str(pc), "logits_out": str(lo)})
            if "error" in k:
                row["krait_error"] = k["error"]
                log(f"{name}: Krait pending: {k['error']}")
            else:
                kl = np.load(lo)
                label_to_id = {v: i for i, v in id2label.items()}
                row["krait_forward_acc"] = float((kl.argmax(-1) == labels).mean())
                row["krait_max_abs_diff"] = float(np.abs(kl - pt_logits.numpy()).max())
                row["krait_acc"] = float(np.mean([label_to_id.get(t, -1) == y
                                                  for t, y in zip(k["classify_top1"], labels)]))
                row["krait_images_s"] = k["images_s"]
                log(f"{name}: Krait {row['krait_acc'] * 100:.2f}% (classify), {row['krait_forward_acc'] * 100:.2f}% "
                    f"(forward, max |logit diff| {row['krait_max_abs_diff']:.2e})  {row['krait_images_s']:.0f} img/s")
        # Further rounds, engines taking turns, each keeping its best (see bench_shapes).
        for _ in range(args.rounds - 1):
            if "krait_images_s" in row:
                k = run_krait(args, {"kind": "demo", "model": str(mdir), "batch": args.demo_batch, "pixels": str(px),
                                     "pictures": str(pc), "logits_out": str(lo)})
                row["krait_images_s"] = max(row["krait_images_s"], k.get("images_s", 0.0))
            row["torch_images_s"] = max(row["torch_images_s"], torch_images_s(forward, x, args.demo_batch, args))
            if "ort_images_s" in row:
                best, _ = time_calls(ort_run, args.repeats, args.min_seconds)
                row["ort_images_s"] = max(row["ort_images_s"], len(xn) / best)
        rows.append(row)
    return rows


def bench_shapes(args, work: pathlib.Path, log) -> list[dict]:
    import torch

    rows = []
    for name in args.shapes:
        path = work / name.lower().replace("/", "")
        t0 = time.time()
        if name == "ViT-B/16":
            model = make_vit_b16(path)
            forward = lambda t, m=model: m(pixel_values=t).logits
        else:
            model = make_mambavision(name, path)
            forward = model
        params = sum(p.numel() for p in model.parameters())
        log(f"{name}: {params / 1e6:.1f}M parameters, ready in {time.time() - t0:.0f}s")
        sess = None
        if name == "ViT-B/16" and not args.no_ort:
            onnx_path = work / "vit-b16.onnx"
            export_vit_onnx(model, onnx_path, 224, 224, log)
            sess = ort_session(str(onnx_path), args.threads)
        for b in args.batches:
            row = {"model": name, "batch": b, "params": params}
            x = torch.randn(b, 3, 224, 224, generator=torch.Generator().manual_seed(0))
            # Engines alternate for --rounds rounds and each keeps its best, so that a burst of load from other
            # users of the machine does not land on one engine only.
            for _ in range(args.rounds):
                if not args.no_krait and "krait_error" not in row:
                    k = run_krait(args, {"kind": "speed", "model": str(path), "batch": b, "height": 224, "width": 224})
                    if "error" in k:
                        row["krait_error"] = k["error"]
                        log(f"{name} b{b}: Krait pending: {k['error']}")
                    else:
                        row["krait_images_s"] = max(row.get("krait_images_s", 0.0), k["images_s"])
                        row["krait_finite"] = k.get("finite")
                row["torch_images_s"] = max(row.get("torch_images_s", 0.0), torch_images_s(forward, x, b, args))
                if sess is not None:
                    xn = x.numpy()
                    best, _ = time_calls(lambda: sess.run(None, {"pixel_values": xn}), args.repeats, args.min_seconds)
                    row["ort_images_s"] = max(row.get("ort_images_s", 0.0), b / best)
            log(f"{name} b{b}: " + "  ".join(f"{e} {row[e + '_images_s']:.2f} img/s" for e in ("krait", "torch", "ort")
                                             if e + "_images_s" in row))
            rows.append(row)
        del model, sess
    return rows


# ----------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------
def fmt(v, spec=".1f", pending="pending"):
    return pending if v is None else format(v, spec)


def report(args, demo, shapes, env) -> str:
    out = [f"Threads: {args.threads} (Krait `threads=`, `torch.set_num_threads`, onnxruntime `intra_op_num_threads`). "
           f"{env}", ""]
    if demo:
        out += [f"Demo models, {demo[0]['n']} held-out digits, throughput over the held-out set in batches of "
                f"{args.demo_batch}:", "",
                "| model | params | Krait acc (classify) | Krait acc (forward) | PyTorch acc | onnxruntime acc | "
                "max abs logit diff Krait vs PyTorch | Krait img/s | PyTorch img/s | onnxruntime img/s | Krait / PyTorch |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in demo:
            k_ok = "krait_acc" in r
            out.append(
                f"| {r['model']} | {r['params'] / 1e6:.2f}M | "
                f"{fmt(r.get('krait_acc', None) and r['krait_acc'] * 100, '.2f') + ('%' if k_ok else '')} | "
                f"{fmt(r.get('krait_forward_acc', None) and r['krait_forward_acc'] * 100, '.2f') + ('%' if k_ok else '')} | "
                f"{r['torch_acc'] * 100:.2f}% | "
                f"{(format(r['ort_acc'] * 100, '.2f') + '%') if 'ort_acc' in r else '—'} | "
                f"{fmt(r.get('krait_max_abs_diff'), '.1e')} | {fmt(r.get('krait_images_s'), '.0f')} | "
                f"{r['torch_images_s']:.0f} | {fmt(r.get('ort_images_s'), '.0f', '—')} | "
                f"{(format(r['krait_images_s'] / r['torch_images_s'], '.2f') + 'x') if k_ok else 'pending'} |")
        out.append("")
    if shapes:
        out += ["Real shapes, random fp32 weights, 224x224, `forward` on a model-ready float tensor (no image decoding "
                "or preprocessing), images/s:", "",
                "| model | params | batch | Krait | PyTorch eager | onnxruntime | Krait / PyTorch | Krait / onnxruntime |",
                "|---|---|---|---|---|---|---|---|"]
        for r in shapes:
            k = r.get("krait_images_s")
            o = r.get("ort_images_s")
            out.append(f"| {r['model']} | {r['params'] / 1e6:.1f}M | {r['batch']} | {fmt(k, '.2f')} | "
                       f"{r['torch_images_s']:.2f} | {fmt(o, '.2f', '—')} | "
                       f"{(format(k / r['torch_images_s'], '.2f') + 'x') if k else 'pending'} | "
                       f"{(format(k / o, '.2f') + 'x') if (k and o) else ('—' if not o else 'pending')} |")
        out.append("")
    errors = sorted({r["krait_error"] for r in demo + shapes if "krait_error" in r})
    if errors:
        out += ["Krait side pending: " + "; ".join(errors), ""]
    out += goals(demo, shapes)
    return "\n".join(out)


def goals(demo, shapes) -> list[str]:
    lines = ["Goals of the issue:", ""]
    by = {(r["model"], r["batch"]): r for r in shapes}
    for r in demo:
        if "krait_acc" in r:
            d = abs(r["krait_acc"] - r["torch_acc"]) * 100
            lines.append(f"- {r['model']}: Krait accuracy within 0.5% of PyTorch's: "
                         f"{'yes' if d <= 0.5 else 'NO'} ({d:.2f} points)")
    for b in sorted({r["batch"] for r in shapes}):
        vit, mvt = by.get(("ViT-B/16", b), {}), by.get(("MambaVision-T", b), {})
        if vit.get("krait_images_s") and vit.get("ort_images_s"):
            q = vit["krait_images_s"] / vit["ort_images_s"]
            lines.append(f"- batch {b}: Krait ViT-B/16 >= onnxruntime: {'yes' if q >= 1 else 'NO'} ({q:.2f}x)")
        if vit.get("krait_images_s") and mvt.get("krait_images_s"):
            q = mvt["krait_images_s"] / vit["krait_images_s"]
            lines.append(f"- batch {b}: Krait MambaVision-T >= 2x Krait ViT-B/16: {'yes' if q >= 2 else 'NO'} ({q:.2f}x)")
    ks = [(r["model"] + (f" b{r['batch']}" if "batch" in r else ""), r["krait_images_s"] / r["torch_images_s"])
          for r in demo + shapes if r.get("krait_images_s")]
    if ks:
        worst = min(ks, key=lambda t: t[1])
        lines.append(f"- every Krait path >= 2x PyTorch eager: {'yes' if worst[1] >= 2 else 'NO'} "
                     f"(lowest {worst[1]:.2f}x, {worst[0]})")
    if len(lines) == 2:
        lines.append("- not measurable yet: Krait side pending")
    return lines


def plot(path: str, args, demo, shapes):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5))
    engines = (("krait", "Krait", "o"), ("torch", "PyTorch eager", "s"), ("ort", "onnxruntime", "^"))
    engine_colours = {"krait": "tab:green", "torch": "tab:gray", "ort": "tab:purple"}
    colours = {"vit-digits": "tab:blue", "mambavision-digits": "tab:orange", "ViT-B/16": "tab:blue",
               "MambaVision-T": "tab:orange", "MambaVision-B": "tab:red"}
    for r in demo:
        for key, label, marker in engines:
            acc = r.get("krait_acc" if key == "krait" else f"{key}_acc")
            ips = r.get(f"{key}_images_s")
            if acc is None or ips is None:
                continue
            a1.scatter(ips, acc * 100, marker=marker, s=80, color=colours.get(r["model"], "k"),
                       label=f"{r['model']} / {label}")
    accs = [r.get(k) for r in demo for k in ("krait_acc", "torch_acc", "ort_acc") if r.get(k) is not None]
    if accs:
        a1.set_ylim(min(90.0, min(accs) * 100 - 1), 100.5)
    a1.set_xscale("log")
    a1.set_xlabel(f"images/s (held-out set, batch {args.demo_batch}, {args.threads} threads)")
    a1.set_ylabel("held-out accuracy (%)")
    a1.set_title("Demo models on 32x32 digits: accuracy vs throughput")
    a1.grid(True, which="both", alpha=0.3)
    if demo:
        a1.legend(fontsize=8)

    groups = [(r["model"], r["batch"]) for r in shapes]
    width = 0.27
    for j, (key, label, _) in enumerate(engines):
        vals = [next((r.get(f"{key}_images_s") or 0) for r in shapes if (r["model"], r["batch"]) == g) for g in groups]
        xs = [i + (j - 1) * width for i in range(len(groups))]
        a2.bar(xs, vals, width, label=label, color=engine_colours[key])
        for xx, v in zip(xs, vals):
            if v:
                a2.text(xx, v, f"{v:.1f}", ha="center", va="bottom", fontsize=7)
    a2.set_xticks(range(len(groups)), [f"{m}\nbatch {b}" for m, b in groups], fontsize=8)
    a2.set_yscale("log")
    a2.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    a2.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    a2.set_ylabel(f"images/s ({args.threads} threads)")
    a2.set_title("Real shapes at 224x224, random weights")
    a2.legend(fontsize=8)
    a2.grid(True, axis="y", which="both", alpha=0.3)
    if any("krait_error" in r for r in demo + shapes):
        fig.text(0.5, 0.01, "Krait bars/points missing: Krait classifier not available in this run",
                 ha="center", fontsize=9, color="red")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--demo-batch", type=int, default=16)
    ap.add_argument("--shapes", nargs="*", default=["ViT-B/16", "MambaVision-T", "MambaVision-B"],
                    choices=["ViT-B/16", "MambaVision-T", "MambaVision-B"])
    ap.add_argument("--no-demo", action="store_true")
    ap.add_argument("--no-krait", action="store_true")
    ap.add_argument("--no-ort", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="the engines take turns this many times")
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--krait-python", default="python3", help="interpreter with the krait package installed")
    ap.add_argument("--krait-timeout", type=float, default=1800)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "krait-bench-vision"), help="cache for random models and ONNX files")
    ap.add_argument("--md", help="also write the markdown report here")
    ap.add_argument("--plot", help="write the PNG plot here (e.g. docs/vision_comparison.png)")
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args()

    import torch
    import transformers
    import onnxruntime

    torch.set_num_threads(args.threads)
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    t0 = time.time()
    load_before = os.getloadavg()
    demo = [] if args.no_demo else bench_demo(args, work, log)
    shapes = bench_shapes(args, work, log)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?") \
        if os.path.exists("/proc/cpuinfo") else platform.processor()
    env = (f"Machine: {os.cpu_count()} CPUs ({cpu}). torch {torch.__version__}, transformers {transformers.__version__}, "
           f"onnxruntime {onnxruntime.__version__}. Best of >= {args.repeats} calls and >= {args.min_seconds:g} s "
           f"after one warm-up (engines taking turns, {args.rounds} rounds). Run took {(time.time() - t0) / 60:.1f} min; 1-minute load average "
           f"{load_before[0]:.1f} before and {os.getloadavg()[0]:.1f} after (other users of the machine slow "
           f"every engine; compare columns of one run, not runs).")
    text = report(args, demo, shapes, env)
    print(text)
    if args.md:
        pathlib.Path(args.md).write_text(text + "\n")
    if args.plot:
        plot(args.plot, args, demo, shapes)
        log(f"plot written to {args.plot}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"demo": demo, "shapes": shapes, "env": env}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
