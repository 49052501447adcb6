"""Drawings, scans and reference glyphs -> glyphs framed like the training data, as the handwriting dashboard
prepares its five canvases.

A drawing (a Gradio sketchpad value, a PIL image or an array) becomes ink in [0, 1]: dark strokes on light or
transparent paper are ink; a drawing of light strokes on a dark ground is flipped. The ink is cropped to its
bounding box, padded to a square, resized so the glyph fills the model's side minus a border (28 px: a 20 px glyph
and a 4 px border, the dashboard's framing for handwriting; the data's own margin for fonts and KanjiVG) and
centred: (C, H, W) float in [0, 1], ink high.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from glyphgen.errors import GlyphgenError

INK_THRESHOLD = 0.2  # ink below this (antialiasing fringe, scanner noise) does not count towards the bounding box
MIN_INK_PIXELS = 4  # fewer inked pixels than this is an empty canvas, not a character
MAX_PIXELS = 2048 * 2048  # larger drawings are refused (a canvas is 256 x 256)


def border_for(side: int, data: dict | None = None) -> int:
    """Paper around the glyph, like the model's training data: rendered fonts and KanjiVG strokes keep `margin` of
    the side; handwriting (digits, MNIST-like files) 4 px at 28 px, the dashboard's 20 px glyph in a 28 px frame."""
    data = data or {}
    if data.get("source") in ("font", "kanjivg", "faces") and "margin" in data:
        return max(1, round(side * float(data["margin"])))
    return max(1, round(side * 4 / 28))


def _margin(data: dict | None) -> dict:
    return {"margin": float(data["margin"])} if data and "margin" in data else {}


def editor_image(value):
    """The picture inside a sketchpad value ({"background", "layers", "composite"}), or the value itself."""
    if isinstance(value, dict):
        if value.get("composite") is not None:
            return value["composite"]
        layers = [x for x in (value.get("layers") or []) if x is not None]
        if layers:
            return layers[-1]
        return value.get("background")
    return value


def ink(picture) -> np.ndarray:
    """A picture (PIL image, or (H, W) / (H, W, 3|4) array, uint8 or float in [0, 1]) -> (H, W) ink in [0, 1]."""
    if isinstance(picture, Image.Image):
        if picture.width * picture.height > MAX_PIXELS:
            raise GlyphgenError(f"the drawing is {picture.width}x{picture.height}; send at most 2048x2048 pixels")
        picture = np.asarray(picture.convert("RGBA"))
    a = np.asarray(picture)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)) or a.size == 0:
        raise GlyphgenError(f"a drawing must be a grey, RGB or RGBA image; got an array of shape {a.shape}")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise GlyphgenError(f"the drawing is {a.shape[1]}x{a.shape[0]}; send at most 2048x2048 pixels")
    a = a.astype(np.float32) / (255.0 if a.dtype == np.uint8 else 1.0)
    if a.ndim == 2:
        a = a[..., None]
    alpha = a[..., 3] if a.shape[2] == 4 else np.ones(a.shape[:2], np.float32)
    grey = a[..., :3].mean(axis=2) if a.shape[2] >= 3 else a[..., 0]
    darkness = np.clip((1.0 - grey) * alpha, 0.0, 1.0)  # transparent paper is no ink
    if alpha.min() > 0.99 and _edge_mean(darkness) > 0.5:  # light strokes on a dark, opaque ground
        darkness = 1.0 - darkness
    return darkness


def _edge_mean(a: np.ndarray) -> float:
    return float(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]).mean())


def frame(drawing, shape: tuple[int, int, int], data: dict | None = None) -> np.ndarray | None:
    """One drawing -> (C, H, W) float32 glyph in [0, 1], ink high, framed for a model of `shape` trained on `data`
    (its config.json's data section); None for an empty canvas.

    A model whose glyphs sit in the font's em box (Latin style models: case and baseline matter) takes the whole
    drawing as its em box, resized, not cropped: draw each letter where it sits between the lines."""
    from glyphgen.data.faces import placement_of

    c, h, w = shape
    picture = editor_image(drawing)
    if picture is None:  # a sketchpad nobody touched
        return None
    a = ink(picture)
    mask = a > INK_THRESHOLD
    if mask.sum() < MIN_INK_PIXELS:
        return None
    if placement_of(data) == "em":
        side = max(a.shape)  # pad to a square at the bottom right, keeping the drawing's own position
        square = np.zeros((side, side), np.float32)
        square[: a.shape[0], : a.shape[1]] = a
        method = Image.BOX if side >= h else Image.BILINEAR
        glyph = np.asarray(Image.fromarray(square, mode="F").resize((w, h), method), dtype=np.float32)
        return np.repeat(np.clip(glyph, 0.0, 1.0)[None], c, axis=0)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    a = a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    side = max(a.shape)
    square = np.zeros((side, side), np.float32)  # pad to a square, the glyph centred
    y, x = (side - a.shape[0]) // 2, (side - a.shape[1]) // 2
    square[y : y + a.shape[0], x : x + a.shape[1]] = a
    inner = (h - 2 * border_for(h, data), w - 2 * border_for(w, data))
    # Box filtering when shrinking (each target pixel averages the strokes it covers), bilinear when enlarging.
    method = Image.BOX if side >= max(inner) else Image.BILINEAR
    glyph = np.asarray(Image.fromarray(square, mode="F").resize(inner[::-1], method), dtype=np.float32)
    out = np.zeros((h, w), np.float32)
    y, x = (h - inner[0]) // 2, (w - inner[1]) // 2
    out[y : y + inner[0], x : x + inner[1]] = np.clip(glyph, 0.0, 1.0)
    return np.repeat(out[None], c, axis=0)


def frame_all(drawings, shape: tuple[int, int, int], data: dict | None = None) -> tuple[np.ndarray, list[int]]:
    """Frame every non-empty drawing: ((S, C, H, W) glyphs, the index of each among `drawings`).

    Empty canvases are skipped; no drawing at all is an error that says what to do.
    """
    glyphs, used = [], []
    for k, drawing in enumerate(drawings):
        g = frame(drawing, shape, data)
        if g is not None:
            glyphs.append(g)
            used.append(k)
    if not glyphs:
        raise GlyphgenError("the canvases are empty; draw at least one character (pick the brush, then draw)")
    return np.stack(glyphs), used


MAX_REFERENCES = 64  # reference glyphs one request may give
MAX_REFERENCE_BYTES = 4 * 1024 * 1024  # per reference image file
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def read_picture(path: str | Path) -> Image.Image:
    """One reference image file as RGBA; too large (over 4 MB) or unreadable is a one-line error naming it."""
    path = Path(path)
    if path.stat().st_size > MAX_REFERENCE_BYTES:
        raise GlyphgenError(f"{path}: {path.stat().st_size / 2**20:.1f} MB; a reference image is at most 4 MB")
    from glyphgen.images import open_picture

    try:
        with open_picture(path) as im:  # a decompression bomb is refused before it is decoded
            return im.convert("RGBA")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise GlyphgenError(f"{path.name}: not a readable image ({e})") from None


def load_references(
    refs: list[str], ref_chars: str | None, shape: tuple[int, int, int], data: dict | None = None
) -> tuple[np.ndarray, list[str]]:
    """Reference glyphs of a style, framed for a model of `shape`: ((S, C, H, W) glyphs, the character of each).

    refs: image files or folders of them (scans, photos, drawings of single glyphs; the file name is the character
    unless `ref_chars` names them in sorted file order), or one font (a file or an installed family) with `ref_chars`
    naming the characters to render from it. Each glyph is cropped to its ink box and centred as the handwriting
    dashboard frames its drawings. Unreadable or blank images, over-large files, too many references and a font that
    lacks a reference character are one-line errors naming the file or character.
    """
    from glyphgen.data.fonts import FONT_SUFFIXES, parse_font, render_font

    if not refs:
        raise GlyphgenError("no references given; pass image files, a folder of them, or a font with --ref-chars")
    wanted = [c for c in (ref_chars or "") if not c.isspace()]
    first = Path(refs[0])
    is_font = len(refs) == 1 and not first.is_dir() and first.suffix.lower() not in IMAGE_SUFFIXES
    if is_font or first.suffix.lower() in FONT_SUFFIXES:
        if not wanted:
            raise GlyphgenError(f"{refs[0]}: a reference font needs --ref-chars, the characters to take from it")
        if len(wanted) > MAX_REFERENCES:
            raise GlyphgenError(f"{len(wanted)} reference characters; give at most {MAX_REFERENCES}")
        from glyphgen.data.faces import placement_of

        spec = parse_font(refs[0])
        render = render_font(spec, wanted, shape[1], placement=placement_of(data), **_margin(data))
        lacking = render.missing + render.empty
        if lacking:
            raise GlyphgenError(f"{refs[0]} has no glyph for {', '.join(repr(c) for c in lacking[:5])}")
        pictures, chars, names = list(render.images / 255.0), render.chars, [refs[0]] * len(render.chars)
    else:
        files = []
        for ref in refs:
            path = Path(ref)
            if path.is_dir():
                files += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            elif path.is_file():
                files.append(path)
            else:
                raise GlyphgenError(f"reference not found: {ref}")
        if not files:
            raise GlyphgenError(f"no reference images ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(refs)}")
        if len(files) > MAX_REFERENCES:
            raise GlyphgenError(f"{len(files)} reference images; give at most {MAX_REFERENCES}")
        if wanted and len(wanted) != len(files):
            raise GlyphgenError(f"--ref-chars names {len(wanted)} characters for {len(files)} reference images")
        pictures, chars, names = [], [], []
        for k, path in enumerate(files):
            pictures.append(read_picture(path))
            chars.append(wanted[k] if wanted else (path.stem if len(path.stem) == 1 else ""))
            names.append(str(path))
    glyphs = []
    for picture, name in zip(pictures, names, strict=True):
        glyph = frame(picture, shape, data)
        if glyph is None:
            raise GlyphgenError(f"{name}: the reference has no ink; each image must show one dark glyph on light paper")
        glyphs.append(glyph)
    return np.stack(glyphs), chars
