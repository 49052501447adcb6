"""Encoder and decoder networks of the two variational autoencoders (Kingma & Welling, 2014).

`VAEEncoder` / `VAEDecoder` are the ResNet pair of the GANji kanji VAE: a residual encoder that widens from
`base_width` (64) to `base_width * max_mult` (512) channels over `depth` (7) residual blocks while halving the
resolution down to 4x4, a linear head to the latent mean and log-variance (256 each), and a mirrored decoder that
returns Bernoulli logits.

`CVAEEncoder` / `CVAEDecoder` are the small conditional VAE of the handwriting dashboard (28x28, 36 classes): two
4x4 stride-2 convolutions, a class head and two latent heads on the flattened features, and a decoder that adds a
projection of z to a projection of the class probabilities before two transposed convolutions. They are generalised
to any image side divisible by 4 and any number of classes; at 28x28 with 36 classes the layer sizes are the
original's (flatten 1,568; class head 1568 -> 128 -> 36; latent heads 1568 -> 64).

All networks map tensors to tensors; the losses and samplers live in `glyphgen.methods.vae` and `.cvae`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _norm(channels: int) -> nn.GroupNorm:
    # GroupNorm rather than BatchNorm: an image's output must not depend on the rest of its batch (per-seed sampling)
    # and train and eval behave the same; gcd keeps any base width valid.
    return nn.GroupNorm(math.gcd(32, channels), channels)


def downsample_plan(depth: int, n_down: int) -> list[bool]:
    """Which of `depth` blocks halve the resolution: `n_down` of them, spread evenly and ending on the last block.

    At depth 7 and 64 px (4 halvings to reach 4x4) blocks 1, 3, 5 and 6 downsample.
    """
    if depth < n_down:
        raise ValueError(f"depth {depth} is too small for {n_down} halvings")
    return [(i + 1) * n_down // depth > i * n_down // depth for i in range(depth)]


def _halvings(image_size: int) -> int:
    n = int(math.log2(image_size)) - 2  # down to 4x4
    if image_size != 4 * 2**n or n < 1:
        raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
    return n


class ResBlock(nn.Module):
    """Pre-activation residual block (He et al., 2016) that can halve ("down") or double ("up") the resolution."""

    def __init__(self, c_in: int, c_out: int, resample: str | None = None):
        super().__init__()
        self.resample = resample
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "down":
            return F.avg_pool2d(x, 2)
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._resample(F.relu(self.norm1(x)))
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))
        return h + self.skip(self._resample(x))


def _widths(base_width: int, max_mult: int, plan: list[bool]) -> list[int]:
    """Output channels of each encoder block: doubled at every halving, capped at base_width * max_mult."""
    widths, downs = [], 0
    for down in plan:
        downs += down
        widths.append(base_width * min(2**downs, max_mult))
    return widths


class VAEEncoder(nn.Module):
    """(B, C, S, S) image -> latent mean and log-variance, each (B, latent)."""

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 1,
        latent: int = 256,
        base_width: int = 64,
        depth: int = 7,
        max_mult: int = 8,
    ):
        super().__init__()
        plan = downsample_plan(depth, _halvings(image_size))
        widths = _widths(base_width, max_mult, plan)
        self.stem = nn.Conv2d(channels, base_width, 3, padding=1)
        ins = [base_width, *widths[:-1]]
        self.blocks = nn.Sequential(
            *[ResBlock(i, o, "down" if d else None) for i, o, d in zip(ins, widths, plan, strict=True)]
        )
        self.out_norm = _norm(widths[-1])
        self.head = nn.Linear(widths[-1] * 16, 2 * latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.out_norm(self.blocks(self.stem(x))))  # (B, base * max_mult, 4, 4)
        mu, logvar = self.head(h.flatten(1)).chunk(2, dim=1)
        return mu, logvar


class VAEDecoder(nn.Module):
    """(B, latent) code -> (B, C, S, S) Bernoulli logits; the mirror image of `VAEEncoder` with the same arguments."""

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 1,
        latent: int = 256,
        base_width: int = 64,
        depth: int = 7,
        max_mult: int = 8,
    ):
        super().__init__()
        plan = downsample_plan(depth, _halvings(image_size))
        widths = _widths(base_width, max_mult, plan)
        self.top = widths[-1]
        self.fc = nn.Linear(latent, self.top * 16)
        # Encoder block i maps ins[i] -> widths[i]; the decoder runs the blocks backwards, widths[i] -> ins[i].
        ins = [base_width, *widths[:-1]]
        self.blocks = nn.Sequential(
            *[ResBlock(o, i, "up" if d else None) for i, o, d in reversed(list(zip(ins, widths, plan, strict=True)))]
        )
        self.out_norm = _norm(base_width)
        self.out = nn.Conv2d(base_width, channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(len(z), self.top, 4, 4)
        return self.out(F.relu(self.out_norm(self.blocks(h))))  # logits; sigmoid gives ink probability


def _cvae_grid(image_size: int) -> int:
    if image_size % 4:
        raise ValueError(f"image_size must be divisible by 4 (two stride-2 convolutions), got {image_size}")
    return image_size // 4


class CVAEEncoder(nn.Module):
    """(B, C, S, S) image -> (class logits (B, K), mu (B, latent), logvar (B, latent)).

    conv 4x4 s2 (C -> width), ReLU, conv 4x4 s2 (width -> width), ReLU, flatten (width * (S/4)^2: 1,568 at 28 px);
    class head flat -> hidden -> K; latent heads flat -> latent (mean) and flat -> latent (log-variance).
    """

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        num_classes: int = 36,
        latent: int = 64,
        width: int = 32,
        hidden: int = 128,
    ):
        super().__init__()
        flat = width * _cvae_grid(image_size) ** 2
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))
        self.mu = nn.Linear(flat, latent)
        self.logvar = nn.Linear(flat, latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.classifier(h), self.mu(h), self.logvar(h)


class CVAEDecoder(nn.Module):
    """(z (B, latent), class probabilities (B, K)) -> (B, C, S, S) Bernoulli logits.

    Linear(z -> flat) + [Linear(K -> hidden), ReLU, Linear(hidden -> flat), ReLU](probs), reshape to
    (width, S/4, S/4), convT 4x4 s2, ReLU, convT 4x4 s2 -> logits. The class branch takes probabilities, not only
    one-hot vectors, because the original feeds it the encoder's softmax during training.
    """

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        num_classes: int = 36,
        latent: int = 64,
        width: int = 32,
        hidden: int = 128,
    ):
        super().__init__()
        self.width, self.grid = width, _cvae_grid(image_size)
        flat = width * self.grid**2
        self.from_z = nn.Linear(latent, flat)
        self.from_class = nn.Sequential(nn.Linear(num_classes, hidden), nn.ReLU(), nn.Linear(hidden, flat), nn.ReLU())
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),
        )

    def forward(self, z: torch.Tensor, class_probs: torch.Tensor) -> torch.Tensor:
        h = self.from_z(z) + self.from_class(class_probs)
        return self.deconv(h.view(len(z), self.width, self.grid, self.grid))
