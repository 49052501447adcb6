"""The style encoder of the few-shot style family: k reference glyphs of one face -> one style code.

Each reference is encoded alone by a small strided CNN (GroupNorm, SiLU; from the glyph folded into `patch` x `patch`
pixel blocks down to 4 px) whose mean- and max-pooled features are projected to a vector; the face's code is the mean
of its references' vectors (masked, so a face may give any k), then an MLP. Averaging over references is DG-Font's
and FontDiffuser's way of reading a style from a few glyphs (Xie et al. 2021; Yang et al. 2024): the code has to
describe what the references share (stroke weight and ends, slant, the brush or pen), not which characters they are.
The code conditions the denoiser through its timestep embedding, with AdaGN scale and shift in every block.
"""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int, groups: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1),
        nn.GroupNorm(groups, cout),
        nn.SiLU(),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.GroupNorm(groups, cout),
        nn.SiLU(),
    )


class StyleEncoder(nn.Module):
    """(B, K, C, H, W) references in [-1, 1] and a (B, K) mask of the real ones -> (B, dim) style codes."""

    def __init__(self, channels: int, size: int, width: int, dim: int, groups: int = 8, patch: int = 1):
        super().__init__()
        self.patch = patch  # folding 2x2 blocks first makes the first, costliest level 4x cheaper
        layers, c, s = [], channels * patch * patch, size // patch
        while s > 4:  # halve to 4 px, doubling the width up to 4x
            w = width * min(4, 2 ** len(layers))
            layers.append(_block(c, w, groups))
            c, s = w, s // 2
        self.features = nn.Sequential(*layers)
        self.project = nn.Linear(2 * c, dim)
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, refs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, k = refs.shape[:2]
        x = refs.flatten(0, 1)
        if self.patch > 1:
            x = torch.nn.functional.pixel_unshuffle(x, self.patch)
        h = self.features(x)  # (B*K, c, 4, 4)
        h = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        v = self.project(h).reshape(b, k, -1)
        if mask is None:
            v = v.mean(dim=1)
        else:
            m = mask.to(v.dtype).unsqueeze(-1)
            v = (v * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)
        return self.mlp(v)
