"""The app's actions without a server: model discovery and cards, limits, text layout, drawings, style, dreams."""

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from glyphgen import checkpoint
from glyphgen.app.handlers import Handlers, Limits
from glyphgen.app.library import Library, find_models
from glyphgen.errors import GlyphgenError
from glyphgen.sketch import frame, frame_all

from .conftest import CARD, CVAE_CLASSES, TINY

# diffusers' DPM-Solver builds its sigmas with np.array(tensor, copy=False) semantics that numpy 2 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(scope="module")
def handlers(models_dir, tmp_path_factory):
    return Handlers(Library([models_dir]), out=tmp_path_factory.mktemp("out"))


def drawing(kind: str = "seven", size: int = 256, mode: str = "RGBA") -> np.ndarray:
    """A canvas like the sketchpad's: black strokes on transparent (RGBA) or white (L) paper."""
    img = Image.new(mode, (size, size), (0, 0, 0, 0) if mode == "RGBA" else 255)
    d = ImageDraw.Draw(img)
    ink = (0, 0, 0, 255) if mode == "RGBA" else 0
    if kind == "seven":
        d.line([(60, 50), (180, 50), (100, 210)], fill=ink, width=18)
    elif kind == "bar":
        d.line([(128, 40), (128, 216)], fill=ink, width=18)
    return np.asarray(img)


def zip_names(path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return z.namelist()


# ---- library ------------------------------------------------------------------------------------------------------


def test_library_finds_every_family_with_cards(handlers):
    lib = handlers.library
    assert sorted(lib.names()) == sorted(TINY)
    assert lib.names(can="writes_in_style") == ["cvae", "style"]
    assert sorted(lib.names(conditional=True)) == ["cvae", "ddpm", "style"]
    assert lib.entry("cvae").card == CARD  # a README.md is the card
    vae_card = lib.entry("vae").card  # else the card `glyphgen export` writes, from config.json and metrics.json
    assert "`vae`" in vae_card and "16x16" in vae_card and "| fid | 12.5 |" in vae_card and "7 steps" in vae_card
    assert "| recognised | 0.75 | 0.9 |" in lib.entry("ddpm").card  # glyphgen eval's report, with its band
    assert "Not evaluated yet" in lib.entry("gan").card
    models = {m["name"]: m for m in handlers.models()}
    assert models["cvae"]["characters"] == "".join(CVAE_CLASSES) and models["dream"]["conditional"] is False


def test_run_folders_are_named_after_the_run_and_other_configs_skipped(models_dir, tmp_path):
    method, _ = checkpoint.load(models_dir / "vae")
    checkpoint.export(method, tmp_path / "my-run" / "model")
    checkpoint.export(method, tmp_path / "my-run" / "checkpoints" / "x")  # never scanned
    (tmp_path / "pipe").mkdir()
    (tmp_path / "pipe" / "config.json").write_text('{"_class_name": "UNet2DModel"}')
    (tmp_path / "pipe" / "model.safetensors").write_bytes(b"")
    assert [e.name for e in find_models([tmp_path])] == ["my-run"]
    with pytest.raises(GlyphgenError, match="does not exist"):
        find_models([tmp_path / "nope"])


def test_unknown_model_lists_the_served_ones(handlers):
    with pytest.raises(GlyphgenError, match="unknown model 'nope'.*cvae"):
        handlers.generate("nope", 2)
    with pytest.raises(GlyphgenError, match="pick a model"):
        handlers.generate("", 2)


def test_controls_follow_the_family(handlers):
    ddpm = handlers.controls("ddpm")
    assert ddpm["sampler"] == "dpm++" and ddpm["steps"] == 3 and ddpm["steps_max"] == 20 and ddpm["guidance"] == 1.0
    dream = handlers.controls("dream")
    assert dream["sampler"] is None and dream["steps"] == 2 and dream["steps_label"] == "dream cycles"
    assert handlers.controls("vae") == handlers.controls("")


# ---- generate -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(TINY))
def test_generate_every_family(handlers, model):
    p = handlers.generate(model, 3, seed=5)
    side = TINY[model][2][1]
    scale = max(1, round(64 / side))
    assert p.image.size == ((2 * (side + 2) + 2) * scale,) * 2  # 3 images: a 2x2 grid, 2 px paper between
    grid_png, zipped = p.files
    assert Image.open(grid_png).size == p.image.size
    assert zip_names(zipped) == ["000.png", "001.png", "002.png"]
    with zipfile.ZipFile(zipped) as z:
        assert Image.open(io.BytesIO(z.read("000.png"))).size == (side, side)


@pytest.mark.parametrize("model", ["cvae", "vae"])
def test_image_k_does_not_depend_on_how_many_are_asked_for(handlers, model):
    def glyph(p, k):
        with zipfile.ZipFile(p.files[1]) as z:
            return np.asarray(Image.open(io.BytesIO(z.read(f"{k:03d}.png")))).astype(int)

    four, two = handlers.generate(model, 4, seed=10), handlers.generate(model, 2, seed=10)
    np.testing.assert_allclose(glyph(four, 1), glyph(two, 1), atol=1)  # batch size changes float rounding only
    assert np.abs(glyph(four, 0) - glyph(four, 1)).max() > 1


@pytest.mark.parametrize(
    "args, match",
    [
        (dict(model="cvae", n=0), "1 to 64"),
        (dict(model="cvae", n=65), "1 to 64"),
        (dict(model="cvae", n=2.5), "whole number"),
        (dict(model="cvae", n=2, seed=-1), "seed -1 is out of range"),
        (dict(model="ddpm", n=2, steps=21), "use 1 to 20"),
        (dict(model="ddpm", n=2, steps=-1), "use 1 to 20"),
        (dict(model="ddpm", n=2, sampler="euler"), "unknown sampler"),
        (dict(model="ddpm", n=2, guidance=99), "guidance 99.0 is out of range"),
        (dict(model="ddpm", n=2, guidance="nan"), "finite"),
        (dict(model="dream", n=2, steps=41), "use 1 to 40"),
    ],
)
def test_generate_limits(handlers, args, match):
    with pytest.raises(GlyphgenError, match=match):
        handlers.generate(**args)


def test_steps_cap_is_the_apps_not_the_models(models_dir, tmp_path):
    strict = Handlers(Library([models_dir]), Limits(steps=5, images=2), out=tmp_path)
    assert strict.controls("ddpm")["steps_max"] == 5
    with pytest.raises(GlyphgenError, match="use 1 to 5"):
        strict.generate("ddpm", 1, steps=6)
    with pytest.raises(GlyphgenError, match="1 to 2 per request"):
        strict.generate("vae", 3)


def test_options_that_do_not_apply_are_ignored(handlers):
    # The page sends every control; a vae has no sampler, steps or guidance.
    assert handlers.generate("vae", 1, 0, "ddim", 7, 3.0).image


def test_ddpm_sampler_steps_and_guidance_change_the_samples(handlers):
    def pixels(**options):
        return np.asarray(handlers.generate("ddpm", 1, seed=3, **options).image)

    base = pixels(sampler="ddim", steps=3, guidance=1)
    assert not np.array_equal(base, pixels(sampler="ddim", steps=2, guidance=1))
    assert not np.array_equal(base, pixels(sampler="ddim", steps=3, guidance=4))
    np.testing.assert_array_equal(base, pixels(sampler="ddim", steps=3, guidance=1))
    # empty options (0 steps in the page) are the model's defaults: dpm++, 3 steps, guidance 1
    np.testing.assert_array_equal(pixels(sampler="dpm++", steps=3, guidance=1), pixels(sampler=None, steps=0))


# ---- write --------------------------------------------------------------------------------------------------------


def test_write_renders_known_characters_and_reports_the_rest(handlers):
    p = handlers.write("cvae", "Hello 123!", seed=0)
    assert "'!' (U+0021)" in p.message and "other case: elo" in p.message  # reported, not dropped silently
    assert zip_names(p.files[1]) == [
        f"{k:03d}_U+{ord(c):04X}.png" for k, c in enumerate("Hello123")
    ]  # one PNG per written character
    scale = max(1, round(64 / 28))
    assert p.image.size == ((10 * 30 + 2) * scale, (30 + 2) * scale)  # one row of 10 cells


def test_write_with_a_conditional_ddpm(handlers):
    p = handlers.write("ddpm", "永字", seed=0, sampler="ddim", steps=2, guidance=2)
    assert len(zip_names(p.files[1])) == 2 and not p.notes


def test_write_refuses_unconditional_models(handlers):
    with pytest.raises(GlyphgenError, match="unconditional vae model"):
        handlers.write("vae", "永")


# ---- drawings -----------------------------------------------------------------------------------------------------


def test_frame_crops_pads_and_borders_like_the_dashboard():
    g = frame(drawing("bar"), (1, 28, 28))
    assert g.shape == (1, 28, 28) and g.dtype == np.float32 and 0 <= g.min() and g.max() <= 1
    rows, cols = np.flatnonzero(g[0].max(1) > 0.2), np.flatnonzero(g[0].max(0) > 0.2)
    assert rows[0] == 4 and rows[-1] == 23  # 20 px tall glyph, 4 px border
    assert 12 <= cols[0] and cols[-1] <= 15  # a thin bar, centred
    # white-on-black pictures are read as ink on paper; an opaque white canvas with black strokes too
    white_on_black = 255 - drawing("bar", mode="L")
    np.testing.assert_allclose(frame(white_on_black, (1, 28, 28)), g, atol=0.05)
    np.testing.assert_allclose(frame(drawing("bar", mode="L"), (1, 28, 28)), g, atol=0.05)


def test_frame_uses_the_data_margin_for_rendered_fonts():
    g = frame(drawing("bar"), (1, 32, 32), {"source": "kanjivg", "margin": 0.125})
    rows = np.flatnonzero(g[0].max(1) > 0.2)
    assert rows[0] == 4 and rows[-1] == 27


def test_empty_and_garbage_drawings_are_messages():
    assert frame(drawing("none"), (1, 28, 28)) is None
    assert frame({"background": None, "layers": [], "composite": None}, (1, 28, 28)) is None
    assert frame(np.zeros((50, 50, 4), np.uint8), (1, 28, 28)) is None
    assert frame(np.zeros((50, 50), np.uint8), (1, 28, 28)) is None  # all black: flipped to empty paper
    with pytest.raises(GlyphgenError, match="draw at least one character"):
        frame_all([None, {"background": None, "layers": [], "composite": None}, drawing("none")], (1, 28, 28))
    with pytest.raises(GlyphgenError, match="grey, RGB or RGBA"):
        frame(np.zeros((5, 5, 2)), (1, 28, 28))
    with pytest.raises(GlyphgenError, match="at most 2048x2048"):
        frame(np.zeros((3000, 3000), np.uint8), (1, 28, 28))
    glyphs, used = frame_all([None, drawing("seven"), drawing("none"), {"composite": drawing("bar")}], (1, 28, 28))
    assert glyphs.shape == (2, 1, 28, 28) and used == [1, 3]


# ---- your style ---------------------------------------------------------------------------------------------------


def test_read_style_reports_the_models_top_guesses(handlers):
    glyphs, used, recognised = handlers.read_style("cvae", [drawing("seven"), None, drawing("bar")])
    assert used == [0, 2] and recognised[1] is None
    method, _ = handlers.library.load("cvae")
    labels, confidence = method.recognize(torch.from_numpy(glyphs))
    for k, guess in zip(used, range(2), strict=True):
        top = recognised[k]
        assert len(top) == 3 and set(top) <= set(CVAE_CLASSES)
        assert list(top.values()) == sorted(top.values(), reverse=True) and sum(top.values()) <= 1.0001
        assert next(iter(top)) == CVAE_CLASSES[labels[guess]]
        assert next(iter(top.values())) == pytest.approx(confidence[guess].item(), abs=1e-4)


def test_write_in_style(handlers):
    p = handlers.write_in_style("cvae", [drawing("seven"), drawing("bar")], "AB 12", randomness=0, average=True)
    assert len(zip_names(p.files[1])) == 4 and Image.open(p.framed).size[0] > Image.open(p.framed).size[1]
    assert p.recognised[0] and p.recognised[1]
    one_each = handlers.write_in_style("cvae", [drawing("seven"), drawing("bar")], "AB 12", average=False)
    assert not np.array_equal(np.asarray(p.image), np.asarray(one_each.image))
    noisy = handlers.write_in_style("cvae", [drawing("seven")], "AB", randomness=1, seed=1)
    again = handlers.write_in_style("cvae", [drawing("seven")], "AB", randomness=1, seed=1)
    np.testing.assert_array_equal(np.asarray(noisy.image), np.asarray(again.image))


def test_a_style_model_reads_drawings_with_the_recogniser_and_writes_with_its_sampling_options(handlers):
    from glyphgen.eval.features import load_features
    from glyphgen.eval.metrics import class_map

    glyphs, used, recognised = handlers.read_style("style", [drawing("seven"), drawing("bar")])
    features, meta = load_features()
    columns = class_map(list("ABab12"), meta["classes"])
    logits = features.logits(torch.from_numpy(glyphs))[:, torch.from_numpy(columns)]
    for k in used:  # the shipped recogniser's best guess among the model's own characters
        top = recognised[k]
        assert set(top) <= set("ABab12") and next(iter(top)) == "ABab12"[int(logits[k].argmax())]
    p = handlers.write_in_style("style", [drawing("seven"), drawing("bar")], "Ab 12", steps=2)
    assert len(zip_names(p.files[1])) == 4
    again = handlers.write_in_style("style", [drawing("seven"), drawing("bar")], "Ab 12", steps=3)
    assert not np.array_equal(np.asarray(p.image), np.asarray(again.image))  # steps reached the sampler
    with pytest.raises(GlyphgenError, match="steps"):
        handlers.write_in_style("style", [drawing("seven")], "Ab", steps=10_000)


def test_write_in_style_without_text_writes_the_character_set(models_dir, tmp_path):
    small = Handlers(Library([models_dir]), Limits(images=10), out=tmp_path)
    p = small.write_in_style("cvae", [drawing("seven")], "")
    assert len(zip_names(p.files[1])) == 10 and "first 10 of the model's 38" in p.message


@pytest.mark.parametrize(
    "model, drawings, options, match",
    [
        ("cvae", [None] * 5, {}, "canvases are empty"),
        ("cvae", [], {}, "canvases are empty"),
        ("cvae", [None] * 6, {}, "at most 5"),
        ("cvae", [drawing("seven")], {"randomness": 4}, "randomness 4.0 is out of range"),
        ("ddpm", [drawing("seven")], {}, "ddpm model; to write in your style pick a style or cvae"),
    ],
)
def test_write_in_style_errors(handlers, model, drawings, options, match):
    with pytest.raises(GlyphgenError, match=match):
        handlers.write_in_style(model, drawings, "12", **options)


# ---- dream --------------------------------------------------------------------------------------------------------


def test_dream_animation_and_strip(handlers):
    p = handlers.dream("dream", seed=1, steps=2, frames=5)
    gif = Image.open(p.animation)
    assert gif.format == "GIF" and gif.n_frames == 5 and gif.size[0] >= 128
    side, scale = 16, 4
    assert p.image.size == ((5 * (side + 2) + 2) * scale, (side + 4) * scale)
    assert "12 steps, 5 shown" in p.message  # 2 cycles of 2 * 3 passes


def test_dream_with_a_conditional_ddpm(handlers):
    p = handlers.dream("ddpm", seed=0, steps=4, frames=48, sampler="ddim", char="字")
    assert Image.open(p.animation).n_frames == 5  # x_T and 4 steps: fewer frames than asked exist
    with pytest.raises(GlyphgenError, match="knows none of '水'"):
        handlers.dream("ddpm", char="水")


@pytest.mark.parametrize(
    "model, options, match",
    [("vae", {}, "vae model; to watch a dream pick a dream or diffusion"), ("dream", {"frames": 1}, "use 2 to 48")],
)
def test_dream_errors(handlers, model, options, match):
    with pytest.raises(GlyphgenError, match=match):
        handlers.dream(model, **options)


def test_cards_are_shown_without_their_hub_metadata():
    from glyphgen import zoo

    card = Library([zoo.WEIGHTS_DIR]).entry("kanji-ddpm").card
    assert card.startswith("# kanji-ddpm") and "library_name" not in card


def test_a_model_trained_in_the_em_box_reads_a_drawing_where_it_sits():
    canvas = np.full((256, 256), 255, np.uint8)
    canvas[180:240, 20:60] = 0  # a stroke low and left, like a descender
    em = frame(canvas, (1, 32, 32), {"source": "font", "placement": "em"})[0]
    centred = frame(canvas, (1, 32, 32), {"source": "font", "placement": "center"})[0]
    rows, cols = np.nonzero(em > 0.5)
    assert rows.min() > 20 and cols.max() < 10  # kept low and left, at the canvas's scale
    rows, cols = np.nonzero(centred > 0.5)
    assert abs((rows.min() + rows.max()) / 2 - 15.5) < 2 and abs((cols.min() + cols.max()) / 2 - 15.5) < 2
