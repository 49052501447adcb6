"""KanjiVG stroke data -> raster glyphs.

Owns everything between the `kanjivg` package's SVG files and uint8 images: finding the data folder, indexing
characters and their variant files, parsing stroke paths into cubic Bézier segments, handwriting-like stroke
augmentation, and rasterising with skia. Images follow the project convention (ink HIGH: 0 = paper, 255 = ink).

KanjiVG (https://kanjivg.tagaini.net) is by Ulrich Apel, CC BY-SA 3.0; images made from it inherit that licence.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from glyphgen.errors import GlyphgenError

KANJIVG_UNITS = 109.0  # side of KanjiVG's square viewBox
DEFAULT_STROKE_WIDTH = 3.0  # KanjiVG's own stroke-width, in viewBox units

_SVG_NS = "{http://www.w3.org/2000/svg}"
_PATH_TOKEN = re.compile(r"[A-Za-z]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_FILE_NAME = re.compile(r"^([0-9a-f]{5})(?:-(.+))?\.svg$")


# --------------------------------------------------------------------------------------------------- data location


@lru_cache(maxsize=1)
def kanjivg_dir() -> Path:
    """The `kanji/` folder of SVGs that the `kanjivg` distribution installs into site-packages."""
    fix = "install it with: pip install kanjivg"
    try:
        dist = importlib.metadata.distribution("kanjivg")
    except importlib.metadata.PackageNotFoundError:
        raise GlyphgenError(f"KanjiVG stroke data is not installed; {fix}") from None
    path = Path(dist.locate_file("kanji"))
    if not path.is_dir():
        raise GlyphgenError(f"the kanjivg package has no kanji/ folder at {path}; reinstall it: pip install -U kanjivg")
    return path


@lru_cache(maxsize=1)
def _index() -> dict[str, tuple[str, ...]]:
    """char -> variant names, for every char with a base file; one directory listing, cached."""
    base: set[str] = set()
    variants: dict[str, list[str]] = {}
    for name in os.listdir(kanjivg_dir()):
        m = _FILE_NAME.match(name)
        if not m:
            continue
        char = chr(int(m.group(1), 16))
        if m.group(2) is None:
            base.add(char)
        else:
            variants.setdefault(char, []).append(m.group(2))
    # Every variant file in the release has a base file; a stray one would be unreachable through the base index.
    return {c: tuple(sorted(variants.get(c, ()))) for c in sorted(base, key=ord)}


def kanjivg_chars(variants: bool = False) -> list[str]:
    """Characters that have a base SVG, sorted by code point.

    With `variants=True`, only those that also have at least one variant file (see `kanjivg_variants`).
    """
    index = _index()
    return [c for c, v in index.items() if v] if variants else list(index)


def kanjivg_variants(char: str) -> list[str]:
    """Variant names available for `char` (e.g. ["Kaisho"]); [] for none or for an unknown char."""
    return list(_index().get(char, ()))


def _svg_file(char: str, variant: str | None) -> Path:
    if len(char) != 1:
        raise GlyphgenError(f"expected a single character, got {char!r}")
    cp = f"U+{ord(char):04X}"
    index = _index()
    if char not in index:
        raise GlyphgenError(
            f"no KanjiVG strokes for '{char}' ({cp}); KanjiVG covers {len(index):,} characters, "
            "see glyphgen.data.strokes.kanjivg_chars()"
        )
    if variant is not None and variant not in index[char]:
        have = ", ".join(index[char]) or "none"
        raise GlyphgenError(f"no KanjiVG variant {variant!r} for '{char}' ({cp}); available variants: {have}")
    stem = f"{ord(char):05x}" + (f"-{variant}" if variant else "")
    return kanjivg_dir() / f"{stem}.svg"


def has_strokes(char: str, variant: str | None = None) -> bool:
    """Whether `load_strokes(char, variant)` would find a file."""
    index = _index()
    return len(char) == 1 and char in index and (variant is None or variant in index[char])


# --------------------------------------------------------------------------------------------------------- parsing


def parse_path(d: str) -> np.ndarray:
    """An SVG path `d` string -> (S, 4, 2) float64 cubic segments (p0, c1, c2, p3).

    KanjiVG uses only M/m, C/c and S/s (with implicit repetition of c and s); L/l and Z/z are accepted as straight
    cubics for robustness. A subpath break shows up as a segment whose p0 differs from the previous p3.
    """
    tokens = _PATH_TOKEN.findall(d)
    # Plain floats, one numpy array at the end: per-command numpy calls made parsing the bottleneck (~3x slower).
    segs: list[tuple[float, ...]] = []
    x = y = sx = sy = 0.0
    rx = ry = None  # second control point of the previous C/S, for S reflection
    cmd = ""
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if tok.isalpha():
            cmd = tok
            i += 1
            if cmd in "Zz":
                if (x, y) != (sx, sy):
                    segs.append((x, y, x, y, sx, sy, sx, sy))
                x, y, rx, ry = sx, sy, None, None
                continue
        elif not cmd:
            raise ValueError(f"path data starts with a number: {d!r}")
        op = cmd.upper()
        k = {"M": 2, "L": 2, "C": 6, "S": 4}.get(op)
        if k is None:
            raise ValueError(f"unsupported SVG path command {cmd!r} in {d!r}")
        if i + k > n:
            raise ValueError(f"truncated path data after command {cmd!r}: {d!r}")
        v = [float(t) for t in tokens[i : i + k]]
        i += k
        if cmd.islower():
            v = [t + (x if j % 2 == 0 else y) for j, t in enumerate(v)]
        if op == "M":
            x = sx = v[0]
            y = sy = v[1]
            rx = ry = None
            cmd = "l" if cmd == "m" else "L"  # per SVG, extra pairs after a moveto are linetos
        elif op == "C":
            segs.append((x, y, *v))
            x, y, rx, ry = v[4], v[5], v[2], v[3]
        elif op == "S":
            c1 = (2 * x - rx, 2 * y - ry) if rx is not None else (x, y)
            segs.append((x, y, *c1, *v))
            x, y, rx, ry = v[2], v[3], v[0], v[1]
        else:  # L
            segs.append((x, y, x, y, *v, *v))
            x, y, rx, ry = v[0], v[1], None, None
    if not segs and n:
        segs.append((x, y, x, y, x, y, x, y))  # a bare moveto: keep it as a dot rather than losing the stroke
    return np.array(segs, dtype=np.float64).reshape(-1, 4, 2)


@lru_cache(maxsize=16384)
def _strokes_cached(char: str, variant: str | None) -> tuple[np.ndarray, ...]:
    path = _svg_file(char, variant)
    root = ET.parse(path).getroot()
    group = next(
        (g for g in root.iter(f"{_SVG_NS}g") if g.get("id", "").startswith("kvg:StrokePaths_")),
        None,
    )
    if group is None:
        raise GlyphgenError(f"{path} has no kvg:StrokePaths group; reinstall it: pip install -U kanjivg")
    # Document order is stroke order: in every file of the release the -sN path ids run 1..n in document order.
    strokes = []
    for el in group.iter(f"{_SVG_NS}path"):
        segs = parse_path(el.get("d", ""))
        if len(segs):
            segs.flags.writeable = False  # shared by the cache
            strokes.append(segs)
    if not strokes:
        raise GlyphgenError(f"{path} has no stroke paths; reinstall it: pip install -U kanjivg")
    return tuple(strokes)


def load_strokes(char: str, variant: str | None = None) -> list[np.ndarray]:
    """Strokes of `char` in stroke order: each (S, 4, 2) float64 cubic segments in KanjiVG's 109x109 units.

    The arrays are read-only (they are cached); copy before editing.
    """
    return list(_strokes_cached(char, variant))


# ------------------------------------------------------------------------------------------------------- packing


class _Glyph:
    """All strokes of one glyph packed into one (T, 4, 2) array, so augmentation and bounds are a few numpy calls
    per glyph rather than per stroke (per-stroke numpy overhead dominated render time)."""

    __slots__ = ("_bounds", "_paths", "joined_next", "new_contour", "segs", "starts", "stroke_of")

    def __init__(self, strokes: Sequence[np.ndarray]):
        arrays = [np.asarray(s, dtype=np.float64).reshape(-1, 4, 2) for s in strokes]
        counts = np.array([len(a) for a in arrays], dtype=np.int64)
        if len(arrays) and (counts == 0).any():
            raise ValueError("every stroke needs at least one segment")
        self.segs = np.concatenate(arrays) if arrays else np.zeros((0, 4, 2))
        self.starts = np.concatenate([[0], np.cumsum(counts)])  # stroke i owns segs[starts[i]:starts[i+1]]
        self.stroke_of = np.repeat(np.arange(len(arrays)), counts)
        t = len(self.segs)
        joined = np.zeros(t, dtype=bool)  # segment j+1 continues segment j (same stroke, shared knot)
        if t > 1:
            joined[:-1] = (self.stroke_of[1:] == self.stroke_of[:-1]) & np.all(self.segs[1:, 0] == self.segs[:-1, 3], 1)
        self.joined_next = joined
        self.new_contour = np.ones(t, dtype=bool)
        self.new_contour[1:] = ~joined[:-1]
        self._paths = None
        self._bounds = None

    @property
    def n(self) -> int:
        return len(self.starts) - 1

    def with_segs(self, segs: np.ndarray) -> _Glyph:
        g = object.__new__(_Glyph)
        g.segs, g.stroke_of, g.starts, g.new_contour, g.joined_next = (
            segs,
            self.stroke_of,
            self.starts,
            self.new_contour,
            self.joined_next,
        )
        g._paths = g._bounds = None
        return g

    def paths(self) -> list:
        """One skia.Path per stroke, in KanjiVG units; built once per glyph and reused across renders."""
        if self._paths is None:
            self._paths = _skia_paths(self.segs, self.new_contour, self.stroke_of)
        return self._paths

    def stroke_bounds(self) -> np.ndarray:
        """(n, 4) exact curve bounds (xmin, ymin, xmax, ymax) per stroke, without the pen width."""
        if self._bounds is None:
            lo, hi = _cubic_bounds(self.segs)
            s = self.starts[:-1]
            self._bounds = np.concatenate([np.minimum.reduceat(lo, s), np.maximum.reduceat(hi, s)], 1)
        return self._bounds


@lru_cache(maxsize=16384)
def _glyph_cached(char: str, variant: str | None) -> _Glyph:
    return _Glyph(_strokes_cached(char, variant))


def _skia_paths(segs: np.ndarray, new_contour: np.ndarray, stroke_of: np.ndarray) -> list:
    import skia  # deferred: only rendering needs the native library

    # One pass over plain lists for the whole glyph: per-stroke slicing and tolist() cost more than the path calls.
    paths: list = []
    path = None
    for (p0, c1, c2, p3), move, sid in zip(segs.tolist(), new_contour.tolist(), stroke_of.tolist(), strict=True):
        if sid == len(paths):
            path = skia.Path()
            paths.append(path)
        if move:
            path.moveTo(*p0)
        path.cubicTo(*c1, *c2, *p3)
    return paths


def _cubic_bounds(segs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-segment bounds (T, 2) lo and hi: endpoints plus the interior extrema where B'(t) = 0."""
    p0, c1, c2, p3 = segs[:, 0], segs[:, 1], segs[:, 2], segs[:, 3]
    a = -p0 + 3 * c1 - 3 * c2 + p3  # B'(t) / 3 = a t^2 + b t + c
    b = 2 * (p0 - 2 * c1 + c2)
    c = c1 - p0
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = np.sqrt(np.maximum(b * b - 4 * a * c, 0.0))
        quad = np.abs(a) > 1e-12
        t = np.stack([np.where(quad, (-b + sq) / (2 * a), -c / b), np.where(quad, (-b - sq) / (2 * a), -c / b)])
    t = np.where(np.isfinite(t), t, 0.0).clip(0.0, 1.0)  # (2, T, 2); t = 0 just re-tests p0
    u = 1.0 - t
    v = u**3 * p0 + 3 * u * u * t * c1 + 3 * u * t * t * c2 + t**3 * p3
    return np.minimum(np.minimum(p0, p3), v.min(0)), np.maximum(np.maximum(p0, p3), v.max(0))


# ----------------------------------------------------------------------------------------------------- augmentation


def _jitter(g: _Glyph, jitter: float, rng: np.random.Generator) -> _Glyph:
    segs, sid, n, t = g.segs, g.stroke_of, g.n, len(g.segs)
    b = g.stroke_bounds()
    centre = 0.5 * (b[:, :2] + b[:, 2:])
    radius = np.maximum(0.5 * (b[:, 2:] - b[:, :2]).max(1), 5.0)
    # One draw, sliced: separate rng calls per part cost more than the arithmetic.
    z = rng.standard_normal(6 * n + 8 * t) * jitter
    i1, i2, i3, i4 = 4 * n, 6 * n, 6 * n + 2 * t, 6 * n + 4 * t
    lin_z, shift, start, end, handles = z[:i1], z[i1:i2], z[i2:i3], z[i3:i4], z[i4:]
    # Roughly half the variance from a whole-stroke affine (translation, plus a linear part that moves the stroke's
    # extremes by ~0.5*jitter: tilt, stretch, shear), half from local noise at knots and handles. Measured over
    # all KanjiVG glyphs, control points then move by about `jitter` (RMS per axis).
    lin = np.eye(2) + lin_z.reshape(n, 2, 2) * (0.5 / radius)[:, None, None]
    shift = 0.5 * shift.reshape(n, 2)
    start = 0.65 * start.reshape(t, 2)
    end = 0.65 * end.reshape(t, 2)
    # One offset per knot: where segment j+1 continues segment j, its start moves with j's end, so joins stay closed;
    # handles inherit their knot's offset so smooth joins stay roughly smooth.
    joined = g.joined_next[:-1]
    end[:-1][joined] = start[1:][joined]
    handles = 0.35 * handles.reshape(t, 2, 2)
    noise = np.stack([start, start + handles[:, 0], end + handles[:, 1], end], axis=1)
    c = centre[sid][:, None, :]
    moved = (segs - c) @ lin[sid].transpose(0, 2, 1) + c + shift[sid][:, None, :] + noise
    return g.with_segs(moved)


def jitter_strokes(strokes: Sequence[np.ndarray], jitter: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Handwriting-like perturbation, each control point moving by about `jitter` KanjiVG units (std).

    Each stroke gets a small random affine about its centre (a writer misplacing, tilting or stretching a whole
    stroke), then per-point noise; shared knots move together, so strokes stay connected.
    """
    g = _jitter(_Glyph(strokes), jitter, rng)
    return [g.segs[g.starts[i] : g.starts[i + 1]] for i in range(g.n)]


# ------------------------------------------------------------------------------------------------------ rendering


class _Rasteriser:
    """An Alpha8 skia surface drawn straight into a numpy buffer: coverage is the ink value, no readback needed."""

    def __init__(self, size: int):
        import skia

        self.buf = np.zeros((size, size), dtype=np.uint8)
        self.surface = skia.Surface(self.buf, colorType=skia.kAlpha_8_ColorType, alphaType=skia.kPremul_AlphaType)
        self.canvas = self.surface.getCanvas()
        self.paint = skia.Paint(
            AntiAlias=True,
            Style=skia.Paint.kStroke_Style,
            StrokeCap=skia.Paint.kRound_Cap,
            StrokeJoin=skia.Paint.kRound_Join,
            Color=skia.ColorWHITE,
        )
        self.fill = skia.Paint(AntiAlias=True, Color=skia.ColorWHITE)
        self.skia = skia

    def stroke(self, path, width: float, scale: float) -> None:
        self.paint.setStrokeWidth(width)
        if width * scale >= 1.0:
            self.canvas.drawPath(path, self.paint)
            return
        # Below 1 px skia draws strokes as alpha-modulated hairlines, which drops ~15% of the ink (diagonals, caps)
        # and makes stroke weight jump at 1 px; filling the stroke's outline keeps coverage proportional to width.
        outline = self.skia.Path()
        self.paint.getFillPath(path, outline, None, scale)
        self.canvas.drawPath(outline, self.fill)


@lru_cache(maxsize=8)
def _rasteriser(size: int) -> _Rasteriser:
    # One surface per size, reused: creating a surface per glyph costs about as much as drawing it. Not thread-safe;
    # parallelise with processes.
    return _Rasteriser(size)


def _placement(g: _Glyph, widths: np.ndarray, size: int, fit: str, margin: float) -> tuple[float, float, float]:
    """(scale, dx, dy) mapping KanjiVG units to pixels: pixel = unit * scale + (dx, dy)."""
    if fit == "box" or g.n == 0:
        return size / KANJIVG_UNITS, 0.0, 0.0
    b = g.stroke_bounds()
    half = widths[:, None] / 2  # round caps reach half the pen width past the curve
    lo, hi = (b[:, :2] - half).min(0), (b[:, 2:] + half).max(0)
    extent = float((hi - lo).max())
    scale = size * (1.0 - 2.0 * margin) / extent if extent > 0 else size / KANJIVG_UNITS
    dx, dy = size / 2.0 - scale * (lo + hi) / 2.0
    return scale, float(dx), float(dy)


def _draw(g: _Glyph, widths: np.ndarray, k: int, size: int, placement: tuple[float, float, float]) -> np.ndarray:
    r = _rasteriser(size)
    canvas = r.canvas
    canvas.clear(0)
    scale, dx, dy = placement
    canvas.resetMatrix()
    canvas.translate(dx, dy)
    canvas.scale(scale, scale)
    # One drawPath per stroke, composited src-over like an SVG renderer. Drawing all strokes as one multi-contour
    # path is ~2x faster but wrong: skia fills the stroke outlines nonzero, and crossing strokes whose outlines wind
    # opposite ways cancel, punching holes at crossings (seen on 其 and ギ).
    for path, w in zip(g.paths()[:k], widths[:k].tolist(), strict=True):
        r.stroke(path, w, scale)
    return r.buf.copy()


def render_strokes(
    strokes: Sequence[np.ndarray],
    size: int = 64,
    stroke_width: float = DEFAULT_STROKE_WIDTH,
    *,
    max_strokes: int | None = None,
    jitter: float = 0.0,
    width_jitter: float = 0.0,
    rng: np.random.Generator | None = None,
    fit: str = "box",
    margin: float = 0.06,
) -> np.ndarray:
    """Rasterise strokes to a (size, size) uint8 image, ink HIGH (0 = paper, 255 = ink).

    stroke_width is in KanjiVG units, so it scales with the image (and with the zoom under fit="ink", keeping
    KanjiVG's pen-to-glyph proportion). `max_strokes=k` draws only the first k strokes
    (placement still comes from all strokes, so partial renders line up with the full one). `jitter` (KanjiVG units,
    std per control point) and `width_jitter` (relative std of a per-stroke width factor) augment; `rng` defaults to
    a fresh unseeded generator. fit="box" keeps KanjiVG's placement in its 109-unit box; fit="ink" scales and centres
    the ink bbox into the image with `margin` (fraction of size) each side, aspect ratio kept.
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if not stroke_width > 0:
        raise ValueError(f"stroke_width must be > 0, got {stroke_width}")
    if jitter < 0 or width_jitter < 0:
        raise ValueError(f"jitter and width_jitter must be >= 0, got {jitter}, {width_jitter}")
    if fit not in ("box", "ink"):
        raise ValueError(f"fit must be 'box' or 'ink', got {fit!r}")
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin}")
    clean = strokes if isinstance(strokes, _Glyph) else _Glyph(strokes)
    n = clean.n
    k = n if max_strokes is None else max(0, min(int(max_strokes), n))
    if (jitter > 0 or width_jitter > 0) and rng is None:
        rng = np.random.default_rng()
    g = _jitter(clean, jitter, rng) if jitter > 0 and n else clean
    widths = np.full(n, float(stroke_width))
    if width_jitter > 0:
        # Floor at a quarter width: a vanishing stroke is not a plausible writing variation.
        widths *= np.clip(1.0 + rng.normal(0.0, width_jitter, n), 0.25, None)
    img = _draw(g, widths, k, size, _placement(g, widths, size, fit, margin))
    if k and not img.any():
        # Reachable only if jitter pushed all ink off the canvas or the pen is far below a pixel: redraw the clean
        # strokes with a pen of at least 1 px so a valid glyph never comes back blank.
        widths = np.full(n, max(float(stroke_width), KANJIVG_UNITS / size))
        img = _draw(clean, widths, k, size, _placement(clean, widths, size, fit, margin))
    return img


def render_chars(
    chars: Iterable[str],
    size: int = 64,
    stroke_width: float = DEFAULT_STROKE_WIDTH,
    *,
    variant: str | None = None,
    fit: str = "box",
    margin: float = 0.06,
    jitter: float = 0.0,
    width_jitter: float = 0.0,
    seed: int = 0,
    progress: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """Render many characters -> ((N, size, size) uint8 ink-high, the chars kept).

    Chars without a KanjiVG file (for `variant`, when given) are skipped. Augmentation uses a generator seeded by
    (seed, index in `chars`), so a glyph's augmentation does not depend on which other chars are in the batch.
    """
    chars = list(chars)
    items = enumerate(chars)
    if progress:
        from tqdm import tqdm

        items = tqdm(items, total=len(chars), desc="kanjivg", unit="glyph")
    augment = jitter > 0 or width_jitter > 0
    images, kept = [], []
    for i, ch in items:
        if not has_strokes(ch, variant):
            continue
        images.append(
            render_strokes(
                _glyph_cached(ch, variant),
                size,
                stroke_width,
                jitter=jitter,
                width_jitter=width_jitter,
                rng=np.random.default_rng([seed, i]) if augment else None,
                fit=fit,
                margin=margin,
            )
        )
        kept.append(ch)
    out = np.stack(images) if images else np.zeros((0, size, size), dtype=np.uint8)
    return out, kept
