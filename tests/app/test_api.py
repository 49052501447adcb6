"""The HTTP API of a live app (the `server` fixture): gradio_client calls, raw HTTP as in the README, limits, queue."""

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fontTools.ttLib import TTFont
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from glyphgen.app.handlers import Limits
from glyphgen.cli import app as cli

from .conftest import TINY

EMPTY = {"background": None, "layers": [], "composite": None}
# Gradio's queue (pandas 3) and diffusers' DPM-Solver (numpy 2) warn about deprecations of their own.
pytestmark = [
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False)


@pytest.fixture(scope="module")
def drawing_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("drawing") / "seven.png"
    img = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(60, 50), (180, 50), (100, 210)], fill=(0, 0, 0, 255), width=18)
    img.save(path)
    return path


def test_binds_localhost_by_default(server):
    assert server.startswith("http://127.0.0.1:")


def test_models_and_cards(client):
    models = client.predict(api_name="/models")
    assert sorted(m["name"] for m in models) == sorted(TINY)
    assert "written by hand" in client.predict("cvae", api_name="/model_card")


def test_generate_returns_the_grid_and_downloads(client):
    grid, files = client.predict("vae", 4, 0, None, 0, 1.0, api_name="/generate")
    assert Image.open(grid).size == Image.open(files[0]).size
    assert files[1].endswith("glyphs.zip")


def test_write_reports_unknown_characters(client):
    picture, files, notes = client.predict(
        model="cvae", text="AB?", seed=0, sampler=None, steps=0, guidance=1.0, api_name="/write"
    )
    assert Image.open(picture).size[0] > 0 and "'?' (U+003F)" in notes


def test_write_in_style_with_an_uploaded_drawing(client, drawing_png):
    drawing = {"background": handle_file(str(drawing_png)), "layers": [], "composite": None}
    out = client.predict("cvae", EMPTY, drawing, EMPTY, EMPTY, EMPTY, "12", 0, True, 0, api_name="/write_in_style")
    guesses, framed, written = out[:5], out[5], out[6]
    assert not guesses[0].get("confidences") and len(guesses[1]["confidences"]) == 3
    assert guesses[1]["label"] == guesses[1]["confidences"][0]["label"]
    assert Image.open(framed).size[0] > 0 and Image.open(written).size[0] > 0


def test_a_style_model_writes_from_uploaded_glyph_images(client, drawing_png):
    files = [handle_file(str(drawing_png))] * 3
    out = client.predict(
        "style", EMPTY, EMPTY, EMPTY, EMPTY, EMPTY, "Ab 12", 0, True, 0, 2, 1.0, files, api_name="/write_in_style"
    )
    framed, written = out[5], out[6]
    assert Image.open(framed).size[0] >= 3 * 16  # the three uploads, framed side by side
    assert Image.open(written).size[0] > 0


def test_font_returns_the_font_a_preview_and_notes(client):
    font, preview, notes = client.predict(
        model="ddpm", text="永字", family="Api Brush", seed=0, steps=2, guidance=1.0, api_name="/font"
    )
    assert font.endswith("Api Brush.otf") and {"永", "字"} <= {chr(u) for u in TTFont(font).getBestCmap()}
    assert "@font-face" in preview and "data:font/otf;base64," in preview and "2 glyphs" in notes


def test_dream_returns_an_animation(client):
    gif, strip, files = client.predict("dream", 0, None, 1, 1.0, "", 4, api_name="/dream")
    assert Image.open(gif).format == "GIF" and Image.open(strip).size[0] > 0 and len(files) == 2


@pytest.mark.parametrize(
    "args, api_name, match",
    [
        (("cvae", EMPTY, EMPTY, EMPTY, EMPTY, EMPTY, "12", 0, True, 0), "/write_in_style", "canvases are empty"),
        (("vae", "x", 0, None, 0, 1.0), "/write", "vae is not in the list of choices"),
        (("ddpm", 2, 0, None, 999, 1.0), "/generate", "use 1 to 20"),
        (("cvae", 500, 0, None, 0, 1.0), "/generate", "maximum value 64"),
        (("cvae", "1" * 201, 0, None, 0, 1.0), "/write", "200"),
        (("vae", "A", "Nope", 0, 0, 1.0), "/font", "vae is not in the list of choices"),
        (("cvae", "??", "Nope", 0, 0, 1.0), "/font", "knows none of"),
    ],
)
def test_bad_requests_are_messages(client, args, api_name, match):
    with pytest.raises(AppError, match=match):
        client.predict(*args, api_name=api_name)


def test_uploads_over_the_cap_are_refused(server):
    limit = int(Limits().upload.removesuffix("mb")) * 1024 * 1024
    too_big = {"files": ("big.png", b"\0" * (limit + 1024), "image/png")}
    r = httpx.post(f"{server}/gradio_api/upload", files=too_big, timeout=30)
    assert r.status_code == 413 and f"maximum allowed size of {limit} bytes" in r.text


def test_raw_http_call_as_in_the_readme(server):
    # POST the inputs, then read the result from the event stream (what the README's curl example does).
    r = httpx.post(f"{server}/gradio_api/call/generate", json={"data": ["gan", 2, 0, None, 0, 1.0]}, timeout=30)
    event_id = r.json()["event_id"]
    stream = httpx.get(f"{server}/gradio_api/call/generate/{event_id}", timeout=60).text
    lines = stream.splitlines()
    assert "event: complete" in lines
    data = json.loads(lines[lines.index("event: complete") + 1].removeprefix("data: "))
    grid, files = data
    assert grid["url"].startswith(server) and len(files) == 2


def test_twenty_concurrent_clients_all_get_answers(client):
    # The queue runs one model request at a time and answers the rest in order.
    jobs = [client.submit("cvae", 2, seed, None, 0, 1.0, api_name="/generate") for seed in range(20)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda job: job.result(timeout=120), jobs))
    assert len(results) == 20 and all(files[1].endswith("glyphs.zip") for _, files in results)


def test_cli_errors_are_one_line(server, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["app", "--models", str(tmp_path / "nope")], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "does not exist" in result.output
    port = server.rsplit(":", 1)[1]
    result = runner.invoke(cli, ["app", "--models", str(tmp_path), "--port", port], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and f"cannot serve on 127.0.0.1:{port}" in result.output
