"""The noising/denoising strip: one real glyph walked into noise, and a sample walked back out of it.

Top row: the family's forward process on a training glyph (`method.noising`); bottom row: evenly spaced frames of
one sampling trajectory (`method.sample(..., return_trajectory=True)`), noise on the left, glyph on the right. Families
without a noise process (vae, cvae, gan) have no strip.
"""

from __future__ import annotations

from pathlib import Path

import torch

from glyphgen.images import save_grid


def has_strip(method) -> bool:
    return method.capabilities().trajectory


@torch.no_grad()
def denoising_strip(method, x0: torch.Tensor, path: str | Path, seed: int = 0, columns: int = 8, label=None) -> Path:
    """Write the two-row strip for glyph x0 (C, H, W) in [0, 1] to `path`."""
    forward = method.noising(x0, seed, columns)
    labels = None if label is None else torch.tensor([label])
    _, trajectory = method.sample([seed], labels, return_trajectory=True)
    picks = torch.linspace(0, len(trajectory) - 1, columns).round().long().tolist()
    reverse = [trajectory[i][0] for i in picks]
    return save_grid(torch.stack([*forward, *reverse]), path, nrow=columns, scale=2)
