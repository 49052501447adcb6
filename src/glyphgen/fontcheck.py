"""Checks that a written font is what it claims: it re-reads with fontTools, passes the OpenType Sanitizer (the
checker browsers run on web fonts), and FreeType (through Pillow) draws each glyph like the bitmap it was traced from.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

from glyphgen.errors import GlyphgenError
from glyphgen.fontbuild import UPM, Glyph

NOTDEF_PROBE = "\ue000"  # a private-use character no generated font maps: FreeType draws .notdef for it


def reread(path: str | Path) -> TTFont:
    """Open the font and decompile every table (a broken table fails here, not in someone's font menu)."""
    font = TTFont(str(path), lazy=False)
    for tag in font.keys():
        font[tag]  # noqa: B018 — decompiles the table
    return font


def sanitize(path: str | Path) -> str:
    """Run the OpenType Sanitizer on the font; its complaint is a one-line error. Returns what it printed."""
    import ots

    done = ots.sanitize(str(path), capture_output=True)
    text = (done.stdout + done.stderr).decode("utf-8", "replace").strip()
    if done.returncode != 0:
        lines = [line for line in text.splitlines() if line.strip()]
        raise GlyphgenError(f"{path}: the OpenType Sanitizer rejects the font: {lines[-1] if lines else 'no reason'}")
    return text


def _render(font_path: str, glyph: Glyph, shape: tuple[int, int], fonts: dict, oversample: int) -> np.ndarray:
    """FreeType's drawing of `glyph` at the scale it was traced at, on a canvas like its bitmap: (H, W) coverage in
    [0, 1]. Drawn `oversample` times larger and averaged down, so the measure is of the outline, not of FreeType's
    hinting, which at 28-32 px snaps stems a pixel wide or narrow."""
    p = glyph.placement
    ppem = UPM / p.scale * oversample
    key = round(ppem, 4)
    if key not in fonts:
        fonts[key] = ImageFont.truetype(font_path, size=ppem)
    h, w = shape
    canvas = Image.new("L", (w * oversample, h * oversample), 0)
    # the glyph's origin (0, 0) in font units, in pixels; "ls" anchors the text at its origin on the baseline
    origin = (-p.dx / p.scale * oversample, p.dy / p.scale * oversample)
    ImageDraw.Draw(canvas).text(origin, glyph.char, font=fonts[key], fill=255, anchor="ls")
    a = np.asarray(canvas, dtype=np.float32) / 255.0
    return a.reshape(h, oversample, w, oversample).mean(axis=(1, 3))


def roundtrip_iou(
    path: str | Path, glyphs: list[Glyph], bitmaps: np.ndarray, threshold: float = 0.5, oversample: int = 4
) -> np.ndarray:
    """Per glyph, the intersection over union of the ink FreeType draws from the font (coverage > 0.5, at the
    bitmap's size) and the ink of its bitmap (> threshold); 1 where both are blank."""
    fonts: dict = {}
    ious = np.ones(len(glyphs))
    for k, (glyph, bitmap) in enumerate(zip(glyphs, bitmaps, strict=True)):
        drawn = _render(str(path), glyph, bitmap.shape, fonts, oversample) > 0.5
        ink = np.asarray(bitmap) > threshold
        union = (drawn | ink).sum()
        if union:
            ious[k] = (drawn & ink).sum() / union
    return ious


def notdef_chars(path: str | Path, text: str, size: int = 48) -> list[str]:
    """Characters of `text` that the font would draw as its .notdef box (not in its cmap, or drawn like the probe)."""
    font = ImageFont.truetype(str(path), size=size)
    cmap = TTFont(str(path), lazy=True).getBestCmap()

    def mask(ch: str) -> bytes:
        return bytes(font.getmask(ch))

    box = mask(NOTDEF_PROBE)
    return [c for c in dict.fromkeys(text) if not c.isspace() and (ord(c) not in cmap or mask(c) == box)]


def typeset(path: str | Path, text: str, size: int = 48, width: int = 1200) -> Image.Image:
    """A paragraph of `text` set in the font by FreeType, wrapped at `width` pixels: dark ink on white."""
    font = ImageFont.truetype(str(path), size=size)
    lines, line = [], ""
    for ch in text:
        if ch == "\n" or (line and font.getlength(line + ch) > width - size):
            lines.append(line)
            line = "" if ch in "\n " else ch
        else:
            line += ch
    lines.append(line)
    ascent, descent = font.getmetrics()
    step = ascent + descent
    picture = Image.new("L", (width, step * len(lines) + size // 2), 255)
    draw = ImageDraw.Draw(picture)
    for k, line in enumerate(lines):
        draw.text((size // 2, size // 4 + k * step), line, font=font, fill=0)
    return picture


@dataclass
class FontCheck:
    """What `check` found: the sanitizer's verdict and the round-trip IoU per glyph."""

    sanitizer: str
    iou: np.ndarray
    chars: list[str]

    def worst(self, below: float) -> list[tuple[str, float]]:
        return [(c, float(v)) for c, v in zip(self.chars, self.iou, strict=True) if v < below]

    def summary(self) -> dict:
        iou = self.iou
        return {
            "iou_mean": round(float(iou.mean()), 4) if len(iou) else None,
            "iou_median": round(float(np.median(iou)), 4) if len(iou) else None,
            "iou_min": round(float(iou.min()), 4) if len(iou) else None,
            "iou_min_char": self.chars[int(iou.argmin())] if len(iou) else None,
            "sanitizer": self.sanitizer,
        }


def check(path: str | Path, glyphs: list[Glyph], bitmaps: np.ndarray, threshold: float = 0.5) -> FontCheck:
    """Re-read, sanitize and round-trip a font just built from `glyphs` traced from `bitmaps` at `threshold`."""
    reread(path)
    verdict = sanitize(path)
    return FontCheck(verdict, roundtrip_iou(path, glyphs, bitmaps, threshold), [g.char for g in glyphs])


def fc_scan(path: str | Path) -> tuple[str, str] | None:
    """(family, charset) as fontconfig reads the font (what desktop font menus see); None without fc-scan."""
    try:
        done = subprocess.run(
            ["fc-scan", "--format", "%{family}\t%{charset}", str(path)], capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError:
        return None
    family, _, charset = done.stdout.partition("\t")
    return family, charset
