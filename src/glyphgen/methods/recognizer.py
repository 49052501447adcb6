"""`Classifier`: the glyph recogniser as a family, so that the one trainer trains it and `checkpoint.py` exports it.

The network (`glyphgen.models.recognizer.Recognizer`) names a glyph among its classes; the loss is cross-entropy
with label smoothing (Szegedy et al., 2016) over batches that the trainer has already warped (random affine), plus
a morphological augmentation done here: a random share of the glyphs get their strokes thickened (3x3 dilation) or
thinned (3x3 erosion), since pens, fonts and generated glyphs differ most in stroke weight. The optimiser is AdamW
(Adam with decoupled weight decay, Loshchilov & Hutter, 2019).

A classifier reads glyphs; it draws none. Its capabilities say so (`generates=False`: model listings and the
trainer's sample grids skip it), and `sample()` is a one-line error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from glyphgen.config import check_choices
from glyphgen.errors import GlyphgenError
from glyphgen.methods.base import Capabilities, Method, MethodConfig
from glyphgen.methods.options import SampleOptions
from glyphgen.models.recognizer import Recognizer


@dataclass
class ClassifierConfig(MethodConfig):
    """The recogniser's network and loss (`glyphgen eval train-recognizer` sets them from its own options)."""

    lr: float = 3e-3  # peak AdamW learning rate
    weight_decay: float = 5e-4  # AdamW (decoupled) weight decay
    size: int = 32  # network input side; glyphs of any size are resized to it (area averaging)
    widths: list[int] = field(default_factory=lambda: [24, 48, 96, 192])  # channels of the conv stages
    embed: int = 256  # embedding width: the feature space of the distribution metrics
    label_smoothing: float = 0.1  # cross-entropy label smoothing
    morph: float = 0.4  # share of glyphs whose strokes are thickened or thinned by one pixel (half each)

    def __post_init__(self):
        check_choices(self)
        if not 16 <= self.size <= 128:
            raise GlyphgenError(f"recogniser size {self.size} is out of range; use 16 to 128")
        if len(self.widths) < 2 or min(self.widths) < 1 or self.embed < 1:
            raise GlyphgenError("widths needs at least two positive stages (e.g. 24,48,96,192) and embed > 0")
        if not 0 <= self.morph <= 1 or not 0 <= self.label_smoothing < 1:
            raise GlyphgenError(f"morph {self.morph} must be in [0, 1], label_smoothing in [0, 1)")


def morph(x: torch.Tensor, fraction: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Thicken (3x3 dilation) or thin (3x3 erosion) the strokes of a random `fraction` of the glyphs x (B, 1, H, W)
    in [0, 1], half each. Without a generator it draws from torch's RNG, which the trainer's checkpoints carry."""
    if fraction <= 0:
        return x
    u = torch.rand(x.shape[0], 1, 1, 1, generator=generator).to(x.device)
    thick = F.max_pool2d(x, 3, 1, 1)
    thin = -F.max_pool2d(-x, 3, 1, 1)
    return torch.where(u < fraction / 2, thick, torch.where(u < fraction, thin, x))


class Classifier(Method):
    family = "recognizer"
    config_class = ClassifierConfig
    options_class = SampleOptions  # nothing to sample, so no options
    conditioning = "always"  # the labels are what it learns

    def __init__(self, config: ClassifierConfig, image_shape: tuple[int, int, int], num_classes: int = 0):
        super().__init__(config, image_shape, num_classes)
        if num_classes < 2:
            raise GlyphgenError(f"a recogniser needs at least two classes to tell apart, got {num_classes}")
        if self.image_shape[0] != 1:
            raise GlyphgenError(f"the recogniser reads 1-channel glyphs, got {self.image_shape[0]} channels")
        self.net = Recognizer(num_classes, config.size, tuple(config.widths), config.embed)

    def loss(self, x, y, step):
        if y is None:
            raise GlyphgenError("the recogniser learns from labelled glyphs; this data gave none")
        logits = self.net(morph(x, self.config.morph))
        loss = F.cross_entropy(logits, y, label_smoothing=self.config.label_smoothing)
        top1 = (logits.argmax(1) == y).float().mean()  # on the training batch, augmented
        return {"model": loss}, {"top1": top1.item()}

    def optimizer_options(self, group: str) -> dict:
        return {"lr": self.config.lr, "weight_decay": self.config.weight_decay, "decoupled_weight_decay": True}

    @classmethod
    def capabilities_for(cls, num_classes: int) -> Capabilities:
        return Capabilities(generates=False)

    def class_probs(self, glyphs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(glyphs), dim=1)

    def sample(self, seeds, labels=None, return_trajectory: bool = False, callback=None, **options):
        raise GlyphgenError(
            "a recogniser reads glyphs and draws none; sample a generative model (`glyphgen models` lists them)"
        )
