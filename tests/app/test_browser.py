"""The app in a real browser: Debian's chromium, headless, driven by Playwright (never `playwright install`).

Loads the page, generates a grid, draws on a sketchpad (its Brush button first) and writes in that style, builds a
font and sees it loaded and drawn in the page, and checks that every request the page made went to the app on
localhost. Screenshots go to the test's folder, or to $GLYPHGEN_SCREENSHOTS when set.
"""

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image, ImageChops

from .conftest import chromium_path

CHROMIUM = chromium_path()
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian chromium is not installed (scripts/setup.sh --dev installs it)"
    ),
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, server):
    """One page for the module's tests (loading Gradio's front end is the slow part); each test picks its tab."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    page.hosts = set()
    page.on("request", lambda r: page.hosts.add(urlparse(r.url).hostname or r.url.split(":")[0]))
    page.goto(server, wait_until="networkidle")
    yield page
    page.close()


def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("GLYPHGEN_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_generate_in_the_browser(page, tmp_path):
    page.get_by_role("tab", name="Generate").click()
    page.locator("#generate-button").click()
    tab = page.locator("#tab-generate")
    grid = tab.locator("img[src$='/grid.png']")
    grid.wait_for()
    assert grid.evaluate(LOADED_WIDTH) > 0
    download = tab.locator("a[download='glyphs.zip']")
    download.wait_for()
    assert page.request.get(download.get_attribute("href")).body()[:2] == b"PK"  # a zip archive
    page.screenshot(path=shots(tmp_path) / "app-generate.png")
    assert page.hosts <= {"127.0.0.1", "localhost", "data", "blob"}, page.hosts


# An image's width once it has loaded (its src can be set before its bytes arrive on a busy machine): 0 if it fails.
LOADED_WIDTH = """img => img.complete && img.naturalWidth ? img.naturalWidth : new Promise(done => {
    img.addEventListener("load", () => done(img.naturalWidth)); img.addEventListener("error", () => done(0)); })"""


def test_draw_and_write_in_that_style(page, tmp_path):
    page.get_by_role("tab", name="Your style").click()
    page.locator("#style-button").click()  # nothing drawn yet: a message, not a crash
    page.get_by_text("the canvases are empty").first.wait_for()
    sketch = page.locator("#sketch-1")
    sketch.get_by_role("button", name="Brush").click()
    box = sketch.locator("canvas").last.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 40, y - 50)
    page.mouse.down()
    for dx, dy in [(40, -50), (-10, 60)]:
        page.mouse.move(x + dx, y + dy, steps=4)
    page.mouse.up()
    page.locator("textarea").first.fill("AB 12")
    page.locator("#style-button").click()
    guess = page.locator("#guess-1")
    guess.get_by_text("%").first.wait_for()  # the recognised character and its confidence
    assert page.locator("#guess-0").get_by_text("%").count() == 0  # the untouched canvas is not read
    tab = page.locator("#tab-style")
    tab.locator("a[download='glyphs.zip']").wait_for()
    for name in ("framed.png", "text.png"):  # what the model sees, and the text in that style
        assert tab.locator(f"img[src$='/{name}']").evaluate(LOADED_WIDTH) > 0
    page.screenshot(path=shots(tmp_path) / "app-style.png", full_page=True)
    assert page.hosts <= {"127.0.0.1", "localhost", "data", "blob"}, page.hosts


FONT_FACES = "face => [...document.fonts].filter(f => f.family.replace(/[\"']/g, '') === face).map(f => f.status)"


def test_build_a_font_and_see_it_in_the_page(page, tmp_path):
    page.get_by_role("tab", name="Font").click()
    tab = page.locator("#tab-font")
    tab.locator("#font-model input").click()
    page.get_by_role("option", name="ddpm (ddpm, 3 characters)").click()  # the tiny ddpm draws ink; the cvae, blanks
    tab.locator("#font-text textarea").fill("永字八")
    tab.locator("#font-family").locator("textarea, input").first.fill("Tiny Brush")
    tab.locator("#font-button").click()
    sample, fallback = page.locator("#font-preview-sample"), page.locator("#font-preview-fallback")
    sample.wait_for()
    assert sample.inner_text() == fallback.inner_text() == "永字八"
    face = page.locator(".glyphgen-font-preview").get_attribute("data-family")
    page.wait_for_function(f"face => ({FONT_FACES})(face).includes('loaded')", arg=face)
    assert page.evaluate(FONT_FACES, face) == ["loaded"]  # the @font-face rule survived gr.HTML and its font loaded
    assert page.evaluate('face => document.fonts.check(`32px "${face}"`)', face)
    folder = shots(tmp_path)
    sample.screenshot(path=folder / "font-sample.png")
    fallback.screenshot(path=folder / "font-fallback.png")
    drawn, other = (
        Image.open(folder / "font-sample.png").convert("L"),
        Image.open(folder / "font-fallback.png").convert("L"),
    )
    lo, hi = drawn.getextrema()
    assert hi - lo > 100  # the sample shows ink: the font's glyphs, not blanks
    assert drawn.size != other.size or ImageChops.difference(drawn, other).getbbox() is not None
    download = tab.locator("a[download='Tiny Brush.otf']")
    download.wait_for()
    assert page.request.get(download.get_attribute("href")).body()[:4] == b"OTTO"  # an OpenType (CFF) font
    page.screenshot(path=folder / "app-font.png", full_page=True)
    assert page.hosts <= {"127.0.0.1", "localhost", "data", "blob"}, page.hosts
