"""`glyphgen font`: a model that draws asked-for characters -> a validated, installable font (and SVGs).

draw every character (`generate.draw_chars`) -> trace each bitmap (`vectorize`) -> build the font (`fontbuild`) ->
check it (`fontcheck`: fontTools re-read, OpenType Sanitizer, FreeType round-trip IoU against the bitmaps). The
font's licence field carries the model's data licence notice; its version and description name the model and seed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glyphgen.errors import GlyphgenError

MAX_GLYPHS = 25_000  # one font; a typo such as `--chars seed` asks for 20,992
WARN_IOU = 0.75  # a glyph whose outline matches its bitmap worse than this is named in a warning


def font_chars(spec: str, classes: list[str]) -> list[str]:
    """`--chars`: "all" (every character the model knows), a named set (joyo, latin, ...), literal text, @file."""
    from glyphgen.data.charsets import get_charset

    if not classes:
        raise GlyphgenError("this model is unconditional: it cannot draw asked-for characters, which a font needs")
    chars = list(classes) if spec == "all" else get_charset(spec)
    chars = [c for c in dict.fromkeys(chars) if not c.isspace()]
    if not chars:
        raise GlyphgenError(f"--chars {spec!r} holds no characters")
    if len(chars) > MAX_GLYPHS:
        raise GlyphgenError(f"--chars {spec!r} holds {len(chars):,} characters; a font takes at most {MAX_GLYPHS:,}")
    return chars


def check_output(path: str | Path) -> Path:
    """The font path must end in .otf/.ttf and its folder must be writable: checked before any work is done."""
    from glyphgen.atomic import check_writable
    from glyphgen.fontbuild import FORMATS

    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise GlyphgenError(f"-o {path}: a font file must end in .otf (CFF outlines) or .ttf (TrueType outlines)")
    return check_writable(path)


@dataclass
class FontReport:
    """What `make_font` did, with its timings (seconds) and the checks' findings."""

    path: Path
    family: str
    glyphs: int
    empty: list[str]
    seconds: dict
    check: dict
    low_iou: list[tuple[str, float]] = field(default_factory=list)
    svgs: int = 0

    def as_dict(self) -> dict:
        size = self.path.stat().st_size
        return {
            "path": str(self.path),
            "family": self.family,
            "glyphs": self.glyphs,
            "empty": self.empty,
            "bytes": size,
            "glyphs_per_kb": round(self.glyphs / (size / 1024), 2),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "check": self.check,
            "low_iou": self.low_iou,
            "svgs": self.svgs,
        }


def make_font(
    model,
    out: str | Path,
    family: str,
    chars: str = "all",
    seed: int = 0,
    svg_dir: str | Path | None = None,
    refs: list[str] | None = None,
    ref_chars: str | None = None,
    progress: bool = False,
    loaded: tuple | None = None,
    **options,
) -> FontReport:
    """Draw `chars` with `model` (a shipped name, run or export folder) and write them as the font `out`.

    options go to the model's sampler (steps, guidance, ...); refs/ref_chars give a style-writing model its style;
    loaded: the model's (method, config.json) when the caller has it in memory already (the web app).
    Every input is checked before the first glyph is drawn; the font is written atomically.
    """
    import torch

    from glyphgen import __version__
    from glyphgen.cards import data_licence
    from glyphgen.checkpoint import load
    from glyphgen.fontbuild import FORMATS, FontInfo, build_font, check_family_name, trace_glyphs, write_svgs
    from glyphgen.fontcheck import check
    from glyphgen.generate import draw_chars, resolve_model
    from glyphgen.sketch import load_references
    from glyphgen.vectorize import level

    out = check_output(out)
    family = check_family_name(family)
    folder = resolve_model(model)
    method, meta = loaded or load(folder)
    wanted = font_chars(chars, meta.get("classes") or [] if method.capabilities().draws_chars else [])
    style = None
    if refs:
        if not method.capabilities().writes_in_style:
            raise GlyphgenError(f"{meta['family']} models take no style references; drop --refs")
        glyphs, _ = load_references(refs, ref_chars, tuple(meta["image_shape"]), meta.get("data"))
        style = torch.from_numpy(glyphs)

    seconds = {}
    t = time.perf_counter()
    images = draw_chars(method, meta, wanted, seed=seed, refs=style, progress=progress, one_seed=True, **options)
    seconds["generate"] = time.perf_counter() - t
    grey = images[:, 0].numpy() if images.shape[1] == 1 else images.mean(dim=1).numpy()  # (N, H, W) ink
    bitmaps = np.stack([level(b) for b in grey]) if len(grey) else grey  # the levels the outlines are traced at

    t = time.perf_counter()
    flavor = FORMATS[out.suffix.lower()]
    traced = trace_glyphs(wanted, bitmaps, flavor, progress=progress)
    seconds["vectorize"] = time.perf_counter() - t

    t = time.perf_counter()
    name = folder.parent.name if folder.name == "model" else folder.name  # a run's export: the run's name
    info = FontInfo(
        family=family,
        made_by=f"glyphgen {__version__}, model {name}, seed {seed}",
        licence=f"Glyphs drawn by the glyphgen model {name}. {data_licence(meta.get('data'))}",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = out.with_name(f".{out.stem}.unchecked{out.suffix}")  # a font that fails its checks never lands at `out`
    try:
        build_font(traced, staged, info)
        seconds["build"] = time.perf_counter() - t
        t = time.perf_counter()
        found = check(staged, traced, bitmaps)
        seconds["check"] = time.perf_counter() - t
        os.replace(staged, out)
    finally:
        staged.unlink(missing_ok=True)
    svgs = len(write_svgs(traced, svg_dir)) if svg_dir else 0
    return FontReport(
        path=out,
        family=family,
        glyphs=len(traced),
        empty=[g.char for g in traced if g.empty],
        seconds=seconds,
        check=found.summary(),
        low_iou=[(c, round(v, 3)) for c, v in found.worst(WARN_IOU) if c not in {g.char for g in traced if g.empty}],
        svgs=svgs,
    )
