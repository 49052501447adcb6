"""Model families, by name. Each module defines one `Method` subclass and its config dataclass."""

from __future__ import annotations

import importlib

from glyphgen.errors import GlyphgenError

FAMILIES = {
    "dream": ("glyphgen.methods.dream", "Dream"),
    "ddpm": ("glyphgen.methods.ddpm", "DDPM"),
    "vae": ("glyphgen.methods.vae", "VAE"),
    "cvae": ("glyphgen.methods.cvae", "CVAE"),
    "gan": ("glyphgen.methods.gan", "GAN"),
    "style": ("glyphgen.methods.style", "Style"),
    "distill": ("glyphgen.methods.distill", "Distill"),  # trains a few-step student; exports it as its teacher's family
    "recognizer": ("glyphgen.methods.recognizer", "Classifier"),  # reads glyphs (evaluation), draws none
}

# Families that read glyphs and draw none: their capabilities say `generates=False` (tests/methods/test_contract.py
# holds the two together). Named here, without torch, so that listing the shipped generative models stays quick.
READERS = frozenset({"recognizer"})


def generates(family) -> bool:
    """Whether an export of `family` (a config.json's "family" entry) draws glyphs."""
    return not (isinstance(family, str) and family in READERS)


def get_family(name: str):
    """The `Method` subclass of family `name` (imported on first use, so `glyphgen -h` stays fast)."""
    if name not in FAMILIES:
        raise GlyphgenError(f"unknown model family {name!r}; choose one of {', '.join(FAMILIES)}")
    module, cls = FAMILIES[name]
    return getattr(importlib.import_module(module), cls)
