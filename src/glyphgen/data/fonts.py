"""Font files -> glyph rasters, and never a missing glyph drawn as if it were a character.

This module owns everything about fonts as a glyph source:
    FontSpec / parse_font   naming one face: a file ("f.otf"), a face of a collection ("f.ttc#2"), or an installed
                            family name ("Noto Sans CJK SC"), checked to be a readable font before it is returned
    discover_fonts          the installed fonts usable for a language (fontconfig's `fc-list` where present, else a
                            scan of the usual Linux / macOS / Windows font folders with a cmap check)
    font_cmap               the code points a face maps (fontTools), cached per face
    render_font             characters -> (N, size, size) uint8 ink-high images, with the tofu filtered out

Tofu is rejected three ways, because each catches what the others miss: a character absent from the cmap is
`missing`; a character that is mapped but draws nothing (a space, an empty outline) or draws the font's own .notdef
box (mapped to glyph 0, or to a copy of it) is `empty`. Neither ever reaches the images.

Formats: TTF, OTF, TTC/OTC (face index), WOFF, WOFF2. FreeType opens WOFF/WOFF2 itself when built with zlib/brotli;
when it is not, the file is decompressed with fontTools into an in-memory sfnt.
"""

from __future__ import annotations

import functools
import io
import operator
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from glyphgen.errors import GlyphgenError

FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc", ".woff", ".woff2")
PLACEMENTS = ("center", "em")
LANGS = ("zh", "ja")

# CJK Unified Ideographs: the BMP block, extension A, and extensions B-I in planes 2 and 3. Compatibility
# ideographs (U+F900.., U+2F800..) are left out: they duplicate unified ones.
CJK_UNIFIED_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0x20000, 0x2EE5F), (0x30000, 0x323AF))

_LIST_HINT = "run `glyphgen data fonts` to list installed fonts"

# The original system's em placement: a 51 px font on a 64 px canvas, em box centred.
_EM_CANVAS, _EM_FONT = 64, 51

# "center" rasterises at about 2x the target box and downsamples: FreeType's own antialiasing at 64 px is coarser
# than an antialiased bicubic reduction of a 2x render, and 2x costs little (FreeType time grows slowly with size).
# Bicubic rather than Lanczos: 2.5x faster here, and within 1.3/255 of it on average.
_OVERSAMPLE = 2.2

# A render whose strongest pixel is fainter than this is blank paper, not a glyph.
_INK_MIN = 64

# Renders at U+10FFFD (last plane-16 private-use code point) and its neighbours: no real font maps them, so they
# draw the font's .notdef glyph, whatever it looks like in that font.
_NOTDEF_PROBES = (0x10FFFD, 0x10FFFC, 0x10FFFB, 0xFFFFD)

# "Nearly identical to .notdef": mean absolute difference of the final images below this (of 255). Real glyphs
# whose ink box happens to match the .notdef box (口, 囗 in some fonts) still differ by 20+.
_NOTDEF_MAD = 6.0


# --------------------------------------------------------------------------------------------------------- naming


@dataclass(frozen=True)
class FontSpec:
    """One face of a font file: `index` picks the face inside a TTC/OTC collection (0 for single fonts)."""

    path: Path
    index: int = 0

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))
        try:
            index = operator.index(self.index)  # numpy integers too, but not 1.5 or "1"
        except TypeError:
            index = -1
        if isinstance(self.index, bool) or index < 0:
            raise GlyphgenError(f"face index {self.index!r} for {self.path} is invalid; use an integer >= 0 (f.ttc#1)")
        object.__setattr__(self, "index", index)

    @property
    def name(self) -> str:
        """Family and style from the face's name table, e.g. "Noto Sans CJK SC Regular"."""
        return _open_face(self).name

    def __str__(self) -> str:
        # The form parse_font reads back.
        return f"{self.path}#{self.index}" if self.index else str(self.path)


@dataclass(frozen=True)
class FontInfo:
    """An installed face: its spec, family and style names, and how many CJK Unified Ideographs it maps."""

    spec: FontSpec
    family: str
    style: str
    cjk_count: int
    aliases: tuple[str, ...] = ()  # other names the face answers to (localised families, "Family Style" forms)


@dataclass
class FontRender:
    """What render_font drew: `images[i]` is `chars[i]`; `missing` and `empty` were skipped (see module doc)."""

    images: np.ndarray  # (N, size, size) uint8, ink high (0 paper, 255 ink)
    chars: list[str]
    missing: list[str]  # not in the cmap
    empty: list[str]  # in the cmap, but drew nothing or the .notdef box

    def __len__(self) -> int:
        return len(self.chars)


def parse_font(arg: str) -> FontSpec:
    """A font file ("path/f.otf"), a collection face ("f.ttc#2"), or an installed family name ("Noto Sans CJK SC",
    case-insensitive; the Regular face when a family has several). The face is opened and checked here, so a bad
    file fails now, with its name, rather than halfway through a render."""
    text = str(arg).strip()
    if not text:
        raise GlyphgenError(f"no font given; pass a font file path or a family name ({_LIST_HINT})")
    path_text, index = text, 0
    m = re.fullmatch(r"(.+)#(\d+)", text)
    if m and not Path(text).expanduser().exists():  # a file whose name really contains '#' wins
        path_text, index = m.group(1), int(m.group(2))
    path = Path(path_text).expanduser()
    looks_like_path = (
        path.suffix.lower() in FONT_SUFFIXES or "/" in path_text or "\\" in path_text or path_text.startswith(".")
    )
    if path.exists() or looks_like_path:
        if path.is_dir():
            raise GlyphgenError(f"{path} is a folder, not a font file; pass a .ttf/.otf/.ttc/.woff/.woff2 file")
        spec = FontSpec(Path(os.path.abspath(path)), index)
        _open_face(spec)
        return spec
    return _find_family(text)


def _norm(name: str) -> str:
    return " ".join(name.casefold().split())


# Which face a bare family name means when it has several weights.
_STYLE_RANK = {"regular": 0, "book": 1, "normal": 1, "roman": 1, "medium": 2}


def _find_family(name: str) -> FontSpec:
    want = _norm(name)
    fonts = discover_fonts()
    hits = [f for f in fonts if want in {_norm(f.family), *map(_norm, f.aliases)}]
    if not hits:
        hits = [f for f in fonts if want == _norm(f"{f.family} {f.style}")]
    if not hits:
        raise GlyphgenError(f"no installed font family named {name!r}; {_LIST_HINT}, or pass a font file path")
    best = min(hits, key=lambda f: (_STYLE_RANK.get(f.style.casefold(), 9), f.style, str(f.spec.path), f.spec.index))
    return best.spec


# ----------------------------------------------------------------------------------------------- opening a face


@dataclass(frozen=True)
class _Face:
    spec: FontSpec
    name: str
    cmap: frozenset[int]
    to_notdef: frozenset[int]  # code points the cmap sends to glyph 0: drawn as .notdef, so never a glyph
    ascent: float  # fraction of the em box above the baseline (typo metrics, else hhea)
    source: str | bytes  # what FreeType opens: the path, or decompressed sfnt bytes

    def imagefont(self, px: int) -> ImageFont.FreeTypeFont:
        # BASIC layout: one code point per image needs no shaping; it is faster than raqm and the same everywhere.
        font = self.source if isinstance(self.source, str) else io.BytesIO(self.source)
        index = self.spec.index if isinstance(self.source, str) else 0
        return ImageFont.truetype(font, px, index=index, layout_engine=ImageFont.Layout.BASIC)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:160]


def _unreadable(path: Path, why: str) -> GlyphgenError:
    return GlyphgenError(
        f"cannot read font file {path} ({why}); it is not a complete TTF/OTF/TTC/WOFF/WOFF2 font: re-install or "
        f"re-download it, or pick another ({_LIST_HINT})"
    )


def _collection_size(path: Path) -> int | None:
    """Number of faces if `path` is a TTC/OTC collection, else None."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) == 12 and head[:4] == b"ttcf":
        # The header's count, but no more faces than its offset table (4 bytes each) can list: a damaged count of
        # 4 billion would otherwise make a font-folder scan try every index.
        return min(int.from_bytes(head[8:12], "big"), max(0, path.stat().st_size - 12) // 4)
    return None


def _open_face(spec: FontSpec) -> _Face:
    try:
        st = spec.path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None  # _read_face reports it
    return _open_face_cached(spec, stamp)


@functools.lru_cache(maxsize=32)  # a CJK cmap is ~3 MB as a frozenset; a few dozen faces is plenty
def _open_face_cached(spec: FontSpec, stamp) -> _Face:
    # `stamp` (mtime, size) is only part of the key: a font file rewritten in place is read again.
    return _read_face(spec)


def _read_face(spec: FontSpec) -> _Face:
    from fontTools.ttLib import TTFont

    path = spec.path
    if not path.is_file():
        raise GlyphgenError(f"font file not found: {path}; check the path, or {_LIST_HINT}")
    try:
        n_faces = _collection_size(path)
    except OSError as e:
        raise GlyphgenError(f"cannot open font file {path} ({_one_line(e)}); check its permissions") from e
    if spec.index and spec.index >= (n_faces or 1):
        have = f"faces #0 to #{n_faces - 1}" if n_faces else "one face (#0)"
        raise GlyphgenError(f"font file {path} has {have}, not #{spec.index}; pick an index in that range")
    try:
        tt = TTFont(path, fontNumber=spec.index, lazy=True)
    except Exception as e:  # fontTools raises many types for a file that is not a font
        raise _unreadable(path, _one_line(e)) from e
    with tt:
        try:
            _check_table_bounds(tt, path)
            best = tt.getBestCmap()
            glyph0 = tt.getGlyphOrder()[0]
            name = _face_name(tt, path)
            ascent = _ascent_fraction(tt)
            flavor = tt.flavor
        except GlyphgenError:
            raise
        except Exception as e:
            raise _unreadable(path, _one_line(e)) from e
        if not best:
            raise GlyphgenError(f"font file {path} has no Unicode cmap, so no character can be looked up; pick another")
        source: str | bytes = str(path)
        try:
            ImageFont.truetype(source, 16, index=spec.index, layout_engine=ImageFont.Layout.BASIC)
        except OSError as e:
            if not flavor:
                raise _unreadable(path, f"FreeType: {_one_line(e)}") from e
            source = _decompressed(path, spec.index)
    return _Face(
        spec=spec,
        name=name,
        cmap=frozenset(best),
        to_notdef=frozenset(cp for cp, g in best.items() if g == glyph0),
        ascent=ascent,
        source=source,
    )


def _check_table_bounds(tt, path: Path) -> None:
    # A truncated file still has an intact table directory at its start, and fontTools reads tables lazily (short
    # reads are not errors), so compare every table's extent against the file size. WOFF2 needs no check: its
    # brotli stream fails to decompress when cut.
    if tt.flavor == "woff2":
        return
    size = path.stat().st_size
    for tag, entry in tt.reader.tables.items():
        if entry.offset + entry.length > size:
            raise _unreadable(path, f"table {tag!r} runs past the end of the {size:,d}-byte file: truncated")


def _decompressed(path: Path, index: int = 0) -> bytes:
    """A WOFF/WOFF2 face as plain sfnt bytes, for a FreeType built without zlib/brotli."""
    from fontTools.ttLib import TTFont

    try:
        tt = TTFont(path, fontNumber=index)
        tt.flavor = None
        buf = io.BytesIO()
        tt.save(buf)
        data = buf.getvalue()
        ImageFont.truetype(io.BytesIO(data), 16, layout_engine=ImageFont.Layout.BASIC)
    except Exception as e:
        raise _unreadable(path, f"decompressing {path.suffix} failed: {_one_line(e)}") from e
    return data


def _face_name(tt, path: Path) -> str:
    if "name" not in tt:
        return path.stem
    names = tt["name"]
    # Typographic family/subfamily (IDs 16/17) first: ID 1/2 fold heavy weights into the family ("... Black").
    family = names.getDebugName(16) or names.getDebugName(1)
    style = names.getDebugName(17) or names.getDebugName(2)
    if not family:
        return path.stem
    return f"{family} {style}" if style else family


def _ascent_fraction(tt) -> float:
    os2 = tt["OS/2"] if "OS/2" in tt else None
    if os2 is not None and os2.sTypoAscender - os2.sTypoDescender > 0 and os2.sTypoAscender > 0:
        return os2.sTypoAscender / (os2.sTypoAscender - os2.sTypoDescender)
    hhea = tt["hhea"] if "hhea" in tt else None
    if hhea is not None and hhea.ascent - hhea.descent > 0 and hhea.ascent > 0:
        return hhea.ascent / (hhea.ascent - hhea.descent)
    return 0.88  # the ideographic em box of most CJK fonts


def font_cmap(spec: FontSpec | str) -> frozenset[int]:
    """The code points the face maps (its best Unicode cmap), cached per face."""
    return _open_face(_as_spec(spec)).cmap


def _as_spec(spec: FontSpec | str | os.PathLike) -> FontSpec:
    return spec if isinstance(spec, FontSpec) else parse_font(str(spec))


def cjk_count(codepoints: Iterable[int]) -> int:
    """How many of `codepoints` are CJK Unified Ideographs."""
    return sum(1 for cp in codepoints if any(lo <= cp <= hi for lo, hi in CJK_UNIFIED_RANGES))


# ---------------------------------------------------------------------------------------------------- discovery


def discover_fonts(lang: str | None = None) -> list[FontInfo]:
    """Installed faces (every face of a collection) usable for `lang`: "zh", "ja", or None for all, sorted by family
    and style. Uses `fc-list` where installed (fast: fontconfig keeps a cache); otherwise scans the usual font
    folders and checks each cmap. Cached per process."""
    if lang is not None and lang not in LANGS:
        raise GlyphgenError(f"unknown font language {lang!r}; use one of {', '.join(LANGS)}, or None for all fonts")
    return list(_discover(lang))


@functools.cache
def _discover(lang: str | None) -> tuple[FontInfo, ...]:
    fonts = _fc_list(lang)
    if fonts is None:
        fonts = _scan_font_dirs(_default_font_dirs(), lang)
    return tuple(sorted(fonts, key=lambda f: (_norm(f.family), _norm(f.style), str(f.spec.path), f.spec.index)))


_FC_FORMAT = "%{file}\t%{index}\t%{family}\t%{style}\t%{charset}\n"
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


def _fc_list(lang: str | None) -> list[FontInfo] | None:
    """Faces fontconfig knows, or None when fc-list is missing or fails (then the caller scans folders)."""
    exe = shutil.which("fc-list")
    if exe is None:
        return None
    cmd = [exe, "-f", _FC_FORMAT] + ([f":lang={lang}"] if lang else [])
    try:
        run = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if run.returncode != 0:
        return None
    found: dict[tuple[str, int], FontInfo] = {}
    for line in run.stdout.decode("utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) != 5 or not parts[1].isdigit():
            continue
        file, index, families, styles, charset = parts
        index = int(index)
        # Variable fonts list each named instance as index | instance << 16; the default instance is enough.
        if index >> 16 or Path(file).suffix.lower() not in FONT_SUFFIXES:
            continue
        file = os.path.realpath(file)  # Debian's fonts-japanese-gothic.ttf and the like are links to listed files
        names = [n.replace("\\,", ",").strip() for n in _UNESCAPED_COMMA.split(families) if n.strip()]
        style_names = [s.replace("\\,", ",").strip() for s in _UNESCAPED_COMMA.split(styles) if s.strip()]
        family = names[0] if names else Path(file).stem
        style = style_names[0] if style_names else "Regular"
        aliases = tuple(dict.fromkeys(n for n in names[1:] if n != family))
        found.setdefault(
            (file, index), FontInfo(FontSpec(Path(file), index), family, style, _charset_cjk(charset), aliases)
        )
    return list(found.values())


def _charset_cjk(charset: str) -> int:
    # fontconfig's charset is its cmap minus glyphs with no outline, as hex ranges: "20-7e a0 4e00-9fef ...".
    # A CJK font has thousands of ranges, so the overlap with the CJK blocks is counted with numpy.
    pairs = _CHARSET_RANGE.findall(charset)
    if not pairs:
        return 0
    lo = np.fromiter((int(a, 16) for a, _ in pairs), np.int64, len(pairs))
    hi = np.fromiter((int(b or a, 16) for a, b in pairs), np.int64, len(pairs))
    return int(
        sum(np.clip(np.minimum(hi, r1) - np.maximum(lo, r0) + 1, 0, None).sum() for r0, r1 in CJK_UNIFIED_RANGES)
    )


_CHARSET_RANGE = re.compile(r"([0-9a-fA-F]+)(?:-([0-9a-fA-F]+))?")


def _default_font_dirs() -> list[Path]:
    home = Path.home()
    dirs = [
        home / ".fonts",
        home / ".local/share/fonts",
        Path("/usr/share/fonts"),
        Path("/usr/local/share/fonts"),
        Path("/System/Library/Fonts"),  # macOS
        Path("/Library/Fonts"),
        home / "Library/Fonts",
        Path(os.environ.get("WINDIR", r"C:\Windows")) / "Fonts",  # Windows
    ]
    if os.environ.get("LOCALAPPDATA"):
        dirs.append(Path(os.environ["LOCALAPPDATA"]) / "Microsoft/Windows/Fonts")
    for data_dir in os.environ.get("XDG_DATA_DIRS", "").split(os.pathsep):
        if data_dir:
            dirs.append(Path(data_dir) / "fonts")
    return [d for d in dict.fromkeys(dirs) if d.is_dir()]


def _scan_font_dirs(dirs: Iterable[Path], lang: str | None) -> list[FontInfo]:
    """Every readable face under `dirs` whose cmap covers `lang`. Unreadable files are skipped: one broken font in a
    system folder must not stop discovery."""
    found = []
    seen = set()
    for root in dirs:
        for path in sorted(Path(root).rglob("*")):
            if path.suffix.lower() not in FONT_SUFFIXES or not path.is_file():
                continue
            real = path.resolve()
            if real in seen:
                continue
            seen.add(real)
            try:
                n_faces = _collection_size(path) or 1
            except OSError:
                continue
            for index in range(n_faces):
                try:
                    face = _read_face(FontSpec(path, index))  # uncached: a scan must not flood the face cache
                except GlyphgenError:
                    continue
                if lang is None or _covers(face.cmap, lang):
                    family, style = _name_parts(path, index)
                    found.append(FontInfo(FontSpec(path, index), family, style, cjk_count(face.cmap)))
    return found


def _name_parts(path: Path, index: int) -> tuple[str, str]:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=index, lazy=True) as tt:
        names = tt["name"]
        family = names.getDebugName(16) or names.getDebugName(1) or path.stem
        style = names.getDebugName(17) or names.getDebugName(2) or "Regular"
    return family, style


def _covers(cmap: frozenset[int], lang: str) -> bool:
    # Like fontconfig's :lang= test: the font must map (nearly) all of a language's core repertoire.
    return any(len(probe - cmap) <= 0.01 * len(probe) for probe in _lang_probes(lang))


@functools.cache
def _lang_probes(lang: str) -> tuple[frozenset[int], ...]:
    def decode(encoding: str, leads: Iterable[int], trails: Iterable[int]) -> frozenset[int]:
        cps = set()
        for lead in leads:
            for trail in trails:
                try:
                    ch = bytes([lead, trail]).decode(encoding)
                except UnicodeDecodeError:
                    continue
                if len(ch) == 1 and cjk_count([ord(ch)]):
                    cps.add(ord(ch))
        return frozenset(cps)

    if lang == "zh":
        # GB2312 hanzi (simplified, 6,763) or Big5 level 1 (traditional, 5,401): either one makes a zh font.
        gb = decode("gb2312", range(0xB0, 0xF8), range(0xA1, 0xFF))
        big5 = decode("big5", range(0xA4, 0xC7), [*range(0x40, 0x7F), *range(0xA1, 0xFF)])
        return gb, big5
    kana = frozenset([*range(0x3041, 0x3094), *range(0x30A1, 0x30F7)])
    return (kana | decode("euc_jp", range(0xB0, 0xD0), range(0xA1, 0xFF)),)  # + JIS X 0208 level 1 kanji


# ---------------------------------------------------------------------------------------------------- rendering


def render_font(
    spec: FontSpec | str,
    chars: Iterable[str],
    size: int = 64,
    *,
    placement: str = "center",
    margin: float = 0.08,
    progress: bool = False,
) -> FontRender:
    """Rasterise `chars` (a string or single-character strings; duplicates dropped, first kept) from one face.

    placement="center": each glyph's ink box is scaled, aspect kept, to fill size*(1-2*margin) and centred.
    placement="em": the original system's fixed placement: font size 51 on a 64 canvas (both scaled with `size`),
    the em box centred, the glyph where the font puts it in its em box (no per-glyph centring); `margin` is unused.
    Characters the face lacks, or draws blank or as .notdef, are skipped and listed in `missing` / `empty`."""
    face = _open_face(_as_spec(spec))
    if placement not in PLACEMENTS:
        raise GlyphgenError(f"unknown placement {placement!r}; use one of {', '.join(PLACEMENTS)}")
    if not isinstance(size, int) or not 8 <= size <= 1024:
        raise GlyphgenError(f"image size {size!r} is out of range; use an integer from 8 to 1024")
    if not 0 <= margin < 0.5:
        raise GlyphgenError(f"margin {margin!r} is out of range; use a fraction from 0 to below 0.5")
    wanted = _unique_chars(chars)

    drawer = _EmDrawer(face, size) if placement == "em" else _CenterDrawer(face, size, margin)

    def draw(ch: str):
        try:
            return drawer(ch)
        except OSError as e:  # FreeType failed on this outline (the .notdef probe's included): the file is damaged
            raise GlyphgenError(
                f"font file {face.spec.path} failed to render U+{ord(ch):04X} ({_one_line(e)}); the file may be "
                "corrupt: re-install it or pick another font"
            ) from e

    probe = next((cp for cp in _NOTDEF_PROBES if cp not in face.cmap), None)
    notdef = draw(chr(probe)) if probe is not None else None
    if notdef is not None and notdef[0] is None:
        notdef = None  # a blank .notdef: the emptiness test already rejects its look-alikes

    images = np.zeros((len(wanted), size, size), np.uint8)
    kept, missing, empty = [], [], []
    items = wanted
    if progress:
        from tqdm import tqdm

        items = tqdm(wanted, desc=face.name, unit="glyph", leave=False)
    for ch in items:
        cp = ord(ch)
        if cp not in face.cmap:
            missing.append(ch)
            continue
        if cp in face.to_notdef:
            empty.append(ch)
            continue
        img, box = draw(ch)
        if img is None or (notdef is not None and _same_as_notdef(img, box, *notdef, drawer.box_tolerance)):
            empty.append(ch)
            continue
        images[len(kept)] = img
        kept.append(ch)

    if wanted and not kept:
        raise GlyphgenError(
            f"font {face.name} ({face.spec}) has none of the {len(wanted):,d} requested characters "
            f"({len(missing):,d} not in its cmap, {len(empty):,d} blank or .notdef); pick a font that covers them "
            f"(`glyphgen data fonts --lang zh` lists CJK fonts)"
        )
    if len(kept) < len(wanted):
        images = images[: len(kept)].copy()  # do not keep the unused tail alive
    return FontRender(images=images, chars=kept, missing=missing, empty=empty)


def _unique_chars(chars: Iterable[str]) -> list[str]:
    if isinstance(chars, str):
        return list(dict.fromkeys(chars))
    out = []
    for c in chars:
        if not isinstance(c, str) or len(c) != 1:
            raise GlyphgenError(
                f"render_font takes single characters, got {c!r}; pass a string or a list of one-character strings"
            )
        out.append(c)
    return list(dict.fromkeys(out))


def _same_as_notdef(img, box, notdef_img, notdef_box, tol: float) -> bool:
    # In "center" the ink boxes (render pixels, relative to the pen origin) must match first: every glyph is
    # rescaled to fill the frame, so a square glyph such as 口 must not be taken for a square .notdef of another
    # size. "em" keeps positions (box is None), so the images alone decide.
    if (
        box is not None
        and notdef_box is not None
        and max(abs(a - b) for a, b in zip(box, notdef_box, strict=True)) > tol
    ):
        return False
    return float(np.abs(img.astype(np.int16) - notdef_img).mean()) < _NOTDEF_MAD


class _CenterDrawer:
    """Crop to the ink box, scale it to fit the margin box with aspect kept, centre it."""

    def __init__(self, face: _Face, size: int, margin: float):
        self.size = size
        self.target = size * (1 - 2 * margin)
        px = max(16, round(self.target * _OVERSAMPLE))
        self.font = face.imagefont(px)
        self.box_tolerance = max(2.0, 0.02 * px)

    def __call__(self, ch: str):
        core, (ox, oy) = self.font.getmask2(ch, mode="L", anchor="ls")
        if not (core.size[0] and core.size[1]):
            return None, None
        # getmask2 hands back the exact glyph bitmap; ImageDraw.text would need a second layout pass (getbbox) to
        # size a canvas, which doubled the per-glyph time. Image._new is how Pillow itself wraps a core image.
        mask = Image.Image()._new(core)
        bbox = mask.getbbox()
        if bbox is None or mask.getextrema()[1] < _INK_MIN:
            return None, None
        x0, y0, x1, y1 = bbox
        w, h = x1 - x0, y1 - y0
        scale = self.target / max(w, h)
        tw, th = max(1, round(w * scale)), max(1, round(h * scale))
        small = np.asarray(mask.resize((tw, th), Image.Resampling.BICUBIC, box=bbox))
        out = np.zeros((self.size, self.size), np.uint8)
        left, top = (self.size - tw) // 2, (self.size - th) // 2
        out[top : top + th, left : left + tw] = small
        return out, (ox + x0, oy + y0, ox + x1, oy + y1)


class _EmDrawer:
    """Font size 51/64 of the canvas, em box centred, glyph at its own position in the em box."""

    def __init__(self, face: _Face, size: int):
        self.size = size
        self.em = size * _EM_FONT / _EM_CANVAS
        self.font = face.imagefont(max(4, round(self.em)))
        self.top = (size - self.em) / 2
        self.baseline = self.top + self.em * face.ascent
        self.box_tolerance = float("inf")  # positions are kept, so the image comparison alone decides

    def __call__(self, ch: str):
        # Centre the advance, not the ink: for full-width CJK that is exactly the em box; for half-width glyphs
        # it keeps them from hugging the left edge. Ink itself is never re-centred.
        x = (self.size - self.font.getlength(ch)) / 2
        canvas = Image.new("L", (self.size, self.size))
        ImageDraw.Draw(canvas).text((x, self.baseline), ch, fill=255, font=self.font, anchor="ls")
        img = np.asarray(canvas)
        if int(img.max()) < _INK_MIN:
            return None, None
        return img, None
