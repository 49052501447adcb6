"""A small CNN character recogniser: glyph in, class logits and a feature embedding out.

It plays two parts in evaluation (`glyphgen.eval`): its embedding is the feature space of the distribution metrics
(Fréchet glyph distance, KID, precision/recall, novelty), standing in for Inception, whose ImageNet weights are a
download away and see 1-channel glyphs badly; and its logits judge conditional models ("is this 永?").

Layout: VGG-style stages of two 3x3 conv + BatchNorm + ReLU, 2x max-pooling between stages, then the last feature
map average-pooled to 2x2 (keeping the coarse layout of a character, which global pooling would throw away),
flattened, a linear layer + BatchNorm to the `embed`-d embedding, and a linear classifier over it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, size, size): area averaging when shrinking (what a lower-resolution render sees),
    bilinear when enlarging. Training and feature extraction both go through this, so they see the same pixels."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    if x.shape[-1] > size:
        return F.interpolate(x, size=(size, size), mode="area")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


class Recognizer(nn.Module):
    def __init__(
        self, num_classes: int, size: int = 32, widths: tuple[int, ...] = (32, 64, 128, 256), embed: int = 256
    ):
        super().__init__()
        self.num_classes, self.size, self.widths, self.embed_dim = num_classes, size, tuple(widths), embed
        layers: list[nn.Module] = []
        c_in = 1
        for i, w in enumerate(widths):
            if i:
                layers.append(nn.MaxPool2d(2))
            for _ in range(2):
                layers += [nn.Conv2d(c_in, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                c_in = w
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.embed = nn.Sequential(nn.Linear(4 * c_in, embed, bias=False), nn.BatchNorm1d(embed))
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(embed, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 1, H, W) in [0, 1], ink high, any H = W -> (B, embed) embedding."""
        x = resize(x, self.size) * 2 - 1  # [-1, 1]: paper at -1
        return self.embed(self.pool(self.body(x)).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 1, H, W) in [0, 1], ink high -> (B, num_classes) logits."""
        return self.head(self.drop(self.features(x)))
