#!/usr/bin/env python3
"""ONNX image classifiers: Krait's ONNX importer next to onnxruntime, on this CPU, in one run (not run in CI).

    tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
    .venv/bin/python tools/export_onnx_bench_models.py [--work DIR]     # once: the random-weight .onnx files
    .venv/bin/python tools/bench_onnx.py [--work DIR] [--models ...] [--batches 1 16] [--threads-list 1 2]
        [--repeats 5] [--rounds 3] [--min-seconds 2] [--krait-python python3] [--md out.md] [--json out.json]

For each model in --work (vit-b16, resnet50, mobilenet_v3_large, efficientnet_b0, convnext_tiny; the .onnx files
of tools/export_onnx_bench_models.py), each batch size and each thread count: images/s of one forward pass on a
random float32 [B,3,224,224] tensor (fixed seed) for
  - onnxruntime: CPUExecutionProvider, ORT_ENABLE_ALL, intra_op_num_threads = threads, inter_op_num_threads 1;
  - Krait: `krait.Classifier(path, threads=threads).forward(x)` in a subprocess of --krait-python (the interpreter
    the `krait` package is installed into by tools/build_python.sh). If it fails, its cells read "pending" with
    the reason and onnxruntime is still measured.
Krait's logits are compared with onnxruntime's on the same input (max |diff| / max |onnxruntime logit|).
Also Krait on vit-b16-safetensors/ (the same weights through Krait's own ViT loader) next to Krait on
vit-b16.onnx: the ratio shows what the ONNX path costs against the native one.

Timing as in tools/bench_vision.py: one warm-up call, then at least --repeats calls and at least --min-seconds;
the best call counts. The engines take turns for --rounds rounds and each keeps its best, so that bursts of load
from other users of a shared machine do not land on one engine only.
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

from bench_vision import TIMING_SRC, ort_session, time_calls  # noqa: E402
from export_onnx_bench_models import DEFAULT_WORK, MODELS  # noqa: E402

SIZE = 224


def make_input(batch: int) -> np.ndarray:
    """The benchmark input; the Krait subprocess makes the same one (same seed, same call)."""
    return np.random.default_rng(batch).standard_normal((batch, 3, SIZE, SIZE)).astype(np.float32)


KRAIT_SCRIPT = TIMING_SRC + r'''
import json, os, sys, time, traceback
import numpy as np
spec = json.load(open(sys.argv[1]))
res = {"batches": {}}
try:
    import krait
    if not hasattr(krait, "Classifier"):
        raise RuntimeError("this krait package has no Classifier (krait %s at %s)"
                           % (getattr(krait, "__version__", "?"), krait.__file__))
    t0 = time.perf_counter()
    clf = krait.Classifier(spec["model"], threads=spec["threads"])
    res["load_s"] = time.perf_counter() - t0
    for b in spec["batches"]:
        x = np.random.default_rng(b).standard_normal((b, 3, spec["size"], spec["size"])).astype(np.float32)
        out = np.asarray(clf.forward(x), dtype=np.float32)
        np.save(os.path.join(spec["logits_dir"], "b%d.npy" % b), out)
        best, n = time_calls(lambda: clf.forward(x), spec["repeats"], spec["min_seconds"])
        res["batches"][str(b)] = {"images_s": b / best, "calls": n}
except BaseException as e:
    res["error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
    res["traceback"] = traceback.format_exc()[-2000:]
json.dump(res, open(spec["out"], "w"))
'''


def run_krait(args, model: str, threads: int, logits_dir: str) -> dict:
    """One Krait process: loads `model` once and times every batch size. Returns its result or {"error": ...}."""
    with tempfile.TemporaryDirectory(prefix="krait-bench-onnx-") as tmp:
        spec = {"model": model, "threads": threads, "batches": args.batches, "size": SIZE, "repeats": args.repeats,
                "min_seconds": args.min_seconds, "logits_dir": logits_dir, "out": os.path.join(tmp, "out.json")}
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
            return json.load(f)


def bench(args, work: pathlib.Path, log) -> tuple[list[dict], list[dict]]:
    rows, vit_rows = [], []
    logits_root = pathlib.Path(tempfile.mkdtemp(prefix="krait-bench-onnx-logits-"))
    for name in args.models:
        path = work / f"{name}.onnx"
        if not path.exists():
            log(f"{name}: {path} missing, skipped (run tools/export_onnx_bench_models.py --work {work})")
            continue
        st_dir = work / "vit-b16-safetensors"
        with_st = name == "vit-b16" and st_dir.is_dir() and not args.no_krait
        for threads in args.threads_list:
            sess = ort_session(str(path), threads)
            xs = {b: make_input(b) for b in args.batches}
            ort_out = {b: sess.run(None, {"pixel_values": xs[b]})[0] for b in args.batches}
            cur = {b: {"model": name, "batch": b, "threads": threads} for b in args.batches}
            st = {b: {"batch": b, "threads": threads} for b in args.batches}
            kdir = logits_root / f"{name}-t{threads}"
            kdir.mkdir(exist_ok=True)
            sdir = logits_root / f"{name}-st-t{threads}"
            sdir.mkdir(exist_ok=True)
            for rnd in range(args.rounds):
                if not args.no_krait and "krait_error" not in cur[args.batches[0]]:
                    k = run_krait(args, str(path), threads, str(kdir))
                    for b in args.batches:
                        kb = k.get("batches", {}).get(str(b))
                        if kb is None:
                            cur[b]["krait_error"] = k.get("error", "no result")
                            continue
                        cur[b]["krait_images_s"] = max(cur[b].get("krait_images_s", 0.0), kb["images_s"])
                        if rnd == 0:
                            kl = np.load(kdir / f"b{b}.npy")
                            o = ort_out[b]
                            if kl.shape != o.shape:
                                cur[b]["krait_max_rel_diff"] = float("inf")
                                cur[b]["krait_shape"] = list(kl.shape)
                            else:
                                cur[b]["krait_max_rel_diff"] = float(np.abs(kl - o).max() / max(np.abs(o).max(), 1e-12))
                    if "error" in k and rnd == 0:
                        log(f"{name} t{threads}: Krait pending: {k['error']}")
                if with_st and "krait_error" not in st[args.batches[0]]:
                    k = run_krait(args, str(st_dir), threads, str(sdir))
                    for b in args.batches:
                        kb = k.get("batches", {}).get(str(b))
                        if kb is None:
                            st[b]["krait_error"] = k.get("error", "no result")
                            continue
                        st[b]["krait_images_s"] = max(st[b].get("krait_images_s", 0.0), kb["images_s"])
                        if rnd == 0:
                            o = ort_out[b]
                            kl = np.load(sdir / f"b{b}.npy")
                            if kl.shape == o.shape:
                                st[b]["krait_max_rel_diff"] = float(np.abs(kl - o).max() / max(np.abs(o).max(), 1e-12))
                for b in args.batches:
                    x = xs[b]
                    best, _ = time_calls(lambda: sess.run(None, {"pixel_values": x}), args.repeats, args.min_seconds)
                    cur[b]["ort_images_s"] = max(cur[b].get("ort_images_s", 0.0), b / best)
            for b in args.batches:
                r = cur[b]
                log(f"{name} b{b} t{threads}: onnxruntime {r['ort_images_s']:.2f} img/s, Krait "
                    + (f"{r['krait_images_s']:.2f} img/s" if "krait_images_s" in r else "pending"))
                rows.append(r)
                if with_st:
                    vit_rows.append(dict(st[b], onnx_images_s=r.get("krait_images_s"),
                                         onnx_krait_error=r.get("krait_error")))
            del sess
    return rows, vit_rows


def fmt(v, spec=".2f", pending="pending"):
    return pending if v is None else format(v, spec)


def report(args, rows, vit_rows, env) -> str:
    out = [env, "", "Random fp32 weights, 224x224, `forward` on a model-ready float tensor, images/s:", "",
           "| model | batch | threads | onnxruntime | Krait | Krait / onnxruntime | max rel logit diff Krait vs ORT |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        k, o = r.get("krait_images_s"), r.get("ort_images_s")
        kc = fmt(k) if k else "pending: " + (r.get("krait_error") or "not run")[:80]
        out.append(f"| {r['model']} | {r['batch']} | {r['threads']} | {fmt(o)} | {kc} | "
                   f"{(format(k / o, '.2f') + 'x') if (k and o) else 'pending'} | "
                   f"{fmt(r.get('krait_max_rel_diff'), '.1e')} |")
    if vit_rows:
        out += ["", "ViT-B/16 in Krait: vit-b16.onnx (ONNX importer) vs vit-b16-safetensors/ (native loader), "
                "images/s:",
                "", "| batch | threads | Krait .onnx | Krait safetensors | onnx / safetensors | "
                "max rel logit diff safetensors vs ORT |", "|---|---|---|---|---|---|"]
        for r in vit_rows:
            a, s = r.get("onnx_images_s"), r.get("krait_images_s")
            ac = fmt(a) if a else "pending: " + (r.get("onnx_krait_error") or "not run")[:80]
            sc = fmt(s) if s else "pending: " + (r.get("krait_error") or "not run")[:80]
            out.append(f"| {r['batch']} | {r['threads']} | {ac} | {sc} | "
                       f"{(format(a / s, '.2f') + 'x') if (a and s) else 'pending'} | "
                       f"{fmt(r.get('krait_max_rel_diff'), '.1e')} |")
    errors = sorted({r[k] for r in rows + vit_rows for k in ("krait_error",) if r.get(k)})
    if errors:
        out += ["", "Krait side pending: " + "; ".join(errors)]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=DEFAULT_WORK, help="folder of tools/export_onnx_bench_models.py's files")
    ap.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--threads-list", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="the engines take turns this many times")
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--no-krait", action="store_true")
    ap.add_argument("--krait-python", default="python3", help="interpreter with the krait package installed")
    ap.add_argument("--krait-timeout", type=float, default=1800)
    ap.add_argument("--md", help="also write the markdown report here")
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args()

    import onnxruntime

    work = pathlib.Path(args.work)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    t0 = time.time()
    load_before = os.getloadavg()
    rows, vit_rows = bench(args, work, log)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?") \
        if os.path.exists("/proc/cpuinfo") else platform.processor()
    env = (f"Machine: {os.cpu_count()} CPUs ({cpu}). onnxruntime {onnxruntime.__version__}. Best of >= {args.repeats} "
           f"calls and >= {args.min_seconds:g} s after one warm-up (engines taking turns, {args.rounds} rounds). Run "
           f"took {(time.time() - t0) / 60:.1f} min; 1-minute load average {load_before[0]:.1f} before and "
           f"{os.getloadavg()[0]:.1f} after (compare columns of one run, not runs).")
    text = report(args, rows, vit_rows, env)
    print(text)
    if args.md:
        pathlib.Path(args.md).write_text(text + "\n")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"rows": rows, "vit_onnx_vs_safetensors": vit_rows, "env": env},
                                                      indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
