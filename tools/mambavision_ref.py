"""A self-contained PyTorch MambaVision (NVlabs, CVPR 2025), written from the paper and the upstream weight names.

It is the reference that Krait's MambaVision is tested against (tools/gen_mambavision_fixtures.py) and the model
the demo training script trains. It needs only torch (no timm, einops or mamba_ssm CUDA kernels) and follows the
upstream forward pass exactly, quirks included:

  * stem: conv3x3 s2 (no bias) -> BN(eps 1e-4) -> ReLU -> conv3x3 s2 (no bias) -> BN(eps 1e-4) -> ReLU
  * levels 0-1: ConvBlocks  x + [gamma *] BN(conv(GELU_tanh(BN(conv(x)))))  (BN eps 1e-5, convs with bias)
  * levels 2-3: zero-pad the map bottom/right to a multiple of the window, split into windows (tokens row-major
    inside a window, windows row-major per image), run blocks x += g1 * mixer(LN(x)); x += g2 * mlp(LN(x)),
    then undo the windows and crop. The first half of a level's blocks are MambaVisionMixers, the rest windowed
    self-attention (odd depth d: attention from d//2+1; even: from d//2).
  * downsample after levels 0-2: conv3x3 s2, no bias, doubling the width.
  * head: BatchNorm2d -> global average pool -> Linear.
  * MambaVisionMixer (d_state 8, d_conv 3, expand 1): in_proj -> x | z; both through their own non-causal
    depthwise conv1d ('same' padding, no bias) and SiLU; x_proj(x) -> dt | B | C; dt = dt_proj(dt) WITH its bias
    and the selective scan adds dt_proj.bias AGAIN before softplus; y = scan + D * x with no z gating;
    out_proj(cat[y, z]).

API:
  MambaVision(config: dict)            config.json fields (depths, num_heads, window_size, dim, in_dim, mlp_ratio,
                                       layer_scale, layer_scale_conv, num_classes / id2label, resolution)
  load_safetensors_dir(path) -> model  a directory with config.json + *.safetensors, keys with or without `model.`
  save_hub_layout(model, path)         config.json (model_type "mambavision") + model.safetensors, keys `model.*`
  self_check()                         internal consistency checks (window round trip, mixer vs a naive loop)
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------------------------
# Windows


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """[B, C, H, W] (H, W multiples of ws) -> [B * (H/ws) * (W/ws), ws*ws, C].

    Windows are ordered (image, window row, window column); tokens inside a window row-major."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // ws, ws, w // ws, ws)  # b c wr r wc s
    x = x.permute(0, 2, 4, 3, 5, 1)  # b wr wc r s c
    return x.reshape(b * (h // ws) * (w // ws), ws * ws, c)


def window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """Inverse of window_partition: [B * nW, ws*ws, C] -> [B, C, H, W]."""
    c = windows.shape[2]
    b = windows.shape[0] // ((h // ws) * (w // ws))
    x = windows.reshape(b, h // ws, w // ws, ws, ws, c)  # b wr wc r s c
    x = x.permute(0, 5, 1, 3, 2, 4)  # b c wr r wc s
    return x.reshape(b, c, h, w)


# ---------------------------------------------------------------------------------------------------------------
# Selective scan (mamba's selective_scan_fn semantics, z=None)


def selective_scan(u, delta, A, B, C, D, delta_bias):
    """u, delta [b, d, L]; A [d, n]; B, C [b, n, L]; D, delta_bias [d] -> y [b, d, L].

    delta = softplus(delta + delta_bias); h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t; y_t = <h_t, C_t> + D u_t.
    The decay and input terms of all steps are computed at once and the loop over time does one fused
    multiply-add per step (as mamba's selective_scan_ref), so it stays cheap in eager mode and differentiable."""
    delta = F.softplus(delta + delta_bias[None, :, None])  # b d L
    dA = torch.exp(delta[..., None] * A[:, None, :])  # b d L n
    dBu = (delta * u)[..., None] * B.transpose(1, 2)[:, None]  # b d L n
    h = u.new_zeros(dA.shape[0], dA.shape[1], dA.shape[3])
    hs = []
    for t in range(u.shape[2]):
        h = torch.addcmul(dBu[:, :, t], dA[:, :, t], h)  # h_t = dA_t * h_{t-1} + dB_t u_t
        hs.append(h)
    y = (torch.stack(hs, dim=2) * C.transpose(1, 2)[:, None]).sum(-1)  # b d L
    return y + u * D[None, :, None]


# ---------------------------------------------------------------------------------------------------------------
# Modules (attribute names are the upstream state-dict names)


class PatchEmbed(nn.Module):
    def __init__(self, in_chans: int, in_dim: int, dim: int):
        super().__init__()
        self.conv_down = nn.Sequential(
            nn.Conv2d(in_chans, in_dim, 3, 2, 1, bias=False),
            nn.BatchNorm2d(in_dim, eps=1e-4),
            nn.ReLU(),
            nn.Conv2d(in_dim, dim, 3, 2, 1, bias=False),
            nn.BatchNorm2d(dim, eps=1e-4),
            nn.ReLU(),
        )

    def forward(self, x):
        return self.conv_down(x)


class ConvBlock(nn.Module):
    def __init__(self, dim: int, layer_scale_conv):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, 1, 1)
        self.norm1 = nn.BatchNorm2d(dim, eps=1e-5)
        self.conv2 = nn.Conv2d(dim, dim, 3, 1, 1)
        self.norm2 = nn.BatchNorm2d(dim, eps=1e-5)
        self.gamma = nn.Parameter(layer_scale_conv * torch.ones(dim)) if _is_number(layer_scale_conv) else None

    def forward(self, x):
        y = self.norm2(self.conv2(F.gelu(self.norm1(self.conv1(x)), approximate="tanh")))
        if self.gamma is not None:
            y = y * self.gamma.view(1, -1, 1, 1)
        return x + y


class Downsample(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Sequential(nn.Conv2d(dim, 2 * dim, 3, 2, 1, bias=False))

    def forward(self, x):
        return self.reduction(x)


class MambaVisionMixer(nn.Module):
    D_STATE = 8
    D_CONV = 3

    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        self.dim, self.half = dim, half
        self.d_state = self.D_STATE
        self.dt_rank = math.ceil(dim / 16)
        self.in_proj = nn.Linear(dim, dim, bias=False)
        self.x_proj = nn.Linear(half, self.dt_rank + 2 * self.d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, half, bias=True)
        # Mamba's initialisation: dt bias = softplus^-1(dt), dt log-uniform in [1e-3, 1e-1]; A = -(1..N).
        dt_std = self.dt_rank ** -0.5
        nn.init.uniform_(self.dt_proj.weight, -dt_std, dt_std)
        dt = torch.exp(torch.rand(half) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, self.d_state + 1, dtype=torch.float32)).repeat(half, 1))
        self.D = nn.Parameter(torch.ones(half))
        self.out_proj = nn.Linear(dim, dim, bias=False)
        self.conv1d_x = nn.Conv1d(half, half, self.D_CONV, groups=half, bias=False)
        self.conv1d_z = nn.Conv1d(half, half, self.D_CONV, groups=half, bias=False)

    def forward(self, hidden):  # [b, L, dim]
        b, L, _ = hidden.shape
        xz = self.in_proj(hidden).transpose(1, 2)  # b dim L
        x, z = xz.chunk(2, dim=1)
        x = F.silu(F.conv1d(x, self.conv1d_x.weight, None, padding="same", groups=self.half))
        z = F.silu(F.conv1d(z, self.conv1d_z.weight, None, padding="same", groups=self.half))
        x_dbl = self.x_proj(x.transpose(1, 2))  # b L (R + 2N)
        dt, Bm, Cm = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = self.dt_proj(dt).transpose(1, 2)  # b half L — bias included here ...
        A = -torch.exp(self.A_log.float())
        # ... and added again inside the scan: the upstream quirk (delta = softplus(W dt + 2 b)).
        y = selective_scan(x, dt, A, Bm.transpose(1, 2), Cm.transpose(1, 2), self.D.float(), self.dt_proj.bias.float())
        return self.out_proj(torch.cat([y, z], dim=1).transpose(1, 2))


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        assert dim % num_heads == 0
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)  # scale head_dim^-0.5, no mask
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, attention: bool, mlp_ratio: float, layer_scale):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.mixer = Attention(dim, num_heads) if attention else MambaVisionMixer(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        if _is_number(layer_scale):
            self.gamma_1 = nn.Parameter(layer_scale * torch.ones(dim))
            self.gamma_2 = nn.Parameter(layer_scale * torch.ones(dim))
        else:
            self.gamma_1 = self.gamma_2 = None

    def forward(self, x):
        y = self.mixer(self.norm1(x))
        x = x + (y if self.gamma_1 is None else self.gamma_1 * y)
        y = self.mlp(self.norm2(x))
        return x + (y if self.gamma_2 is None else self.gamma_2 * y)


def attention_blocks(depth: int) -> list[int]:
    """Indices of the self-attention blocks in a level of `depth` blocks (the rest are mixers)."""
    start = depth // 2 + 1 if depth % 2 else depth // 2
    return list(range(start, depth))


class MambaVisionLayer(nn.Module):
    def __init__(self, dim, depth, num_heads, window_size, conv, downsample, mlp_ratio, layer_scale,
                 layer_scale_conv):
        super().__init__()
        self.conv = conv
        self.window_size = window_size
        if conv:
            self.blocks = nn.ModuleList([ConvBlock(dim, layer_scale_conv) for _ in range(depth)])
        else:
            attn = set(attention_blocks(depth))
            self.blocks = nn.ModuleList(
                [Block(dim, num_heads, i in attn, mlp_ratio, layer_scale) for i in range(depth)])
        self.downsample = Downsample(dim) if downsample else None

    def forward(self, x):
        if not self.conv:
            _, _, h, w = x.shape
            ws = self.window_size
            pad_r, pad_b = (ws - w % ws) % ws, (ws - h % ws) % ws
            x = F.pad(x, (0, pad_r, 0, pad_b))  # zeros right and bottom
            hp, wp = h + pad_b, w + pad_r
            x = window_partition(x, ws)
        for blk in self.blocks:
            x = blk(x)
        if not self.conv:
            x = window_reverse(x, ws, hp, wp)[:, :, :h, :w]
        return x if self.downsample is None else self.downsample(x)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def num_classes_of(config: dict) -> int:
    if "num_classes" in config:
        return int(config["num_classes"])
    if config.get("id2label"):
        return len(config["id2label"])
    return 1000  # upstream default: the hub config has no class count


class MambaVision(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        self.config = dict(config)
        depths = list(config["depths"])
        heads = list(config["num_heads"])
        windows = list(config["window_size"])
        dim, in_dim = int(config["dim"]), int(config["in_dim"])
        mlp_ratio = config.get("mlp_ratio", 4)
        layer_scale = config.get("layer_scale")
        layer_scale_conv = config.get("layer_scale_conv")
        assert len(depths) == len(heads) == len(windows) == 4, "MambaVision has 4 levels"
        self.num_classes = num_classes_of(config)
        num_features = dim * 2 ** (len(depths) - 1)
        self.patch_embed = PatchEmbed(config.get("in_chans", 3), in_dim, dim)
        self.levels = nn.ModuleList([
            MambaVisionLayer(dim * 2 ** i, depths[i], heads[i], windows[i], conv=i < 2, downsample=i < 3,
                             mlp_ratio=mlp_ratio, layer_scale=layer_scale, layer_scale_conv=layer_scale_conv)
            for i in range(len(depths))])
        self.norm = nn.BatchNorm2d(num_features)
        self.head = nn.Linear(num_features, self.num_classes)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)  # every Linear, dt_proj included, as upstream's model-wide init

    def forward_features(self, x):
        x = self.patch_embed(x)
        for level in self.levels:
            x = level(x)
        return self.norm(x).mean(dim=(2, 3))

    def forward(self, x):  # [B, 3, H, W] -> [B, classes]
        return self.head(self.forward_features(x))


# ---------------------------------------------------------------------------------------------------------------
# Files


def _read_config(path: Path) -> dict:
    return json.loads((path / "config.json").read_text())


def load_safetensors_dir(path) -> MambaVision:
    """A model directory (config.json + model.safetensors or shards) in hub (`model.` prefix) or NVlabs layout."""
    from safetensors.torch import load_file

    path = Path(path)
    model = MambaVision(_read_config(path))
    state = {}
    for f in sorted(path.glob("*.safetensors")):
        if f.name == "expected.safetensors":
            continue
        state.update(load_file(str(f)))
    if state and all(k.startswith("model.") for k in state):
        state = {k[len("model."):]: v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def save_hub_layout(model: MambaVision, path, extra_config: dict | None = None, unprefixed: bool = False,
                    dtype: torch.dtype | None = None) -> None:
    """Writes config.json (model_type "mambavision") and model.safetensors with keys `model.<name>` as the HF hub
    checkpoints (MambaVisionModelForImageClassification); unprefixed=True writes NVlabs names instead.
    extra_config adds fields (e.g. the preprocessing: mean, std, crop_pct, crop_mode, interpolation, id2label);
    dtype (e.g. torch.bfloat16) converts the floating-point tensors."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = {k: v for k, v in model.config.items()}
    cfg.update(extra_config or {})
    cfg["model_type"] = "mambavision"
    cfg.setdefault("architectures", ["MambaVisionModelForImageClassification"])
    cfg["num_classes"] = model.num_classes
    if "id2label" in cfg:
        cfg["id2label"] = {str(k): v for k, v in cfg["id2label"].items()}
        cfg["label2id"] = {v: int(k) for k, v in cfg["id2label"].items()}
    (path / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    prefix = "" if unprefixed else "model."
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        state[prefix + k] = v.contiguous().clone()
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})


# ---------------------------------------------------------------------------------------------------------------
# Self-checks


def _naive_mixer(m: MambaVisionMixer, hidden: torch.Tensor) -> torch.Tensor:
    """The mixer written out step by step in float64 from the formulas (explicit 'same' conv sums, per-step scan
    with the double dt bias), to check the vectorised forward."""
    h64 = hidden.double()
    W = {k: v.detach().double() for k, v in m.state_dict().items()}
    b, L, dim = h64.shape
    half, N, R, K = m.half, m.d_state, m.dt_rank, m.D_CONV
    xz = h64 @ W["in_proj.weight"].T  # b L dim
    x_in, z_in = xz[..., :half], xz[..., half:]
    left = (K - 1) // 2

    def conv_same(v, w):  # v [b, L, half], w [half, 1, K]
        out = torch.zeros_like(v)
        for t in range(L):
            for k in range(K):
                s = t - left + k
                if 0 <= s < L:
                    out[:, t] += w[:, 0, k] * v[:, s]
        return out

    x = F.silu(conv_same(x_in, W["conv1d_x.weight"]))
    z = F.silu(conv_same(z_in, W["conv1d_z.weight"]))
    x_dbl = x @ W["x_proj.weight"].T
    dt_r, Bm, Cm = x_dbl[..., :R], x_dbl[..., R:R + N], x_dbl[..., R + N:]
    bias = W["dt_proj.bias"]
    delta = F.softplus(dt_r @ W["dt_proj.weight"].T + bias + bias)  # bias twice
    A = -torch.exp(W["A_log"])  # half N
    y = torch.zeros(b, L, half, dtype=torch.float64)
    for bi in range(b):
        h = torch.zeros(half, N, dtype=torch.float64)
        for t in range(L):
            h = torch.exp(delta[bi, t][:, None] * A) * h + delta[bi, t][:, None] * Bm[bi, t][None, :] * x[bi, t][:, None]
            y[bi, t] = (h * Cm[bi, t][None, :]).sum(-1) + W["D"] * x[bi, t]
    return torch.cat([y, z], dim=-1) @ W["out_proj.weight"].T


def self_check(verbose: bool = True) -> None:
    g = torch.Generator().manual_seed(0)
    # 1. window partition: token (r, c) of window (i, j) of image b is pixel (i*ws + r, j*ws + c); reverse inverts.
    for (b, c, h, w, ws) in [(2, 3, 6, 9, 3), (1, 4, 8, 8, 4), (3, 2, 5, 10, 5)]:
        x = torch.randn(b, c, h, w, generator=g)
        win = window_partition(x, ws)
        nwc = w // ws
        for bi in range(b):
            for i in range(h // ws):
                for j in range(nwc):
                    for r in range(ws):
                        for cc in range(ws):
                            got = win[(bi * (h // ws) + i) * nwc + j, r * ws + cc]
                            assert torch.equal(got, x[bi, :, i * ws + r, j * ws + cc]), "window_partition order"
        assert torch.equal(window_reverse(win, ws, h, w), x), "window_reverse does not invert window_partition"
    # 2. mixer vs the naive float64 loop (random non-trivial A_log, D, dt bias).
    for dim, L in [(16, 9), (24, 16), (34, 7)]:
        torch.manual_seed(dim)
        m = MambaVisionMixer(dim)
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.3 * torch.randn_like(p))
        x = torch.randn(2, L, dim, generator=g)
        got = m(x).double()
        want = _naive_mixer(m, x)
        err = (got - want).abs().max().item()
        assert err < 1e-5 * max(1.0, want.abs().max().item()), f"mixer vs naive loop: {err}"
    # 3. attention split by depth parity (upstream rule).
    assert attention_blocks(1) == [] and attention_blocks(2) == [1] and attention_blocks(3) == [2]
    assert attention_blocks(8) == [4, 5, 6, 7] and attention_blocks(5) == [3, 4]
    # 4. a padded level equals running on the explicitly padded map then cropping.
    torch.manual_seed(1)
    lvl = MambaVisionLayer(8, 2, 2, 4, conv=False, downsample=False, mlp_ratio=2, layer_scale=None,
                           layer_scale_conv=None).eval()
    x = torch.randn(1, 8, 6, 7, generator=g)
    xp = F.pad(x, (0, 1, 0, 2))
    y1 = lvl(x)
    y2 = window_reverse(lvl.blocks[1](lvl.blocks[0](window_partition(xp, 4))), 4, 8, 8)[:, :, :6, :7]
    assert torch.allclose(y1, y2), "padding"
    if verbose:
        print("mambavision_ref self-check passed")


if __name__ == "__main__":
    self_check()
