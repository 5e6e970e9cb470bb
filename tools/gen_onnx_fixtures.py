#!/usr/bin/env python3
"""Krait ONNX importer fixtures: ONNX backend node cases, small real exports of image classifiers with random
weights, ONNX's "light" model-zoo files, and deliberately broken files.

Run:  tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
      .venv/bin/python tools/gen_onnx_fixtures.py [--opset-max 21]
Deletes tests/fixtures/onnx/ and writes it again (fixed seeds, so a re-run gives the same tensors):

  tests/fixtures/onnx/manifest.json
  tests/fixtures/onnx/node/<case>/model.onnx
  tests/fixtures/onnx/node/<case>/test_data_set_0/input_<i>.pb, output_<i>.pb
        ONNX's own backend node test cases (onnx.backend.test.loader.load_model_tests(kind="node"), built in
        memory by the onnx package) whose every node is an ai.onnx op of SUPPORTED_OPS. Such a case is left out
        (listed under "node.excluded" with the reason) when a graph input / output / initializer, a Constant or a
        Cast target has an element type other than float32, int64, int32 or bool, when it runs in training mode
        (Dropout's training_mode input, BatchNormalization's training outputs), or when its ai.onnx opset is
        outside 13..21 (21: --opset-max). The data sets are the ones the onnx package computes (its reference
        outputs).
        Cases excluded only for an opset above 21 are also written converted to opset 21 by onnx.version_converter
        as node/<case>_opset21 (manifest: "converted_from_opset"), when onnxruntime reproduces the reference outputs
        on the converted model (ONNX writes each case at its op's newest version, 22+ for Conv, the pools, ...)
        and the case is under 100 KiB (the large 3-D pooling cases are not).
  tests/fixtures/onnx/models/<arch>_<exporter>_opset<N>/model.onnx (+ test_data_set_0/, test_data_set_1/)
        tiny configurations of real architectures with random weights (BatchNorm running statistics, LayerNorm
        affine parameters and ConvNeXt layer scales randomised too, so that folding them is really tested),
        exported by torch.onnx.export with the TorchScript exporter (dynamo=False) and the dynamo exporter
        (dynamo=True), batch dimension dynamic. Input "pixel_values" float32 [B,3,H,W] from a fixed-seed normal
        (test_data_set_0: B=2, the batch it was exported with; test_data_set_1: B=1, to exercise the dynamic
        batch); output "logits" computed by onnxruntime (CPUExecutionProvider, ORT_ENABLE_ALL) on the written
        file. PyTorch's logits are checked against onnxruntime's (max relative difference printed; > 1e-4 fails
        the run). Exports that fail are listed under "models_excluded" with the reason (the dynamo exporter writes
        opset 18 for the torchvision models when asked for 17).
        hf_vit_*: also config.json (with id2label) and preprocessor_config.json (ViTImageProcessor, 32x32).
  tests/fixtures/onnx/models/hf_vit_safetensors/  the same ViT weights as every hf_vit_* export, written by
        save_pretrained (config.json, model.safetensors) + preprocessor_config.json: the .onnx files and this
        directory must give the same logits on hf_vit_*/test_data_set_0/input_0.pb.
  tests/fixtures/onnx/models/light_<name>/  onnx's bundled "light" model-zoo files (constant weights), converted
        from opset 9 to opset 13 by onnx.version_converter when all their ops are supported; input float32
        [1,3,224,224] fixed-seed normal, output by onnxruntime. The others are listed under "models_excluded".
  tests/fixtures/onnx/bad/*.onnx  broken files for the loader's error paths (see gen_bad and manifest "bad").

Every .pb is a serialized onnx.TensorProto with its name set to the graph input / output it belongs to.
Tolerances in the manifest: rtol 1e-4, atol 1e-5 * max(1, max |expected output|).
Threads: torch and onnxruntime run on one thread (the machine is shared).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import traceback
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "onnx"
MAX_TOTAL_BYTES = 8 * 1024 * 1024
MAX_NODE_BYTES = 3 * 1024 * 1024
MAX_MODEL_BYTES = 600 * 1024
MAX_CONVERTED_NODE_BYTES = 100 * 1024   # the 3-D pooling cases converted to opset 21 would add 2.2 MB

SUPPORTED_OPS = sorted(set("""
Conv BatchNormalization Relu Sigmoid HardSigmoid HardSwish Mul Add Sub Div Sqrt Pow Erf Tanh MaxPool AveragePool
GlobalAveragePool ReduceMean Flatten Gemm MatMul LayerNormalization Softmax Transpose Reshape Concat Expand Gather
Slice Split Squeeze Unsqueeze Shape Cast ConstantOfShape Equal Where Range Constant Identity Dropout Clip Gelu IsNaN
""".split()))
SUPPORTED_TYPES = {TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32, TensorProto.BOOL}
OPSET_MIN, OPSET_MAX = 13, 21
RTOL, ATOL = 1e-4, 1e-5
TORCH_ORT_MAX_REL = 1e-4

torch.set_num_threads(1)


def type_name(t: int) -> str:
    return TensorProto.DataType.Name(t)


def ai_onnx_opset(model: onnx.ModelProto) -> int | None:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def all_nodes(graph: onnx.GraphProto):
    for n in graph.node:
        yield n
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from all_nodes(a.g)
            for g in a.graphs:
                yield from all_nodes(g)


def model_ops(model: onnx.ModelProto) -> list[str]:
    ops = {n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}::{n.op_type}" for n in all_nodes(model.graph)}
    for f in model.functions:
        ops |= {n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}::{n.op_type}" for n in f.node}
    return sorted(ops)


def elem_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element types a runtime meets: graph inputs / outputs / initializers, Constant values, Cast targets,
    ConstantOfShape values (key: where it was seen)."""
    seen = {}
    g = model.graph
    for vi in list(g.input) + list(g.output):
        if vi.type.HasField("tensor_type"):
            seen.setdefault(type_name(vi.type.tensor_type.elem_type), f"graph input/output {vi.name}")
    for t in g.initializer:
        seen.setdefault(type_name(t.data_type), f"initializer {t.name}")
    for n in all_nodes(g):
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                seen.setdefault(type_name(a.t.data_type), f"{n.op_type} attribute {a.name}")
            if n.op_type == "Cast" and a.name == "to":
                seen.setdefault(type_name(a.i), "Cast to")
    return seen


def tensor_pb(value, name: str) -> TensorProto:
    if isinstance(value, TensorProto):
        t = TensorProto()
        t.CopyFrom(value)
        t.name = name
        return t
    return numpy_helper.from_array(np.asarray(value), name)


def write_data_set(folder: Path, inputs: list[TensorProto], outputs: list[TensorProto]):
    folder.mkdir(parents=True, exist_ok=True)
    for i, t in enumerate(inputs):
        (folder / f"input_{i}.pb").write_bytes(t.SerializeToString())
    for i, t in enumerate(outputs):
        (folder / f"output_{i}.pb").write_bytes(t.SerializeToString())


def dir_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def log(msg: str):
    print(msg, flush=True)


# ----------------------------------------------------------------------------------------------------------------
# (a) node cases
# ----------------------------------------------------------------------------------------------------------------
def node_exclusion(case) -> str | None:
    model = case.model
    opset = ai_onnx_opset(model)
    g = model.graph
    for vi in list(g.input) + list(g.output):
        if not vi.type.HasField("tensor_type"):
            return f"non-tensor value {vi.name} ({vi.type.WhichOneof('value')}): Krait runs tensors only"
    for tname in elem_types(model):
        if getattr(TensorProto, tname) not in SUPPORTED_TYPES:
            return f"element type {tname}: Krait runs float32, int64, int32 and bool tensors"
    inputs, _ = case.data_sets[0]
    for v in inputs:
        if v is None or isinstance(v, list):
            return "non-tensor input value: Krait runs tensors only"
    for n in all_nodes(g):
        if n.op_type == "Dropout" and len(n.input) >= 3 and n.input[2]:
            return "training mode"
        if n.op_type == "BatchNormalization":
            tm = next((a.i for a in n.attribute if a.name == "training_mode"), 0)
            if tm or len([o for o in n.output if o]) > 1:
                return "training mode"
    if opset is None or not (OPSET_MIN <= opset <= OPSET_MAX):
        return f"opset {opset} outside {OPSET_MIN}..{OPSET_MAX}"
    return None


def ort_matches(model: onnx.ModelProto, inputs, outputs, rtol: float, atol: float) -> bool:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    got = sess.run([o.name for o in model.graph.output], {n: numpy_helper.to_array(t) for n, t in zip(names, inputs)})
    return all(g.shape == tuple(e.dims)
               and np.allclose(g, numpy_helper.to_array(e), rtol=rtol, atol=atol, equal_nan=True)
               for g, e in zip(got, outputs))


def write_node_case(name: str, model: onnx.ModelProto, inputs, outputs):
    folder = OUT / "node" / name
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    write_data_set(folder / "test_data_set_0", inputs, outputs)


def gen_node_cases(manifest: dict):
    """ONNX's node cases whose ops are all supported. A case excluded only because its opset is newer than 21 (most
    of them: ONNX writes each case at the op's latest version, 22+ for Conv, pooling, Dropout, Flatten, Transpose,
    Reshape, ...) is also written, converted to opset 21 by onnx.version_converter, as node/<case>_opset21 (listed
    among the cases with "converted_from_opset"), when onnxruntime reproduces ONNX's reference outputs on it."""
    from onnx import version_converter
    from onnx.backend.test.loader import load_model_tests

    with contextlib.redirect_stderr(io.StringIO()):
        cases = load_model_tests(kind="node")
    supported = set(SUPPORTED_OPS)
    included, excluded = [], []
    for case in sorted(cases, key=lambda c: c.name):
        ops = model_ops(case.model)
        if not set(ops) <= supported:
            continue
        reason = node_exclusion(case)
        g = case.model.graph
        inits = {t.name for t in g.initializer}
        in_names = [vi.name for vi in g.input if vi.name not in inits]
        if not reason or reason.startswith("opset"):
            raw_in, raw_out = case.data_sets[0]
            assert len(raw_in) == len(in_names) and len(raw_out) == len(g.output), case.name
            inputs = [tensor_pb(v, n) for v, n in zip(raw_in, in_names)]
            outputs = [tensor_pb(v, vi.name) for v, vi in zip(raw_out, g.output)]
        if not reason:
            write_node_case(case.name, case.model, inputs, outputs)
            included.append({"name": case.name, "ops": ops, "opset": ai_onnx_opset(case.model),
                             "rtol": case.rtol, "atol": case.atol})
            continue
        entry = {"name": case.name, "ops": ops, "reason": reason}
        opset = ai_onnx_opset(case.model)
        if reason.startswith("opset") and opset > OPSET_MAX:
            try:
                conv = version_converter.convert_version(case.model, OPSET_MAX)
                onnx.checker.check_model(conv)
                ok = ort_matches(conv, inputs, outputs, case.rtol, max(case.atol, 1e-6))
                why = "onnxruntime does not reproduce the reference outputs on the converted model"
            except Exception as e:  # noqa: BLE001
                ok, why = False, f"version conversion failed: {str(e).splitlines()[0][:200]}"
            if ok:
                nbytes = conv.ByteSize() + sum(t.ByteSize() for t in inputs + outputs)
                if nbytes > MAX_CONVERTED_NODE_BYTES:
                    ok, why = False, f"not written: {nbytes // 1024} KiB (the committed fixtures stay small)"
            if ok:
                name = f"{case.name}_opset{OPSET_MAX}"
                write_node_case(name, conv, inputs, outputs)
                included.append({"name": name, "ops": model_ops(conv), "opset": OPSET_MAX, "rtol": case.rtol,
                                 "atol": case.atol, "converted_from_opset": opset})
                entry["converted"] = name
            else:
                entry["conversion_failed"] = why
        excluded.append(entry)
    manifest["node"] = {"supported_ops": SUPPORTED_OPS, "cases": included, "excluded": excluded}
    size = dir_bytes(OUT / "node")
    n_conv = sum(1 for c in included if "converted_from_opset" in c)
    log(f"node: {len(included)} cases written ({n_conv} of them converted to opset {OPSET_MAX}), "
        f"{len(excluded)} excluded, {size / 1024:.0f} KiB")
    if size > MAX_NODE_BYTES:
        big = sorted(((dir_bytes(p), p.name) for p in (OUT / "node").iterdir()), reverse=True)[:15]
        log("node folder over 3 MB; largest cases: " + ", ".join(f"{n} {s // 1024} KiB" for s, n in big))


# ----------------------------------------------------------------------------------------------------------------
# (b) real exports
# ----------------------------------------------------------------------------------------------------------------
def randomise_norms(model: torch.nn.Module, seed: int):
    """Non-trivial BatchNorm running statistics and affine parameters, LayerNorm affine parameters and ConvNeXt
    layer scales, so that Conv+BN folding and the norms' scale / shift are really exercised."""
    from torchvision.models.convnext import CNBlock

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(0.2 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=g))
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.2 * torch.randn(c, generator=g))
            elif isinstance(m, torch.nn.LayerNorm):
                m.weight.copy_(1.0 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
            elif isinstance(m, CNBlock):
                m.layer_scale.copy_(0.5 + 0.5 * torch.rand(m.layer_scale.shape, generator=g))
    return model


class Logits(torch.nn.Module):
    """transformers model -> plain logits tensor."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, pixel_values):
        return self.m(pixel_values=pixel_values).logits


VIT_LABELS = ["cat", "dog", "bird", "fish", "frog"]


def make_hf_vit():
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(1)
    cfg = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32,
                    patch_size=8, num_channels=3, num_labels=5, initializer_range=0.1,
                    id2label={i: n for i, n in enumerate(VIT_LABELS)},
                    label2id={n: i for i, n in enumerate(VIT_LABELS)})
    model = ViTForImageClassification(cfg).float().eval()
    randomise_norms(model, 11)
    return model, (3, 32, 32)


class TinyResNet(torch.nn.Module):
    """torchvision's ResNet layout (conv1 7x7/2 + bn + relu + maxpool, four stages, avgpool + fc) built from
    torchvision's BasicBlock (stages 1-3) and Bottleneck (stage 4) with small widths 8, 16, 24, 32."""

    def __init__(self, num_classes=7):
        from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1

        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        def ds(cin, cout, stride):
            return nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))

        self.layer1 = nn.Sequential(BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2, ds(8, 16, 2)))
        self.layer3 = nn.Sequential(BasicBlock(16, 24, 2, ds(16, 24, 2)))
        self.layer4 = nn.Sequential(Bottleneck(24, 8, 2, ds(24, 8 * Bottleneck.expansion, 2)))   # 24 -> 32
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * Bottleneck.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def make_resnet():
    torch.manual_seed(2)
    return randomise_norms(TinyResNet(7).eval(), 12), (3, 48, 48)


def make_mobilenet_v3():
    """torchvision MobileNetV3 with mobilenet_v3_small's block configurations at width_mult 0.25, cut to six
    blocks (the first five and the second stride-2 HS block) and last_channel 64, to keep the file small: ReLU and
    Hardswish blocks, squeeze-excitation (Hardsigmoid gate), depthwise 3x3 and 5x5 convolutions."""
    from torchvision.models.mobilenetv3 import MobileNetV3, _mobilenet_v3_conf

    torch.manual_seed(3)
    setting, _ = _mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.25)
    model = MobileNetV3(setting[:5] + [setting[8]], last_channel=64, num_classes=6)
    return randomise_norms(model.eval(), 13), (3, 48, 48)


def make_efficientnet():
    """torchvision EfficientNet with efficientnet_b0's MBConv settings at width_mult 0.25, depth_mult 0.25 (one
    block per stage), first five stages only: SiLU, squeeze-excitation, depthwise 3x3 and 5x5."""
    from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf

    torch.manual_seed(4)
    setting, last = _efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=0.25)
    model = EfficientNet(setting[:5], dropout=0.2, stochastic_depth_prob=0.0, num_classes=6, last_channel=last)
    return randomise_norms(model.eval(), 14), (3, 48, 48)


def make_convnext():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    torch.manual_seed(5)
    setting = [CNBlockConfig(8, 16, 1), CNBlockConfig(16, 24, 1), CNBlockConfig(24, 32, 1), CNBlockConfig(32, None, 1)]
    return randomise_norms(ConvNeXt(setting, stochastic_depth_prob=0.0, num_classes=6).eval(), 15), (3, 64, 64)


ARCHS = {
    "hf_vit": ("transformers ViTForImageClassification, ViTConfig(hidden 32, 2 layers, 4 heads, intermediate 37, "
               "image 32, patch 8, 5 labels), random weights", make_hf_vit),
    "resnet": ("torchvision.models.resnet BasicBlock x3 + Bottleneck x1, widths 8/16/24/32, 7 classes, random weights",
               make_resnet),
    "mobilenet_v3": ("torchvision MobileNetV3, mobilenet_v3_small block configs at width_mult 0.25, blocks 0-4 and 8, "
                     "last_channel 64, 6 classes, random weights",
                     make_mobilenet_v3),
    "efficientnet": ("torchvision EfficientNet, efficientnet_b0 MBConv settings with width_mult 0.25, depth_mult 0.25, "
                     "stages 1-5, 6 classes, random weights", make_efficientnet),
    "convnext": ("torchvision ConvNeXt, CNBlockConfig 8/16/24/32 x 1 block, 6 classes, random weights", make_convnext),
}
# (arch, exporter, opset). The TorchScript exporter's constant folding (do_constant_folding, on by default) folds
# eval-mode BatchNormalization into the Conv weights; the torchscript@17 exports of the BatchNorm CNNs are made
# without it (NO_FOLDING) so that their graphs keep BatchNormalization nodes and Krait's own Conv+BN folding runs;
# resnet_torchscript_opset18 keeps the default (BN already folded), as a user exporting with defaults gets it.
EXPORTS = [(a, e, o) for a in ARCHS for e, o in (("torchscript", 17), ("dynamo", 18), ("dynamo", 17))] + \
          [("resnet", "torchscript", 18), ("hf_vit", "torchscript", 18)]
NO_FOLDING = {"resnet_torchscript_opset17", "mobilenet_v3_torchscript_opset17", "efficientnet_torchscript_opset17"}
KEEP_NODE_METADATA = {"hf_vit_dynamo_opset18"}


def ort_run(path: Path, feeds: dict) -> list[np.ndarray]:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def export(module: torch.nn.Module, example: torch.Tensor, path: Path, exporter: str, opset: int,
           keep_metadata: bool = False, fold: bool = True):
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        if exporter == "torchscript":
            torch.onnx.export(module, (example,), str(path), input_names=["pixel_values"], output_names=["logits"],
                              dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
                              opset_version=opset, do_constant_folding=fold, dynamo=False)
        else:
            batch = torch.export.Dim("batch", min=1, max=1024)
            prog = torch.onnx.export(module, (example,), input_names=["pixel_values"], output_names=["logits"],
                                     dynamic_shapes=({0: batch},), opset_version=opset,
                                     external_data=False, dynamo=True, optimize=True, verify=False)
            prog.save(str(path), external_data=False)
    m = onnx.load(str(path))
    # The dynamo exporter records each node's Python stack trace (absolute paths of this machine), FX node and
    # module scopes in its metadata_props: drop the stack traces (so that the committed files do not depend on
    # where they were made), and all of it except in one model (KEEP_NODE_METADATA), to keep the files small.
    for n in all_nodes(m.graph):
        keep = [p for p in n.metadata_props if p.key != "pkg.torch.onnx.stack_trace" and keep_metadata]
        if len(keep) != len(n.metadata_props):
            del n.metadata_props[:]
            n.metadata_props.extend(keep)
            n.doc_string = ""
    onnx.save(m, str(path))
    got = ai_onnx_opset(m)
    if got != opset:
        raise RuntimeError(f"exporter wrote ai.onnx opset {got}, asked for {opset}")
    return m


def tolerance(outputs: list[np.ndarray]) -> float:
    mag = max(float(np.abs(o).max()) for o in outputs)
    return float(ATOL * max(1.0, mag))


def model_info(m: onnx.ModelProto) -> dict:
    return {"ops": model_ops(m), "element_types": sorted(elem_types(m)), "local_functions": len(m.functions),
            "inputs": [{"name": vi.name, "elem_type": type_name(vi.type.tensor_type.elem_type),
                        "shape": [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]}
                       for vi in m.graph.input if vi.name not in {t.name for t in m.graph.initializer}],
            "outputs": [{"name": vi.name, "elem_type": type_name(vi.type.tensor_type.elem_type),
                         "shape": [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]}
                        for vi in m.graph.output]}


def gen_real_models(manifest: dict, failures: list):
    from transformers import ViTImageProcessor

    built = {}
    for arch, exporter, opset in EXPORTS:
        source, make = ARCHS[arch]
        if arch not in built:
            model, chw = make()
            built[arch] = (model, chw)
            if arch == "hf_vit":
                sd = OUT / "models" / "hf_vit_safetensors"
                model.save_pretrained(sd, safe_serialization=True)
                ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(sd)
        model, chw = built[arch]
        module = Logits(model).eval() if arch == "hf_vit" else model
        name = f"{arch}_{exporter}_opset{opset}"
        folder = OUT / "models" / name
        folder.mkdir(parents=True)
        path = folder / "model.onnx"
        g = torch.Generator().manual_seed(100)
        xs = [torch.randn(b, *chw, generator=g) for b in (2, 1)]
        try:
            m = export(module, xs[0], path, exporter, opset, keep_metadata=name in KEEP_NODE_METADATA,
                       fold=name not in NO_FOLDING)
            onnx.checker.check_model(m, full_check=False)
        except (NameError, AttributeError, TypeError):
            raise   # a bug in this script, not an exporter failure
        except Exception as e:  # noqa: BLE001
            shutil.rmtree(folder)
            msg = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:400]
            failures.append({"name": name, "source": source, "exporter": exporter, "opset": opset, "reason": msg})
            log(f"{name}: export FAILED: {msg}")
            if os.environ.get("KRAIT_FIXTURE_DEBUG"):
                traceback.print_exc()
            continue
        expected = []
        for i, x in enumerate(xs):
            out = ort_run(path, {"pixel_values": x.numpy()})[0]
            with torch.inference_mode():
                ref = module(x).numpy()
            rel = float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-12))
            log(f"{name}: batch {x.shape[0]} torch vs onnxruntime max |diff| {np.abs(out - ref).max():.2e} "
                f"(relative to max |logit| {rel:.2e})")
            if rel > TORCH_ORT_MAX_REL:
                raise SystemExit(f"{name}: PyTorch and onnxruntime disagree ({rel:.2e} > {TORCH_ORT_MAX_REL})")
            write_data_set(folder / f"test_data_set_{i}", [numpy_helper.from_array(x.numpy(), "pixel_values")],
                           [numpy_helper.from_array(out, "logits")])
            expected.append(out)
        if arch == "hf_vit":
            model.config.to_json_file(folder / "config.json")
            ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise SystemExit(f"{name}: model.onnx is {size} bytes > {MAX_MODEL_BYTES}")
        entry = {"name": name, "source": source, "exporter": exporter, "opset": opset, "rtol": RTOL,
                 "atol": tolerance(expected), "bytes": size, "dynamic_batch": True,
                 "do_constant_folding": (name not in NO_FOLDING) if exporter == "torchscript" else None,
                 "data_sets": [[int(d) for d in x.shape] for x in xs]}
        entry.update(model_info(m))
        if arch == "hf_vit":
            entry["safetensors_dir"] = "models/hf_vit_safetensors"
        manifest["models"].append(entry)
        log(f"{name}: {size / 1024:.0f} KiB, ops {' '.join(entry['ops'])}")


def gen_light_models(manifest: dict, failures: list):
    import onnx.backend.test
    from onnx import version_converter

    light = Path(onnx.backend.test.__file__).parent / "data" / "light"
    supported = set(SUPPORTED_OPS)
    for src in sorted(light.glob("light_*.onnx")):
        base = src.stem
        m0 = onnx.load(str(src))
        ops = model_ops(m0)
        opset0 = ai_onnx_opset(m0)
        source = f"onnx {onnx.__version__} wheel, onnx/backend/test/data/light/{src.name} (opset {opset0})"
        bad_ops = sorted(set(ops) - supported)
        if bad_ops:
            failures.append({"name": base, "source": source, "exporter": "onnx-light-zoo", "opset": opset0, "ops": ops,
                             "reason": f"unsupported ops: {', '.join(bad_ops)}"})
            log(f"{base}: excluded, unsupported ops {bad_ops}")
            continue
        try:
            m = version_converter.convert_version(m0, OPSET_MIN)
            onnx.checker.check_model(m)
        except Exception as e:  # noqa: BLE001
            failures.append({"name": base, "source": source, "exporter": "onnx-light-zoo", "opset": opset0, "ops": ops,
                             "reason": f"version conversion to opset {OPSET_MIN} failed: {e}"[:400]})
            continue
        folder = OUT / "models" / base
        folder.mkdir(parents=True)
        path = folder / "model.onnx"
        onnx.save(m, str(path))
        inits = {t.name for t in m.graph.initializer}
        feeds_vi = [vi for vi in m.graph.input if vi.name not in inits]
        assert len(feeds_vi) == 1, base
        vi = feeds_vi[0]
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        x = np.random.default_rng(200).standard_normal(shape).astype(np.float32)
        outs = ort_run(path, {vi.name: x})
        write_data_set(folder / "test_data_set_0", [numpy_helper.from_array(x, vi.name)],
                       [numpy_helper.from_array(o, ov.name) for o, ov in zip(outs, m.graph.output)])
        entry = {"name": base, "source": source + f", converted to opset {OPSET_MIN} by onnx.version_converter",
                 "exporter": "onnx-light-zoo", "opset": OPSET_MIN, "rtol": RTOL, "atol": tolerance(outs),
                 "bytes": path.stat().st_size, "dynamic_batch": False, "data_sets": [shape]}
        entry.update(model_info(m))
        manifest["models"].append(entry)
        log(f"{base}: {entry['bytes'] / 1024:.0f} KiB, ops {' '.join(entry['ops'])}")


# ----------------------------------------------------------------------------------------------------------------
# (c) bad files
# ----------------------------------------------------------------------------------------------------------------
def _model(nodes, inputs, outputs, inits=(), opset=17, domains=()):
    g = helper.make_graph(nodes, "bad", inputs, outputs, initializer=list(inits))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(g, opset_imports=ops, producer_name="krait-gen_onnx_fixtures", ir_version=8)


def _vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def _external(t: TensorProto, location: str, offset: int, length: int):
    t.ClearField("raw_data")
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v


def gen_bad(manifest: dict):
    bad = OUT / "bad"
    bad.mkdir(parents=True)
    rng = np.random.default_rng(300)
    entries = []

    def save(name, model, description, error):
        (bad / name).write_bytes(model.SerializeToString())
        entries.append({"file": f"bad/{name}", "description": description, "error": error})

    save("cycle.onnx", _model([helper.make_node("Relu", ["b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
                               helper.make_node("Add", ["x", "a"], ["y"])], [_vi("x", [2])], [_vi("y", [2])]),
         "two Relu nodes feeding each other (a <- b <- a): the graph is not a DAG", "format")
    save("missing_initializer.onnx",
         _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", [2, 3])], [_vi("y", [2, 4])]),
         "MatMul input 'w' is neither a graph input, an initializer nor a node output", "format")
    save("shape_contradiction.onnx",
         _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", [2, 3])], [_vi("y", [2, 5])],
                [numpy_helper.from_array(rng.standard_normal((4, 5)).astype(np.float32), "w")]),
         "MatMul of x [2,3] and initializer w [4,5]: inner dimensions contradict", "format")

    w = numpy_helper.from_array(rng.standard_normal((3, 4)).astype(np.float32), "w")
    _external(w, "../../outside.bin", 0, 48)
    save("external_outside.onnx",
         _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", [2, 3])], [_vi("y", [2, 4])], [w]),
         "initializer w stored externally at '../../outside.bin': a path outside the model's folder", "io")

    (bad / "external_past_end.bin").write_bytes(rng.standard_normal(4).astype(np.float32).tobytes())   # 16 bytes
    w = numpy_helper.from_array(rng.standard_normal((3, 4)).astype(np.float32), "w")
    _external(w, "external_past_end.bin", 8, 48)
    save("external_past_end.onnx",
         _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", [2, 3])], [_vi("y", [2, 4])], [w]),
         "initializer w: offset 8 + length 48 runs past the end of external_past_end.bin (16 bytes)", "io")
    entries[-1]["files"] = ["bad/external_past_end.onnx", "bad/external_past_end.bin"]

    save("unsupported_op.onnx",
         _model([helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["sel"])],
                [_vi("boxes", [1, 4, 4]), _vi("scores", [1, 1, 4])], [_vi("sel", [None, 3], TensorProto.INT64)],
                opset=17),
         "a NonMaxSuppression node (an op Krait does not run)", "unsupported")
    save("unsupported_opset.onnx",
         _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", [2, 3])], [_vi("y", [2, 3])], opset=7),
         "opset_import ai.onnx 7 (Krait accepts 13 and newer)", "unsupported")
    save("custom_domain.onnx",
         _model([helper.make_node("FancyRelu", ["x"], ["y"], domain="com.example")], [_vi("x", [2, 3])],
                [_vi("y", [2, 3])], domains=["com.example"]),
         "a node in the custom domain 'com.example'", "unsupported")
    good = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", [2, 3])], [_vi("y", [2, 3])]).SerializeToString()
    (bad / "truncated.onnx").write_bytes(good[: len(good) // 2])
    entries.append({"file": "bad/truncated.onnx", "description": "a valid Relu model cut in half: protobuf truncated",
                    "error": "format"})
    (bad / "not_onnx.onnx").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 256, 120, dtype=np.uint8)))
    entries.append({"file": "bad/not_onnx.onnx", "description": "PNG signature and random bytes, not a protobuf",
                    "error": "format"})

    # external_ok: a valid MatMul + Add whose weight lives in external_ok.weights at offset 16, length 48.
    wv = rng.standard_normal((3, 4)).astype(np.float32)
    bv = rng.standard_normal(4).astype(np.float32)
    pad = rng.standard_normal(4).astype(np.float32).tobytes()   # 16 bytes of junk before the weight
    tail = rng.standard_normal(2).astype(np.float32).tobytes()  # and 8 after it
    (bad / "external_ok.weights").write_bytes(pad + wv.tobytes() + tail)
    w = numpy_helper.from_array(wv, "w")
    _external(w, "external_ok.weights", 16, 48)
    m = _model([helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
               [_vi("x", [2, 3])], [_vi("y", [2, 4])], [w, numpy_helper.from_array(bv, "b")])
    (bad / "external_ok.onnx").write_bytes(m.SerializeToString())
    onnx.checker.check_model(str(bad / "external_ok.onnx"))
    x = rng.standard_normal((2, 3)).astype(np.float32)
    y = ort_run(bad / "external_ok.onnx", {"x": x})[0]
    assert np.allclose(y, x @ wv + bv, rtol=1e-5, atol=1e-6)
    (bad / "external_ok_input_0.pb").write_bytes(numpy_helper.from_array(x, "x").SerializeToString())
    (bad / "external_ok_output_0.pb").write_bytes(numpy_helper.from_array(y, "y").SerializeToString())
    entries.append({"file": "bad/external_ok.onnx", "description": "valid: MatMul + Add, weight w [3,4] in "
                    "external_ok.weights at offset 16, length 48; expected y for x in external_ok_input_0.pb / "
                    "external_ok_output_0.pb", "error": None,
                    "files": ["bad/external_ok.onnx", "bad/external_ok.weights", "bad/external_ok_input_0.pb",
                              "bad/external_ok_output_0.pb"], "rtol": RTOL, "atol": ATOL})
    # external_far: the same model with its weight 3 GB into a file (the test writes that file sparse, next to a
    # copy of the model, with the 48 bytes of external_ok.weights at the offset): offsets past 2^31 and files
    # over 2 GB.
    far = numpy_helper.from_array(wv, "w")
    _external(far, "external_far.weights", 3_000_000_016, 48)
    m = _model([helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
               [_vi("x", [2, 3])], [_vi("y", [2, 4])], [far, numpy_helper.from_array(bv, "b")])
    (bad / "external_far.onnx").write_bytes(m.SerializeToString())
    entries.append({"file": "bad/external_far.onnx", "description": "valid: external_ok's model with its weight at "
                    "offset 3000000016 of external_far.weights (made sparse by the test from external_ok.weights); "
                    "expected output external_ok_output_0.pb", "error": None})
    manifest["bad"] = entries
    log(f"bad: {len(entries)} files")


def main() -> int:
    global OPSET_MAX
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--opset-max", type=int, default=OPSET_MAX,
                    help="newest ai.onnx opset the importer accepts (node cases above it are excluded and, where "
                         "possible, converted down to it); default %(default)s")
    OPSET_MAX = ap.parse_args().opset_max
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    manifest = {"generator": "tools/gen_onnx_fixtures.py",
                "versions": {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "torch": torch.__version__},
                "layout": "node/<case>/ and models/<name>/: model.onnx + test_data_set_<k>/input_<i>.pb, output_<i>.pb "
                          "(serialized onnx.TensorProto, name = graph input / output name)",
                "opset_range": [OPSET_MIN, OPSET_MAX],
                "node": {}, "models": [], "models_excluded": [], "bad": []}
    gen_node_cases(manifest)
    gen_real_models(manifest, manifest["models_excluded"])
    gen_light_models(manifest, manifest["models_excluded"])
    gen_bad(manifest)
    all_ops = sorted({o for m in manifest["models"] for o in m["ops"]})
    manifest["model_ops"] = all_ops
    manifest["model_ops_beyond_supported"] = sorted(set(all_ops) - set(SUPPORTED_OPS))
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = dir_bytes(OUT)
    log(f"ops in the model fixtures: {' '.join(all_ops)}")
    if manifest["model_ops_beyond_supported"]:
        log(f"ops in the model fixtures beyond SUPPORTED_OPS: {manifest['model_ops_beyond_supported']}")
    log(f"total {total / 1024:.0f} KiB in {OUT.relative_to(ROOT)}")
    if total > MAX_TOTAL_BYTES:
        big = sorted(((dir_bytes(p), f"{p.parent.name}/{p.name}") for d in ("node", "models")
                      for p in (OUT / d).iterdir()), reverse=True)[:10]
        log(f"WARNING: fixtures total {total / 2**20:.1f} MiB, over the {MAX_TOTAL_BYTES / 2**20:.0f} MiB target; "
            "largest: " + ", ".join(f"{n} {s // 1024} KiB" for s, n in big))
    return 0


if __name__ == "__main__":
    sys.exit(main())
