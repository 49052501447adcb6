"""ResNet generator and discriminator of the GANji kanji GAN, in the style of SN-GAN (Miyato et al., 2018).

Generator: Linear(z) -> (8 * base_width) x 4 x 4 -> residual upsampling blocks (nearest x2) that halve the channels
down to base_width until image_size -> norm, ReLU, conv3x3 -> Tanh, so images come out in [-1, 1].
Discriminator: residual downsampling blocks (average pooling) that double the channels from base_width up to
8 * base_width, LeakyReLU 0.2 and no normalisation (norm layers in a critic fight the gradient penalty), global sum
pooling and a linear score.

Class conditioning when num_classes > 0: class-conditional normalisation gains and biases in the generator
(de Vries et al., 2017; as in BigGAN) and a projection discriminator (Miyato & Koyama, 2018), whose score adds
<embed(y), features>. With num_classes = 0 both networks are unconditional and ignore y.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn


def _halvings(image_size: int) -> int:
    n = int(math.log2(image_size)) - 2  # 4x4 <-> image_size
    if image_size != 4 * 2**n or n < 1:
        raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
    return n


class CondNorm(nn.Module):
    """GroupNorm whose gain and bias are learned per class (or shared when num_classes = 0).

    GroupNorm rather than BatchNorm: image k must not depend on its batch (per-seed sampling), and the EMA copy of
    the generator would otherwise carry running statistics measured on the live weights.
    """

    def __init__(self, channels: int, num_classes: int = 0):
        super().__init__()
        self.norm = nn.GroupNorm(math.gcd(32, channels), channels, affine=False)
        rows = max(num_classes, 1)
        self.gain = nn.Parameter(torch.ones(rows, channels))
        self.bias = nn.Parameter(torch.zeros(rows, channels))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        index = torch.zeros(len(x), dtype=torch.int64, device=x.device) if y is None or len(self.gain) == 1 else y
        return self.norm(x) * self.gain[index, :, None, None] + self.bias[index, :, None, None]


class GBlock(nn.Module):
    """Pre-activation residual block that doubles the resolution."""

    def __init__(self, c_in: int, c_out: int, num_classes: int = 0):
        super().__init__()
        self.norm1, self.conv1 = CondNorm(c_in, num_classes), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2, self.conv2 = CondNorm(c_out, num_classes), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.norm1(x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h), y)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class Generator(nn.Module):
    """(z (B, latent), y (B,) or None) -> (B, C, S, S) in [-1, 1]."""

    def __init__(
        self, latent: int = 128, base_width: int = 64, image_size: int = 64, channels: int = 1, num_classes: int = 0
    ):
        super().__init__()
        n_up = _halvings(image_size)
        widths = [base_width * max(1, 8 // 2**i) for i in range(n_up + 1)]  # 64 px: 512, 256, 128, 64, 64
        self.top = widths[0]
        self.fc = nn.Linear(latent, self.top * 16)
        self.blocks = nn.ModuleList(GBlock(a, b, num_classes) for a, b in itertools.pairwise(widths))
        self.out_norm = CondNorm(widths[-1], num_classes)
        self.out = nn.Conv2d(widths[-1], channels, 3, padding=1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(z).view(len(z), self.top, 4, 4)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out(F.relu(self.out_norm(h, y))))


class DBlock(nn.Module):
    """Residual block of the discriminator, optionally halving the resolution; no normalisation.

    The first block starts with a convolution instead of an activation so that the raw image is not clipped.
    """

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out or down else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.leaky_relu(x, 0.2)
        h = self.conv2(F.leaky_relu(self.conv1(h), 0.2))
        skip = x
        if self.down:
            h, skip = F.avg_pool2d(h, 2), F.avg_pool2d(skip, 2)
        return h + self.skip(skip)


def minibatch_stddev(x: torch.Tensor, group: int) -> torch.Tensor:
    """Append one channel: the feature std across groups of `group` images (Karras et al., 2018, ProGAN).

    A generator that collapses to one glyph gives its groups near-zero std, which real batches never have, so the
    critic can see collapse and punish it. The batch is split into groups of min(group, B) (B must divide evenly;
    otherwise the whole batch is one group).
    """
    b, c, h, w = x.shape
    g = min(group, b) if b % min(group, b) == 0 else b
    std = x.view(g, b // g, c, h, w).std(dim=0, unbiased=False).add(1e-8)  # (B/g, C, H, W) per position
    stat = std.mean(dim=(1, 2, 3)).view(1, b // g, 1, 1, 1).expand(g, b // g, 1, h, w).reshape(b, 1, h, w)
    return torch.cat([x, stat], dim=1)


class Discriminator(nn.Module):
    """(x (B, C, S, S) in [-1, 1], y (B,) or None) -> (B,) real-vs-fake scores (unbounded logits).

    mbstd_group > 0 adds the minibatch-stddev channel before the last (4x4) block.
    """

    def __init__(
        self, base_width: int = 64, image_size: int = 64, channels: int = 1, num_classes: int = 0, mbstd_group: int = 0
    ):
        super().__init__()
        n_down = _halvings(image_size)
        widths = [base_width * min(2**i, 8) for i in range(n_down + 1)]  # 64 px: 64, 128, 256, 512, 512
        ins = [channels, *widths[:-1]]
        self.mbstd_group = mbstd_group
        if mbstd_group:
            ins[-1] += 1
        # n_down blocks halve down to 4x4; the last one keeps 4x4.
        blocks = [DBlock(a, b, down=i < n_down, first=i == 0) for i, (a, b) in enumerate(zip(ins, widths, strict=True))]
        self.blocks = nn.Sequential(*blocks[:-1])
        self.last = blocks[-1]
        self.linear = nn.Linear(widths[-1], 1)
        self.embed = nn.Embedding(num_classes, widths[-1]) if num_classes > 0 else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=0.02)  # start close to the unconditional critic

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.blocks(x)
        if self.mbstd_group:
            h = minibatch_stddev(h, self.mbstd_group)
        h = F.leaky_relu(self.last(h), 0.2).sum(dim=(2, 3))  # (B, 8 * base_width) global sum pooling
        score = self.linear(h).squeeze(1)
        if self.embed is not None and y is not None:
            score = score + (self.embed(y) * h).sum(dim=1)  # projection term <embed(y), phi(x)>
        return score
