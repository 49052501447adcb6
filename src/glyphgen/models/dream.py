"""`DreamGenerator`: the denoising U-Net of the Chinese Character Generator's "dream" model.

The network maps a noisy image to a clean one: per-image standardisation, an input block, `levels` stride-2 encoder
blocks, `levels` transposed-conv decoder blocks that add the encoder outputs as skips, and a sigmoid output block.
With the defaults (8 base features, 4 levels, batch norm, biases) it is exactly the original network: 444,169
parameters. The noise process and loss that make it "dream" live in `glyphgen.methods.dream`.

The "level" denoiser of the improved dream is the same U-Net told its noise level: `noise_embed > 0` adds a
sinusoidal embedding of c_noise (an MLP, as DDPM's time embedding) to every block after its first convolution, and
`output="linear"` drops the sigmoid (the method wraps the net in EDM's preconditioning, which adds the skip).

Shapes: x (B, C, H, W) -> (B, C, H, W) in [0, 1] (sigmoid) or unbounded (linear); H and W divisible by 2**levels;
c_noise (B,) when noise_embed > 0.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

Norm = Literal["batch", "group"]


def _norm(kind: Norm, channels: int, groups: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.GroupNorm(math.gcd(groups, channels), channels)  # gcd: every width has a valid group count


def _conv_block(cin: int, cout: int, norm: Norm, groups: int, first: nn.Module | None = None) -> nn.Sequential:
    """[first conv (3x3 unless given), norm, ReLU, conv3x3, norm, ReLU] — the original's repeated unit."""
    first = first if first is not None else nn.Conv2d(cin, cout, 3, padding=1)
    return nn.Sequential(
        first,
        _norm(norm, cout, groups),
        nn.ReLU(inplace=True),  # in place: saves one activation per block in the 36-pass autograd graph
        nn.Conv2d(cout, cout, 3, padding=1),
        _norm(norm, cout, groups),
        nn.ReLU(inplace=True),
    )


class NoiseEmbedding(nn.Module):
    """c_noise (B,) -> (B, 4 * dim): sin/cos at octave frequencies, then a two-layer MLP (DDPM's time embedding)."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("freqs", 2.0 ** torch.arange(dim // 2) * math.pi / 4, persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * (dim // 2), 4 * dim), nn.SiLU(), nn.Linear(4 * dim, 4 * dim), nn.SiLU())

    def forward(self, c_noise: torch.Tensor) -> torch.Tensor:
        angles = c_noise.float()[:, None] * self.freqs
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=1))


class DreamGenerator(nn.Module):
    """U-Net denoiser of the original dream model; `norm="group"`, `standardize=False`, `noise_embed` and
    `output="linear"` are opt-in variants (the improved dream's level denoiser)."""

    def __init__(
        self,
        in_channels: int = 1,
        base_features: int = 8,
        levels: int = 4,
        image_size: int = 64,
        norm: Norm = "batch",
        norm_groups: int = 4,
        standardize: bool = True,
        std_eps: float = 1e-6,
        noise_embed: int = 0,
        output: Literal["sigmoid", "linear"] = "sigmoid",
    ):
        super().__init__()
        if image_size % (2**levels):
            raise ValueError(f"image_size {image_size} must be divisible by 2**levels = {2**levels}")
        if norm not in ("batch", "group"):
            raise ValueError(f"norm {norm!r} must be 'batch' or 'group'")
        if output not in ("sigmoid", "linear"):
            raise ValueError(f"output {output!r} must be 'sigmoid' or 'linear'")
        f = base_features
        self.image_size = image_size
        self.standardize = standardize
        self.std_eps = std_eps  # floor on the std: only a constant image (std 0) differs from the original's x / std
        self.input = _conv_block(in_channels, f, norm, norm_groups)
        self.encoder = nn.ModuleList(
            _conv_block(f * 2**i, f * 2 ** (i + 1), norm, norm_groups, nn.Conv2d(f * 2**i, f * 2 ** (i + 1), 3, 2, 1))
            for i in range(levels)
        )
        self.decoder = nn.ModuleList(
            _conv_block(
                f * 2 ** (levels - i),
                f * 2 ** (levels - i - 1),
                norm,
                norm_groups,
                nn.ConvTranspose2d(f * 2 ** (levels - i), f * 2 ** (levels - i - 1), 3, 2, 1, output_padding=1),
            )
            for i in range(levels)
        )
        self.output = nn.Sequential(
            nn.Conv2d(f, f, 3, padding=1),
            _norm(norm, f, norm_groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(f, in_channels, 3, padding=1),
            *([nn.Sigmoid()] if output == "sigmoid" else []),
        )
        self.embed = None
        if noise_embed:
            blocks = [self.input, *self.encoder, *self.decoder]
            self.embed = NoiseEmbedding(noise_embed)
            self.embed_proj = nn.ModuleList(nn.Linear(4 * noise_embed, b[0].out_channels) for b in blocks)

    def _block(self, k: int, block: nn.Sequential, x: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        if emb is None:
            return block(x)
        x = block[0](x) + self.embed_proj[k](emb)[:, :, None, None]  # the noise level as a per-channel shift
        for layer in block[1:]:
            x = layer(x)
        return x

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor | None = None) -> torch.Tensor:
        if (c_noise is None) != (self.embed is None):
            raise ValueError("c_noise must be given exactly when the generator has a noise embedding")
        emb = None if self.embed is None else self.embed(c_noise)
        if self.standardize:
            std, mean = torch.std_mean(x, dim=(1, 2, 3), keepdim=True)  # unbiased, as the original's x.std()
            x = (x - mean) / std.clamp_min(self.std_eps)
        x = self._block(0, self.input, x, emb)
        skips = []
        for k, block in enumerate(self.encoder, start=1):
            x = self._block(k, block, x, emb)
            skips.append(x)
        for i, block in enumerate(self.decoder):
            # first decoder block: bottleneck + itself, as in the original
            x = self._block(1 + len(self.encoder) + i, block, x + skips[-i - 1], emb)
        return self.output(x)


@torch.no_grad()
def init_faithful_(module: nn.Module) -> nn.Module:
    """The original's initialisation: every parameter (conv weights, biases, norm scales and shifts) ~ N(0, 0.01^2)."""
    for p in module.parameters():
        p.copy_(torch.randn_like(p) * 0.01)
    return module
