"""Build a `GlyphSet` from a `DataConfig` once, cache it, and reuse it.

Rendering is the slow part of glyph data (seconds per thousand glyphs), so every source goes through `load()`: the
result is stored as uint8 arrays under the cache folder, keyed by a hash of every config field plus a fingerprint of
the inputs (package versions of the renderers and KanjiVG, size and mtime of every font or data file). Change any of
them and the key changes; nothing is ever served stale. The cache folder is `$GLYPHGEN_CACHE`, else
`~/.cache/glyphgen`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import numpy as np

from glyphgen.config import DataConfig
from glyphgen.data.charsets import describe, get_charset
from glyphgen.data.glyphset import GlyphSet
from glyphgen.errors import GlyphgenError

# Bump when rendering code changes what it draws, so old caches are not reused.
RENDER_VERSION = 1
FILE_SOURCES = ("digits", "mnist", "emnist", "az-csv", "cifar10", "folder")
DEFAULT_CHARSET = {"kanjivg": "kanjivg", "font": "gb2312-1"}


def cache_dir() -> Path:
    return Path(os.environ.get("GLYPHGEN_CACHE") or Path.home() / ".cache" / "glyphgen")


def _file_fingerprint(path: Path) -> list:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def cache_key(cfg: DataConfig) -> str:
    """Hex digest of everything that changes the rendered arrays."""
    inputs: dict = {"config": asdict(cfg), "render_version": RENDER_VERSION}
    if cfg.source == "kanjivg":
        inputs["kanjivg"] = _version("kanjivg")
        inputs["skia"] = _version("skia-python")
    elif cfg.source == "font":
        from glyphgen.data.fonts import parse_font

        inputs["fonts"] = [[*_file_fingerprint(s.path), s.index] for s in _font_specs(cfg, parse_font)]
        inputs["pillow"] = _version("pillow")
    elif cfg.source == "faces":
        from glyphgen.data import faces

        fs = faces.face_set(cfg.faces)
        specs = faces.resolve((fs.content, *fs.faces(cfg.split)))
        inputs["fonts"] = [[*_file_fingerprint(s.path), s.index] for s in specs]
        inputs["split"] = faces.split_file()
        inputs["pillow"] = _version("pillow")
    elif cfg.source == "mix":
        inputs["parts"] = [cache_key(part) for part in cfg.part_configs()]  # each part's inputs, files included
    elif cfg.path:
        p = Path(cfg.path)
        if p.is_file():
            inputs["file"] = _file_fingerprint(p)
        elif p.is_dir():
            inputs["file"] = sorted(_file_fingerprint(f) for f in p.rglob("*") if f.is_file())
    if cfg.charset.startswith("@") and Path(cfg.charset[1:]).is_file():
        inputs["charset_file"] = _file_fingerprint(Path(cfg.charset[1:]))
    blob = json.dumps(inputs, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def load(cfg: DataConfig, *, use_cache: bool = True, progress: bool = False) -> GlyphSet:
    """The glyph set `cfg` describes: from the cache when present, else rendered/read and then cached."""
    key = cache_key(cfg)
    path = cache_dir() / f"{cfg.source}-{key}.npz"
    if use_cache and path.is_file():
        try:
            glyphs = GlyphSet.load(path, key=key)
        except GlyphgenError as e:  # a damaged cache is rebuilt, never trained on
            import warnings

            warnings.warn(f"{e}; rendering it again", stacklevel=2)
        else:
            glyphs.info["cache"] = {"path": str(path), "hit": True}
            return glyphs
    glyphs = build(cfg, progress=progress)
    if use_cache:
        glyphs.save(path, key=key)
    glyphs.info["cache"] = {"path": str(path) if use_cache else None, "hit": False}
    return glyphs


def build(cfg: DataConfig, *, progress: bool = False) -> GlyphSet:
    """Render or read the glyph set (no cache)."""
    if cfg.source == "kanjivg":
        glyphs = _build_kanjivg(cfg, progress)
    elif cfg.source == "font":
        glyphs = _build_fonts(cfg, progress)
    elif cfg.source == "faces":
        from glyphgen.data import faces

        chars = get_charset(cfg.charset or faces.face_set(cfg.faces).charset)
        chars = chars[: cfg.limit] if cfg.limit else chars
        glyphs = faces.build(cfg.faces, cfg.split, cfg.size, cfg.margin, chars, progress)
    elif cfg.source == "mix":
        from glyphgen.data.glyphset import merge

        parts = cfg.part_configs()  # each part is cached on its own, so mixes share renders
        glyphs = merge([load(p, progress=progress) for p in parts], [f"{k}:{p.source}" for k, p in enumerate(parts)])
    else:
        from glyphgen.data.files import load_file_source

        glyphs = load_file_source(cfg.source, cfg.path or None, cfg.size)
        if cfg.limit:
            keep = np.isin(glyphs.labels, np.arange(cfg.limit))
            glyphs = glyphs.subset(keep)
    glyphs.info.update(source=cfg.source, config=asdict(cfg))
    return glyphs


def _charset(cfg: DataConfig) -> list[str]:
    chars = get_charset(cfg.charset or DEFAULT_CHARSET[cfg.source])
    return chars[: cfg.limit] if cfg.limit else chars


def _build_kanjivg(cfg: DataConfig, progress: bool) -> GlyphSet:
    from glyphgen.data.strokes import kanjivg_chars, kanjivg_variants, render_chars

    wanted = _charset(cfg)
    available = set(kanjivg_chars())
    chars = [c for c in wanted if c in available]
    if not chars:
        raise GlyphgenError(
            f"KanjiVG has none of the {len(wanted)} requested characters; use --charset kanjivg or joyo"
        )
    common = dict(size=cfg.size, stroke_width=cfg.stroke_width, fit="box", margin=cfg.margin)
    parts, labels, styles, style_names = [], [], [], ["kanjivg"]
    images, kept = render_chars(chars, progress=progress, **common)
    label_of = {c: i for i, c in enumerate(chars)}
    parts.append(images)
    labels += [label_of[c] for c in kept]
    styles += [0] * len(kept)
    for copy in range(1, cfg.augment_copies + 1):
        images, kept = render_chars(
            chars,
            jitter=cfg.jitter,
            width_jitter=cfg.width_jitter,
            seed=cfg.seed * 1000 + copy,
            progress=progress,
            **common,
        )
        style_names.append(f"kanjivg-jitter{copy}")
        parts.append(images)
        labels += [label_of[c] for c in kept]
        styles += [len(style_names) - 1] * len(kept)
    if cfg.variants:
        for c in chars:
            for variant in kanjivg_variants(c):
                images, kept = render_chars([c], variant=variant, **common)
                name = f"kanjivg-{variant}"
                if name not in style_names:
                    style_names.append(name)
                parts.append(images)
                labels += [label_of[c]] * len(kept)
                styles += [style_names.index(name)] * len(kept)
    info = {"requested": len(wanted), "rendered": len(chars), "not_in_kanjivg": len(wanted) - len(chars)}
    return GlyphSet(np.concatenate(parts)[:, None], np.array(labels), chars, np.array(styles), style_names, info)


def _font_specs(cfg: DataConfig, parse_font) -> list:
    if cfg.fonts:
        return [parse_font(f) for f in cfg.fonts]
    from glyphgen.data.fonts import discover_fonts

    # One face per design: the Regular face of each proportional family (Noto CJK alone installs 80+ weights and
    # mono variants, which would multiply the set without adding much variety).
    fonts = discover_fonts("zh") or discover_fonts("ja")
    found = [f.spec for f in fonts if f.style in ("Regular", "Book") and "Mono" not in f.family] or [
        f.spec for f in fonts
    ]
    if not found:
        raise GlyphgenError(
            "no CJK font is installed; install one (e.g. apt-get install fonts-noto-cjk) or pass --font FILE"
        )
    return found


def _build_fonts(cfg: DataConfig, progress: bool) -> GlyphSet:
    from glyphgen.data.fonts import parse_font, render_font

    wanted = _charset(cfg)
    label_of = {c: i for i, c in enumerate(wanted)}
    parts, labels, styles, style_names, per_font = [], [], [], [], {}
    for spec in _font_specs(cfg, parse_font):
        r = render_font(spec, wanted, cfg.size, placement=cfg.placement, margin=cfg.margin, progress=progress)
        style_names.append(spec.name)
        parts.append(r.images)
        labels += [label_of[c] for c in r.chars]
        styles += [len(style_names) - 1] * len(r.chars)
        per_font[spec.name] = {"rendered": len(r.chars), "missing": len(r.missing), "empty": len(r.empty)}
        if r.missing or r.empty:
            sample = ", ".join(describe(c) for c in (r.missing + r.empty)[:3])
            per_font[spec.name]["skipped_examples"] = sample
    # Keep only characters that at least one font drew, renumbered in charset order so labels stay dense.
    used = sorted(set(labels))
    chars = [wanted[i] for i in used]
    renumber = np.full(len(wanted), -1)
    renumber[used] = np.arange(len(used))
    info = {"requested": len(wanted), "fonts": per_font}
    return GlyphSet(np.concatenate(parts)[:, None], renumber[labels], chars, np.array(styles), style_names, info)
