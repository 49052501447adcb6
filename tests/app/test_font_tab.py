"""The Font tab's action without a server: a font of typed characters from a tiny conditional model, its preview,
its limits and its messages."""

import base64
import re

import pytest
from fontTools.ttLib import TTFont

from glyphgen.app.handlers import Handlers, Limits
from glyphgen.app.library import Library
from glyphgen.errors import GlyphgenError

from .conftest import CVAE_CLASSES, DDPM_CLASSES

# diffusers' DPM-Solver builds its sigmas with np.array(tensor, copy=False) semantics that numpy 2 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(scope="module")
def handlers(models_dir, tmp_path_factory):
    return Handlers(Library([models_dir]), out=tmp_path_factory.mktemp("out"))


def cmap(path) -> dict[int, str]:
    return TTFont(str(path)).getBestCmap()


def family_name(path) -> str:
    return TTFont(str(path))["name"].getDebugName(1)


def test_only_conditional_models_are_offered(handlers):
    assert handlers.font_models() == ["cvae", "ddpm", "style"]


def test_font_of_typed_characters(handlers):
    typed = "AB 12\n永A"
    f = handlers.font("cvae", typed, "Tiny Hand", seed=3)
    assert f.path.name == "Tiny Hand.otf" and f.path.parent.parent == handlers.out
    assert f.path.read_bytes()[:4] == b"OTTO"  # CFF outlines
    font = cmap(f.path)
    assert {c for c in typed if not c.isspace()} <= {chr(u) for u in font}
    assert f.chars == list("AB12永") and f.report["glyphs"] == 5
    assert family_name(f.path) == "Tiny Hand"
    assert "5 glyphs" in f.message and "KB" in f.message and "IoU" in f.message


def test_preview_embeds_the_font_under_a_family_of_its_own(handlers):
    f = handlers.font("cvae", "AB<&", "Tiny <Hand>")  # '<' and '&' are not in the model: left out and named
    data = re.search(r'src:url\("data:font/otf;base64,([A-Za-z0-9+/=]+)"\) format\("opentype"\)', f.preview)
    assert data and base64.b64decode(data.group(1)) == f.path.read_bytes()
    assert f'@font-face{{font-family:"{f.face}"' in f.preview and f'data-family="{f.face}"' in f.preview
    assert 'id="font-preview-sample"' in f.preview and 'id="font-preview-fallback"' in f.preview
    assert f.preview.count(">AB</p>") == 2  # the characters, in the font and in the fallback font
    assert "Tiny &lt;Hand&gt;" in f.preview and "<Hand>" not in f.preview  # the family name is escaped
    assert any("'<' (U+003C)" in w and "'&' (U+0026)" in w for w in f.warnings)
    assert handlers.font("cvae", "AB", "Tiny Hand").face != f.face  # a new family name every request


def test_font_of_the_models_characters_with_a_ddpm(handlers):
    f = handlers.font("ddpm", "", "", seed=0, steps=2, guidance=2)
    assert set(DDPM_CLASSES) <= {chr(u) for u in cmap(f.path)}
    assert f.path.name == "glyphgen ddpm.otf" and family_name(f.path) == "glyphgen ddpm"  # the default name


def test_empty_text_is_capped_by_the_apps_limit(models_dir, tmp_path):
    small = Handlers(Library([models_dir]), Limits(font_glyphs=5), out=tmp_path)
    f = small.font("cvae", "  ", "Capped")
    assert f.chars == CVAE_CLASSES[:5] and {chr(u) for u in cmap(f.path)} - {" "} == set(CVAE_CLASSES[:5])
    assert any(f"first 5 of the model's {len(CVAE_CLASSES)} characters" in w for w in f.warnings)


def test_more_characters_than_the_limit_are_refused(models_dir, tmp_path):
    small = Handlers(Library([models_dir]), Limits(font_glyphs=3), out=tmp_path)
    with pytest.raises(GlyphgenError, match="4 different characters typed; a font here holds at most 3"):
        small.font("cvae", "0123", "Too Many")
    assert small.font("cvae", "012 210", "Enough").chars == list("012")  # repeats and spaces do not count
    assert not list(tmp_path.glob("*/Too Many.otf"))


def test_unconditional_models_are_refused(handlers):
    with pytest.raises(GlyphgenError, match="unconditional vae model and cannot draw asked-for characters"):
        handlers.font("vae", "A", "Nope")


def test_one_case_models_and_unknown_characters(handlers):
    f = handlers.font("cvae", "ab?", "Folded")
    assert {"A", "B"} <= {chr(u) for u in cmap(f.path)} and f.chars == ["A", "B"]
    assert any("instead of ab" in w for w in f.warnings) and any("'?' (U+003F)" in w for w in f.warnings)


def test_family_names_never_leave_the_request_folder(handlers):
    f = handlers.font("cvae", "A", "../up/there")
    assert f.path.name == "up_there.otf" and f.path.parent.parent == handlers.out
    assert family_name(f.path) == "../up/there"  # the font itself keeps the name given


@pytest.mark.parametrize(
    "args, match",
    [
        (dict(model="cvae", text="??"), "knows none of '\\?'"),
        (dict(model="cvae", text="1" * 201), "200"),
        (dict(model="cvae", text="A", family="x" * 70), "the family name has 70 characters"),
        (dict(model="cvae", text="A", family="a\x00b"), "the family name contains"),
        (dict(model="cvae", text="A", seed=-1), "seed -1 is out of range"),
        (dict(model="ddpm", text="永", steps=21), "use 1 to 20"),
        (dict(model="ddpm", text="永", guidance=99), "guidance 99.0 is out of range"),
        (dict(model="nope", text="A"), "unknown model 'nope'"),
    ],
)
def test_font_errors(handlers, args, match):
    with pytest.raises(GlyphgenError, match=match):
        handlers.font(**args)
