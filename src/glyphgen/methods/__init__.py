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
}


def get_family(name: str):
    """The `Method` subclass of family `name` (imported on first use, so `glyphgen -h` stays fast)."""
    if name not in FAMILIES:
        raise GlyphgenError(f"unknown model family {name!r}; choose one of {', '.join(FAMILIES)}")
    module, cls = FAMILIES[name]
    return getattr(importlib.import_module(module), cls)
