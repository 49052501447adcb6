"""Dataset building and the render cache, on real KanjiVG data and a real installed CJK font."""

import numpy as np
import pytest
import torch

from glyphgen.config import DataConfig
from glyphgen.data import dataset
from glyphgen.data.augment import AugmentConfig, augment
from glyphgen.data.glyphset import GlyphSet
from glyphgen.errors import GlyphgenError


def _cjk_font():
    from glyphgen.data.fonts import discover_fonts

    fonts = discover_fonts("zh")
    if not fonts:
        pytest.skip("no CJK font installed (scripts/setup.sh installs fonts-noto-cjk)")
    return fonts[0].spec


def test_kanjivg_set_convention_and_labels():
    g = dataset.build(DataConfig(source="kanjivg", charset="永字八法", size=32))
    assert g.images.shape == (4, 1, 32, 32) and g.images.dtype == np.uint8
    assert g.classes == list("永字八法") and list(g.labels) == [0, 1, 2, 3]
    # ink high: the border is paper (0), and every glyph has ink
    assert g.images[..., 0, :].max() == 0 and (g.images.reshape(4, -1).max(1) > 128).all()


def test_kanjivg_skips_characters_without_strokes():
    g = dataset.build(DataConfig(source="kanjivg", charset="永☃\ue000", size=16))  # no KanjiVG file for the last two
    assert g.classes == ["永"] and g.info["not_in_kanjivg"] == 2


def test_augmented_copies_are_styles_of_the_same_characters():
    g = dataset.build(DataConfig(source="kanjivg", charset="永字", size=32, augment_copies=2))
    assert len(g) == 6 and g.style_names[0] == "kanjivg" and len(g.style_names) == 3
    assert sorted(g.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    clean, jittered = g.images[(g.styles == 0) & (g.labels == 0)], g.images[(g.styles == 1) & (g.labels == 0)]
    assert not np.array_equal(clean, jittered)


def test_font_set_has_a_style_per_font_and_never_a_missing_glyph():
    spec = _cjk_font()
    path = f"{spec.path}#{spec.index}"
    # U+E000 (private use) and U+10000 (Linear B) are absent from CJK fonts: they must be skipped, not drawn as tofu.
    cfg = DataConfig(source="font", fonts=[path], charset="永字\ue000八\U00010000法", size=32)
    g = dataset.build(cfg)
    assert g.classes == list("永字八法") and len(g) == 4
    assert g.style_names == [spec.name]
    counts = g.info["fonts"][spec.name]
    assert counts["rendered"] == 4 and counts["missing"] + counts["empty"] == 2


def test_font_without_any_requested_glyph_is_an_error():
    with pytest.raises(GlyphgenError):
        dataset.build(
            DataConfig(source="font", fonts=["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"], charset="永字")
        )


def test_cache_hit_and_invalidation(tmp_path, monkeypatch):
    monkeypatch.setenv("GLYPHGEN_CACHE", str(tmp_path))
    cfg = DataConfig(source="kanjivg", charset="永字", size=16)
    first = dataset.load(cfg)
    assert not first.info["cache"]["hit"] and len(list(tmp_path.glob("*.npz"))) == 1
    second = dataset.load(cfg)
    assert second.info["cache"]["hit"]
    np.testing.assert_array_equal(first.images, second.images)
    # any option that changes the pixels changes the key
    for changed in (
        DataConfig(source="kanjivg", charset="永字", size=16, stroke_width=5.0),
        DataConfig(source="kanjivg", charset="永字", size=24),
    ):
        assert dataset.cache_key(changed) != dataset.cache_key(cfg)
        assert not dataset.load(changed).info["cache"]["hit"]
    assert len(list(tmp_path.glob("*.npz"))) == 3


def test_cache_key_follows_the_input_file(tmp_path):
    f = tmp_path / "chars.txt"
    f.write_text("永", encoding="utf-8")
    cfg = DataConfig(source="kanjivg", charset=f"@{f}", size=16)
    key = dataset.cache_key(cfg)
    f.write_text("字", encoding="utf-8")
    assert dataset.cache_key(cfg) != key
    assert dataset.load(cfg).classes == ["字"]


def test_corrupt_cache_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(GlyphgenError, match="cannot read glyph set"):
        GlyphSet.load(bad)


@pytest.mark.parametrize("damage", ["truncate", "empty", "flip", "noise"])
def test_a_damaged_cache_is_rebuilt_never_trained_on(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("GLYPHGEN_CACHE", str(tmp_path))
    cfg = DataConfig(source="kanjivg", charset="永字八法", size=16)
    good = dataset.load(cfg)
    (path,) = tmp_path.glob("*.npz")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "flip":  # one bit of the pixels (stored uncompressed): a valid archive with wrong contents
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["images"] = arrays["images"].copy()
        arrays["images"].flat[100] ^= 1
        np.savez(path, **arrays)
    else:  # a well-formed set of random noise, with a checksum of its own
        noise = GlyphSet(np.random.default_rng(0).integers(0, 255, good.images.shape, dtype=np.uint8), good.labels,
                         good.classes)  # fmt: skip
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["images"] = noise.images
        np.savez(path, **arrays)
    with pytest.warns(UserWarning, match="rendering it again"):
        again = dataset.load(cfg)
    np.testing.assert_array_equal(again.images, good.images)
    assert not again.info["cache"]["hit"] and dataset.load(cfg).info["cache"]["hit"]  # rewritten, good again


def _save_many(path: str, times: int) -> None:
    g = dataset.build(DataConfig(source="kanjivg", charset="永字八法", size=16))
    for _ in range(times):
        g.save(path)


def test_two_processes_writing_one_cache_never_mix_their_files(tmp_path):
    """Once a fixed temporary name made two builders corrupt the cache 2 times in 3."""
    import multiprocessing

    target = tmp_path / "c.npz"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_save_many, args=(str(target), 15)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    glyphs = GlyphSet.load(target)  # whole and matching its checksum
    assert len(glyphs) == 4 and sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]


def test_digits_source_is_real_handwriting():
    g = dataset.build(DataConfig(source="digits", size=28))
    assert g.images.shape == (1797, 1, 28, 28) and len(g.classes) == 10


def test_bad_config_values():
    with pytest.raises(GlyphgenError, match="one of"):
        DataConfig(source="svg")
    with pytest.raises(GlyphgenError, match="size"):
        DataConfig(size=4)


def test_augment_is_small_seeded_and_keeps_paper_blank():
    g = dataset.build(DataConfig(source="kanjivg", charset="永字八法", size=32))
    x = g.to_float()
    cfg = AugmentConfig(rotate=5, translate=0.05, scale=0.08)
    a = augment(x, cfg, torch.Generator().manual_seed(0))
    b = augment(x, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and not torch.equal(a, x)
    assert a.min() >= 0 and a.max() <= 1
    assert abs(a.mean().item() - x.mean().item()) < 0.2 * x.mean().item()  # ink roughly preserved
    assert augment(x, AugmentConfig()) is x
    # a flip mirrors: flipping every image equals torch.flip
    flipped = augment(x, AugmentConfig(hflip=True), torch.Generator().manual_seed(1))
    mirrored = [i for i in range(4) if torch.allclose(flipped[i], x[i].flip(-1), atol=1e-5)]
    kept = [i for i in range(4) if torch.allclose(flipped[i], x[i], atol=1e-5)]
    assert len(mirrored) + len(kept) == 4


def test_stroke_weight_augment_makes_glyphs_bolder_or_thinner():
    from glyphgen.data.augment import reweight

    x = dataset.build(DataConfig(source="kanjivg", charset="永字八法", size=32)).to_float()
    ink = x.sum(dim=(1, 2, 3))
    bolder = reweight(x, torch.ones(4)).sum(dim=(1, 2, 3))
    thinner = reweight(x, -torch.ones(4)).sum(dim=(1, 2, 3))
    assert (bolder > 1.5 * ink).all() and (thinner < 0.8 * ink).all()
    assert torch.equal(reweight(x, torch.zeros(4)), x)
    a = augment(x, AugmentConfig(weight=0.5, shear=10), torch.Generator().manual_seed(0))
    assert a.min() >= 0 and a.max() <= 1 and not torch.equal(a, x)


def test_mix_unites_classes_by_character_and_keeps_parts_apart():
    spec = _cjk_font()
    font = f"{spec.path}#{spec.index}"
    strokes = DataConfig(source="kanjivg", charset="永字八", size=32)
    printed = DataConfig(source="font", fonts=[font], charset="八法", size=32)
    mix = DataConfig(
        source="mix",
        size=32,
        parts=["{source: kanjivg, charset: 永字八}", {"source": "font", "fonts": [font], "charset": "八法"}],
    )
    g = dataset.load(mix)
    a, b = dataset.load(strokes), dataset.load(printed)
    assert g.classes == list("永字八法") and len(g) == len(a) + len(b)
    np.testing.assert_array_equal(g.images, np.concatenate([a.images, b.images]))
    assert [g.classes[i] for i in g.labels] == [a.classes[i] for i in a.labels] + [b.classes[i] for i in b.labels]
    assert {g.style_names[s].split("/")[0] for s in g.styles} == {"0:kanjivg", "1:font"}
    assert mix.parts[1].startswith("{source: font")  # YAML mappings and strings end up as the same canonical text
    # a part's change is a new cache key; the mix's size and charset reach parts that do not set their own
    other = DataConfig(source="mix", size=32, parts=["{source: kanjivg, charset: 永字}", mix.parts[1]])
    assert dataset.cache_key(other) != dataset.cache_key(mix)
    inherit = DataConfig(source="mix", size=16, charset="永", parts=["{source: kanjivg}"]).part_configs()[0]
    assert (inherit.size, inherit.charset) == (16, "永")


@pytest.mark.parametrize(
    "options, needle",
    [
        ({"source": "mix"}, "needs --parts"),
        ({"source": "digits", "parts": ["{source: digits}"]}, "only source mix"),
        ({"source": "mix", "parts": ["{source: mix}"]}, "cannot be a mix"),
        ({"source": "mix", "parts": ["{source: digits, size: 8}"]}, "parts take the mix's size"),
        ({"source": "mix", "parts": ["digits"]}, "must be a mapping"),
        ({"source": "mix", "parts": ["{source: digits, colour: red}"]}, "unknown DataConfig option"),
    ],
)
def test_bad_mixes_are_one_line_errors(options, needle):
    with pytest.raises(GlyphgenError, match=needle):
        DataConfig(**options).part_configs()
