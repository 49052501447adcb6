"""Training-time augmentation of glyph batches: a small random affine warp and stroke-weight change per image,
batched on the tensor.

Written by hand rather than with torchvision.transforms.v2 because those transform one image (or one shared set of
parameters per batch) at a time, and torchvision's wheel does not load beside this project's CPU torch; one
`affine_grid` + `grid_sample` call warps a whole batch with per-image parameters.

Horizontal flips are off by default: a mirrored character is not a character (反 flipped is no glyph anyone writes),
so a flip teaches the model non-glyphs. They stay available for image sets where mirroring is harmless (faces).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    """Random affine per image; all zero = no augmentation."""

    rotate: float = 0.0  # max rotation, degrees (e.g. 5)
    translate: float = 0.0  # max shift, fraction of the image side (e.g. 0.05)
    scale: float = 0.0  # max relative zoom in or out (e.g. 0.08)
    shear: float = 0.0  # max shear, degrees
    weight: float = 0.0  # max blend towards the glyph dilated (bolder) or eroded (thinner) by one pixel
    hflip: bool = False  # mirror half the images; off by default because a mirrored character is not a character

    @property
    def warps(self) -> bool:
        """Whether the affine part (rotate, shift, zoom, shear, flip) does anything."""
        return bool(self.rotate or self.translate or self.scale or self.shear or self.hflip)

    @property
    def active(self) -> bool:
        return bool(self.warps or self.weight)


def augment(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """x (B, C, H, W) in [0, 1], ink high (paper is 0, so zero padding is blank paper) -> same shape, warped."""
    if not cfg.active:
        return x
    b = x.shape[0]
    if cfg.weight:
        x = reweight(x, (torch.rand(b, generator=generator) * 2 - 1) * cfg.weight)
    if not cfg.warps:
        return x

    def uniform(limit: float) -> torch.Tensor:
        return (torch.rand(b, generator=generator) * 2 - 1) * limit

    angle = uniform(math.radians(cfg.rotate))
    shear = uniform(math.radians(cfg.shear))
    zoom = 1 + uniform(cfg.scale)
    shift = torch.stack([uniform(cfg.translate * 2), uniform(cfg.translate * 2)], 1)  # grid units span 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output coords to input coords, so the inverse zoom makes `zoom` > 1 enlarge the glyph.
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = cos / zoom
    theta[:, 0, 1] = (-sin + torch.tan(shear) * cos) / zoom
    theta[:, 1, 0] = sin / zoom
    theta[:, 1, 1] = (cos + torch.tan(shear) * sin) / zoom
    theta[:, :, 2] = shift
    if cfg.hflip:
        flip = torch.rand(b, generator=generator) < 0.5
        theta[flip, 0, :2] *= -1
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def reweight(x: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Per-image stroke weight: amount (B,) in [-1, 1]; > 0 blends towards the glyph dilated by one pixel (3x3 max),
    < 0 towards it eroded by one pixel (3x3 min), 0 leaves it. Ink is high, so dilation thickens strokes."""
    a = amount.to(x).view(-1, 1, 1, 1)
    bolder = F.max_pool2d(x, 3, stride=1, padding=1)
    thinner = -F.max_pool2d(-x, 3, stride=1, padding=1)
    return torch.where(a >= 0, x + a * (bolder - x), x + a * (x - thinner))
