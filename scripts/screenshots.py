"""Retake the README's app screenshots (docs/app-*.png) with the shipped models, in Debian's headless chromium.

    .venv/bin/python scripts/screenshots.py [--out docs]

Serves the app over the package's shipped weights on a free localhost port, then on each tab picks a shipped
model, presses its button and saves a screenshot once the result is on the page: Generate (kanji-ddpm), Write
(kanji-ddpm-cond), Your style (hand-cvae, three letters drawn with the mouse), Dream (hanzi-dream). A tab whose
model is not shipped yet is skipped with a note. Needs `scripts/setup.sh --dev` (chromium and Playwright).
"""

from __future__ import annotations

import argparse
import shutil
import socket
from pathlib import Path

from PIL import Image

VIEWPORT = {"width": 1400, "height": 1000}
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
WRITE_TEXT = "永字八法\n春夏秋冬"
STYLE_TEXT = "Hello 2025"
# Three letters as mouse strokes, in canvas fractions (x, y): an "H", an "e"-like loop and an "l".
LETTERS = [
    [[(0.3, 0.2), (0.3, 0.8)], [(0.7, 0.2), (0.7, 0.8)], [(0.3, 0.5), (0.7, 0.5)]],
    [[(0.3, 0.55), (0.7, 0.55), (0.68, 0.4), (0.5, 0.33), (0.32, 0.42), (0.3, 0.6), (0.42, 0.75), (0.7, 0.72)]],
    [[(0.5, 0.15), (0.48, 0.8)]],
]


def pick(page, key: str, name: str) -> None:
    """Choose `name` in the model dropdown of tab `key`."""
    page.locator(f"#{key}-model input").click()
    page.get_by_role("option", name=name).first.click()


def draw(page, k: int, strokes) -> None:
    sketch = page.locator(f"#sketch-{k}")
    sketch.get_by_role("button", name="Brush").click()
    box = sketch.locator("canvas").last.bounding_box()
    # The canvas element is larger than its white drawing surface (about its middle 60%); strokes that start
    # outside the surface draw nothing, so the letters are mapped into it.
    box = {
        "x": box["x"] + 0.2 * box["width"],
        "y": box["y"] + 0.2 * box["height"],
        "width": 0.6 * box["width"],
        "height": 0.6 * box["height"],
    }
    for stroke in strokes:
        x0, y0 = stroke[0]
        page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=6)
        page.mouse.up()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs"), help="folder for app-*.png (default: docs)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from glyphgen import zoo
    from glyphgen.app import launch

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("error: Debian chromium is not installed (scripts/setup.sh --dev installs it)")
    names = {m.name for m in zoo.shipped()}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = launch([zoo.WEIGHTS_DIR], port=port, block=False, quiet=True)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(600_000)  # a CPU dream takes minutes
            page.goto(demo.local_url, wait_until="networkidle")

            def shot(name: str) -> None:
                page.wait_for_timeout(500)  # let the last picture paint
                page.screenshot(path=args.out / name, full_page=True)
                # a UI's few flat colours fit a 64-colour palette: a quarter of the bytes, no visible change
                with Image.open(args.out / name) as im:
                    im = im.convert("RGB").quantize(64)
                im.save(args.out / name, optimize=True)
                print(f"wrote {args.out / name}")

            def take(label: str, key: str, model: str, result: str, name: str, text: str = "", before=None) -> None:
                """Open tab `label`, pick `model`, run it (after `before`, with `text` typed in), shoot the result."""
                if model not in names:
                    print(f"{model} is not shipped, so {name} is not retaken")
                    return
                page.get_by_role("tab", name=label).click()
                pick(page, key, model)
                if before is not None:
                    before()
                if text:
                    page.locator(f"#tab-{key} textarea").first.fill(text)
                page.locator(f"#{key}-button").click()
                page.locator(f"#tab-{key} img[src$='/{result}']").wait_for()
                shot(name)

            def draw_letters() -> None:
                for k, strokes in enumerate(LETTERS):
                    draw(page, k, strokes)

            take("Generate", "generate", "kanji-ddpm", "grid.png", "app-generate.png")
            take("Write", "write", "kanji-ddpm-cond", "text.png", "app-write.png", text=WRITE_TEXT)
            take("Your style", "style", "hand-cvae", "text.png", "app-style.png", text=STYLE_TEXT, before=draw_letters)
            take("Dream", "dream", "hanzi-dream", "strip.png", "app-dream.png")
            browser.close()
    finally:
        demo.close()


if __name__ == "__main__":
    main()
