"""Shipped pretrained models: small exports inside the package, so `pip install` is all a user needs.

Each lives in `glyphgen/weights/<name>/` as `model.safetensors` + `config.json` (see `glyphgen.checkpoint`) and a
`README.md` model card, and was produced by `glyphgen train --config configs/<name>.yaml` followed by
`glyphgen export runs/<name> src/glyphgen/weights/<name>`. Anything there that is not a generative model (for
instance the evaluation recogniser) is not listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from glyphgen.errors import GlyphgenError

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_MODEL = "kanji-ddpm"  # what `glyphgen sample` draws from when no model is named


@dataclass(frozen=True)
class ShippedModel:
    name: str
    path: Path
    family: str
    image_shape: tuple[int, ...]
    num_classes: int
    step: int
    train_seconds: float | None
    megabytes: float

    def describe(self) -> str:
        """One line for `glyphgen models`."""
        c, h, w = self.image_shape
        what = f"conditional on {self.num_classes:,} characters" if self.num_classes else "unconditional"
        trained = f"{self.step:,} steps"
        if self.train_seconds:
            trained += f" in {self.train_seconds / 60:.0f} min"
        return f"{self.name:18s} {self.family:5s} {h}x{w}  {what}; {trained}; {self.megabytes:.1f} MB"


def shipped(folder: Path | None = None) -> list[ShippedModel]:
    """Every shipped generative model (in `folder`, default the package's), sorted by name."""
    from glyphgen.export_format import CONFIG, WEIGHTS
    from glyphgen.methods import FAMILIES, generates

    folder = WEIGHTS_DIR if folder is None else folder
    models = []
    for config in sorted(folder.glob(f"*/{CONFIG}")):
        try:
            meta = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # a broken folder is reported when someone loads it, not while listing
        if meta.get("family") not in FAMILIES or not generates(meta["family"]):
            continue  # not a glyphgen model, or one that draws nothing (the evaluation recogniser)
        weights = config.parent / WEIGHTS
        models.append(
            ShippedModel(
                name=config.parent.name,
                path=config.parent,
                family=meta["family"],
                image_shape=tuple(meta.get("image_shape", ())),
                num_classes=int(meta.get("num_classes", 0)),
                step=int(meta.get("step", 0)),
                train_seconds=meta.get("train_seconds"),
                megabytes=weights.stat().st_size / 1e6 if weights.is_file() else 0.0,
            )
        )
    return models


def find(name: str, folder: Path | None = None) -> Path:
    """The folder of the shipped model `name`; a one-line error naming the available ones otherwise."""
    for model in shipped(folder):
        if model.name == name:
            return model.path
    names = ", ".join(m.name for m in shipped(folder)) or "none in this installation"
    raise GlyphgenError(f"no model {name!r}: not a folder, and not a shipped model ({names})")
