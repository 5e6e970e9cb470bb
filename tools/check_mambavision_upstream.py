"""Checks the project's MambaVision oracle (tools/mambavision_ref.py) against the upstream NVlabs code.

    tools/setup_tools_env.sh                                   # once: .venv with the pinned tools (mambavision, timm)
    .venv/bin/python tools/check_mambavision_upstream.py       # ~20 s on one core

Krait's MambaVision is tested against tools/mambavision_ref.py (fixtures from tools/gen_mambavision_fixtures.py),
a re-implementation written from the paper and the upstream weight names. This script closes the loop: it runs
the upstream model class, `mambavision.models.mamba_vision.MambaVision` from the PyPI package `mambavision`
(NVlabs' code, pinned in tools/requirements-tools.txt; fetched by pip when the tools env is made, never
committed here), and compares it with the reference on every fixture config in tests/fixtures/mambavision/:

  * both models get the same weights: the fixture's model.safetensors (random, perturbed weights; hub `model.*`
    or NVlabs names), loaded strictly into each, so every upstream parameter and buffer is set and none is left
    over (the state-dict names are the same; only the hub `model.` prefix is stripped);
  * both run the fixture's own input (batch 2-3, odd and non-square sizes that pad at levels 2-3) in float32,
    and once more in float64 (which shows whether any float32 difference is only rounding);
  * the upstream logits are also compared with the logits stored in expected.safetensors (what Krait's tests
    use), so the committed fixtures are checked too.

mamba_ssm (a CUDA extension) cannot be installed here, and upstream imports its selective_scan_fn at module import.
A stub module `mamba_ssm.ops.selective_scan_interface` is put into sys.modules first; its selective_scan_fn is a
plain PyTorch loop written from mamba_ssm's own reference (selective_scan_ref: delta = softplus(delta +
delta_bias), h = exp(delta A) h + delta B u, y = C h + D u, optional z gating), independent of
tools/mambavision_ref.py's vectorised scan. Nothing else of upstream is changed.

Exit status 1 if any case differs by more than the tolerance (float32: 1e-5 relative to the largest logit, with
an absolute floor of 1e-5; float64: 1e-10).
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "mambavision"
sys.path.insert(0, str(ROOT / "tools"))
import mambavision_ref as ref  # noqa: E402

F32_RTOL = 1e-5
F64_RTOL = 1e-10


def selective_scan_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                      return_last_state=False):
    """mamba_ssm.ops.selective_scan_interface.selective_scan_fn for real A and B, C of shape [b, n, L] (the only
    form MambaVision uses), one time step at a time as mamba_ssm's selective_scan_ref."""
    dtype_in = u.dtype
    work = torch.float64 if u.dtype == torch.float64 else torch.float32  # as mamba_ssm: at least float32
    u, delta, A, B, C = (t.to(work) for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias[..., None].to(work)
    if delta_softplus:
        delta = F.softplus(delta)
    b, d, L = u.shape
    x = u.new_zeros(b, d, A.shape[1])
    ys = []
    for t in range(L):
        dA = torch.exp(delta[:, :, t, None] * A[None])                        # b d n
        dBu = delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]     # b d n
        x = dA * x + dBu
        ys.append((x * C[:, None, :, t]).sum(-1))                           # b d
    y = torch.stack(ys, dim=2)
    if D is not None:
        y = y + u * D[None, :, None].to(work)
    if z is not None:
        y = y * F.silu(z.to(work))
    y = y.to(dtype_in)
    return (y, x) if return_last_state else y


def import_upstream():
    """Imports mambavision.models.mamba_vision with the CUDA scan replaced by the plain one above."""
    for name in ("mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.selective_scan_interface"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["mamba_ssm.ops.selective_scan_interface"].selective_scan_fn = selective_scan_fn
    from mambavision.models import mamba_vision  # noqa: E402  (after the stub, on purpose)

    assert mamba_vision.selective_scan_fn is selective_scan_fn, "upstream did not pick up the plain scan"
    return mamba_vision


def read_state(case: Path) -> dict:
    from safetensors.torch import load_file

    state = load_file(str(case / "model.safetensors"))
    if all(k.startswith("model.") for k in state):  # hub layout
        state = {k[len("model."):]: v for k, v in state.items()}
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}  # BF16 fixtures: exact in F32


def upstream_model(mv, cfg: dict):
    return mv.MambaVision(dim=cfg["dim"], in_dim=cfg["in_dim"], depths=cfg["depths"], window_size=cfg["window_size"],
                          mlp_ratio=cfg.get("mlp_ratio", 4), num_heads=cfg["num_heads"],
                          drop_path_rate=cfg.get("drop_path_rate", 0.2), num_classes=ref.num_classes_of(cfg),
                          layer_scale=cfg.get("layer_scale"), layer_scale_conv=cfg.get("layer_scale_conv"))


def main() -> int:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    mv = import_upstream()
    print(f"upstream: mambavision {importlib.metadata.version('mambavision')} "
          f"(timm {importlib.metadata.version('timm')}), torch {torch.__version__}")
    from safetensors.torch import load_file

    failed = []
    cases = sorted(p for p in FIXTURES.iterdir() if (p / "config.json").exists())
    assert cases, f"no fixtures under {FIXTURES}"
    print(f"{'case':<20} {'input':<16} {'f32 max abs':>12} {'f32 max rel':>12} {'f64 max abs':>12} "
          f"{'vs stored':>12}")
    for case in cases:
        cfg = json.loads((case / "config.json").read_text())
        state = read_state(case)
        ours, theirs = ref.MambaVision(cfg), upstream_model(mv, cfg)
        # strict: every upstream parameter/buffer comes from the file and no key is left unused.
        ours.load_state_dict(state, strict=True)
        theirs.load_state_dict(state, strict=True)
        ours.eval(), theirs.eval()
        expected = load_file(str(case / "expected.safetensors"))
        x = expected["pixel_values"]
        with torch.no_grad():
            a, b = ours(x), theirs(x)
            a64, b64 = ours.double()(x.double()), theirs.double()(x.double())
        scale = max(1.0, b.abs().max().item())
        abs32 = (a - b).abs().max().item()
        rel32 = abs32 / scale
        abs64 = (a64 - b64).abs().max().item()
        stored = (expected["logits"] - b).abs().max().item()
        ok = rel32 <= F32_RTOL and abs64 <= F64_RTOL * scale and stored / scale <= F32_RTOL
        print(f"{case.name:<20} {'x'.join(map(str, x.shape)):<16} {abs32:12.3e} {rel32:12.3e} {abs64:12.3e} "
              f"{stored:12.3e}{'' if ok else '  MISMATCH'}")
        if not ok:
            failed.append(case.name)
    print("max rel = max abs / max(1, max |upstream logit|); 'vs stored' = upstream f32 vs expected.safetensors")
    if failed:
        print("FAILED:", ", ".join(failed))
        return 1
    print(f"tools/mambavision_ref.py agrees with upstream MambaVision on all {len(cases)} fixture configs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
