"""The glyph recogniser's configuration: network, training data, optimiser (no torch import, so the CLI stays quick)."""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from glyphgen.config import check_choices
from glyphgen.errors import GlyphgenError

LATIN = list(string.ascii_uppercase + string.ascii_lowercase + string.digits)
TRAIN_FONTS = ("Noto Sans CJK JP", "Noto Sans CJK JP Bold", "Noto Serif CJK JP", "IPAMincho", "WenQuanYi Micro Hei")
LATIN_FONTS = ("DejaVu Sans", "DejaVu Serif", "DejaVu Sans Bold", "Noto Sans CJK JP", "IPAMincho")


@dataclass
class RecognizerConfig:
    """The recogniser's network, its training data and its optimiser."""

    size: int = 32  # network input side; glyphs of any size are resized to it (area averaging)
    widths: list[int] = field(default_factory=lambda: [24, 48, 96, 192])  # channels of the four conv stages
    embed: int = 256  # embedding width: the feature space of the distribution metrics
    render_size: int = 64  # side the training glyphs are rendered at (then resized like any evaluated glyph)
    kanjivg_copies: int = 3  # stroke-jittered KanjiVG renders per character, besides the clean one
    heldout_seed: int = 7  # KanjiVG augmentation seed of the held-out jittered renders (training uses seed 0)
    train_fonts: list[str] = field(default_factory=lambda: list(TRAIN_FONTS))  # CJK faces rendered for training
    latin_fonts: list[str] = field(default_factory=lambda: list(LATIN_FONTS))  # faces for the Latin letters, digits
    heldout_fonts: list[str] = field(default_factory=lambda: ["IPAGothic"])  # faces never trained on (the test)
    digits_heldout: int = 297  # the last N scikit-learn handwritten digits are held out
    steps: int = 2600  # optimiser steps
    batch_size: int = 128  # glyphs per step
    lr: float = 3e-3  # peak AdamW learning rate (warm-up over the first 15% of the steps, then cosine decay)
    weight_decay: float = 5e-4  # AdamW weight decay
    label_smoothing: float = 0.1  # cross-entropy label smoothing
    rotate: float = 6.0  # augmentation: max rotation, degrees
    translate: float = 0.05  # augmentation: max shift, fraction of the side
    scale: float = 0.12  # augmentation: max relative zoom
    shear: float = 8.0  # augmentation: max shear, degrees
    morph: float = 0.4  # augmentation: fraction of glyphs whose strokes are thickened or thinned by one pixel
    seed: int = 0  # seeds weights, batches and augmentation
    threads: int = 0  # CPU threads for torch (0 = torch's default)
    eval_every: int = 500  # held-out accuracy (on up to 2,000 glyphs per set) every N steps, into metrics.jsonl
    checkpoint_every: int = 250  # write <out>/checkpoints/last.ckpt and <out>/model every N steps (and on SIGTERM)

    def __post_init__(self):
        check_choices(self)
        if not 16 <= self.size <= 128:
            raise GlyphgenError(f"recogniser size {self.size} is out of range; use 16 to 128")
        if len(self.widths) < 2:
            raise GlyphgenError("widths needs at least two stages, e.g. 24,48,96,192")
        for name in ("steps", "batch_size", "eval_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise GlyphgenError(f"{name} must be at least 1, got {getattr(self, name)}")
