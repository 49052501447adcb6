"""Generated glyph bitmaps -> an installable OpenType font (CFF `.otf` or TrueType `.ttf`) and one SVG per glyph.

Layout on a 1,000-unit em (written here: it is the subject, the shape of a font made from bitmaps):
- full-width characters (CJK ideographs, kana; East Asian width W/F) fill the ideographic em box, x 0..1000,
  y -120..880, with a full-width advance of 1,000, exactly as the model drew them in its square;
- other characters (Latin letters, digits) were drawn centred and scaled to fill the square, so each is scaled back
  to the height a letter of its kind has (capitals and digits 0..700, x-height letters 0..500, ascenders up to 740,
  descenders down to -220), and spaced from its own ink box with the same side bearing on both sides.
The tracing itself is `glyphgen.vectorize`; fontTools' `FontBuilder` writes the tables (cmap, .notdef, hmtx,
hhea/OS/2 vertical metrics that hold every glyph, name, post, head, glyf or CFF).
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.boundsPen import ControlBoundsPen
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.recordingPen import RecordingPen
from fontTools.pens.svgPathPen import SVGPathPen
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.pens.ttGlyphPen import TTGlyphPen

from glyphgen.atomic import atomic_path
from glyphgen.errors import GlyphgenError
from glyphgen.vectorize import Placement, TraceOptions, ink_box, outline

UPM = 1000
CJK_ASCENT, CJK_DESCENT = 880, -120  # the ideographic em box
LATIN_ASCENT, LATIN_DESCENT = 800, -250  # line spacing of a font with no full-width glyphs
SIDE_BEARING = 60  # left and right of every proportional glyph's ink
SPACE = {False: 280, True: UPM}  # advance of the space glyph in proportional / full-width fonts
MAX_FAMILY_NAME = 63

# vertical extent (bottom, top) of the ink of each kind of proportional character, in font units
CAP = (0, 700)
_LATIN_BOXES = {
    **dict.fromkeys("acemnorsuvwxz", (0, 500)),
    **dict.fromkeys("bdhkl", (0, 740)),
    "f": (0, 740),
    "i": (0, 720),
    "t": (0, 640),
    **dict.fromkeys("gpqy", (-220, 500)),
    "j": (-220, 720),
}
FORMATS = {".otf": "cff", ".ttf": "glyf"}


def is_full_width(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def vertical_box(ch: str) -> tuple[int, int]:
    """(bottom, top) of a proportional character's ink: its kind's height (capitals and digits when unknown)."""
    return _LATIN_BOXES.get(ch, CAP)


def glyph_name(ch: str) -> str:
    """The AGL-style production name: uni4E00 in the BMP, u1F600 above it."""
    cp = ord(ch)
    return f"uni{cp:04X}" if cp <= 0xFFFF else f"u{cp:05X}"


def place(ch: str, bitmap: np.ndarray) -> tuple[Placement, int]:
    """Where a bitmap of `ch` goes on the em: (its pixel -> font unit map, its advance width)."""
    h, w = bitmap.shape
    if is_full_width(ch):
        return Placement(scale=UPM / h, dx=0.0, dy=CJK_ASCENT), UPM
    box = ink_box(bitmap)
    bottom, top = vertical_box(ch)
    if box is None:  # blank: a space-like glyph of the proportional width
        return Placement(scale=(top - bottom) / h, dx=0.0, dy=top), SPACE[False]
    x0, y0, x1, y1 = box
    scale = (top - bottom) / (y1 - y0)
    placement = Placement(scale=scale, dx=SIDE_BEARING - x0 * scale, dy=top + y0 * scale)
    return placement, round((x1 - x0) * scale + 2 * SIDE_BEARING)


@dataclass
class Glyph:
    """One traced glyph: its outline (RecordingPen operations in font units) and metrics."""

    char: str
    name: str
    ops: list
    advance: int
    placement: Placement

    @property
    def empty(self) -> bool:
        return not self.ops


def trace_glyphs(
    chars: list[str],
    bitmaps: np.ndarray,
    flavor: str = "cff",
    options: TraceOptions = TraceOptions(),
    progress: bool = False,
) -> list[Glyph]:
    """(N, H, W) bitmaps in [0, 1], ink high, of `chars` -> one traced Glyph each (an empty one if nothing traces)."""
    if len(chars) != len(bitmaps):
        raise ValueError(f"{len(chars)} characters for {len(bitmaps)} bitmaps")
    items = zip(chars, bitmaps, strict=True)
    if progress:
        from tqdm import tqdm

        items = tqdm(items, total=len(chars), desc="trace", unit="glyph", leave=False)
    glyphs = []
    for ch, bitmap in items:
        placement, advance = place(ch, bitmap)
        ops = outline(bitmap, placement, options, clockwise=flavor == "glyf")
        box = bounds(ops)
        if box is not None and not is_full_width(ch):  # space the outline itself, not its pixels' ink box
            shift = SIDE_BEARING - box[0]
            ops = _shifted(ops, shift)
            placement = Placement(placement.scale, placement.dx + shift, placement.dy)
            advance = box[2] - box[0] + 2 * SIDE_BEARING
        glyphs.append(Glyph(ch, glyph_name(ch), ops, advance, placement))
    return glyphs


def _shifted(ops: list, dx: int) -> list:
    """Outline operations moved dx font units to the right."""
    return [(op, tuple(None if p is None else (p[0] + dx, p[1]) for p in args)) for op, args in ops]


@dataclass
class FontInfo:
    """What the name table says about a font."""

    family: str
    version: str = "1.000"
    made_by: str = ""  # name ID 10 (description): what made the font
    licence: str = ""  # name ID 13 (licence description): the notice the font inherits from its data
    extra: dict = field(default_factory=dict)


def check_family_name(name: str) -> str:
    """A family name the name table can hold (printable, 1-63 characters), stripped; otherwise a one-line error."""
    name = (name or "").strip()
    if not name:
        raise GlyphgenError("--name is empty; give the font a family name, e.g. --name 'My Hand'")
    if len(name) > MAX_FAMILY_NAME:
        raise GlyphgenError(f"--name has {len(name)} characters; a family name holds at most {MAX_FAMILY_NAME}")
    bad = [c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")]
    if bad:
        raise GlyphgenError(f"--name contains {bad[0]!r} (U+{ord(bad[0]):04X}), which a font's name table cannot hold")
    return name


def postscript_name(family: str) -> str:
    """ASCII letters, digits and hyphens only (the PostScript name's rules), e.g. 'My Hand' -> 'MyHand-Regular'."""
    base = re.sub(r"[^A-Za-z0-9-]", "", family)[:40]
    if not base:  # a family named in CJK or other scripts: a stable ASCII name from its hash
        base = "glyphgen-" + hashlib.sha1(family.encode("utf-8")).hexdigest()[:8]
    return f"{base}-Regular"


def _notdef(flavor: str) -> tuple[list, int]:
    """The .notdef box: a rectangle with a rectangular hole, as fonts conventionally draw it."""
    pen = RecordingPen()
    for (x0, y0, x1, y1), hole in ((50, -50, 450, 750), False), ((100, 0, 400, 700), True):
        corners = [(x0, y0), (x0, y1), (x1, y1), (x1, y0)]  # clockwise (y up)
        if hole == (flavor == "glyf"):  # glyf: outer clockwise; CFF: outer counter-clockwise
            corners = corners[::-1]
        pen.moveTo(corners[0])
        for p in corners[1:]:
            pen.lineTo(p)
        pen.closePath()
    return pen.value, 500


def _replay(ops: list, pen) -> None:
    recording = RecordingPen()
    recording.value = ops
    recording.replay(pen)


def bounds(ops: list) -> tuple[float, float, float, float] | None:
    pen = ControlBoundsPen(None)
    _replay(ops, pen)
    return pen.bounds


def vertical_metrics(glyphs: list[Glyph]) -> tuple[int, int]:
    """(ascender, descender) that keep every glyph inside: the em box's, widened to the tallest and deepest ink."""
    cjk = any(is_full_width(g.char) for g in glyphs)
    ascent, descent = (CJK_ASCENT, CJK_DESCENT) if cjk else (LATIN_ASCENT, LATIN_DESCENT)
    for g in glyphs:
        box = bounds(g.ops)
        if box is not None:
            ascent, descent = max(ascent, math.ceil(box[3])), min(descent, math.floor(box[1]))
    return ascent, descent


def build_font(glyphs: list[Glyph], path: str | Path, info: FontInfo) -> Path:
    """Write `glyphs` as a font at `path` (.otf: CFF outlines, .ttf: TrueType), atomically; returns the path."""
    path = Path(path)
    flavor = FORMATS.get(path.suffix.lower())
    if flavor is None:
        raise GlyphgenError(f"{path}: a font file must end in .otf or .ttf")
    family = check_family_name(info.family)
    ps_name = postscript_name(family)
    cjk = any(is_full_width(g.char) for g in glyphs)
    notdef_ops, notdef_advance = _notdef(flavor)
    spaces = [c for c in (" ", "\u3000" if cjk else "") if c and c not in {g.char for g in glyphs}]
    order = [".notdef", *[glyph_name(c) for c in spaces], *[g.name for g in glyphs]]
    outlines = {".notdef": notdef_ops, **{glyph_name(c): [] for c in spaces}, **{g.name: g.ops for g in glyphs}}
    advances = {
        ".notdef": notdef_advance,
        **{glyph_name(c): SPACE[c == "\u3000" or not glyphs or is_full_width(glyphs[0].char)] for c in spaces},
        **{g.name: g.advance for g in glyphs},
    }
    cmap = {ord(c): glyph_name(c) for c in spaces} | {ord(g.char): g.name for g in glyphs}

    fb = FontBuilder(UPM, isTTF=flavor == "glyf")
    fb.setupGlyphOrder(order)
    fb.setupCharacterMap(cmap)
    if flavor == "glyf":
        tt_glyphs = {}
        for name in order:
            pen = TTGlyphPen(None)
            _replay(outlines[name], Cu2QuPen(pen, max_err=1.0, reverse_direction=False))
            tt_glyphs[name] = pen.glyph(dropImpliedOnCurves=True)
        fb.setupGlyf(tt_glyphs)
        lsb = {name: getattr(fb.font["glyf"][name], "xMin", 0) for name in order}
    else:
        charstrings = {}
        for name in order:
            pen = T2CharStringPen(advances[name], None)
            _replay(outlines[name], pen)
            charstrings[name] = pen.getCharString()
        font_info = {"FullName": f"{family} Regular", "FamilyName": family, "Weight": "Regular"}
        if info.licence.isascii():
            font_info["Notice"] = info.licence
        fb.setupCFF(ps_name, font_info, charstrings, {})
        lsb = {name: (charstrings[name].calcBounds(None) or (0,))[0] for name in order}
    fb.setupHorizontalMetrics({name: (advances[name], round(lsb[name])) for name in order})
    ascent, descent = vertical_metrics(glyphs)
    fb.setupHorizontalHeader(ascent=ascent, descent=descent, lineGap=0)
    version = f"Version {info.version}"
    fb.setupNameTable(
        {
            "familyName": family,
            "styleName": "Regular",
            "uniqueFontIdentifier": f"{info.version};{ps_name}",
            "fullName": f"{family} Regular",
            "psName": ps_name,
            "version": f"{version}; {info.made_by}" if info.made_by else version,
            "description": info.made_by,
            "licenseDescription": info.licence,
            **info.extra,
        },
        mac=False,
    )
    x_height = 500 if not cjk else 0
    fb.setupOS2(
        sTypoAscender=ascent,
        sTypoDescender=descent,
        sTypoLineGap=0,
        usWinAscent=ascent,
        usWinDescent=-descent,
        sxHeight=x_height,
        sCapHeight=CAP[1] if not cjk else CJK_ASCENT,
        usWeightClass=400,
        fsType=0,  # installable embedding: the user's font to use and send
        fsSelection=0x40 | 0x80,  # REGULAR | USE_TYPO_METRICS
        achVendID="NONE",
        version=4,
    )
    os2 = fb.font["OS/2"]
    os2.recalcUnicodeRanges(fb.font)
    os2.recalcCodePageRanges(fb.font)
    os2.recalcAvgCharWidth(fb.font)
    fb.setupPost(keepGlyphNames=True)
    fb.font["head"].fontRevision = float(info.version)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fb.save(str(tmp))
    except OSError as e:  # disk full, read-only folder: the old file (if any) is untouched
        raise GlyphgenError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def svg(glyph: Glyph, ascent: int = CJK_ASCENT, descent: int = CJK_DESCENT) -> str:
    """One glyph as a standalone SVG document: its advance wide, ascender to descender tall, y down as SVG is."""
    pen = SVGPathPen(None)
    _replay(glyph.ops, pen)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 {-ascent} {glyph.advance} {ascent - descent}">'
        f'<title>{glyph.char}</title><path transform="scale(1 -1)" d="{pen.getCommands()}"/></svg>\n'
    )


def write_svgs(glyphs: list[Glyph], folder: str | Path) -> list[Path]:
    """One `<glyph name>.svg` per glyph in `folder` (each written atomically)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ascent, descent = vertical_metrics(glyphs)
    paths = []
    for g in glyphs:
        target = folder / f"{g.name}.svg"
        with atomic_path(target, fsync=False) as tmp:
            tmp.write_text(svg(g, ascent, descent), encoding="utf-8")
        paths.append(target)
    return paths
