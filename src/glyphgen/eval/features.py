"""The recogniser's embedding as a feature extractor: for torchmetrics' FID/KID and for the k-NN metrics.

`GlyphFeatures` is the `feature=` module torchmetrics' `FrechetInceptionDistance` and `KernelInceptionDistance` accept
in place of Inception: it has `num_features`, takes (B, 1, H, W) glyphs (uint8 in [0, 255] or float in [0, 1], ink
high, any square size: they are resized to the recogniser's input) and returns (B, num_features) embeddings. The
metric functions accept glyphs or their features, so each glyph set goes through the network once.
"""

from __future__ import annotations

import torch
from torch import nn

from glyphgen.errors import GlyphgenError
from glyphgen.models.recognizer import Recognizer


def as_float(images) -> torch.Tensor:
    """uint8 [0, 255] / float [0, 1] arrays or tensors -> float32 tensor in [0, 1]."""
    x = torch.as_tensor(images)
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def check_glyphs(shape, what: str = "images") -> None:
    """The recogniser reads 1-channel square glyphs; anything else is a one-line error."""
    if len(shape) != 4:
        raise GlyphgenError(f"{what} must be (N, C, H, W), got shape {tuple(shape)}")
    if shape[1] != 1:
        raise GlyphgenError(
            f"{what} have {shape[1]} channels; the glyph recogniser reads 1-channel glyphs, so evaluate a glyph model"
        )
    if shape[2] != shape[3] or shape[2] < 8:
        raise GlyphgenError(f"{what} are {shape[2]}x{shape[3]}; the recogniser reads square glyphs of 8 px or more")


class GlyphFeatures(nn.Module):
    """Recogniser embeddings of glyph batches (always in eval mode: its BatchNorm statistics are fixed)."""

    def __init__(self, recognizer: Recognizer, batch_size: int = 500):
        super().__init__()
        self.net = recognizer.eval()
        self.num_features = recognizer.embed_dim
        self.batch_size = batch_size

    def train(self, mode: bool = True):
        return super().train(False)

    @torch.no_grad()
    def forward(self, images) -> torch.Tensor:
        """(B, 1, H, W) glyphs -> (B, num_features). A (B, num_features) input is taken as features this module
        already extracted and passed through, so the metrics run the network once per glyph set."""
        if images.ndim == 2 and images.shape[1] == self.num_features:
            return images.float()
        check_glyphs(tuple(images.shape))
        out = [
            self.net.features(as_float(images[k : k + self.batch_size])) for k in range(0, len(images), self.batch_size)
        ]
        return torch.cat(out) if out else torch.zeros(0, self.num_features)

    @torch.no_grad()
    def logits(self, images) -> torch.Tensor:
        """(N, num_classes) recogniser logits of glyphs (or of features from `forward`)."""
        return self.net.head(self(images))  # the classifier reads the embedding (dropout is off in eval mode)


def load_features(path=None) -> tuple[GlyphFeatures, dict]:
    """The feature extractor of the recogniser in `path` (default: the shipped one) and its config.json."""
    from glyphgen.eval.recognizer import load

    net, meta = load(path)
    return GlyphFeatures(net), meta
