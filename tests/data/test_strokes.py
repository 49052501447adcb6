"""KanjiVG strokes -> raster glyphs, on the real KanjiVG data shipped by the `kanjivg` package."""

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from glyphgen.data import strokes as S
from glyphgen.errors import GlyphgenError

EI = "永"  # 5 strokes, the classic stroke-order character


def ink(img: np.ndarray) -> int:
    return int(img.astype(np.int64).sum())


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / (a | b).sum()


# ------------------------------------------------------------------------------------------------------- index


def test_counts_and_variants():
    chars = S.kanjivg_chars()
    assert len(chars) == 6703
    assert chars == sorted(chars, key=ord)
    assert sum(0x4E00 <= ord(c) <= 0x9FFF for c in chars) >= 6400
    with_variants = S.kanjivg_chars(variants=True)
    assert 1000 < len(with_variants) < len(chars) and set(with_variants) <= set(chars)
    assert "Kaisho" in S.kanjivg_variants("且")  # 04e14-Kaisho.svg
    assert S.kanjivg_variants(EI) == [] and S.kanjivg_variants("😀") == []
    assert (S.kanjivg_dir() / "06c38.svg").is_file()


def test_unknown_char_and_variant():
    with pytest.raises(GlyphgenError, match="😀") as e:
        S.load_strokes("😀")
    assert "U+1F600" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(GlyphgenError, match="Nope"):
        S.load_strokes(EI, "Nope")


# ----------------------------------------------------------------------------------------------------- parsing


def test_load_strokes_shape():
    strokes = S.load_strokes(EI)
    assert len(strokes) == 5
    for s in strokes:
        assert s.ndim == 3 and s.shape[1:] == (4, 2) and s.dtype == np.float64
        assert np.all((s >= 0) & (s <= 109))
        assert np.allclose(s[1:, 0], s[:-1, 3])  # segments of a stroke are joined
    # First stroke of 永 is "M45.5,13.25c5.12,2.4,8.62,5.75,10.75,9".
    np.testing.assert_allclose(strokes[0][0], [[45.5, 13.25], [50.62, 15.65], [54.12, 19.0], [56.25, 22.25]])
    variant = S.load_strokes("且", "Kaisho")
    assert variant and not all(np.array_equal(a, b) for a, b in zip(variant, S.load_strokes("且"), strict=True))


def test_parse_path_commands():
    # Relative c with implicit repetition and spaces, as in some KanjiVG files; s reflects the previous handle.
    segs = S.parse_path("M54.5,88 c -0.83,0 -1.5,0.67 -1.5,1.5 0,0.83 0.67,1.5 1.5,1.5")
    np.testing.assert_allclose(segs[1], [[53, 89.5], [53, 90.33], [53.67, 91], [54.5, 91]])
    segs = S.parse_path("m1,2c1,1,2,2,3,3s1,1,2,2C0,0,1,1,5,5S6,6,7,7")
    np.testing.assert_allclose(segs[1], [[4, 5], [5, 6], [5, 6], [6, 7]])
    np.testing.assert_allclose(segs[3], [[5, 5], [9, 9], [6, 6], [7, 7]])


# --------------------------------------------------------------------------------------------------- rendering


def test_render_convention():
    img = S.render_strokes(S.load_strokes(EI), 64)
    assert img.shape == (64, 64) and img.dtype == np.uint8
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    assert border.max() == 0  # paper is 0
    assert img.max() == 255  # ink is high
    assert 0.04 < (img > 127).mean() < 0.25


def test_stroke_numbers_not_rendered():
    # At 109 px one pixel is one KanjiVG unit, so the SVG's number labels can be placed exactly.
    root = ET.parse(S.kanjivg_dir() / "06c38.svg").getroot()
    labels = [t for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert len(labels) == 5
    label_mask = np.zeros((109, 109), bool)
    for t in labels:
        x, y = map(float, re.findall(r"[-\d.]+", t.get("transform"))[-2:])
        label_mask[int(y) - 6 : int(y), int(x) : int(x) + 5] = True  # font-size 8 digit, baseline at y
    strokes = S.load_strokes(EI)
    img = S.render_strokes(strokes, 109)
    near = S.render_strokes(strokes, 109, stroke_width=3 + 2 * 2) > 0  # 2 px of slack around every stroke
    assert not (img > 0)[~near].any()  # ink only near strokes
    free = label_mask & ~near
    assert free.sum() > 60  # the labels cover plenty of stroke-free pixels, so rendered numbers would show
    assert img[free].max() == 0


def test_partial_renders():
    strokes = S.load_strokes(EI)
    full = S.render_strokes(strokes, 64)
    assert S.render_strokes(strokes, 64, max_strokes=0).max() == 0
    inks = [ink(S.render_strokes(strokes, 64, max_strokes=k)) for k in range(len(strokes) + 1)]
    assert all(a < b for a, b in zip(inks[:-1], inks[1:], strict=True))
    assert inks[-1] <= ink(full)
    np.testing.assert_array_equal(S.render_strokes(strokes, 64, max_strokes=99), full)


@pytest.mark.parametrize("char", ["其", "ギ"])
def test_crossings_have_no_holes(char):
    # Every pixel has at least the ink of each stroke drawn alone. Stroking all strokes as one skia path broke
    # this: outlines winding opposite ways cancel at crossings.
    strokes = S.load_strokes(char)
    full = S.render_strokes(strokes, 64).astype(int)
    alone = np.max([S.render_strokes([s], 64) for s in strokes], axis=0).astype(int)
    assert (full >= alone - 2).all()


def test_stroke_width_and_sizes():
    strokes = S.load_strokes(EI)
    inks = [ink(S.render_strokes(strokes, 64, stroke_width=w)) for w in (1.5, 3.0, 6.0)]
    assert inks[0] < inks[1] < inks[2]
    fractions = []
    for size in (32, 64, 128):
        img = S.render_strokes(strokes, size)
        assert img.shape == (size, size) and img.dtype == np.uint8 and img.max() > 0
        fractions.append(ink(img) / (255 * size * size))
    assert max(fractions) / min(fractions) < 1.15  # stroke width scales with the image


def test_jitter():
    strokes = S.load_strokes(EI)
    clean = S.render_strokes(strokes, 64)

    def jit(seed):
        return S.render_strokes(strokes, 64, jitter=1.0, width_jitter=0.1, rng=np.random.default_rng(seed))

    a, b, c = jit(0), jit(0), jit(1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, clean)
    m = dilate(clean > 64, 1)
    assert iou(dilate(a > 64, 1), m) > 0.65  # 0.75..0.9 over 200 seeds
    assert iou(dilate(c > 64, 1), m) > 0.65


def test_jitter_keeps_strokes_joined():
    strokes = S.load_strokes(EI)
    moved = S.jitter_strokes(strokes, 2.0, np.random.default_rng(0))
    for s, m in zip(strokes, moved, strict=True):
        assert m.shape == s.shape
        np.testing.assert_allclose(m[1:, 0], m[:-1, 3])
        assert 0 < np.abs(m - s).mean() < 6


@pytest.mark.parametrize("char", [EI, "一", "丨"])  # square-ish, very wide, very tall
def test_fit_ink(char):
    size, margin = 64, 0.1
    img = S.render_strokes(S.load_strokes(char), size, fit="ink", margin=margin)
    ys, xs = np.nonzero(img)
    lo, hi = margin * size, size - margin * size
    assert xs.min() >= lo - 1 and ys.min() >= lo - 1 and xs.max() + 1 <= hi + 1 and ys.max() + 1 <= hi + 1
    assert max(xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) >= (hi - lo) - 2  # long side fills the box
    assert abs((xs.min() + xs.max() + 1) / 2 - size / 2) <= 1
    assert abs((ys.min() + ys.max() + 1) / 2 - size / 2) <= 1


def test_never_blank():
    chars = S.kanjivg_chars()[::25]
    imgs, kept = S.render_chars(chars, 8)
    assert kept == chars and imgs.max(axis=(1, 2)).min() > 0
    strokes = S.load_strokes(EI)
    # Jitter that throws every stroke off the canvas, and a pen far below a pixel, still give ink.
    assert S.render_strokes(strokes, 32, jitter=500.0, rng=np.random.default_rng(0)).max() > 0
    assert S.render_strokes(strokes, 4, stroke_width=0.01).max() > 0


def test_render_chars_batch():
    imgs, kept = S.render_chars([EI, "😀", "字"], 32)
    assert imgs.shape == (2, 32, 32) and imgs.dtype == np.uint8 and kept == [EI, "字"]
    np.testing.assert_array_equal(imgs[0], S.render_strokes(S.load_strokes(EI), 32))
    # Augmentation is seeded per input index: the same char at the same index renders the same in any batch.
    kw = dict(jitter=1.0, width_jitter=0.1, seed=3)
    a, _ = S.render_chars([EI, "字"], 32, **kw)
    b, _ = S.render_chars([EI, "😀"], 32, **kw)
    c, _ = S.render_chars([EI], 32, **{**kw, "seed": 4})
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    v, kept = S.render_chars(["且", EI], 32, variant="Kaisho")
    assert kept == ["且"] and v.shape == (1, 32, 32)
    empty, kept = S.render_chars([], 16)
    assert empty.shape == (0, 16, 16) and kept == []
