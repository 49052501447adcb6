"""Font out: tracing (vectorize), the font builder, its checks (fontTools, OTS, fontconfig, FreeType round trip) and
`glyphgen font` through the CLI, on real font renders and the shipped models."""

import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from glyphgen.atomic import atomic_path
from glyphgen.cli import app
from glyphgen.data.fonts import parse_font, render_font
from glyphgen.errors import GlyphgenError
from glyphgen.fontbuild import (
    CJK_ASCENT,
    SIDE_BEARING,
    FontInfo,
    bounds,
    build_font,
    check_family_name,
    postscript_name,
    trace_glyphs,
    write_svgs,
)
from glyphgen.fontcheck import check, fc_scan, notdef_chars, typeset
from glyphgen.vectorize import Placement, level, outline, trace

KANJI = "永字八法国愛鬱口日明"
LATIN = "AHgjxo8"


def ring(size=32, outer=12, inner=6) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(yy, xx)
    return ((r <= outer) & (r >= inner)).astype(np.float32)


@pytest.fixture(scope="module")
def glyph_bitmaps():
    """Real renders: jōyō kanji from Noto Sans CJK SC at 32 px, Latin letters from Comic Neue at 32 px."""
    kanji = render_font("Noto Sans CJK SC", KANJI, 32)
    latin = render_font("Comic Neue", LATIN, 32)
    chars = kanji.chars + latin.chars
    assert "".join(chars) == KANJI + LATIN
    return chars, np.concatenate([kanji.images, latin.images]) / 255.0


# -- tracing ----------------------------------------------------------------------------------------------------------


def test_a_ring_traces_to_an_outer_contour_and_a_hole():
    contours = trace(ring())
    assert sorted(is_hole for _, is_hole in contours) == [False, True]
    (outer,) = [p for p, hole in contours if not hole]
    radius = np.hypot(*(outer - 15.5).T)  # pixel-edge coordinates: the centre of a 32 px image is 16 - 0.5
    assert abs(radius.mean() - 12.5) < 0.5  # the ink's edge, not the boundary pixels' centres


@pytest.mark.parametrize("clockwise", [True, False])
def test_outer_contours_and_holes_wind_opposite_ways_as_each_format_wants(clockwise):
    ops = outline(ring(), Placement(scale=1000 / 32, dy=880), clockwise=clockwise)
    contours, current = [], []
    for op, args in ops:
        current += list(args)
        if op == "closePath":
            contours.append(np.array([p for p in current if p is not None], float))
            current = []
    assert len(contours) == 2
    areas = sorted((0.5 * (c[:, 0] @ np.roll(c[:, 1], -1) - c[:, 1] @ np.roll(c[:, 0], -1)) for c in contours), key=abs)
    hole, outer = areas
    assert (outer < 0) == clockwise and (hole < 0) != clockwise  # y up: clockwise has negative area


def test_specks_are_dropped_and_blank_traces_to_nothing():
    speck = np.zeros((32, 32), np.float32)
    speck[5, 5] = 1.0  # one pixel: below min_area
    assert trace(speck) == []
    assert outline(np.zeros((32, 32)), Placement(scale=1.0)) == []
    with_speck = ring()
    with_speck[1, 1] = 1.0
    assert len(trace(with_speck)) == 2


def test_level_stretches_a_soft_glyph_and_keeps_a_blank_one_blank():
    soft = ring() * 0.4 + 0.05  # a VAE-like glyph: ink never above 0.45, a haze over the paper
    leveled = level(soft)
    assert leveled.max() == pytest.approx(1.0) and leveled.min() == 0.0
    assert len(trace(soft)) == 0 and len(trace(leveled)) == 2
    assert not level(np.full((32, 32), 0.3)).any()


# -- the font ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".otf", ".ttf"])
def test_font_rereads_passes_the_sanitizer_and_fontconfig_and_matches_its_bitmaps(tmp_path, glyph_bitmaps, suffix):
    chars, bitmaps = glyph_bitmaps
    glyphs = trace_glyphs(chars, bitmaps, "glyf" if suffix == ".ttf" else "cff")
    path = build_font(glyphs, tmp_path / f"Test{suffix}", FontInfo("Glyphgen Test", licence="CC BY-SA 3.0 notice"))
    found = check(path, glyphs, bitmaps)  # re-reads every table and runs the OpenType Sanitizer
    assert "sanitized successfully" in found.sanitizer
    assert found.iou.mean() >= 0.9, found.summary()
    assert {c for c, _ in found.worst(0.75)} <= {"j"}, found.summary()  # Comic Neue's j: 1 px strokes at 32 px
    font = TTFont(path)
    assert ("glyf" in font) == (suffix == ".ttf") and ("CFF " in font) == (suffix == ".otf")
    assert set(font.getBestCmap()) >= {ord(c) for c in chars + [" ", "\u3000"]}
    assert font.getGlyphOrder()[0] == ".notdef"
    assert font["name"].getDebugName(1) == "Glyphgen Test" and font["name"].getDebugName(13) == "CC BY-SA 3.0 notice"
    family, charset = fc_scan(path) if shutil.which("fc-scan") else pytest.skip("no fc-scan")
    assert family == "Glyphgen Test"
    assert "6c38" in charset and "41" in charset  # 永 and A, in fontconfig's hex ranges


def test_every_glyph_lies_inside_the_vertical_metrics_and_latin_sits_on_its_baseline(tmp_path, glyph_bitmaps):
    chars, bitmaps = glyph_bitmaps
    glyphs = trace_glyphs(chars, bitmaps)
    font = TTFont(build_font(glyphs, tmp_path / "T.otf", FontInfo("T")))
    hhea, os2 = font["hhea"], font["OS/2"]
    boxes = {g.char: bounds(g.ops) for g in glyphs}
    assert max(b[3] for b in boxes.values()) <= min(hhea.ascent, os2.usWinAscent, os2.sTypoAscender)
    assert min(b[1] for b in boxes.values()) >= max(hhea.descent, -os2.usWinDescent, os2.sTypoDescender)
    assert hhea.ascent >= CJK_ASCENT  # a font with kanji keeps the ideographic em box
    assert boxes["g"][1] < -150 and boxes["j"][1] < -150  # descenders go below the baseline
    assert abs(boxes["x"][3] - 500) < 30 and abs(boxes["A"][3] - 700) < 30 and abs(boxes["x"][1]) < 30
    widths = font["hmtx"].metrics
    for g in glyphs:
        if g.char in KANJI:
            assert widths[g.name][0] == 1000
        else:  # proportional: its ink plus the same bearing on both sides
            assert abs(widths[g.name][0] - (boxes[g.char][2] - boxes[g.char][0]) - 2 * SIDE_BEARING) <= 4


def test_a_paragraph_typeset_with_the_font_shows_no_notdef_box(tmp_path, glyph_bitmaps):
    chars, bitmaps = glyph_bitmaps
    path = build_font(trace_glyphs(chars, bitmaps), tmp_path / "T.otf", FontInfo("T"))
    text = "".join(chars) + " 永字"
    assert notdef_chars(path, text) == []
    assert notdef_chars(path, "永Z") == ["Z"]  # a character the font lacks is caught
    picture = typeset(path, text * 3, size=32, width=400)
    assert picture.height > 64 and np.asarray(picture).min() < 64  # wrapped onto lines, with ink


def test_svgs_are_one_well_formed_document_per_glyph(tmp_path, glyph_bitmaps):
    chars, bitmaps = glyph_bitmaps
    paths = write_svgs(trace_glyphs(chars, bitmaps), tmp_path / "svg")
    assert len(paths) == len(chars)
    root = ET.parse(paths[0]).getroot()
    assert root.tag.endswith("svg") and root.find("{http://www.w3.org/2000/svg}path").get("d").startswith("M")


def test_family_names_the_name_table_cannot_hold_are_refused():
    for bad in ("", "   ", "a\x01b", "x" * 64, "a\u2028b"):
        with pytest.raises(GlyphgenError, match="--name"):
            check_family_name(bad)
    assert check_family_name(" 我的字体 ") == "我的字体"
    assert postscript_name("My Hand 2") == "MyHand2-Regular"
    assert postscript_name("我的字体").startswith("glyphgen-") and postscript_name("我的字体").isascii()


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "f.otf"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]


# -- glyphgen font ----------------------------------------------------------------------------------------------------

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


def test_font_command_writes_a_checked_font_and_svgs_from_a_shipped_model(tmp_path):
    out = tmp_path / "fonts" / "Kanji.otf"
    result = run("font", "kanji-ddpm-cond", "--chars", "永字八法", "--name", "Kanji Test", "-o", str(out),
                 "--svg", str(tmp_path / "svg"), "--steps", "4")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "4 glyphs" in result.output and "OpenType Sanitizer: passed" in result.output
    font = TTFont(out)
    assert {chr(c) for c in font.getBestCmap()} >= set("永字八法")
    assert "kanji-ddpm-cond" in font["name"].getDebugName(13) and "KanjiVG" in font["name"].getDebugName(13)
    assert len(list((tmp_path / "svg").glob("*.svg"))) == 4


def test_font_command_writes_a_hand_font_in_the_style_of_reference_images(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    pen = ImageFont.truetype(str(parse_font("Comic Neue").path), 96)
    for ch in "abc":
        picture = Image.new("L", (128, 128), 255)
        ImageDraw.Draw(picture).text((20, 0), ch, font=pen, fill=0)
        picture.save(refs / f"{ch}.png")
    out = tmp_path / "Hand.ttf"
    result = run("font", "hand-cvae", "--chars", "latin", "--name", "My Hand", "-o", str(out), "--refs", str(refs))
    assert result.exit_code == 0, result.output
    assert len(TTFont(out).getBestCmap()) == 62 + 1  # A-Z a-z 0-9 and the space


@pytest.mark.parametrize(
    ("model", "args", "message"),
    [
        ("kanji-vae", ["--chars", "永"], "unconditional"),
        ("hand-cvae", ["--chars", "A永"], "'永' (U+6C38)"),
        ("hand-cvae", ["--chars", "="], "no characters"),
        ("hand-cvae", ["--name", "a\x07"], "--name"),
        ("hand-cvae", ["-o", "{tmp}/x.png"], ".otf"),
        ("hand-cvae", ["-o", "{tmp}/file/x.otf"], "cannot write"),
        ("hand-cvae", ["--refs", "{tmp}/blank.png"], "no ink"),
        ("hand-cvae", ["--refs", "{tmp}/text.png"], "not a readable image"),
        ("hand-cvae", ["--refs", "{tmp}/file"], "file"),  # neither an image nor a font
        ("kanji-ddpm-cond", ["--refs", "{tmp}/blank.png", "--chars", "永"], "no style references"),
    ],
)
def test_font_command_bad_input_is_one_line_and_writes_nothing(tmp_path, model, args, message):
    (tmp_path / "file").write_text("not a folder, not an image")
    (tmp_path / "text.png").write_text("not an image")
    Image.new("L", (64, 64), 255).save(tmp_path / "blank.png")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    options = {"--name": "Bad", "-o": str(tmp_path / "Bad.otf"), "--chars": "=AB"}
    for key, value in zip(args[::2], args[1::2], strict=True):
        options[key] = value
    before = sorted(tmp_path.iterdir())
    result = run("font", model, *[x for kv in options.items() for x in kv])
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("error:") and message in line
    assert sorted(tmp_path.iterdir()) == before  # no font, no temporary file


def test_a_font_that_fails_its_checks_is_never_left_at_the_output(tmp_path, monkeypatch):
    from glyphgen import fontcheck
    from glyphgen.font import make_font

    def rejected(path):  # fault injection: the sanitizer rejects the font just built
        raise GlyphgenError(f"{path}: the OpenType Sanitizer rejects the font: injected")

    monkeypatch.setattr(fontcheck, "sanitize", rejected)
    out = tmp_path / "Hand.otf"
    with pytest.raises(GlyphgenError, match="injected"):
        make_font("hand-cvae", out, "Hand", chars="=AB")
    assert list(tmp_path.iterdir()) == []
