"""glyphgen.data.fonts on real installed fonts (Noto Sans CJK, DejaVu) and fonts derived from them with fontTools:
rendering, tofu rejection, collection faces, WOFF/WOFF2, discovery, and the user errors for bad font files."""

from __future__ import annotations

import copy
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from fontTools import subset
from fontTools.ttLib import TTFont
from PIL import ImageFont

from glyphgen.data import fonts
from glyphgen.data.fonts import FontSpec, discover_fonts, font_cmap, parse_font, render_font
from glyphgen.errors import GlyphgenError

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
EIGHT = "永字八法"


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


def ink_box(img: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), exclusive ends, of the nonzero pixels."""
    rows, cols = np.flatnonzero(img.any(axis=1)), np.flatnonzero(img.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


@pytest.fixture(scope="module")
def cjk() -> fonts.FontInfo:
    found = discover_fonts("zh")
    if not found:
        pytest.skip("no CJK font installed (install fonts-noto-cjk)")
    regular = [f for f in found if f.family == "Noto Sans CJK SC" and f.style == "Regular"]
    return regular[0] if regular else max(found, key=lambda f: f.cjk_count)


@pytest.fixture(scope="module")
def dejavu() -> Path:
    if not DEJAVU.is_file():
        pytest.skip(f"{DEJAVU} not installed (fonts-dejavu-core)")
    return DEJAVU


def dejavu_subset(dejavu: Path, text: str) -> TTFont:
    options = subset.Options()
    options.notdef_outline = True  # keep the .notdef box (the subsetter blanks it by default)
    font = TTFont(dejavu)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    return font


# ---------------------------------------------------------------------------------------------------- rendering


def test_center_renders_ink_high_glyphs_centred_within_the_margin(cjk):
    size, margin = 64, 0.08
    r = render_font(cjk.spec, EIGHT, size, margin=margin)
    assert r.images.shape == (4, size, size) and r.images.dtype == np.uint8
    assert r.chars == list(EIGHT) and r.missing == [] and r.empty == []
    target = size * (1 - 2 * margin)
    for img in r.images:
        assert img.max() == 255 and 0.05 < (img > 127).mean() < 0.5  # ink high: mostly paper, solid strokes
        top, left, bottom, right = ink_box(img)
        assert top >= size * margin - 1 and left >= size * margin - 1
        assert bottom <= size * (1 - margin) + 1 and right <= size * (1 - margin) + 1
        assert abs(max(bottom - top, right - left) - target) <= 2  # the larger side fills the box
        assert abs((top + bottom) / 2 - size / 2) <= 1 and abs((left + right) / 2 - size / 2) <= 1


def test_em_placement_keeps_the_fonts_own_scale_and_position(cjk):
    center = render_font(cjk.spec, EIGHT + "口", 64)
    em = render_font(cjk.spec, EIGHT + "口", 64, placement="em")
    assert em.images.shape == (5, 64, 64) and em.chars == center.chars
    assert np.abs(em.images.astype(int) - center.images).mean() > 5
    em_lo, em_hi = (64 - 51) / 2, (64 + 51) / 2
    for img in em.images:
        top, left, bottom, right = ink_box(img)
        assert top >= em_lo - 2 and left >= em_lo - 2 and bottom <= em_hi + 2 and right <= em_hi + 2
    # One scale for every glyph: 口 stays smaller than 永, where "center" blows both up to the same size.
    height = {c: ink_box(img)[2] - ink_box(img)[0] for c, img in zip(em.chars, em.images, strict=True)}
    assert height["口"] < height["永"] - 3
    small = render_font(cjk.spec, EIGHT, 32, placement="em")
    assert small.images.shape == (4, 32, 32)


def test_tofu_is_listed_never_drawn(cjk):
    request = "永\U00010000字\ue000 八永\u3000\U0010fffd"
    unique = list(dict.fromkeys(request))
    cmap = font_cmap(cjk.spec)
    r = render_font(cjk.spec, request, 48)
    assert r.chars == ["永", "字", "八"]
    assert r.images.shape == (3, 48, 48)
    assert "\U00010000" in r.missing and "\U0010fffd" in r.missing  # Linear B, plane-16 private use
    assert r.missing == [c for c in unique if ord(c) not in cmap]
    assert " " in r.empty  # mapped, draws nothing
    assert sorted(r.chars + r.missing + r.empty) == sorted(unique)
    assert not set(r.chars) & (set(r.missing) | set(r.empty))
    clean = render_font(cjk.spec, "永字八", 48)
    assert np.array_equal(r.images, clean.images)  # images line up with chars


@pytest.mark.parametrize("placement", ["center", "em"])
def test_notdef_and_its_lookalikes_are_empty(dejavu, tmp_path, placement):
    # A real font edited the way broken fonts are: D maps to a copy of the .notdef box, E to a blank glyph, and C to
    # glyph 0 itself (the cmap compiler may drop that entry, which makes C missing rather than empty).
    font = dejavu_subset(dejavu, "AB ")
    font["glyf"].glyphs["notdefcopy"] = copy.deepcopy(font["glyf"][".notdef"])
    font["hmtx"].metrics["notdefcopy"] = font["hmtx"].metrics[".notdef"]
    font.setGlyphOrder(font.getGlyphOrder() + ["notdefcopy"])
    for table in font["cmap"].tables:
        if table.isUnicode():
            table.cmap.update({ord("C"): ".notdef", ord("D"): "notdefcopy", ord("E"): "space"})
    path = tmp_path / "tofu.ttf"
    font.save(path)
    assert {ord(c) for c in "ABDE"} <= font_cmap(FontSpec(path))
    r = render_font(FontSpec(path), "ABCDE", 32, placement=placement)
    assert r.chars == ["A", "B"] and r.images.shape == (2, 32, 32)
    assert {"D", "E"} <= set(r.empty) and sorted(r.missing + r.empty) == ["C", "D", "E"]


def test_font_without_cjk_is_an_error(dejavu):
    with pytest.raises(GlyphgenError, match="none of the 4 requested characters") as excinfo:
        render_font(FontSpec(dejavu), EIGHT)
    message = one_line_error(excinfo)
    assert "DejaVu Sans" in message and "glyphgen data fonts" in message


def test_faces_of_a_collection_differ(cjk):
    if cjk.spec.path.suffix.lower() not in (".ttc", ".otc"):
        pytest.skip(f"{cjk.spec.path.name} is not a collection")
    jp = [f for f in discover_fonts("ja") if f.spec.path == cjk.spec.path and f.spec.index != cjk.spec.index]
    if not jp:
        pytest.skip(f"{cjk.spec.path.name} has no second CJK face")
    other = next((f for f in jp if "JP" in f.family), jp[0]).spec
    assert other.name != cjk.spec.name
    assert parse_font(str(other)) == other  # "file.ttc#N" round-trips
    a = render_font(cjk.spec, "直骨", 64)
    b = render_font(other, "直骨", 64)
    assert a.chars == b.chars == ["直", "骨"]
    assert np.abs(a.images.astype(int) - b.images).mean() > 3  # regional glyph forms


def test_woff_and_woff2_render_like_the_ttf(dejavu, tmp_path):
    font = dejavu_subset(dejavu, "ABC")
    paths = {}
    for flavor in (None, "woff", "woff2"):
        font.flavor = flavor
        paths[flavor] = tmp_path / f"abc.{flavor or 'ttf'}"
        font.save(paths[flavor])
    for placement in ("center", "em"):
        ref = render_font(FontSpec(paths[None]), "ABC", 48, placement=placement)
        assert ref.chars == ["A", "B", "C"]
        for flavor in ("woff", "woff2"):
            spec = parse_font(str(paths[flavor]))
            assert spec.name == "DejaVu Sans Book"
            got = render_font(spec, "ABC", 48, placement=placement)
            assert got.chars == ref.chars and np.array_equal(got.images, ref.images), (flavor, placement)


def test_woff2_decompression_fallback_matches_the_ttf(dejavu, tmp_path):
    # FreeType here reads WOFF2 itself, so the fontTools fallback for builds without brotli is checked directly.
    font = dejavu_subset(dejavu, "ABC")
    font.save(tmp_path / "abc.ttf")
    font.flavor = "woff2"
    font.save(tmp_path / "abc.woff2")
    data = fonts._decompressed(tmp_path / "abc.woff2")
    assert data[:4] == b"\x00\x01\x00\x00"
    a = ImageFont.truetype(io.BytesIO(data), 40).getmask("B")
    b = ImageFont.truetype(str(tmp_path / "abc.ttf"), 40).getmask("B")
    assert a.size == b.size and bytes(a) == bytes(b)


def test_a_font_rewritten_in_place_is_read_again(dejavu, tmp_path):
    path = tmp_path / "grows.ttf"
    dejavu_subset(dejavu, "AB").save(path)
    assert ord("C") not in font_cmap(FontSpec(path))
    dejavu_subset(dejavu, "ABC").save(path)
    assert ord("C") in font_cmap(FontSpec(path))
    assert render_font(FontSpec(path), "ABC", 32).chars == ["A", "B", "C"]


# ------------------------------------------------------------------------------------------------- bad input


def test_nonexistent_font_file(tmp_path):
    missing = tmp_path / "nowhere" / "font.ttf"
    with pytest.raises(GlyphgenError, match="not found") as excinfo:
        parse_font(str(missing))
    message = one_line_error(excinfo)
    assert str(missing) in message and "glyphgen data fonts" in message
    with pytest.raises(GlyphgenError, match="not found"):
        render_font(FontSpec(missing), "A")


def test_random_bytes_are_not_a_font(tmp_path):
    path = tmp_path / "noise.ttf"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(GlyphgenError, match="cannot read font file") as excinfo:
        parse_font(str(path))
    assert str(path) in one_line_error(excinfo)


def test_truncated_font_is_rejected(dejavu, tmp_path):
    path = tmp_path / "cut.ttf"
    path.write_bytes(dejavu.read_bytes()[: dejavu.stat().st_size // 2])
    with pytest.raises(GlyphgenError, match="truncated") as excinfo:
        parse_font(str(path))
    assert str(path) in one_line_error(excinfo)
    with pytest.raises(GlyphgenError, match="cannot read font file"):
        render_font(FontSpec(path), "A")  # a spec built directly is checked too


def test_bad_face_index_and_folder(cjk, dejavu, tmp_path):
    with pytest.raises(GlyphgenError, match="not #1") as excinfo:
        parse_font(f"{dejavu}#1")
    assert str(dejavu) in one_line_error(excinfo)
    if cjk.spec.path.suffix.lower() == ".ttc":
        with pytest.raises(GlyphgenError, match="not #99"):
            parse_font(f"{cjk.spec.path}#99")
    with pytest.raises(GlyphgenError, match="folder"):
        parse_font(str(tmp_path))
    with pytest.raises(GlyphgenError, match="face index"):
        FontSpec(dejavu, -1)


def test_bad_render_arguments(cjk):
    with pytest.raises(GlyphgenError, match="placement"):
        render_font(cjk.spec, EIGHT, placement="middle")
    with pytest.raises(GlyphgenError, match="single characters"):
        render_font(cjk.spec, ["永字"])
    with pytest.raises(GlyphgenError, match="margin"):
        render_font(cjk.spec, EIGHT, margin=0.5)
    empty = render_font(cjk.spec, "")
    assert empty.images.shape == (0, 64, 64) and empty.chars == []


# ------------------------------------------------------------------------------------------------- discovery


def test_discover_finds_a_full_cjk_font(cjk):
    found = discover_fonts("zh")
    assert max(f.cjk_count for f in found) > 20_000
    assert all(f.spec.path.is_file() and f.family for f in found)
    assert len({(f.spec.path, f.spec.index) for f in found}) == len(found)
    assert cjk.spec.name.startswith(cjk.family)
    assert ord("永") in font_cmap(cjk.spec) and font_cmap(cjk.spec) is font_cmap(cjk.spec)  # cached
    with pytest.raises(GlyphgenError, match="unknown font language"):
        discover_fonts("xx")


def test_parse_font_by_family_name(cjk):
    spec = parse_font(f"  {cjk.family.upper()} ")
    assert spec.name.startswith(cjk.family)
    assert cjk.family in {f.family for f in discover_fonts() if f.spec == spec}
    with pytest.raises(GlyphgenError, match="no installed font family") as excinfo:
        parse_font("No Such Family 9000")
    assert "glyphgen data fonts" in one_line_error(excinfo)


def test_folder_scan_without_fontconfig(cjk, dejavu, tmp_path):
    # The fallback used where fc-list is absent (macOS, Windows): a cmap check on every face under the folders.
    wqy = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    source = wqy if wqy.is_file() else cjk.spec.path  # a small collection keeps this quick
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / source.name).symlink_to(source)
    (tmp_path / dejavu.name).symlink_to(dejavu)
    (tmp_path / "notes.txt").write_text("not a font")
    (tmp_path / "broken.ttf").write_bytes(b"\0" * 100)  # skipped, not fatal
    everything = fonts._scan_font_dirs([tmp_path], None)
    zh = fonts._scan_font_dirs([tmp_path], "zh")
    assert {f.spec.path.name for f in everything} == {source.name, dejavu.name}
    assert zh and {f.spec.path.name for f in zh} == {source.name}
    assert all(f.cjk_count > 20_000 for f in zh)
    if shutil.which("fc-list"):  # fontconfig's charset and the cmap agree on the count
        by_fc = {(f.spec.path.name, f.spec.index): f.cjk_count for f in discover_fonts("zh")}
        for f in zh:
            key = (f.spec.path.name, f.spec.index)
            if key in by_fc:
                assert abs(by_fc[key] - f.cjk_count) <= 0.01 * f.cjk_count


def test_progress_bar_does_not_change_the_result(cjk, capsys):
    plain = render_font(cjk.spec, EIGHT, 32)
    shown = render_font(cjk.spec, EIGHT, 32, progress=True)
    assert np.array_equal(plain.images, shown.images)
