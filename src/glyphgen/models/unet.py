"""Denoising U-Nets for the DDPM family: the residual U-Net of Ho et al. (2020), as refined by Nichol & Dhariwal (2021).

Every network here maps `(x_t, t, y=None)` to a tensor shaped like `x_t` (eps, x0 or v, whatever the method trains
it to predict); it knows nothing about noise schedules. Two implementations of the same architecture sit behind
`build_unet`:

    "diffusers"  diffusers' `UNet2DModel` behind the `(x_t, t, y)` interface (the default: see below)
    "lean"       the same layout written out in ~120 lines: GroupNorm residual blocks with the timestep embedding
                 added in every block, self-attention at the listed resolutions and in the middle

Layout (both): conv_in -> per level `blocks` residual blocks (+ attention where listed), then a stride-2 conv ->
middle (res, attention, res) -> per level `blocks + 1` residual blocks, each fed the matching skip, then
nearest-upsample + conv -> GroupNorm, SiLU, conv_out. Class conditioning adds an embedding of `y` to the timestep
embedding; row `num_classes` of that table is the null class that classifier-free guidance trains and samples with.
`extra_inputs` widens conv_in for conditioning images concatenated to x_t (the DDPM's class prototypes).
`cond_vector` makes `y` a float vector per image (B, 4 * widths[0]) added to the timestep embedding instead of a
label (the style family's style code); `scale_shift` turns each block's embedding into a per-channel scale and shift
of its second GroupNorm (AdaGN, Dhariwal & Nichol 2021), the stronger way for a code to modulate every level.

Why diffusers is the default: `benchmarks/bench_unet.py` trains both side by side (64 px, batch 32, fwd+bwd + Adam,
the shared 2-core CPU) at identical parameter counts (3.96M). "lean" was 0-12% faster in best-of-N step times and
tied at one thread, i.e. within this machine's noise, so the maintained implementation is the default; "lean" stays
as a dependency-free fallback because it is small and shares the tests. channels_last is off by default: at these
widths it sped 3x3 convolutions up by at most 25% (16 channels at 64 px) while GroupNorm ran 2.3x slower, so training
gained nothing (0-10% slower); inference forwards were ~10% faster with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from glyphgen.errors import GlyphgenError

Impl = Literal["diffusers", "lean"]

# At 64 px with blocks=2 and attention at 16 and 8 px (forward GFLOP per image, FlopCounterMode):
SMALL_WIDTHS = (16, 32, 64, 128)  # 4.0M parameters, 1.45 GFLOP: the CPU default
GANJI_WIDTHS = (64, 128, 256, 256)  # the widths of GANji's DDPM U-Net (Feebami/GANji): 26.6M parameters, 17.6 GFLOP


def build_unet(
    image_channels: int,
    image_size: int,
    widths: tuple[int, ...] = SMALL_WIDTHS,
    blocks: int = 2,
    attention: tuple[int, ...] = (16, 8),
    head_dim: int = 32,
    norm_groups: int = 8,
    dropout: float = 0.0,
    num_classes: int = 0,
    impl: Impl = "diffusers",
    channels_last: bool = False,
    extra_inputs: int = 0,
    cond_vector: bool = False,
    scale_shift: bool = False,
) -> nn.Module:
    """A denoiser `net(x_t, t, y=None) -> prediction` for (image_channels, image_size, image_size) images.

    widths      channels per resolution level; level i works at image_size / 2**i
    blocks      residual blocks per level on the way down (one more on the way up)
    attention   feature-map sizes (pixels) that get self-attention; () = none, not even in the middle
    head_dim   channels per attention head
    num_classes 0 = unconditional; otherwise labels 0..num_classes-1 plus the null class num_classes
    channels_last  store weights (and convert inputs) in channels_last; see the module docstring for when it pays
    extra_inputs   conditioning channels concatenated to x_t at the input (the net reads image_channels +
                   extra_inputs channels and predicts image_channels)
    cond_vector    y is a (B, 4 * widths[0]) float vector added to the timestep embedding (not with num_classes)
    scale_shift    AdaGN: the embedding scales and shifts each block's second GroupNorm instead of being added
    """
    if cond_vector and num_classes:
        raise GlyphgenError("a U-Net takes either class labels (num_classes) or a conditioning vector, not both")
    if image_size % 2 ** (len(widths) - 1):
        raise GlyphgenError(f"image size {image_size} is not divisible by 2**{len(widths) - 1}; use fewer widths")
    for i, w in enumerate(widths):
        if w % norm_groups or (image_size >> i in attention and w % head_dim):
            raise GlyphgenError(
                f"width {w} must be a multiple of norm_groups={norm_groups} (and of head_dim={head_dim}"
                " where it has attention)"
            )
    layout = UNetLayout(
        image_channels,
        image_size,
        tuple(widths),
        blocks,
        tuple(attention),
        head_dim,
        norm_groups,
        dropout,
        num_classes,
        extra_inputs,
        cond_vector,
        scale_shift,
    )
    if impl == "diffusers":
        net = DiffusersUNet(layout)
    elif impl == "lean":
        net = UNet(layout)
    else:
        raise GlyphgenError(f"unknown U-Net implementation {impl!r}; choose one of 'diffusers', 'lean'")
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        net.channels_last = True
    return net


@dataclass(frozen=True)
class UNetLayout:
    """What both implementations build from (see `build_unet` for the meaning of each field)."""

    image_channels: int
    image_size: int
    widths: tuple[int, ...]
    blocks: int
    attention: tuple[int, ...]
    head_dim: int
    norm_groups: int
    dropout: float
    num_classes: int
    extra_inputs: int
    cond_vector: bool = False
    scale_shift: bool = False


def _labels(y: torch.Tensor | None, num_classes: int, batch: int, device) -> torch.Tensor | None:
    """Labels for the class embedding: None on an unconditional net; a missing y on a conditional net -> null class."""
    if num_classes == 0:
        if y is not None:
            raise GlyphgenError("this network is unconditional (num_classes=0) but got class labels")
        return None
    if y is None:
        return torch.full((batch,), num_classes, dtype=torch.long, device=device)
    return y.long()


def _cond_vector(y: torch.Tensor | None, batch: int) -> torch.Tensor:
    if y is None or not y.is_floating_point() or y.dim() != 2 or len(y) != batch:
        got = None if y is None else f"{tuple(y.shape)} {y.dtype}"
        raise GlyphgenError(f"this network needs a (batch, dim) float conditioning vector, got {got}")
    return y


class DiffusersUNet(nn.Module):
    """diffusers' `UNet2DModel` (the DDPM paper's U-Net) behind the `net(x_t, t, y)` interface."""

    def __init__(self, layout: UNetLayout):
        super().__init__()
        from diffusers import UNet2DModel  # deferred: importing diffusers costs ~1 s, and "lean" needs none of it

        attn = [layout.image_size >> i in layout.attention for i in range(len(layout.widths))]
        self.layout = layout
        self.num_classes = layout.num_classes
        self.cond_vector = layout.cond_vector
        self.channels_last = False  # set by build_unet: inputs are then converted to match the weights
        self.unet = UNet2DModel(
            sample_size=layout.image_size,
            in_channels=layout.image_channels + layout.extra_inputs,
            out_channels=layout.image_channels,
            block_out_channels=tuple(layout.widths),
            layers_per_block=layout.blocks,
            down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attn),
            up_block_types=tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn)),
            add_attention=bool(layout.attention),
            attention_head_dim=layout.head_dim,
            norm_num_groups=layout.norm_groups,
            dropout=layout.dropout,
            num_class_embeds=layout.num_classes + 1 if layout.num_classes else None,  # +1: the null class for guidance
            class_embed_type="identity" if layout.cond_vector else None,
            resnet_time_scale_shift="scale_shift" if layout.scale_shift else "default",
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = _cond_vector(y, x.shape[0]) if self.cond_vector else _labels(y, self.num_classes, x.shape[0], x.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.unet(x, t, class_labels=y).sample

    def to_lean(self) -> UNet:
        """The same network as a "lean" `UNet`, weights carried over (outputs equal to float rounding): a model that
        samples without diffusers starts ~2-3 s sooner (see methods/ddpm.alphas_cumprod)."""
        lean = UNet(self.layout)
        lean.load_state_dict(lean_state_dict(self.unet.state_dict(), self.layout))
        if self.channels_last:
            lean = lean.to(memory_format=torch.channels_last)
            lean.channels_last = True
        return lean


def lean_state_dict(state: dict[str, torch.Tensor], layout: UNetLayout) -> dict[str, torch.Tensor]:
    """A diffusers `UNet2DModel` state dict (as `DiffusersUNet` builds it from `layout`) under `UNet`'s names: the
    same tensors, the attention's q, k and v projections stacked into one."""
    out: dict[str, torch.Tensor] = {}

    def res(src: str, dst: str) -> None:
        names = {"norm1": "norm1", "conv1": "conv1", "time_emb_proj": "emb", "norm2": "norm2", "conv2": "conv2"}
        names["conv_shortcut"] = "skip"
        for a, b in names.items():
            for p in ("weight", "bias"):
                if f"{src}.{a}.{p}" in state:
                    out[f"{dst}.{b}.{p}"] = state[f"{src}.{a}.{p}"]

    def attn(src: str, dst: str) -> None:
        if f"{src}.group_norm.weight" not in state:  # diffusers' middle attention under AdaGN has no norm; lean's has
            raise GlyphgenError(f"{src} has no group norm: this U-Net has no lean equivalent (scale_shift)")
        for p in ("weight", "bias"):
            out[f"{dst}.norm.{p}"] = state[f"{src}.group_norm.{p}"]
            out[f"{dst}.qkv.{p}"] = torch.cat([state[f"{src}.to_{n}.{p}"] for n in "qkv"])
            out[f"{dst}.out.{p}"] = state[f"{src}.to_out.0.{p}"]

    def plain(src: str, dst: str) -> None:
        for p in ("weight", "bias"):
            out[f"{dst}.{p}"] = state[f"{src}.{p}"]

    plain("conv_in", "conv_in")
    plain("time_embedding.linear_1", "time_mlp.0")
    plain("time_embedding.linear_2", "time_mlp.2")
    if "class_embedding.weight" in state:
        out["class_emb.weight"] = state["class_embedding.weight"]
    levels = len(layout.widths)
    k = 0
    for i in range(levels):
        for j in range(layout.blocks):
            res(f"down_blocks.{i}.resnets.{j}", f"down.{k}.0")
            if f"down_blocks.{i}.attentions.{j}.to_q.weight" in state:
                attn(f"down_blocks.{i}.attentions.{j}", f"down.{k}.1")
            k += 1
        if i < levels - 1:
            plain(f"down_blocks.{i}.downsamplers.0.conv", f"down.{k}")
            k += 1
    res("mid_block.resnets.0", "mid.0")
    if "mid_block.attentions.0.to_q.weight" in state:
        attn("mid_block.attentions.0", "mid.1")
    res("mid_block.resnets.1", "mid.2")
    k = 0
    for i in range(levels):
        for j in range(layout.blocks + 1):
            res(f"up_blocks.{i}.resnets.{j}", f"up.{k}.0")
            if f"up_blocks.{i}.attentions.{j}.to_q.weight" in state:
                attn(f"up_blocks.{i}.attentions.{j}", f"up.{k}.1")
            k += 1
        if i < levels - 1:
            plain(f"up_blocks.{i}.upsamplers.0.conv", f"up.{k}.1")
            k += 1
    plain("conv_norm_out", "norm_out")
    plain("conv_out", "conv_out")
    return out


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer sinusoids of the (integer or real) timestep, [cos | sin] as in diffusers' flip_sin_to_cos."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float().reshape(-1, 1) * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (B, dim)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the timestep/class embedding added between (Ho et al. 2020)."""

    def __init__(self, cin: int, cout: int, emb_dim: int, groups: int, dropout: float, scale_shift: bool = False):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.scale_shift = scale_shift
        self.emb = nn.Linear(emb_dim, 2 * cout if scale_shift else cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        e = self.emb(emb)[:, :, None, None]
        if self.scale_shift:  # diffusers' ResnetBlock2D with time_embedding_norm="scale_shift"
            scale, shift = e.chunk(2, dim=1)
            h = self.norm2(h) * (1 + scale) + shift
        else:
            h = self.norm2(h + e)
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, pre-norm and residual."""

    def __init__(self, channels: int, head_dim: int, groups: int):
        super().__init__()
        self.heads = max(1, channels // head_dim)
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        q, k, v = self.qkv(tokens).reshape(b, h * w, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, h * w, c)
        return x + self.out(a).transpose(1, 2).reshape(b, c, h, w)


class UNet(nn.Module):
    """The DDPM U-Net written out; same layout and parameter count as the diffusers one (see the module docstring)."""

    def __init__(self, layout: UNetLayout):
        super().__init__()
        self.num_classes = layout.num_classes
        self.cond_vector = layout.cond_vector
        self.channels_last = False  # set by build_unet: inputs are then converted to match the weights
        emb = 4 * layout.widths[0]
        self.time_mlp = nn.Sequential(nn.Linear(layout.widths[0], emb), nn.SiLU(), nn.Linear(emb, emb))
        # row num_classes is the null class
        self.class_emb = nn.Embedding(layout.num_classes + 1, emb) if layout.num_classes else None
        self.conv_in = nn.Conv2d(layout.image_channels + layout.extra_inputs, layout.widths[0], 3, padding=1)

        def res(cin, cout):
            return ResBlock(cin, cout, emb, layout.norm_groups, layout.dropout, layout.scale_shift)

        def attn(c, size):
            return Attention(c, layout.head_dim, layout.norm_groups) if size in layout.attention else nn.Identity()

        self.down, skip_ch, c = nn.ModuleList(), [layout.widths[0]], layout.widths[0]
        for i, w in enumerate(layout.widths):
            size = layout.image_size >> i
            for _ in range(layout.blocks):
                self.down.append(nn.ModuleList([res(c, w), attn(w, size)]))
                c = w
                skip_ch.append(c)
            if i < len(layout.widths) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skip_ch.append(c)
        self.mid = nn.ModuleList(
            [
                res(c, c),
                Attention(c, layout.head_dim, layout.norm_groups) if layout.attention else nn.Identity(),
                res(c, c),
            ]
        )
        self.up = nn.ModuleList()
        for i, w in reversed(list(enumerate(layout.widths))):
            size = layout.image_size >> i
            for _ in range(layout.blocks + 1):
                self.up.append(nn.ModuleList([res(c + skip_ch.pop(), w), attn(w, size)]))
                c = w
            if i > 0:
                self.up.append(
                    nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1))
                )
        self.norm_out = nn.GroupNorm(layout.norm_groups, c)
        self.conv_out = nn.Conv2d(c, layout.image_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        t = t.reshape(-1).expand(x.shape[0]) if t.numel() == 1 else t
        emb = self.time_mlp(timestep_embedding(t, self.conv_in.out_channels))
        if self.cond_vector:
            emb = emb + _cond_vector(y, x.shape[0])
        else:
            y = _labels(y, self.num_classes, x.shape[0], x.device)
            if y is not None:
                emb = emb + self.class_emb(y)
        emb = F.silu(emb)  # every block projects silu(emb), as diffusers' ResnetBlock2D does

        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.conv_in(x)
        skips = [h]
        for layer in self.down:
            if isinstance(layer, nn.ModuleList):
                h = layer[1](layer[0](h, emb))
            else:
                h = layer(h)
            skips.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, emb)), emb)
        for layer in self.up:
            if isinstance(layer, nn.ModuleList):
                h = layer[1](layer[0](torch.cat([h, skips.pop()], dim=1), emb))
            else:
                h = layer(h)
        return self.conv_out(F.silu(self.norm_out(h)))
