"""glyphgen: generate images of characters (Chinese characters, kanji, handwritten letters and digits).

import glyphgen
model = glyphgen.load("kanji-ddpm-cond")                 # a shipped name, a run folder or an exported folder
images = model.sample(seeds=[0, 1, 2], labels=model.labels("永字八"), steps=10)  # (3, 1, H, W) in [0, 1], ink high
"""

from __future__ import annotations

__version__ = "0.1.0"


def load(name_or_path=None, device: str = "cpu"):
    """A model ready to sample: a shipped model's name (see `glyphgen models`), a run folder or an exported model
    folder; None is the default shipped model. Returns the family's `Method` (in eval mode, on `device`) with
    `.sample(seeds, labels, **options)`, `.write(style_glyphs, labels, seeds)` for models that write in a style,
    `.classes` (its characters) and `.labels(text)` (their labels), and `.meta` (its config.json)."""
    from glyphgen.checkpoint import load as load_export
    from glyphgen.generate import labels_for, resolve_model

    method, meta = load_export(resolve_model(name_or_path))
    method = method.to(device).eval()
    method.meta, method.classes = meta, list(meta.get("classes") or [])
    method.labels = lambda text: labels_for(text, meta)
    return method
