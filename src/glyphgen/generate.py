"""Sampling from exported models: which model, which characters, how many, where the pictures go.

`image k` depends only on (seed + k) and its label, so a grid of 16 and a grid of 64 with the same seed share their
first 16 images. Requests are bounded (`MAX_IMAGES`, `MAX_STEPS`) so a typo cannot start hours of work.
"""

from __future__ import annotations

from pathlib import Path

import torch

from glyphgen.checkpoint import load
from glyphgen.data.charsets import describe
from glyphgen.errors import GlyphgenError

MAX_IMAGES = 1024
MAX_STEPS = 1000


def resolve_model(path: str | Path | None) -> Path:
    """A run folder (uses its model/ export), an export folder, or a shipped model's name -> the export folder.

    None means the default shipped model. A folder of that name wins over a shipped model.
    """
    from glyphgen import zoo

    if path is None:
        return zoo.find(zoo.DEFAULT_MODEL)
    path = Path(path)
    if (path / "model" / "config.json").is_file():
        return path / "model"
    if len(path.parts) == 1 and not (path / "config.json").is_file():
        # a bare name: a shipped model, unless a local folder holds a model (a folder such as the eval report
        # `glyphgen eval NAME` writes into ./NAME/eval does not hide the shipped model)
        shipped = {m.name: m.path for m in zoo.shipped()}
        if str(path) in shipped:
            return shipped[str(path)]
        if not path.exists():
            return zoo.find(str(path))  # the error that lists the shipped models
    if not path.exists():
        raise GlyphgenError(f"model not found: {path}; pass a run folder, an exported model folder or a shipped name")
    return path


def capabilities(meta: dict):
    """What the model of a config.json can do (`methods.base.Capabilities`), without loading its weights."""
    from glyphgen.methods import get_family

    return get_family(meta.get("family")).capabilities_for(int(meta.get("num_classes") or 0))


def applicable_options(folder, options: dict) -> dict:
    """The options (None dropped) that the model in `folder` has, so one set of options can go to several models."""
    import dataclasses

    from glyphgen.checkpoint import read_config
    from glyphgen.methods import get_family

    names = {f.name for f in dataclasses.fields(get_family(read_config(folder)["family"]).options_class)}
    return {k: v for k, v in options.items() if v is not None and k in names}


def labels_for(chars: str, meta: dict) -> torch.Tensor:
    """Characters -> class labels of a conditional model; characters outside its set are an error listing them."""
    classes = meta.get("classes") or []
    if not capabilities(meta).draws_chars or not classes:
        raise GlyphgenError("this model is unconditional: it cannot draw asked-for characters (drop --chars)")
    index = {c: i for i, c in enumerate(classes)}
    chars = [c for c in chars if not c.isspace()]
    unknown = [c for c in chars if c not in index]
    if unknown:
        shown = ", ".join(describe(c) for c in unknown[:5])
        raise GlyphgenError(
            f"the model was not trained on {shown}{' …' if len(unknown) > 5 else ''}; "
            f"it knows {len(classes)} characters"
        )
    return torch.tensor([index[c] for c in chars])


def draw_chars(
    method,
    meta: dict,
    chars: list[str],
    seed: int = 0,
    refs: torch.Tensor | None = None,
    batch: int = 64,
    progress: bool = False,
    one_seed: bool = False,
    **options,
) -> torch.Tensor:
    """Every character of `chars` (any number, drawn `batch` at a time): (N, C, H, W) in [0, 1], ink high.

    Character k is drawn from seed + k (or, with one_seed, every character from `seed`: one latent style for a
    latent model, one noise for a diffusion model, so a font looks like one hand), the same glyph however the list is
    cut into batches. refs (S, C, H, W): reference glyphs of a style, for a model that writes in a given style.
    """
    labels = labels_for("".join(chars), meta)
    if refs is not None and not method.capabilities().writes_in_style:
        raise GlyphgenError(f"{meta.get('family')} models take no style references; drop --refs")
    options = {k: v for k, v in options.items() if v is not None}
    starts = range(0, len(labels), batch)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="draw", unit="batch", leave=False)
    images = []
    with torch.no_grad():
        for start in starts:
            part = labels[start : start + batch]
            seeds = [seed if one_seed else seed + start + k for k in range(len(part))]
            if refs is not None:
                images.append(method.write(refs, part, seeds, **options))
            else:
                images.append(method.sample(seeds, part, **options))
    return torch.cat(images).cpu() if images else torch.zeros((0, *meta["image_shape"]))


def sample(model_path, n: int = 16, seed: int = 0, chars: str | None = None, **options) -> tuple[torch.Tensor, dict]:
    """(n, C, H, W) samples in [0, 1] from an exported model, and its config.json."""
    method, meta = load(resolve_model(model_path))
    if chars:
        labels = labels_for(chars, meta)
        n = len(labels)
    else:  # conditional models without --chars cycle through their classes
        labels = torch.arange(n) % meta["num_classes"] if method.capabilities().takes_labels else None
    if not 1 <= n <= MAX_IMAGES:
        raise GlyphgenError(f"--n {n} is out of range; ask for 1 to {MAX_IMAGES} images")
    options = {k: v for k, v in options.items() if v is not None}
    steps = options.get("steps")
    if steps is not None and not 1 <= steps <= MAX_STEPS:
        raise GlyphgenError(f"--steps {steps} is out of range; use 1 to {MAX_STEPS}")
    method.sample_options(**options)  # an option this family lacks: one line naming the options it has
    seeds = [seed + k for k in range(n)]
    with torch.no_grad():
        images = method.sample(seeds, labels, **options)
    return images.cpu(), meta


def default_style_model(text: str) -> str:
    """The shipped style model for a text: kanji-style for text with CJK ideographs, hand-style otherwise."""
    from glyphgen.data.fonts import cjk_count

    return "kanji-style" if cjk_count(ord(c) for c in text) else "hand-style"


def write_text(
    model_path, text: str, seed: int = 0, refs: list[str] | None = None, ref_chars: str | None = None, **options
):
    """Text written by a model that draws asked-for characters, in lines as typed (`glyphgen.layout.Page`): the
    page's cells (rows * columns, C, H, W) in [0, 1], the page, and the model's config.json. refs: style references
    for a model that writes in a given style (image files, a folder, or a font with ref_chars)."""
    from glyphgen.layout import Page

    method, meta = load(resolve_model(model_path))
    if not method.capabilities().draws_chars:
        raise GlyphgenError("this model is unconditional: it cannot draw asked-for characters, so it cannot write")
    page = Page.layout(text, meta.get("classes") or [], max_glyphs=MAX_IMAGES)
    style = None
    if refs:
        from glyphgen.sketch import load_references

        glyphs, _ = load_references(refs, ref_chars, tuple(meta["image_shape"]), meta.get("data"))
        style = torch.from_numpy(glyphs)
    chars = [meta["classes"][label] for _, label in page.glyphs]
    images = draw_chars(method, meta, chars, seed=seed, refs=style, **options)
    return page.cells(images, tuple(meta["image_shape"])), page, meta
